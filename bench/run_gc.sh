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
# Protocol (bench/pairs.py, docs/workloads.md "Paired rows"): per program,
# rounds of bdwgc, ours and Go back to back (ours in the middle, the order
# reversed every round) on the same CPUs, each run framed by a reference
# loop (pagealloc-bench-probe) on those CPUs; the time and pause ratios
# ours / bdwgc and ours / Go are the medians of the quiet rounds with
# their IQR, or "not measured (under load)" with fewer than PAIRS_MIN
# quiet. glibc and mimalloc (no collector: no target) run SURVEY times.
# Environment:
#   PAIRS=5 PAIRS_QUIET=5 PAIRS_MAX=7 PAIRS_MIN=3   rounds per program:
#                   PAIRS, more while fewer than PAIRS_QUIET are quiet (up
#                   to PAIRS_MAX), and at least PAIRS_MIN quiet for a figure
#   SURVEY=2        runs of each implementation outside the rounds
#   PROBE_AGREE=0.85 PROBE_FLOOR=0.5  a round's pair counts when the
#                   reference loops just before, between and after ours and
#                   the peer are within PROBE_AGREE of the highest of them
#                   and >= PROBE_FLOOR of the run's best (bench/pairs.py)
#   PROBE_SAMPLES=3 each reference: the median of this many samples
#   ONLY=gcbench,binary-trees,two-threads,alloc-rate   programs to run
#   IMPLS=bdwgc,ours,go,glibc,mimalloc                  implementations
#   GCBENCH_DEPTH=16 BT_DEPTH=20 TT_DEPTH=19 LIVE_MIB=200 PASSES=8
#                   the programs' sizes (small ones while developing)
#   GCB_SETTLE_MS=1000  alloc-rate's wait before the settled RSS reading
#   SETTLE_PROBES=2 references run and thrown away after each run, before
#                   the one that frames it (below)
#   TIMEOUT=300     seconds before a run is killed and reported as failed
#   NICE=-19        every run and reference under `nice -n NICE` (the default
#                   where allowed, root; NICE=0: normal priority; bench/lib.sh)
#   PIN=0           run every program under `taskset -c 0` (one CPU; the
#                   issue's orientation figures); default: every CPU (ours
#                   and Go collect on a second thread)
#   GOGC, GOMAXPROCS, GC_MARKERS, ... pass through to the programs
# Output: the tables on stdout (Markdown, also bench/results/gc.md) and
# bench/results/gc.json (every run, medians, ratios, targets). Exit status
# 1 if a run failed, reported changed contents, ran on the wrong library, or
# the implementations' checks differ (they did not do the same work).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,44p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
build=$(cd "$1" && pwd) || exit 2
pairs=${PAIRS:-5}
pairs_quiet=${PAIRS_QUIET:-5}
pairs_max=${PAIRS_MAX:-7}
export PAIRS_MIN=${PAIRS_MIN:-3}
survey=${SURVEY:-2}
[ -n "${REPEAT:-}" ] && echo "run_gc.sh: REPEAT is gone; PAIRS=$pairs rounds and SURVEY=$survey runs outside them (see the header)" >&2
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

nice_cmd=()   # set by bench_nice (bench/lib.sh)
bench_nice
probe_bin=$bindir/pagealloc-bench-probe
probe_samples=${PROBE_SAMPLES:-3}
[ -x "$probe_bin" ] || { echo "run_gc.sh: $probe_bin is missing; build it first (cmake --build $1)" >&2; exit 2; }
if [ -n "$pin" ]; then
  cpus=$pin; pt=1
else
  cpus=$(python3 -c 'import os; print(",".join(map(str, sorted(os.sched_getaffinity(0)))))')
  pt=$(awk -F, '{ print NF }' <<<"$cpus")
fi

log=$(mktemp)
errf=$(mktemp)
outf=$(mktemp)
trap 'rm -f "$log" "$errf" "$outf"' EXIT

