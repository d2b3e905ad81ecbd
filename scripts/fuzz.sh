#!/usr/bin/env bash
# Fuzz the page allocator against its reference model (tests/fuzz).
#   scripts/fuzz.sh                 build, replay the seed corpus, fuzz 60 s
#   FUZZ_SECONDS=600 scripts/fuzz.sh
# Environment: FUZZ_SECONDS (default 60), FUZZ_DIR (build dir, default
# build-fuzz), FUZZ_JOBS (parallel fuzzing processes, default 1),
# FUZZ_ARGS (more libFuzzer flags). New inputs go to $FUZZ_DIR/corpus (the
# seed corpus in tests/fuzz/corpus is only read); a crash leaves its input
# in $FUZZ_DIR/artifacts/ and makes the script exit non-zero. Replay a
# crash without libFuzzer: $FUZZ_DIR/fuzz_replay FILE...
# Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
dir=${FUZZ_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-1}

cmake -S tests/fuzz -B "$dir" -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build "$dir" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

# The seed corpus must pass as it is.
"$dir/fuzz_replay" tests/fuzz/corpus/* >/dev/null

mkdir -p "$dir/corpus" "$dir/artifacts"
log="$dir/fuzz.log"
rm -f "$dir"/fuzz-*.log
# Several jobs: libFuzzer's fork mode, one log per job in the working
# directory, hence the cd (the paths above are made absolute).
absdir=$(cd "$dir" && pwd)
seeds=$(pwd)/tests/fuzz/corpus
par=()
if [ "$jobs" -gt 1 ]; then par=(-jobs="$jobs" -workers="$jobs"); fi
rc=0
(cd "$absdir" &&
 ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
 UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
 ./fuzz_pagealloc -max_total_time="$seconds" -max_len=4096 -timeout=30 \
   -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$absdir/artifacts/" \
   "${par[@]}" ${FUZZ_ARGS:-} corpus "$seeds") >"$log" 2>&1 || rc=$?
cat "$dir"/fuzz-*.log >>"$log" 2>/dev/null || true

execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' |
        awk '{s += $1} END {print s + 0}')
corpus=$(ls "$dir/corpus" | wc -l)
echo "fuzz_pagealloc: ${seconds}s, $execs executions, corpus $corpus files (+ $(ls tests/fuzz/corpus | wc -l) seeds)"
if [ "$rc" -ne 0 ]; then
  grep -E 'fuzz_pagealloc:|ERROR|SUMMARY|pagealloc:' "$log" | head -20
  echo "fuzz_pagealloc: FAILED (exit $rc); inputs in $dir/artifacts/, log in $log"
  exit 1
fi
