#!/usr/bin/env bash
# The backed benchmarks W5 (touch) and W6 (threads) of docs/workloads.md: ours
# (pageheap: default shards, one shard, and default shards without run
# caches, ours-norc) next to glibc, jemalloc,
# mimalloc, tcmalloc and raw mmap, in the same run.
#
# Usage: bench/run_backed.sh BUILD_DIR
#   BUILD_DIR holds bench/pagealloc-bench-backed* (a CMake build of this
#   repo; Release for meaningful figures).
# Environment:
#   REPEAT=5        repetitions; every allocator runs once per repetition, in
#                   an order rotated from one repetition to the next, so all
#                   see the same machine noise; medians and min-max reported
#   MMAP_REPEAT=1   repetitions that include the mmap peer (its W5 run alone
#                   takes ~40 s; its RSS figures hardly vary)
#   ONLY=W5,W6      run only these workloads
#   THREADS=1,2     W6 thread counts (default 1 and every CPU: 1,nproc)
#   PEERS=glibc,jemalloc,mimalloc,tcmalloc,mmap   peers to run (ours always)
#   SCALE_REPEAT=15 pairs of the W6 scaling protocol (0: none; see below)
#   SCALE_MAX=40    more pairs, up to this many, while fewer than
#                   SCALE_QUIET=10 of a workload's pairs were quiet
#   SCALE_WL=W6-W2,W6-W1   workloads of the scaling protocol
#   SPIN_STEPS=100000000   register-loop iterations per thread in it
#   SCALE_REPS=3    ours' measurements per side of a pair, in one process
#   SCALE_GAP=0.1   seconds of sleep before each run of the protocol: under
#                   chrt -f the runs back to back would use up the kernel's
#                   real-time budget (sched_rt_runtime_us, 95 %) and be
#                   stopped for up to 50 ms in the middle of a measurement
#   PROBE_QUIET=0.85  a side of a pair is quiet if its reference loop ran at
#                   >= this share of the protocol's best reference speed
# The W6 scaling protocol (run after the repetitions, when W6 runs with more
# than one thread count): SCALE_REPEAT pairs of ours at T=1 and T=2 (the first
# and last of THREADS), the process pinned with taskset (T=1 on one CPU,
# changing every two pairs, so each CPU sees both orders; T=2 on two, one thread
# each), in ABBA order (odd pairs: loop T=1, ours T=1, ours T=2, loop T=2;
# even pairs the reverse), so each pair's ratio T=2 / T=1 comes from runs
# seconds apart and next to the register loop's own ratio. Each side of ours
# is SCALE_REPS measurements in one process (--reps), each framed by a
# reference loop (--probe, bench/backed_probe.h: W2's access pattern without
# an allocator) run by its threads just before and just after it: on this
# shared VM each vCPU runs such code at about 0.6x now and then, for
# seconds, which the register loop does not see. A measurement is quiet if
# its reference ran at >= PROBE_QUIET (0.85) of the protocol's best
# reference speed (slowest thread, before and after); a side is quiet if
# most of its measurements are (its value: the best of those), a pair if both
# sides are (bench/scale_pairs.py). The target is the median of the quiet
# pairs' ratios, reported with its IQR, min-max, how many pairs were kept
# and why the others were dropped; with fewer than 5 quiet pairs it is not
# measured (under load: all pairs' median in the detail only).
# Output: the tables on stdout (Markdown), bench/results/backed.json,
# bench/results/backed.log (the raw lines),
# bench/results/backed.png (gnuplot). Exit status 1 if a run failed
# unexpectedly or the allocators did not replay the same sequences.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,52p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
build=$(cd "$1" && pwd)
repeat=${REPEAT:-5}
mmap_repeat=${MMAP_REPEAT:-1}
only=${ONLY:-W5,W6}
ncpu=$(nproc 2>/dev/null || echo 2)
threads=${THREADS:-1,$ncpu}
[ "$threads" = "1,1" ] && threads=1
peers=${PEERS:-glibc,jemalloc,mimalloc,tcmalloc,mmap}
scale_repeat=${SCALE_REPEAT:-15}
scale_max=${SCALE_MAX:-40}
[ "$scale_max" -ge "$scale_repeat" ] || scale_max=$scale_repeat
scale_wl=${SCALE_WL:-W6-W2,W6-W1}
scale_reps=${SCALE_REPS:-3}
scale_quiet=${SCALE_QUIET:-10}
scale_gap=${SCALE_GAP:-0.1}
spin_steps=${SPIN_STEPS:-100000000}
results=$root/bench/results
bindir=$build/bench
mkdir -p "$results"

