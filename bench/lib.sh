# bench/lib.sh - shell helpers the benchmark runners share (sourced by
# bench/run_gc.sh, run_malloc.sh and run_backed.sh; their report side is
# bench/report.py).
#
#   find_so PACKAGE SONAME   the path of a Debian package's shared object
#                            (dpkg -L first, ldconfig as a fallback), or
#                            nothing
#   bench_begin ROOT PATH... before the runs: the load average, the start
#                            time, the commit and how many files under
#                            PATH... are uncommitted, exported for the
#                            report as BENCH_LOAD_BEFORE, BENCH_START,
#                            BENCH_COMMIT, BENCH_DIRTY
#   bench_end                after the runs: BENCH_LOAD_AFTER and
#                            BENCH_ELAPSED (seconds)

find_so() {   # package soname
  local f
  f=$(dpkg -L "$1" 2>/dev/null | grep -E "/$2\$" | head -n1)
  [ -n "$f" ] || f=$(ldconfig -p 2>/dev/null | awk -v n="$2" '$1 == n { print $NF; exit }')
  [ -n "$f" ] && [ -f "$f" ] && echo "$f"
}

bench_begin() {   # root path...
  local root=$1
  shift
  BENCH_LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
  BENCH_START=$(date +%s)
  BENCH_COMMIT=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  BENCH_DIRTY=$(git -C "$root" status --porcelain -- "$@" 2>/dev/null | wc -l)
  export BENCH_LOAD_BEFORE BENCH_START BENCH_COMMIT BENCH_DIRTY
}

bench_end() {
  BENCH_LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
  BENCH_ELAPSED=$(($(date +%s) - BENCH_START))
  export BENCH_LOAD_AFTER BENCH_ELAPSED
}

# bench_nice: sets the array nice_cmd, the prefix of every measured run
# and reference loop in the paired drivers (run_malloc.sh, run_gc.sh): the
# command runs in a session of its own (setsid -w: waits, passes the exit
# status) whose scheduling autogroup gets nice NICE, and itself at nice
# NICE; NICE=-19 by default where the process may raise its priority
# (root), nothing otherwise or with NICE=0.
# Why the autogroup: with kernel.sched_autogroup_enabled=1 (this VM) the
# fair scheduler first shares a CPU between sessions' autogroups, each of
# weight 1024 by default, and nice only orders the processes inside one:
# `nice -n -19` alone left a pinned single-thread run 40 % of its CPU at
# load 11 (2026-12-05 00:46 UTC), while in its own autogroup of nice -19
# (~70x the weight of a normal one) a 0.3 s CPU loop took 0.34-0.38 s of
# wall time where the same loop without took 7-13 s. What this cannot
# help (the host slowing a vCPU, a neighbour's cache traffic) the
# reference loop still sees. Not a real-time class: a SCHED_FIFO thread
# spinning on a lock whose holder waits on the same CPU would never let
# it run.
bench_nice() {
  local n=${NICE:-}
  nice_cmd=()
  if [ -z "$n" ]; then
    [ -z "$(nice -n -19 true 2>&1)" ] && [ -w /proc/self/autogroup ] && n=-19 || n=0
  fi
  if [ "$n" != 0 ]; then
    # shellcheck disable=SC2016
    nice_cmd=(setsid -w sh -c 'echo "$0" >/proc/self/autogroup 2>/dev/null; exec nice -n "$0" "$@"' "$n")
  fi
  BENCH_NICE=$n
  export BENCH_NICE
}

# bench_more_rounds DRIVER LOG NAME PEERS FROM TO WANT CMD...: the paired
# drivers' extra rounds of one workload: while bench/pairs.py counts fewer
# than WANT quiet rounds of NAME (ours against PEERS, comma-separated) in
# LOG, run `CMD... R` for round R = FROM..TO, saying why on stderr.
bench_more_rounds() {
  local drv=$1 log=$2 name=$3 peers=$4 from=$5 to=$6 want=$7 r q
  shift 7
  for ((r = from; r <= to; r++)); do
    q=$(python3 "$(dirname "${BASH_SOURCE[0]}")/pairs.py" quiet "$log" "$name" ours "$peers")
    [ "${q:-0}" -ge "$want" ] && break
    echo "$drv: $name: $q of $((r - 1)) rounds quiet; round $r" >&2
    "$@" "$r"
  done
}
