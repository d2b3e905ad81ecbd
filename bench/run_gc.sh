#!/usr/bin/env bash
# The collector benchmarks (bench/gc/): every program under Debian's bdwgc,
# ours (our bdwgc-compatible face, the same source built with other flags),
# Go's collector (the same program in Go), and plain malloc/free under glibc
# and mimalloc, in one run: time, peak RSS, collections, longest pause, and
# (alloc-rate) RSS after the live set drops; ratios to bdwgc.
#
# Usage: bench/run_gc.sh BUILD_DIR
#   BUILD_DIR holds bench/pagealloc-gcbench-* (a CMake build of this repo;
#   Release for meaningful figures). The Go programs are built here, into
#   BUILD_DIR/bench/gc-go/, with Debian's go.
# Environment:
#   REPEAT=5        repetitions; every implementation runs every program
#                   once per repetition, back to back, in an order rotated
#                   from one repetition to the next; medians reported (with
#                   3, one slow moment of the shared VM moved a median 10-20 %)
#   ONLY=gcbench,binary-trees,two-threads,alloc-rate   programs to run
#   IMPLS=bdwgc,ours,go,glibc,mimalloc                  implementations
#   GCBENCH_DEPTH=16 BT_DEPTH=20 TT_DEPTH=19 LIVE_MIB=200 PASSES=8
#                   the programs' sizes (small ones while developing)
#   GCB_SETTLE_MS=1000  alloc-rate's wait before the settled RSS reading
#   TIMEOUT=300     seconds before a run is killed and reported as failed
#   PIN=0           run every program under `taskset -c 0` (one CPU; the
#                   issue's orientation figures); default: not pinned
#   GOGC, GOMAXPROCS, GC_MARKERS, ... pass through to the programs
# Output: the tables on stdout (Markdown, also bench/results/gc.md) and
# bench/results/gc.json (every run, medians, ratios, targets). Exit status
# 1 if a run failed, reported changed contents, ran on the wrong library, or
# the implementations' checks differ (they did not do the same work).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
build=$(cd "$1" && pwd) || exit 2
repeat=${REPEAT:-5}
only=${ONLY:-gcbench,binary-trees,two-threads,alloc-rate}
impls=${IMPLS:-bdwgc,ours,go,glibc,mimalloc}
timeout_s=${TIMEOUT:-300}
pin=${PIN:-}
results=$root/bench/results
bindir=$build/bench
gobin=$bindir/gc-go
mkdir -p "$results" "$gobin"

declare -A arg=([gcbench]=${GCBENCH_DEPTH:-16} [binary-trees]=${BT_DEPTH:-20}
                [two-threads]=${TT_DEPTH:-19} [alloc-rate]="${LIVE_MIB:-200} ${PASSES:-8}")

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

programs=()
IFS=, read -r -a want <<<"$only"
for p in "${want[@]}"; do
  case $p in
    gcbench|binary-trees|two-threads|alloc-rate) programs+=("$p") ;;
    *) echo "run_gc.sh: unknown program '$p'" >&2; exit 2 ;;
  esac
done