# References thrown away after each run before the one that frames it
# (SETTLE_PROBES): the first reference after a program that mapped and
# freed hundreds of MiB (alloc-rate) ran at ~0.6 of the others in most
# rounds of a quiet make bench (ddef751: 0 of 7 alloc-rate rounds kept),
# as if the kernel were still finishing that process's teardown; the same
# was seen after the stack benchmark's mmap runs (bench/stack_paired.h).
# alloc-rate's quiet rounds, bdwgc/ours/go, load 0.2-1.5 (2026-12-05
# 04:48-04:52): 0 settle probes 2 of 6 and 4 of 7, 1: 3 of 6 and 5 of 7,
# 2: 7 of 7; about 80 ms a run.
settle_probes=${SETTLE_PROBES:-2}

# The reference loop on $cpus, $pt threads: its speed into $last_probe.
probe() {
  last_probe=$("${nice_cmd[@]}" taskset -c "$cpus" "$probe_bin" "$pt" "$probe_samples" 2>/dev/null | sed -n 's/.*ops=//p')
  [ -n "$last_probe" ] || last_probe=0
}

# One measurement in its own process, framed by the reference loop
# ($last_probe before it, a new probe after); a failure is logged, never
# fatal.
run_one() {   # implementation-index program phase round
  local k=$1 p=$2 rc=0 pre=() why cmd line s p0=$last_probe
  if [ "${kinds[k]}" = go ]; then
    cmd="$gobin/$p ${arg[$p]}"
  else
    cmd="$bindir/pagealloc-gcbench-$p-${kinds[k]} ${arg[$p]}"
  fi
  [ -n "${preloads[k]}" ] && pre=("LD_PRELOAD=${preloads[k]}")
  [ -n "$pin" ] && cmd="taskset -c $pin $cmd"
  # shellcheck disable=SC2086
  "${nice_cmd[@]}" env "${pre[@]}" timeout "$timeout_s" $cmd >"$outf" 2>"$errf" || rc=$?
  for ((s = 0; s < settle_probes; s++)); do probe; done
  probe
  line=$(grep -m1 '^{"program"' "$outf")
  if [ $rc -ne 0 ] || [ -z "$line" ]; then
    why=$(tail -n3 "$errf" | tr '\n\t' '  ' | tr -s ' ' | cut -c1-200)
    [ $rc -eq 124 ] && why="timed out after ${timeout_s} s; $why"
    [[ $line == *'"ok":false'* ]] && why="contents changed or checks wrong (\"ok\":false); $why"
    printf 'FAIL\t%s\t%s\t%s\t%s\t%s %s\t%s\n' "$p" "${labels[k]}" "$rc" "$why" "${pre[*]}" "$cmd" "${line:+1}" >>"$log"
    echo "run_gc.sh: ${labels[k]} $p failed (exit $rc): $why" >&2
    [ -n "$line" ] || return 0
  fi
  printf 'RUN\t%s\t%s\t%s\t%s\t%s\tphase=%s\tround=%s\tcpus=%s\tpt=%s\tprobe0=%s\tprobe1=%s\n' \
    "$p" "${labels[k]}" "${froms[k]}" "$line" "$rc" "$3" "$4" "$cpus" "$pt" "$p0" "$last_probe" >>"$log"
}

# The rounds' members (bdwgc, ours, go: those present; ours in the middle)
# and the rest (glibc, mimalloc), as indexes into labels.
group=() rest=()
for want_l in bdwgc ours go; do
  for ((j = 0; j < n; j++)); do [ "${labels[j]}" = "$want_l" ] && group+=("$j"); done
done
for ((j = 0; j < n; j++)); do
  case ${labels[j]} in bdwgc|ours|go) ;; *) rest+=("$j") ;; esac
