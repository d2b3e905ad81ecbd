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