# Implementations: label, binary suffix (or "go"), preload, the library the
# allocation must come from (a regular expression), or why it is absent.
labels=() kinds=() preloads=() froms=() absent=()
IFS=, read -r -a impl_list <<<"$impls"
for l in "${impl_list[@]}"; do
  kind= pre= from= why=
  case $l in
    bdwgc)    kind=bdwgc; from='^libgc\.so' ;;
    ours)     kind=ours; from='^libpagealloc-gc\.so' ;;
    glibc)    kind=malloc; from='^libc\.so\.6$' ;;
    mimalloc) kind=malloc; pre=$(find_so libmimalloc2.0 libmimalloc.so.2); from='^libmimalloc\.so'
              [ -n "$pre" ] || why="libmimalloc.so.2 not found (scripts/deps.sh bench installs it)" ;;
    go)       kind=go; from='^go runtime$'
              command -v go >/dev/null 2>&1 || why="go not found (golang-go)" ;;
    *) echo "run_gc.sh: unknown implementation '$l'" >&2; exit 2 ;;
  esac
  if [ -z "$why" ] && [ "$kind" != go ]; then
    for p in "${programs[@]}"; do
      [ -x "$bindir/pagealloc-gcbench-$p-$kind" ] && continue
      if [ "$kind" = ours ]; then
        why="not built (this tree has no bdwgc-compatible face: include/pagealloc/bdwgc/gc.h and the pagealloc_gc_shared library)"
      else
        why="$bindir/pagealloc-gcbench-$p-$kind missing (cmake --build $1; bdwgc needs libgc-dev)"
      fi
      break
    done
  fi
  if [ -n "$why" ]; then
    echo "run_gc.sh: $l: $why" >&2
    absent+=("$l=$why")
    continue
  fi
  labels+=("$l"); kinds+=("$kind"); preloads+=("$pre"); froms+=("$from")
done
n=${#labels[@]}

# The Go side: each program with the shared gcb.go (and the tree programs
# with trees.go), built once per run.
if [[ " ${kinds[*]} " == *" go "* ]]; then
  export GOCACHE=${GOCACHE:-$build/go-cache}
  for p in "${programs[@]}"; do
    files=("$p.go" gcb.go)
    case $p in binary-trees|two-threads) files+=(trees.go) ;; esac
    if ! (cd "$root/bench/gc/go" && GOFLAGS= GO111MODULE=off go build -o "$gobin/$p" "${files[@]}"); then
      echo "run_gc.sh: building the Go version of $p failed" >&2
      exit 2
    fi
  done
fi

log=$(mktemp)
errf=$(mktemp)
outf=$(mktemp)
trap 'rm -f "$log" "$errf" "$outf"' EXIT

# One measurement in its own process; a failure is logged, never fatal.
run_one() {   # implementation-index program
  local k=$1 p=$2 rc=0 pre=() why cmd line
  if [ "${kinds[k]}" = go ]; then
    cmd="$gobin/$p ${arg[$p]}"
  else
    cmd="$bindir/pagealloc-gcbench-$p-${kinds[k]} ${arg[$p]}"
  fi
  [ -n "${preloads[k]}" ] && pre=("LD_PRELOAD=${preloads[k]}")
  [ -n "$pin" ] && cmd="taskset -c $pin $cmd"
  # shellcheck disable=SC2086
  env "${pre[@]}" timeout "$timeout_s" $cmd >"$outf" 2>"$errf" || rc=$?
  line=$(grep -m1 '^{"program"' "$outf")
  if [ $rc -ne 0 ] || [ -z "$line" ]; then
    why=$(tail -n3 "$errf" | tr '\n\t' '  ' | tr -s ' ' | cut -c1-200)
    [ $rc -eq 124 ] && why="timed out after ${timeout_s} s; $why"
    [[ $line == *'"ok":false'* ]] && why="contents changed or checks wrong (\"ok\":false); $why"
    printf 'FAIL\t%s\t%s\t%s\t%s\t%s %s\t%s\n' "$p" "${labels[k]}" "$rc" "$why" "${pre[*]}" "$cmd" "${line:+1}" >>"$log"
    echo "run_gc.sh: ${labels[k]} $p failed (exit $rc): $why" >&2
    [ -n "$line" ] || return 0
  fi
  printf 'RUN\t%s\t%s\t%s\t%s\t%s\n' "$p" "${labels[k]}" "${froms[k]}" "$line" "$rc" >>"$log"
}