done
group_peers=$(for j in "${group[@]}"; do [ "${labels[j]}" != ours ] && printf '%s,' "${labels[j]}"; done)
group_peers=${group_peers%,}
paired=0
[[ " ${labels[*]} " == *" ours "* ]] && [ -n "$group_peers" ] && paired=1

# One round of program p: the group, the order reversed on even rounds,
# one probe before the first run.
round_one() {   # program round
  local a order=("${group[@]}")
  if (($2 % 2 == 0)); then
    order=()
    for ((a = ${#group[@]} - 1; a >= 0; a--)); do order+=("${group[a]}"); done
  fi
  probe
  for a in "${order[@]}"; do run_one "$a" "$1" pair "$2"; done
}

bench_begin "$root" src include bench/gc
for ((r = 1; r <= pairs; r++)); do
  echo "run_gc.sh: round $r/$pairs" >&2
  for ((i = 0; i < ${#programs[@]}; i++)); do
    round_one "${programs[i]}" "$r"
    # the implementations outside the rounds: SURVEY runs each, spread
    # over the first rounds, framed the same way
    if ((r <= survey)) && [ ${#rest[@]} -gt 0 ]; then
      probe
      for ((j = 0; j < ${#rest[@]}; j++)); do
        run_one "${rest[$(((j + r - 1 + i) % ${#rest[@]}))]}" "${programs[i]}" survey 0
      done
    fi
  done
done
for ((r = pairs + 1; r <= survey; r++)); do   # SURVEY > PAIRS
  for ((i = 0; i < ${#programs[@]}; i++)); do
    probe
    for ((j = 0; j < ${#rest[@]}; j++)); do run_one "${rest[j]}" "${programs[i]}" survey 0; done
  done
done
if [ $paired = 1 ]; then
  for ((i = 0; i < ${#programs[@]}; i++)); do
    bench_more_rounds run_gc.sh "$log" "${programs[i]}" "$group_peers" $((pairs + 1)) "$pairs_max" \
      "$pairs_quiet" round_one "${programs[i]}"
  done
fi
bench_end
absent_s=$(printf '%s\n' "${absent[@]+"${absent[@]}"}")
args_s=$(for p in "${programs[@]}"; do printf '%s=%s\n' "$p" "${arg[$p]}"; done)

ABSENT="$absent_s" ARGS="$args_s" python3 - "$log" "$results" <<EOF
import json, os, re, statistics, sys
sys.path.insert(0, "$root/bench")
import report, pairs
log, results = sys.argv[1], sys.argv[2]
machine, tree, elapsed = report.run_info("uncommitted_src_include_bench_gc_files")
labels = "${labels[*]}".split()
programs = "${programs[*]}".split()
absent = dict(l.split("=", 1) for l in os.environ["ABSENT"].splitlines() if l)
args = dict(l.split("=", 1) for l in os.environ["ARGS"].splitlines() if l)
n_pairs, survey = $pairs, $survey
env = {k: os.environ[k] for k in ("GOGC", "GOMAXPROCS", "GCB_SETTLE_MS", "PIN") if os.environ.get(k)}
columns = labels + [l for l in ("bdwgc", "ours", "go", "glibc", "mimalloc") if l in absent]

runs, fails, wrong_from = [], [], []
for line in open(log):
    f = line.rstrip("\n").split("\t")
    if f[0] == "FAIL":
        fails.append({"program": f[1], "impl": f[2], "exit": int(f[3]), "why": f[4], "repro": f[5].strip(),
                      "printed": f[6] == "1"})
        continue
    d = pairs.parse_line(line)
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

# The paired rows (bench/pairs.py): ours / bdwgc and ours / Go, time and
# longest pause, each the median of the rounds where both runs were quiet.
probe_best = pairs.annotate(runs)
PAIRED = (("elapsed_s", "bdwgc"), ("elapsed_s", "go"), ("max_pause_ms", "bdwgc"))
fig = {p: {f"{k}/{peer}": pairs.pair_figure(runs, p, "ours", [peer], k)
           for k, peer in PAIRED if "ours" in labels and peer in labels} for p in programs}

def paired(p, k, peer, limit):
    """(value, limit, detail) of a paired target."""
    f = fig[p].get(f"{k}/{peer}")
    return (f["value"] if f else None), limit, ("paired: " + pairs.describe(f) if f else "not measured (no rounds)")

bad_check = sorted({p for p in programs if len({r["check"] for r in runs if r["program"] == p}) > 1})
not_ok = sorted({f"{r['program']} {r['impl']}" for r in runs if not r["ok"]})

# The issue's targets, for ours, per program.
targets = report.Targets()
def target(name, program, value, limit, detail):
    targets.add(name, value, limit, detail, program=program)
for p in programs:
    o = median[p].get("ours")
    target("time / bdwgc <= 0.8", p, *paired(p, "elapsed_s", "bdwgc", 0.8))
    target("time / Go <= 1.0", p, *paired(p, "elapsed_s", "go", 1.0))
    target("peak RSS / bdwgc <= 1.0", p, o and o["rss_ratio_bdwgc"], 1.0, "median VmHWM")
    target("longest pause / bdwgc <= 0.5", p, *paired(p, "max_pause_ms", "bdwgc", 0.5))
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
o(f"Collector benchmarks: {n_pairs}+ paired rounds of bdwgc, ours and Go per program, glibc and mimalloc {survey} runs each (bench/pairs.py); the tables: median of every run per cell, (ratio) = median / bdwgc's median on that program, same run")
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
o("")
o(f"Paired: ours / peer in the same round, the median of the quiet rounds ({pairs.rule()}; best "
  + ", ".join(f"{v / 1e6:.0f} M ops/s on {w} CPU(s)" for w, v in sorted(probe_best.items()))
  + "); the ratio of medians of every run beside it")
o("")
o("| program | ratio | quiet rounds' median | all rounds' median | ratio of medians |")
o("| --- | --- | --- | --- | --- |")
for p in programs:
    for key, f in fig[p].items():
        a = f["all_rounds"]
        o(f"| {p} | {key.replace('elapsed_s', 'time').replace('max_pause_ms', 'longest pause').replace('/', ' / ')} | "
          f"{pairs.describe(f)} | {report.fmt(a and a['median'], 2)} | {report.fmt(f['ratio_of_medians'], 2)} |")
o("")
o("Targets (ours; time and longest pause: medians of quiet paired rounds; RSS: ratios of medians; this run):")
o("")
out += targets.table(("program", "target", "value", "verdict"), unmeasured="not measured")
problems = report.problem_lines(fails, "program", not_ok, "or the wrong library ran", wrong_from, bad_check,
                                "CHECK MISMATCH: the implementations did not do the same work")
out += problems
text = "\n".join(out)
print(text)
with open(f"{results}/gc.md", "w") as fh:
    fh.write(text + "\n")
j = {"benchmark": "gc", "repeat": n_pairs,
     "protocol": {"pairs": n_pairs, "pairs_quiet": $pairs_quiet, "pairs_max": $pairs_max,
                  "pairs_min": int("$PAIRS_MIN"), "survey": survey, "probe_agree": pairs.probe_agree(),
                  "probe_floor": pairs.probe_floor(), "probe_samples": int("$probe_samples"),
                  "nice": int(os.environ.get("BENCH_NICE", "0")),
                  "probe_best": {str(w): v for w, v in probe_best.items()}},
     "paired": fig, "machine": machine, "tree": tree, "env": env, "args": args,
     "elapsed_s": elapsed, "impls": labels, "absent": absent, "programs": programs,
     "median": median, "targets": targets.rows, "failures": fails, "contents_changed": not_ok,
     "check_mismatch": bad_check, "runs": runs}
report.write_json(f"{results}/gc.json", j)
sys.exit(1 if problems else 0)
EOF
