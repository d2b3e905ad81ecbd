#!/usr/bin/env bash
# The stack benchmark (bench/stack.c, pagealloc-bench-stack) as make bench
# runs it: in a session of its own at nice -19 where allowed (bench/lib.sh
# bench_nice, as every run of the malloc and collector drivers), the tables
# to stdout and bench/results/stack.md, the JSON to bench/results/stack.json
# (read by bench/summary.py).
#
# Usage: bench/run_stack.sh BUILD_DIR [pagealloc-bench-stack options...]
#   e.g. bench/run_stack.sh build-bench --idle 1000 --rounds 6
# Environment: NICE=-19 (NICE=0: normal priority), PROBE_QUIET=0.85 and
# RUN_DELAY_QUIET=0.5 (the quiet test of the paired rounds, bench/stack_paired.h),
# RESULTS=bench/results.
# Exit status: the benchmark's (1 if it failed or could not write its JSON).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
build=$(cd "$1" && pwd) || exit 2
shift
results=${RESULTS:-$root/bench/results}
mkdir -p "$results"
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
nice_cmd=()   # set by bench_nice
bench_nice
echo "run_stack.sh: nice ${BENCH_NICE}, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"${nice_cmd[@]}" "$build/bench/pagealloc-bench-stack" --json "$results/stack.json" "$@" \
  | tee "$results/stack.md"
