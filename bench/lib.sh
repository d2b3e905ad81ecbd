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
# and reference loop in the paired drivers (run_malloc.sh, run_gc.sh):
# `nice -n NICE`, NICE=-19 by default where the process may raise its
# priority (root), nothing otherwise or with NICE=0. Why: a process of
# nice -19 weighs ~70x a normal one in the kernel's fair scheduler, so a
# build or test running beside the benchmark takes ~1.5 % of a CPU from
# it instead of half; what nice cannot help (the host slowing a vCPU)
# the reference loop still sees. Not a real-time class: a SCHED_FIFO
# thread spinning on a lock whose holder waits on the same CPU would
# never let it run.
bench_nice() {
  local n=${NICE:-}
  nice_cmd=()
  if [ -z "$n" ]; then
    [ -z "$(nice -n -19 true 2>&1)" ] && n=-19 || n=0
  fi
  [ "$n" != 0 ] && nice_cmd=(nice -n "$n")
  BENCH_NICE=$n
  export BENCH_NICE
}
