#!/usr/bin/env bash
# The object-allocator benchmarks (bench/malloc/): every workload under
# glibc (no preload), jemalloc, tcmalloc, mimalloc (Debian packages, with
# LD_PRELOAD) and ours (LD_PRELOAD=BUILD_DIR/libpagealloc-malloc.so), in the
# same run, time and peak RSS as ratios to the best peer per workload.
#
# Usage: bench/run_malloc.sh BUILD_DIR
#   BUILD_DIR holds libpagealloc-malloc.so and bench/pagealloc-mbench-* (a
#   CMake build of this repo; Release for meaningful figures).
# Protocol (bench/pairs.py, docs/workloads.md "Paired rows"): a survey of
# every allocator, then paired rounds of ours against the two fastest peers
# of the survey, on pinned CPUs, each run framed by a reference loop
# (pagealloc-bench-probe); a row's time ratio is the median of its quiet
# rounds' ratios ours / the faster of the two in the same round, with its
# IQR, or "not measured (under load)" with fewer than PAIRS_MIN quiet.
# Environment:
#   SURVEY=2        survey repetitions: every allocator runs every workload
#                   once per repetition, back to back, in an order rotated
#                   from one repetition to the next (the tables' medians
#                   and each workload's two peers come from them)
#   PAIRS=6 PAIRS_QUIET=6 PAIRS_MAX=12 PAIRS_MIN=4  rounds per workload:
#                   PAIRS, more while fewer than PAIRS_QUIET are quiet (up
#                   to PAIRS_MAX), and at least PAIRS_MIN quiet for a figure
#   PAIR_PEERS=2    peers in a round (the fastest of the survey)
#   PROBE_AGREE=0.85 PROBE_FLOOR=0.5  a round's pair counts when the
#                   reference loops just before, between and after ours and
#                   the peer are within PROBE_AGREE of the highest of them
#                   and >= PROBE_FLOOR of the run's best (and, a
#                   single-thread workload, CPU_QUIET=0.93: each run's CPU
#                   time at least this fraction of its wall time)
#   PROBE_SAMPLES=3 each reference: the median of this many samples
#   NICE=-19        every run and reference under `nice -n NICE` (the default
#                   where allowed, root; NICE=0: normal priority; bench/lib.sh)
#   PIN_SINGLE=1    single-thread workloads on one CPU (changing every two
#                   rounds), threaded ones on all; PIN_SINGLE=0: all on all
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
[ $# -ge 1 ] || { sed -n '2,48p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
build=$(cd "$1" && pwd) || exit 2
survey=${SURVEY:-2}
pairs=${PAIRS:-6}
pairs_quiet=${PAIRS_QUIET:-6}
pairs_max=${PAIRS_MAX:-12}
export PAIRS_MIN=${PAIRS_MIN:-4}
pair_peers=${PAIR_PEERS:-2}
pin=${PIN_SINGLE:-1}
[ -n "${REPEAT:-}" ] && echo "run_malloc.sh: REPEAT is gone; SURVEY=$survey survey repetitions and PAIRS=$pairs paired rounds (see the header)" >&2
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

# Workloads: name, command, and whether it runs one thread (pinned to one
# CPU under PIN_SINGLE=1) or one per CPU (MB_THREADS; run on every CPU).
wnames=() wcmds=() wsingle=()
want() { [[ ",$only," == *",$1,"* ]]; }
for w in larson xmalloc cache-thrash cache-scratch churn realloc mixed; do
  want "$w" || continue
  b=$bindir/pagealloc-mbench-$w
  [ -x "$b" ] || { echo "run_malloc.sh: $b is missing; build it first (cmake --build $1)" >&2; exit 2; }
  wnames+=("$w"); wcmds+=("$b")
  case $w in churn|realloc|mixed) wsingle+=(1) ;; *) wsingle+=(0) ;; esac
done
if want python && [ -n "$python" ]; then
  if [ -x "$python" ] && [ -x "$bindir/pagealloc-mbench-exec" ]; then
    wnames+=(python); wcmds+=("$bindir/pagealloc-mbench-exec python $python $root/bench/malloc/alloc_heavy.py")
    wsingle+=(1)
  else
    echo "run_malloc.sh: $python or pagealloc-mbench-exec missing; no python row" >&2
  fi
