#!/usr/bin/env bash
# Where each workload's time goes: instructions per operation by callgrind,
# per function, for ours and (core W1-W4) Go 1.19, written as the tables of
# bench/README.md's "Profiles" section. Deterministic, so it may run on a
# loaded machine; it takes about 15-30 minutes for everything (callgrind
# runs programs some 50 times slower), JOBS at a time.
#
# Usage: bench/profile.sh BUILD_DIR [JOB...]
#   BUILD_DIR  a Release build of this repo (bench/pagealloc-bench-core and
#              pagealloc-bench-backed*); Go's test binary is built into it
#              as bench/run.sh does (BUILD_DIR/goroot, BUILD_DIR/bench/go-core.test)
#   JOB        core-W1 core-W2 core-W3 core-W4 heap-W1 heap-W3 heap-W5 (default: all)
# Environment:
#   NO_GO=1      skip Go's side
#   PEERS=tcmalloc   heap peers counted next to ours (totals only; "" for none)
#   TOP=8        functions per table
#   JOBS=2       callgrind runs at a time
#   STEPS_DIV=1  divide every timed length by this (a quick look; the figures
#                then describe the start of each run only)
#   REUSE=1      reuse the callgrind files of an earlier run (tables only)
#   CACHE=1      also cachegrind (simulated cache misses and branch
#                mispredictions per operation, under each side's totals)
#   MEDIANS=DIR  core.json/backed.json with timed medians for the "≈ ns"
#                column (default bench/results; e.g. those of a quiet make bench)
# Method: each program runs twice under callgrind, with its timed part at full
# length and with none (--steps 0, Go: PAGEALLOC_CORE_STEPS=0); the difference
# over the timed units is the timed part's cost alone (bench/profile.py).
# Output: the tables on stdout, bench/results/profile.md, profile.json, and
# the callgrind files in bench/results/profile/ (callgrind_annotate them).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
build=$(cd "$1" && pwd)
shift
command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null ||
  { echo "profile.sh: valgrind (callgrind) is missing: apt-get install valgrind" >&2; exit 2; }
for b in pagealloc-bench-core pagealloc-bench-backed; do
  [ -x "$build/bench/$b" ] || { echo "profile.sh: $build/bench/$b is missing; build it first" >&2; exit 2; }
done

gotest=-
want_go=0
if [ "${NO_GO:-0}" != 1 ]; then
  if [ $# -eq 0 ]; then
    want_go=1
  else
    for j in "$@"; do case $j in core-*) want_go=1 ;; esac; done
  fi
fi
if [ "$want_go" = 1 ]; then
  BUILD_ONLY=1 GO_ONLY=1 "$root/bench/run.sh" "$build" >&2
  gotest=$build/bench/go-core.test
fi
exec python3 "$root/bench/profile.py" "$build" "$gotest" "$@"
