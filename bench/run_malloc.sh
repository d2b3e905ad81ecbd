#!/usr/bin/env bash
# The object-allocator benchmarks (bench/malloc/): every workload under
# glibc (no preload), jemalloc, tcmalloc, mimalloc (Debian packages, with
# LD_PRELOAD) and ours (LD_PRELOAD=BUILD_DIR/libpagealloc-malloc.so), in the
# same run, time and peak RSS as ratios to the best peer per workload.
#
# Usage: bench/run_malloc.sh BUILD_DIR
#   BUILD_DIR holds libpagealloc-malloc.so and bench/pagealloc-mbench-* (a
#   CMake build of this repo; Release for meaningful figures).
# Environment:
#   REPEAT=5        repetitions; every allocator runs every workload once
#                   per repetition, back to back, in an order rotated from
#                   one repetition to the next; medians reported (with 3,
#                   one slow moment of the shared VM moved a median 10-20 %)
#   ONLY=larson,churn  run only these workloads (larson xmalloc cache-thrash
#                   cache-scratch churn realloc mixed python)
#   PEERS=glibc,jemalloc,tcmalloc,mimalloc   peers to run (ours always)
#   MB_SCALE=1      multiplies every workload's amount of work (2 = twice as
#                   long); MB_THREADS=N threads (default: the CPUs)
#   PYTHON=/usr/bin/python3  the real-program row (python3 running
#                   bench/malloc/alloc_heavy.py); PYTHON= skips it
#   TIMEOUT=120     seconds before a run is killed and reported as failed
#   OURS_ENV="PAGEALLOC_MALLOC_SCAVENGER=0"  extra environment for ours
# Output: the tables on stdout (Markdown), bench/results/malloc.json (every
# run, medians, ratios, targets), bench/results/malloc.png (gnuplot).
# Exit status 1 if a run failed, found an object's contents changed, or the
# allocators did not do the same work (checksums differ).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
build=$(cd "$1" && pwd) || exit 2
repeat=${REPEAT:-5}
only=${ONLY:-larson,xmalloc,cache-thrash,cache-scratch,churn,realloc,mixed,python}
peers=${PEERS:-glibc,jemalloc,tcmalloc,mimalloc}
python=${PYTHON-/usr/bin/python3}
timeout_s=${TIMEOUT:-120}
ours_env=${OURS_ENV:-}
results=$root/bench/results
bindir=$build/bench
mkdir -p "$results"

ours_so=$build/libpagealloc-malloc.so
[ -f "$ours_so" ] || { echo "run_malloc.sh: $ours_so is missing; build it first (cmake --build $1)" >&2; exit 2; }

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

# Allocators: label, preload (empty: none), the file malloc must come from.
labels=() preloads=() froms=()
IFS=, read -r -a peer_list <<<"$peers"
for p in "${peer_list[@]}"; do
  so=
  case $p in
    glibc)    labels+=(glibc); preloads+=(""); froms+=(libc.so.6); continue ;;
    jemalloc) so=$(find_so libjemalloc2 libjemalloc.so.2) ;;
    tcmalloc) so=$(find_so libtcmalloc-minimal4 libtcmalloc_minimal.so.4) ;;
    mimalloc) so=$(find_so libmimalloc2.0 libmimalloc.so.2) ;;
    *) echo "run_malloc.sh: unknown peer '$p'" >&2; exit 2 ;;
  esac
  if [ -n "$so" ]; then
    labels+=("$p"); preloads+=("$so"); froms+=("$(basename "$so")")
  else
    echo "run_malloc.sh: $p's shared object not found (scripts/deps.sh bench installs it); skipping $p" >&2
  fi