bench_begin "$root" src include bench/gc
for ((r = 1; r <= repeat; r++)); do
  echo "run_gc.sh: repetition $r/$repeat" >&2
  for ((i = 0; i < ${#programs[@]}; i++)); do
    for ((j = 0; j < n; j++)); do run_one $(((j + r - 1 + i) % n)) "${programs[i]}"; done
  done
done
bench_end
absent_s=$(printf '%s\n' "${absent[@]+"${absent[@]}"}")
args_s=$(for p in "${programs[@]}"; do printf '%s=%s\n' "$p" "${arg[$p]}"; done)

ABSENT="$absent_s" ARGS="$args_s" python3 - "$log" "$results" <<EOF
import json, os, re, statistics, sys
sys.path.insert(0, "$root/bench")
import report
log, results = sys.argv[1], sys.argv[2]
machine, tree, elapsed = report.run_info("uncommitted_src_include_bench_gc_files")
labels = "${labels[*]}".split()
programs = "${programs[*]}".split()
absent = dict(l.split("=", 1) for l in os.environ["ABSENT"].splitlines() if l)
args = dict(l.split("=", 1) for l in os.environ["ARGS"].splitlines() if l)
repeat = $repeat
env = {k: os.environ[k] for k in ("GOGC", "GOMAXPROCS", "GCB_SETTLE_MS", "PIN") if os.environ.get(k)}
columns = labels + [l for l in ("bdwgc", "ours", "go", "glibc", "mimalloc") if l in absent]

runs, fails, wrong_from = [], [], []
for line in open(log):
    f = line.rstrip("\n").split("\t")
    if f[0] == "FAIL":
        fails.append({"program": f[1], "impl": f[2], "exit": int(f[3]), "why": f[4], "repro": f[5].strip(),
                      "printed": f[6] == "1"})
        continue
    d = json.loads(f[4])
    d["impl"] = f[2]
    d["exit"] = int(f[5])
    if d["exit"] != 0:
        d["ok"] = False
    if not re.search(f[3], d["alloc_from"]):
        wrong_from.append(f"{f[1]} {f[2]}: allocation from {d['alloc_from']}")
        d["ok"] = False
    runs.append(d)

KEYS = ("elapsed_s", "cpu_s", "peak_rss_kib", "gc_no", "pauses", "max_pause_ms", "total_pause_ms",
        "live_kib", "live_after_kib", "rss_after_drop_kib", "rss_settled_kib")

# A run that failed or changed contents measured nothing: medians come from
# the good runs only, and a cell with none reads "failed".
def med(p, l, k):
    v = [r[k] for r in runs if r["program"] == p and r["impl"] == l and r["ok"]
         and r[k] is not None and r[k] >= 0]
    return statistics.median(v) if v else None

def good(p, l):
    return sum(1 for r in runs if r["program"] == p and r["impl"] == l and r["ok"])

def bad(p, l):
    return sum(1 for r in runs if r["program"] == p and r["impl"] == l and not r["ok"]) + \
        sum(1 for x in fails if x["program"] == p and x["impl"] == l and not x["printed"])

median = {p: {l: {k: med(p, l, k) for k in KEYS} for l in labels} for p in programs}

def ratio(p, l, k, to="bdwgc"):
    a, b = median[p].get(l, {}).get(k), median[p].get(to, {}).get(k)
    return a / b if a is not None and b else None

for p in programs:
    for l in labels:
        m = median[p][l]
        m["time_ratio_bdwgc"] = ratio(p, l, "elapsed_s")
        m["rss_ratio_bdwgc"] = ratio(p, l, "peak_rss_kib")
        m["pause_ratio_bdwgc"] = ratio(p, l, "max_pause_ms")
        if m["rss_settled_kib"] is not None and m["live_after_kib"]:
            m["settled_over_live"] = m["rss_settled_kib"] / m["live_after_kib"]

bad_check = sorted({p for p in programs if len({r["check"] for r in runs if r["program"] == p}) > 1})
not_ok = sorted({f"{r['program']} {r['impl']}" for r in runs if not r["ok"]})

# The issue's targets, for ours, per program.
targets = report.Targets()
def target(name, program, value, limit, detail):
    targets.add(name, value, limit, detail, program=program)
for p in programs:
    o = median[p].get("ours")
    target("time / bdwgc <= 0.8", p, o and o["time_ratio_bdwgc"], 0.8, "median elapsed_s")
    target("time / Go <= 1.0", p, ratio(p, "ours", "elapsed_s", "go") if o else None, 1.0, "median elapsed_s")
    target("peak RSS / bdwgc <= 1.0", p, o and o["rss_ratio_bdwgc"], 1.0, "median VmHWM")
    target("longest pause / bdwgc <= 0.5", p, o and o["pause_ratio_bdwgc"], 0.5, "median of each run's longest pause")
    if p == "alloc-rate":
        target("RSS after drop / live set <= 1.1", p, o and o.get("settled_over_live"), 1.1,
               "settled VmRSS / bytes still live")

def cell(p, l, k, scale=1.0, d=2, rk=None):
    if l in absent:
        return "not built" if l == "ours" else "absent"
    v = median[p][l][k]
    if v is None:
        return "failed" if bad(p, l) and not good(p, l) else "-"
    s = f"{v / scale:.{d}f}"
    r = median[p][l].get(rk) if rk else None
    return s + (f" ({r:.2f})" if r is not None else "")

out = []
o = out.append
o(f"Collector benchmarks: median of {repeat} runs per cell; (ratio) = median / bdwgc's median on that program, same run")
o(report.header(machine, elapsed))
o(f"tree at the start: {tree['commit']} ({tree['uncommitted_src_include_bench_gc_files']} uncommitted files under src/ include/ bench/gc/); arguments: " + ", ".join(f"{p} {args[p]}" for p in programs) + ("; " + " ".join(f"{k}={v}" for k, v in env.items()) if env else ""))
for l, why in absent.items():
    o(f"{l}: {why}")
for p in programs:
    o("")
    o(f"**{p}** ({args[p]})")
    o("")
    head = "| impl | time s (/bdwgc) | cpu s | peak RSS MiB (/bdwgc) | collections | longest pause ms (/bdwgc) | total pause ms |"
    sep = "| --- | --- | --- | --- | --- | --- | --- |"
    if p == "alloc-rate":
        head += " RSS after drop MiB | settled MiB | live after MiB |"
        sep += " --- | --- | --- |"
    o(head)
    o(sep)
    for l in columns:
        row = [cell(p, l, "elapsed_s", 1, 3, "time_ratio_bdwgc"), cell(p, l, "cpu_s", 1, 3),
               cell(p, l, "peak_rss_kib", 1024, 1, "rss_ratio_bdwgc"), cell(p, l, "gc_no", 1, 0),
               cell(p, l, "max_pause_ms", 1, 2, "pause_ratio_bdwgc"), cell(p, l, "total_pause_ms", 1, 1)]
        if p == "alloc-rate":
            row += [cell(p, l, "rss_after_drop_kib", 1024, 1), cell(p, l, "rss_settled_kib", 1024, 1),
                    cell(p, l, "live_after_kib", 1024, 1)]
        nb = bad(p, l)
        name = f"{l} ({nb} of {nb + good(p, l)} runs failed)" if nb and l in labels else l
        o(f"| {name} | " + " | ".join(row) + " |")
o("")
o("Targets (ours; ratios of medians from this run):")
o("")
out += targets.table(("program", "target", "value", "verdict"), unmeasured="not measured")
problems = report.problem_lines(fails, "program", not_ok, "or the wrong library ran", wrong_from, bad_check,
                                "CHECK MISMATCH: the implementations did not do the same work")
out += problems
text = "\n".join(out)
print(text)
with open(f"{results}/gc.md", "w") as fh:
    fh.write(text + "\n")
j = {"benchmark": "gc", "repeat": repeat, "machine": machine, "tree": tree, "env": env, "args": args,
     "elapsed_s": elapsed, "impls": labels, "absent": absent, "programs": programs,
     "median": median, "targets": targets.rows, "failures": fails, "contents_changed": not_ok,
     "check_mismatch": bad_check, "runs": runs}
report.write_json(f"{results}/gc.json", j)
sys.exit(1 if problems else 0)
EOF