ours=$bindir/pagealloc-bench-backed
[ -x "$ours" ] || { echo "run_backed.sh: $ours is missing; build it first (cmake --build $1)" >&2; exit 2; }
[ -x "$bindir/pagealloc-bench-backed-mmap" ] || { echo "run_backed.sh: pagealloc-bench-backed-mmap is missing" >&2; exit 2; }

# Configurations: label and command.
labels=(ours ours-1shard ours-norc)
cmds=("$ours" "$ours --shards 1" "$ours --no-run-cache")
IFS=, read -r -a peer_list <<<"$peers"
for p in "${peer_list[@]}"; do
  b=$bindir/pagealloc-bench-backed-$p
  if [ -x "$b" ]; then
    labels+=("$p"); cmds+=("$b")
  else
    echo "run_backed.sh: $b not built (missing Debian package? scripts/deps.sh bench); skipping $p" >&2
  fi
done
n=${#labels[@]}
IFS=, read -r -a tlist <<<"$threads"

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
log=$(mktemp)
errlog=$(mktemp)
trap 'rm -f "$log" "$errlog"' EXIT

# One measurement in its own process. A failure is logged, not fatal.
run_one() {   # label command workload threads [name to log the workload under]
  local out rc=0
  out=$($2 --workload "$3" --threads "$4" 2>>"$errlog") || rc=$?
  [ -n "${5:-}" ] && out=${out//" $3 "/" $5 "}
  if [ $rc -ne 0 ]; then
    local why
    why=$(tail -n1 "$errlog" | tr -s ' ' | cut -c1-160)
    echo "fail $3 $1 T=$4 exit=$rc $why" >>"$log"
    echo "run_backed.sh: $1 $3 T=$4 failed: $why" >&2
  fi
  grep -E '^(backed|info) ' <<<"$out" >>"$log" || true
}

want() { [[ ",$only," == *",$1,"* ]]; }
bench_begin "$root" src include
for ((r = 1; r <= repeat; r++)); do
  echo "run_backed.sh: repetition $r/$repeat" >&2
  order=()
  for ((k = 0; k < n; k++)); do order+=($(((k + r - 1) % n))); done
  # Thread counts ascending on odd repetitions, descending on even ones.
  tord=("${tlist[@]}")
  if [ $((r % 2)) -eq 0 ]; then
    tord=(); for ((k = ${#tlist[@]} - 1; k >= 0; k--)); do tord+=("${tlist[k]}"); done
  fi
  if want W5; then
    for k in "${order[@]}"; do
      [ "${labels[k]}" = mmap ] && [ "$r" -gt "$mmap_repeat" ] && continue
      run_one "${labels[k]}" "${cmds[k]}" W5 1
    done
  fi
  if want W6; then
    for w in W6-W1 W6-W2 W6-W3; do
      # The machine's own scaling right now (register-only loop).
      for t in "${tord[@]}"; do run_one cpu "$bindir/pagealloc-bench-backed-mmap" W6-spin "$t" "$w-spin"; done
      for k in "${order[@]}"; do
        [ "${labels[k]}" = mmap ] && [ "$r" -gt "$mmap_repeat" ] && continue
        for t in "${tord[@]}"; do run_one "${labels[k]}" "${cmds[k]}" "$w" "$t"; done
      done
    done
  fi
done

# The W6 scaling protocol (see the header). Lines "scale PAIR WORKLOAD IMPL T
# CPUS ops=..." go to the log.
scale_one() {   # pair workload-tag cpus label command workload threads [steps]
  local out rc=0 probe=
  [ "$4" = ours ] && probe="--probe --reps $scale_reps"
  sleep "$scale_gap"
  out=$(taskset -c "$3" $5 --workload "$6" --threads "$7" ${8:+--steps "$8"} $probe 2>>"$errlog") || rc=$?
  if [ $rc -ne 0 ]; then
    echo "run_backed.sh: scaling pair $1: $4 $6 T=$7 failed (exit $rc)" >&2
    echo "fail $2 $4 T=$7 exit=$rc scaling protocol" >>"$log"
    return
  fi
  sed -n "s/^backed [^ ]* [^ ]* T=[0-9]* /scale $1 $2 $4 $7 $3 /p" <<<"$out" >>"$log"
}
# The fewest quiet pairs of any workload so far (bench/scale_pairs.py, the
# report's own definition). PROBE_QUIET reaches it through the environment.
quiet_pairs() { python3 "$root/bench/scale_pairs.py" "$log" "$t1" "$tn"; }
t1=${tlist[0]}
tn=${tlist[${#tlist[@]} - 1]}
if want W6 && [ "$tn" -gt "$t1" ] && [ "$scale_repeat" -gt 0 ]; then
  if ! command -v taskset >/dev/null 2>&1; then
    echo "run_backed.sh: taskset (util-linux) missing: no scaling protocol" >&2
  else
    IFS=, read -r -a cpus <<<"$(python3 -c 'import os; print(",".join(map(str, sorted(os.sched_getaffinity(0)))))')"
    if [ "${#cpus[@]}" -lt "$tn" ]; then
      echo "run_backed.sh: $tn threads but only ${#cpus[@]} CPUs allowed: no scaling protocol" >&2
    else
      many=$(IFS=,; echo "${cpus[*]:0:$tn}")
      IFS=, read -r -a swl <<<"$scale_wl"
      r=0
      while :; do
        r=$((r + 1))
        echo "run_backed.sh: scaling pair $r (at least $scale_repeat, at most $scale_max)" >&2
        # T=1's CPU changes every two pairs, so that each CPU sees both orders.
        one=${cpus[$((((r - 1) / 2) % tn))]}
        for w in "${swl[@]}"; do
          if [ $((r % 2)) -eq 1 ]; then
            seq_t=("$t1:$one" "$tn:$many")
          else
            seq_t=("$tn:$many" "$t1:$one")
          fi
          a=${seq_t[0]} b=${seq_t[1]}
          scale_one "$r" "$w" "${a#*:}" cpu "$bindir/pagealloc-bench-backed-mmap" W6-spin "${a%%:*}" "$spin_steps"
          scale_one "$r" "$w" "${a#*:}" ours "$ours" "$w" "${a%%:*}"
          scale_one "$r" "$w" "${b#*:}" ours "$ours" "$w" "${b%%:*}"
          scale_one "$r" "$w" "${b#*:}" cpu "$bindir/pagealloc-bench-backed-mmap" W6-spin "${b%%:*}" "$spin_steps"
        done
        # Past SCALE_REPEAT pairs, go on (up to SCALE_MAX) while fewer than
        # SCALE_QUIET pairs of some workload were quiet: a shared machine has
        # quiet moments, and the target prefers them (with ten or more quiet
        # pairs, eight runs' medians here fell within 0.04 of each other).
        if [ "$r" -ge "$scale_repeat" ]; then
          q=$(quiet_pairs)
          if [ "$q" -ge "$scale_quiet" ] || [ "$r" -ge "$scale_max" ]; then
            echo "run_backed.sh: scaling protocol: $r pairs, at least $q quiet per workload" >&2
            break
          fi
        fi
      done
    fi
  fi
fi
bench_end

status=0
cp "$log" "$results/backed.log"   # the raw lines, for a second look at a run
python3 "$root/bench/backed_report.py" "$log" "$results" "$repeat" "$mmap_repeat" \
  "$threads" "${labels[*]}" || status=1
echo "run_backed.sh: wrote $results/backed.json" >&2
if [ -s "$errlog" ]; then
  sort "$errlog" | uniq -c | sed 's/^/run_backed.sh: stderr: /' | head -n 20 >&2
fi

# --- Chart: four panels.
if ! command -v gnuplot >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  "$root/scripts/deps.sh" bench >&2 || true
fi
if command -v gnuplot >/dev/null 2>&1 && [ -s "$results/backed-w5.dat" -o -s "$results/backed-w1.dat" ]; then
  ncol=${#tlist[@]}
  plot6() {   # file title
    local s="plot '$1'" c xt
    for ((k = 0; k < ncol; k++)); do
      c=$((2 + 3 * k)); xt=''
      if [ $k -gt 0 ]; then s+=", ''"; else xt=':xtic(1)'; fi
      s+=" using $c:$((c + 1)):$((c + 2))$xt title 'T=${tlist[k]}'"
    done
    echo "set title '$2'; $s"
  }
  {
    echo "set terminal pngcairo size 1300,1300 noenhanced"
    echo "set output '$results/backed.png'"
    echo "set multiplot layout 3,2 title 'pagealloc backed benchmarks (${repeat} runs, medians, min-max bars)'"
    echo "set style fill solid 0.8 border -1; set grid ytics; set key top left; set xtics rotate by -30"
    if [ -s "$results/backed-w5.dat" ]; then
      echo "set style data histogram; set style histogram errorbars gap 1 lw 1; set logscale y"
      echo "set ylabel 'ns per free+alloc pair (log)'"
      echo "set title 'W5 touch: time (lower is better)'"
      echo "plot '$results/backed-w5.dat' using 2:3:4:xtic(1) notitle lc rgb '#3060c0'"
      echo "unset logscale y; set style histogram clustered gap 1; set ylabel 'MiB'; set yrange [0:*]; set key below"
      echo "set title 'W5 touch: RSS above the process baseline'"
      echo "plot '$results/backed-w5.dat' using 5:xtic(1) title 'peak' lc rgb '#c03030', '' using 6 title 'after freeing all' lc rgb '#e0a030', '' using 7 title 'after release' lc rgb '#30a050'"
    else
      echo "set multiplot next; set multiplot next"
    fi
    echo "set autoscale y; set logscale y; set style data histogram; set style histogram errorbars gap 1 lw 1; set key inside top left"
    echo "set ylabel 'millions per second (log)'; set xlabel 'cpu-scaled: register loop scaled to ours T=1 (machine ceiling)' offset 0,0.5"
    for w in w1 w2 w3; do
      if [ -s "$results/backed-$w.dat" ]; then
        plot6 "$results/backed-$w.dat" "W6 ${w^^}: throughput by threads (higher is better)"
      fi
    done
    if [ -s "$results/backed-scale.dat" ]; then
      echo "set style data linespoints; unset logscale y; set yrange [0:*]; set xtics norotate 1"
      echo "set xlabel 'pair (pinned, ABBA order)' offset 0,0; set ylabel 'T=${tlist[${#tlist[@]} - 1]} / T=${tlist[0]} throughput'; set key below"
      echo "set title 'W6 scaling protocol: each pair (target W2 >= 1.9)'"
      echo "plot '$results/backed-scale.dat' using 1:2 title 'ours W2' lc rgb '#3060c0' pt 7, '' using 1:3 title 'loop (W2 pairs)' lc rgb '#3060c0' dt 2 pt 6, '' using 1:4 title 'ours W1' lc rgb '#30a050' pt 7, '' using 1:5 title 'loop (W1 pairs)' lc rgb '#30a050' dt 2 pt 6, 1.9 with lines lc rgb '#c03030' dt 3 title 'W2 target'"
    fi
    echo "unset multiplot"
  } >"$results/backed.gp"
  if gnuplot "$results/backed.gp" 2>"$errlog"; then
    echo "run_backed.sh: wrote $results/backed.png" >&2
  else
    echo "run_backed.sh: gnuplot failed: $(head -c 300 "$errlog")" >&2
  fi
  rm -f "$results/backed.gp"
else
  echo "run_backed.sh: gnuplot not available or no data; no chart" >&2
fi
exit $status