fi
nice_cmd=()   # set by bench_nice (bench/lib.sh)
bench_nice
probe_bin=$bindir/pagealloc-bench-probe
probe_samples=${PROBE_SAMPLES:-3}
[ -x "$probe_bin" ] || { echo "run_malloc.sh: $probe_bin is missing; build it first (cmake --build $1)" >&2; exit 2; }
IFS=, read -r -a cpu_list <<<"$(python3 -c 'import os; print(",".join(map(str, sorted(os.sched_getaffinity(0)))))')"
all_cpus=$(IFS=,; echo "${cpu_list[*]}")

log=$(mktemp)
errf=$(mktemp)
trap 'rm -f "$log" "$errf"' EXIT

# The CPUs of workload i's round or repetition r, and the probe's width.
cpus_for() {   # workload-index r
  if [ "$pin" != 0 ] && [ "${wsingle[$1]}" = 1 ]; then
    cpus=${cpu_list[$(((($2 - 1) / 2) % ${#cpu_list[@]}))]}; pt=1; solo=1
  else
    cpus=$all_cpus; pt=${#cpu_list[@]}; solo=0
  fi
}

# The reference loop on $cpus, $pt threads: its speed into $last_probe.
probe() {
  last_probe=$("${nice_cmd[@]}" taskset -c "$cpus" "$probe_bin" "$pt" "$probe_samples" 2>/dev/null | sed -n 's/.*ops=//p')
  [ -n "$last_probe" ] || last_probe=0
}

# One measurement in its own process, on $cpus, framed by the reference
# loop ($last_probe before it, a new probe after); a failure is logged,
# never fatal.
run_one() {   # allocator-index workload-index phase round
  local k=$1 i=$2 out rc=0 pre=() why p0=$last_probe pin_cmd=()
  [ -n "${preloads[k]}" ] && pre=("LD_PRELOAD=${preloads[k]}")
  [ "${labels[k]}" = ours ] && [ -n "$ours_env" ] && read -r -a extra <<<"$ours_env" && pre+=("${extra[@]}")
  [ "$pin" != 0 ] && pin_cmd=(taskset -c "$cpus")
  # shellcheck disable=SC2086
  out=$("${nice_cmd[@]}" env "${pre[@]}" "${pin_cmd[@]}" timeout "$timeout_s" ${wcmds[i]} 2>"$errf") || rc=$?
  probe
  line=$(grep -m1 '^{"workload"' <<<"$out")
  if [ $rc -ne 0 ] || [ -z "$line" ]; then
    why=$(tail -n3 "$errf" | tr '\n' ' ' | tr -s ' ' | cut -c1-200)
    [ $rc -eq 124 ] && why="timed out after ${timeout_s} s; $why"
    printf 'FAIL\t%s\t%s\t%s\t%s\t%s %s\n' "${wnames[i]}" "${labels[k]}" "$rc" "$why" "${pre[*]} ${pin_cmd[*]}" "${wcmds[i]}" >>"$log"
    echo "run_malloc.sh: ${labels[k]} ${wnames[i]} failed (exit $rc): $why" >&2
    [ -n "$line" ] || return 0
  fi
  printf 'RUN\t%s\t%s\t%s\t%s\tphase=%s\tround=%s\tcpus=%s\tpt=%s\tprobe0=%s\tprobe1=%s\tsolo=%s\n' \
    "${wnames[i]}" "${labels[k]}" "${froms[k]}" "$line" "$3" "$4" "$cpus" "$pt" "$p0" "$last_probe" "$solo" >>"$log"
}

index_of() { local j; for ((j = 0; j < n; j++)); do [ "${labels[j]}" = "$1" ] && echo $j && return; done; }

# One paired round of workload i: ours between its peers, the order
# reversed on even rounds, one probe before the first run.
round_one() {   # workload-index round
  local i=$1 r=$2 g=() ps=() rev=() a
  IFS=, read -r -a ps <<<"${round_peers[i]}"
  if [ ${#ps[@]} -ge 2 ]; then g=("${ps[0]}" ours "${ps[@]:1}"); else g=(ours "${ps[@]}"); fi
  if ((r % 2 == 0)); then
    for ((a = ${#g[@]} - 1; a >= 0; a--)); do rev+=("${g[a]}"); done
    g=("${rev[@]}")
  fi
  cpus_for "$i" "$r"
  probe
  for a in "${g[@]}"; do run_one "$(index_of "$a")" "$i" pair "$r"; done
}

bench_begin "$root" src include
peer_csv=$(IFS=,; echo "${labels[*]:0:n-1}")
# The survey: every allocator, rotated, framed like the rounds.
for ((r = 1; r <= survey; r++)); do
  echo "run_malloc.sh: survey $r/$survey" >&2
  for ((i = 0; i < ${#wnames[@]}; i++)); do
    cpus_for "$i" "$r"
    probe
    for ((j = 0; j < n; j++)); do run_one $(((j + r - 1 + i) % n)) "$i" survey 0; done
  done
done
# Each workload's peers: the PAIR_PEERS fastest of the survey.
round_peers=()
for ((i = 0; i < ${#wnames[@]}; i++)); do
  round_peers+=("$(python3 "$root/bench/pairs.py" fastest "$log" "${wnames[i]}" "$pair_peers" "$peer_csv")")
  echo "run_malloc.sh: ${wnames[i]}: ours against ${round_peers[i]}" >&2
done
# PAIRS rounds of every workload, interleaved; then more rounds of a
# workload while fewer than PAIRS_QUIET of its rounds are quiet.
if [ -n "$peer_csv" ]; then
  for ((r = 1; r <= pairs; r++)); do
    echo "run_malloc.sh: round $r/$pairs" >&2
    for ((i = 0; i < ${#wnames[@]}; i++)); do round_one "$i" "$r"; done
  done
  for ((i = 0; i < ${#wnames[@]}; i++)); do
    bench_more_rounds run_malloc.sh "$log" "${wnames[i]}" "${round_peers[i]}" $((pairs + 1)) \
      "$pairs_max" "$pairs_quiet" round_one "$i"
  done
fi
bench_end

status=0
rp_s=$(printf '%s\n' "${round_peers[@]+"${round_peers[@]}"}")
ROUND_PEERS="$rp_s" python3 - "$log" "$results" <<EOF || status=1
import json, math, os, statistics, sys
sys.path.insert(0, "$root/bench")
import report, pairs
log, results = sys.argv[1], sys.argv[2]
machine, tree, elapsed = report.run_info("uncommitted_src_include_files")
labels = "${labels[*]}".split()
workloads = "${wnames[*]}".split()
peers = [l for l in labels if l != "ours"]
survey, pair_rounds = $survey, $pairs
round_peers = dict(zip(workloads, os.environ["ROUND_PEERS"].split("\n")))
env = {"MB_SCALE": "${MB_SCALE:-1}", "MB_THREADS": "${MB_THREADS:-}", "OURS_ENV": "$ours_env"}

runs, fails, wrong_from = [], [], []
for line in open(log):
    f = line.rstrip("\n").split("\t")
    if f[0] == "FAIL":
        fails.append({"workload": f[1], "impl": f[2], "exit": int(f[3]), "why": f[4], "repro": f[5].strip()})
        continue
    d = pairs.parse_line(line)
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

# The paired rows (bench/pairs.py): per peer, the median of ours / peer
# over the quiet rounds, the row the highest of them; the old ratio of
# medians beside it.
probe_best = pairs.annotate(runs)
fig = {w: pairs.pair_figure(runs, w, "ours", round_peers[w].split(","))
       for w in workloads if "ours" in present and round_peers.get(w)}

# Same work everywhere: the checksums of one workload agree across allocators.
bad_check = sorted({w for w in workloads if len({r["check"] for r in runs if r["workload"] == w}) > 1})
not_ok = sorted({f"{r['workload']} {r['impl']}" for r in runs if not r["ok"]})

out = []
p = out.append
p(f"Object-allocator benchmarks: {survey} survey runs of every allocator, then paired rounds of ours against each workload's two fastest peers (bench/pairs.py); the tables: median of every run per cell, ratio = median / the best peer's median on that workload (peers: {', '.join(l for l in present if l != 'ours')}), all from this run")
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

p("")
p(f"Time, paired: per peer, the median of ours / that peer in the same round over the quiet rounds; the row is the peer ours does worst against "
  f"({pairs.rule()}; "
  f"best {', '.join(f'{v / 1e6:.0f} M ops/s on {w} CPU(s)' for w, v in sorted(probe_best.items()))}); "
  f"the ratio of medians of every run beside it")
p("")
p("| workload | CPUs | peers | ours / best peer, quiet rounds | all rounds' median | ratio of medians |")
p("| --- | --- | --- | --- | --- | --- |")
for w, x in fig.items():
    cp = sorted({r["cpus"] for r in runs if r["name"] == w and r.get("phase") == "pair"})
    a = x["all_rounds"]
    p(f"| {w} | {' / '.join(cp) or '-'} | {round_peers[w]} | {pairs.describe(x)} | {rs(a and a['median'])} | "
      f"{rs(x['ratio_of_medians'])} |")

targets = report.Targets()
target = targets.add
if "ours" in present:
    tr = {w: fig[w]["value"] for w in fig}
    unmeasured = [w for w in tr if tr[w] is None]
    rr = {w: ratio[(w, "ours", "peak_rss_kib")] for w in workloads if ratio.get((w, "ours", "peak_rss_kib"))}
    how = "medians of quiet paired rounds"
    if unmeasured or not tr:
        why = f"not measured (under load): {', '.join(unmeasured) or 'no paired rounds'}; " + how
        target("geomean time / best peer <= 1.0", None, 1.0, why)
        target("no workload's time / best peer > 1.5", None, 1.5, why)
    else:
        target("geomean time / best peer <= 1.0", gmean(tr.values()), 1.0, "over " + ", ".join(tr) + "; " + how)
        worst = max(tr, key=tr.get)
        over = [f"{w} {tr[w]:.2f}" for w in tr if tr[w] > 1.5]
        target("no workload's time / best peer > 1.5", tr[worst], 1.5,
               f"worst: {worst} ({pairs.describe(fig[worst])})" + (f"; over 1.5: {', '.join(over)}" if over else ""))
    target("geomean peak RSS / best peer <= 0.9", gmean(rr.values()), 0.9,
           "over " + ", ".join(rr) + "; ratios of medians")
p("")
p("Targets (ours; time: paired rounds, peak RSS: ratios of medians, all from this run):")
p("")
out += targets.table()
problems = report.problem_lines(fails, "workload", not_ok, "or the preload did not take", wrong_from, bad_check,
                                "CHECKSUM MISMATCH: the allocators did not do the same work (or print the same output)")
out += problems
print("\n".join(out))

j = {"benchmark": "malloc", "repeat": survey,
     "protocol": {"survey": survey, "pairs": pair_rounds, "pairs_quiet": $pairs_quiet, "pairs_max": $pairs_max,
                  "pairs_min": int("$PAIRS_MIN"), "probe_agree": pairs.probe_agree(),
                  "probe_floor": pairs.probe_floor(), "probe_samples": int("$probe_samples"), "pin": "$pin",
                  "cpu_quiet": pairs.cpu_quiet(), "nice": int(os.environ.get("BENCH_NICE", "0")),
                  "probe_best": {str(w): v for w, v in probe_best.items()}},
     "paired": fig, "machine": machine, "tree": tree, "env": env,
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
                t = g.get("time_ratio")
                if l == "ours" and fig:
                    t = targets.rows[0]["value"] if targets.rows else None
                row += [t, g.get("rss_ratio")]
            elif l == "ours" and w in fig:
                row += [fig[w]["value"], ratio.get((w, l, "peak_rss_kib"))]
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
    echo "set multiplot layout 2,1 title 'Object allocators: ratio to the best peer per workload (lower is better; ours time: paired rounds, the rest: medians; same run)'"
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
        # a column without one figure (ours' time with every workload
        # under load) would stop gnuplot: an empty bar, said in the key
        use=$col title=${labels[k]}
        if ! awk -v c="$col" '!/^#/ && $c != "NaN" { f = 1 } END { exit !f }' "$dat"; then
          use="(0.25)" title="${labels[k]} (not measured)"
        fi
        if [ $k -eq 0 ]; then
          plot+=" '$dat' using $use:xtic(1) title '$title'$sep"
        else
          plot+=" '' using $use title '$title'$sep"
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