done
labels+=(ours); preloads+=("$ours_so"); froms+=("$(basename "$ours_so")")
n=${#labels[@]}

# Workloads: name and command.
wnames=() wcmds=()
want() { [[ ",$only," == *",$1,"* ]]; }
for w in larson xmalloc cache-thrash cache-scratch churn realloc mixed; do
  want "$w" || continue
  b=$bindir/pagealloc-mbench-$w
  [ -x "$b" ] || { echo "run_malloc.sh: $b is missing; build it first (cmake --build $1)" >&2; exit 2; }
  wnames+=("$w"); wcmds+=("$b")
done
if want python && [ -n "$python" ]; then
  if [ -x "$python" ] && [ -x "$bindir/pagealloc-mbench-exec" ]; then
    wnames+=(python); wcmds+=("$bindir/pagealloc-mbench-exec python $python $root/bench/malloc/alloc_heavy.py")
  else
    echo "run_malloc.sh: $python or pagealloc-mbench-exec missing; no python row" >&2
  fi
fi

log=$(mktemp)
errf=$(mktemp)
trap 'rm -f "$log" "$errf"' EXIT

# One measurement in its own process; a failure is logged, never fatal.
run_one() {   # allocator-index workload-index
  local k=$1 i=$2 out rc=0 pre=() why
  [ -n "${preloads[k]}" ] && pre=("LD_PRELOAD=${preloads[k]}")
  [ "${labels[k]}" = ours ] && [ -n "$ours_env" ] && read -r -a extra <<<"$ours_env" && pre+=("${extra[@]}")
  # shellcheck disable=SC2086
  out=$(env "${pre[@]}" timeout "$timeout_s" ${wcmds[i]} 2>"$errf") || rc=$?
  line=$(grep -m1 '^{"workload"' <<<"$out")
  if [ $rc -ne 0 ] || [ -z "$line" ]; then
    why=$(tail -n3 "$errf" | tr '\n' ' ' | tr -s ' ' | cut -c1-200)
    [ $rc -eq 124 ] && why="timed out after ${timeout_s} s; $why"
    printf 'FAIL\t%s\t%s\t%s\t%s\t%s %s\n' "${wnames[i]}" "${labels[k]}" "$rc" "$why" "${pre[*]}" "${wcmds[i]}" >>"$log"
    echo "run_malloc.sh: ${labels[k]} ${wnames[i]} failed (exit $rc): $why" >&2
    [ -n "$line" ] || return 0
  fi
  printf 'RUN\t%s\t%s\t%s\t%s\n' "${wnames[i]}" "${labels[k]}" "${froms[k]}" "$line" >>"$log"
}

bench_begin "$root" src include
for ((r = 1; r <= repeat; r++)); do
  echo "run_malloc.sh: repetition $r/$repeat" >&2
  for ((i = 0; i < ${#wnames[@]}; i++)); do
    for ((j = 0; j < n; j++)); do run_one $(((j + r - 1 + i) % n)) "$i"; done
  done
done
bench_end

status=0
python3 - "$log" "$results" <<EOF || status=1
import json, math, statistics, sys
sys.path.insert(0, "$root/bench")
import report
log, results = sys.argv[1], sys.argv[2]
machine, tree, elapsed = report.run_info("uncommitted_src_include_files")
labels = "${labels[*]}".split()
workloads = "${wnames[*]}".split()
peers = [l for l in labels if l != "ours"]
repeat = $repeat
env = {"MB_SCALE": "${MB_SCALE:-1}", "MB_THREADS": "${MB_THREADS:-}", "OURS_ENV": "$ours_env"}

runs, fails, wrong_from = [], [], []
for line in open(log):
    f = line.rstrip("\n").split("\t")
    if f[0] == "FAIL":
        fails.append({"workload": f[1], "impl": f[2], "exit": int(f[3]), "why": f[4], "repro": f[5].strip()})
        continue
    d = json.loads(f[4])
    d["impl"] = f[2]
    if d["malloc_from"] != f[3]:
        wrong_from.append(f"{f[1]} {f[2]}: malloc from {d['malloc_from']}, expected {f[3]}")
        d["ok"] = False
    runs.append(d)

def vals(w, l, k):
    return [r[k] for r in runs if r["workload"] == w and r["impl"] == l]

def med(w, l, k):
    v = vals(w, l, k)
    return statistics.median(v) if v else None

def gmean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None

def rs(x, p=2):
    return "-" if x is None else f"{x:.{p}f}"

present = [l for l in labels if any(r["impl"] == l for r in runs)]
table, ratio = {}, {}
for w in workloads:
    for k in ("elapsed_s", "peak_rss_kib"):
        best = min((med(w, l, k) for l in peers if med(w, l, k) is not None), default=None)
        for l in present:
            m = med(w, l, k)
            table[(w, l, k)] = m
            ratio[(w, l, k)] = m / best if m is not None and best else None
        table[(w, "best", k)] = best

# Same work everywhere: the checksums of one workload agree across allocators.
bad_check = sorted({w for w in workloads if len({r["check"] for r in runs if r["workload"] == w}) > 1})
not_ok = sorted({f"{r['workload']} {r['impl']}" for r in runs if not r["ok"]})

out = []
p = out.append
p(f"Object-allocator benchmarks: median of {repeat} runs per cell; ratio = median / the best peer's median on that workload (peers: {', '.join(l for l in present if l != 'ours')}), all from this run")
p(report.header(machine, elapsed))
p(f"tree at the start: {tree['commit']} ({tree['uncommitted_src_include_files']} uncommitted files under src/ include/); MB_SCALE={env['MB_SCALE']}" + (f"; ours with {env['OURS_ENV']}" if env['OURS_ENV'] else ""))
for k, title, unit, scale in (("elapsed_s", "Time", "s", 1.0), ("peak_rss_kib", "Peak RSS (VmHWM)", "MiB", 1024.0)):
    p("")
    p(f"{title}: median {unit} (ratio to the best peer)")
    p("")
    p("| workload | " + " | ".join(present) + " | best peer |")
    p("| --- |" + " --- |" * (len(present) + 1))
    for w in workloads:
        cells = []
        for l in present:
            m = table.get((w, l, k))
            cells.append("-" if m is None else f"{m / scale:.{3 if unit == 's' else 1}f} ({rs(ratio[(w, l, k)])})")
        bl = min((l for l in peers if table.get((w, l, k)) is not None), key=lambda l: table[(w, l, k)], default="-")
        p(f"| {w} | " + " | ".join(cells) + f" | {bl} |")
    p("| **geomean of ratios** | " + " | ".join(rs(gmean([ratio[(w, l, k)] for w in workloads])) for l in present) + " | |")

targets = report.Targets()
target = targets.add
if "ours" in present:
    tr = {w: ratio[(w, "ours", "elapsed_s")] for w in workloads if ratio.get((w, "ours", "elapsed_s"))}
    rr = {w: ratio[(w, "ours", "peak_rss_kib")] for w in workloads if ratio.get((w, "ours", "peak_rss_kib"))}
    target("geomean time / best peer <= 1.0", gmean(tr.values()), 1.0,
           "over " + ", ".join(tr))
    worst = max(tr, key=tr.get) if tr else None
    over = [f"{w} {tr[w]:.2f}" for w in tr if tr[w] > 1.5]
    target("no workload's time / best peer > 1.5", tr[worst] if worst else None, 1.5,
           f"worst: {worst}" + (f"; over 1.5: {', '.join(over)}" if over else ""))
    target("geomean peak RSS / best peer <= 0.9", gmean(rr.values()), 0.9,
           "over " + ", ".join(rr))
p("")
p("Targets (ours; ratios of medians from this run):")
p("")
out += targets.table()
problems = report.problem_lines(fails, "workload", not_ok, "or the preload did not take", wrong_from, bad_check,
                                "CHECKSUM MISMATCH: the allocators did not do the same work (or print the same output)")
out += problems
print("\n".join(out))

j = {"benchmark": "malloc", "repeat": repeat, "machine": machine, "tree": tree, "env": env,
     "elapsed_s": elapsed, "allocators": present, "workloads": workloads,
     "median": {w: {l: {"elapsed_s": table.get((w, l, "elapsed_s")), "peak_rss_kib": table.get((w, l, "peak_rss_kib")),
                        "time_ratio": ratio.get((w, l, "elapsed_s")), "rss_ratio": ratio.get((w, l, "peak_rss_kib"))}
                    for l in present} for w in workloads},
     "geomean": {l: {"time_ratio": gmean([ratio[(w, l, "elapsed_s")] for w in workloads]),
                     "rss_ratio": gmean([ratio[(w, l, "peak_rss_kib")] for w in workloads])} for l in present},
     "targets": targets.rows, "failures": fails, "contents_changed": not_ok, "checksum_mismatch": bad_check,
     "runs": runs}
report.write_json(f"{results}/malloc.json", j)
with open(f"{results}/malloc.dat", "w") as fh:
    fh.write("# workload " + " ".join(f"{l}_time {l}_rss" for l in labels) + "\n")
    for w in workloads + ["geomean"]:
        row = []
        for l in labels:
            if w == "geomean":
                g = j["geomean"].get(l, {})
                row += [g.get("time_ratio"), g.get("rss_ratio")]
            else:
                row += [ratio.get((w, l, "elapsed_s")), ratio.get((w, l, "peak_rss_kib"))]
        fh.write(w + " " + " ".join("NaN" if x is None else f"{x:.4f}" for x in row) + "\n")
sys.exit(1 if problems else 0)
EOF

# The chart: time and peak RSS ratios per workload, one bar per allocator.
dat=$results/malloc.dat
if command -v gnuplot >/dev/null 2>&1 && [ -s "$dat" ]; then
  {
    echo "set terminal pngcairo size 1400,900 noenhanced font ',10'"
    echo "set output '$results/malloc.png'"
    echo "set multiplot layout 2,1 title 'Object allocators: ratio to the best peer per workload (lower is better; median of $repeat runs, same run)'"
    echo "set style data histogram; set style histogram cluster gap 1; set style fill solid 0.85 border -1"
    echo "set boxwidth 0.9; set grid ytics; set key outside right top; set logscale y 2; set yrange [0.25:*]"
    echo "set xtics rotate by -20"
    for m in time rss; do
      if [ $m = time ]; then
        echo "set title 'time'; set ylabel 'elapsed / best peer (log)'"
        echo "set arrow 1 from graph 0, first 1.5 to graph 1, first 1.5 nohead dt 2 lc rgb '#c03030'"
        off=2
      else
        echo "set title 'peak RSS (VmHWM)'; set ylabel 'peak RSS / best peer (log)'"
        echo "set arrow 1 from graph 0, first 0.9 to graph 1, first 0.9 nohead dt 2 lc rgb '#30a050'"
        off=3
      fi
      plot="plot"
      for ((k = 0; k < n; k++)); do
        col=$((off + 2 * k))
        sep=","; [ $k -eq $((n - 1)) ] && sep=""
        if [ $k -eq 0 ]; then
          plot+=" '$dat' using $col:xtic(1) title '${labels[k]}'$sep"
        else
          plot+=" '' using $col title '${labels[k]}'$sep"
        fi
      done
      echo "$plot"
    done
    echo "unset multiplot"
  } >"$results/malloc.gp"
  if gnuplot "$results/malloc.gp" 2>"$errf"; then
    echo "run_malloc.sh: wrote $results/malloc.png" >&2
  else
    echo "run_malloc.sh: gnuplot failed: $(head -c 300 "$errf")" >&2
  fi
  rm -f "$results/malloc.gp"
else
  echo "run_malloc.sh: gnuplot not available or no data; no chart" >&2
fi
exit $status
