#!/usr/bin/env bash
# Fuzz the library against its models (tests/fuzz): fuzz_pagealloc (the
# page allocator against its reference model) and fuzz_malloc (the object
# allocator's API, good and bad calls, against a slot model), one after
# the other.
#   scripts/fuzz.sh                 build, replay the seed corpora, fuzz 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh
#   FUZZ_TARGETS=fuzz_malloc scripts/fuzz.sh
# Environment: FUZZ_SECONDS (per target, default 60, a whole number > 0),
# FUZZ_TARGETS (default both), FUZZ_DIR (build dir, default build-fuzz),
# FUZZ_JOBS (parallel fuzzing processes, default 1), FUZZ_ARGS (more
# libFuzzer flags). New inputs go to $FUZZ_DIR/corpus-TARGET (the seed
# corpora, tests/fuzz/corpus and corpus_malloc, are only read); a crash
# leaves its input in $FUZZ_DIR/artifacts/ and makes the script exit
# non-zero. So does a run that made no executions at all. One line per
# target reports the executions and executions per second (libFuzzer's
# final stats, stat::number_of_executed_units, over the run's wall time).
# Replay a crash without libFuzzer: $FUZZ_DIR/fuzz_replay FILE... (or
# fuzz_malloc_replay).
# Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
seconds=${FUZZ_SECONDS:-60}
dir=${FUZZ_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-1}

fail() { echo "fuzz: FAILED: $*"; exit 1; }

# libFuzzer reads -max_total_time=0 as "no limit".
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || fail "FUZZ_SECONDS must be a whole number > 0, not '$seconds'"
[[ $jobs =~ ^[0-9]+$ && $jobs -gt 0 ]] || fail "FUZZ_JOBS must be a whole number > 0, not '$jobs'"
clang=$(command -v clang) || fail "no clang"

# Every option explicit, the compiler by its path: the cache is never reset.
cmake -S tests/fuzz -B "$dir" -DCMAKE_C_COMPILER="$clang" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || fail "cmake could not configure $dir"
cmake --build "$dir" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null || fail "the build failed"

# One target: replay its seeds, fuzz, report. $1 target, $2 its replayer,
# $3 its seed corpus.
fuzz_one() {
  local target=$1 replay=$2 seeds
  seeds=$(pwd)/$3
  # The seed corpus must pass as it is.
  "$dir/$replay" "$seeds"/* >/dev/null || fail "$target: a seed in $3 fails"
  mkdir -p "$dir/corpus-$target" "$dir/artifacts"
  local log="$dir/$target.log"
  rm -f "$dir"/fuzz-*.log
  # Several jobs: libFuzzer's fork mode, one log per job in the working
  # directory, hence the cd (the paths above are made absolute).
  local absdir par=() rc=0 t0 t1
  absdir=$(cd "$dir" && pwd)
  if [ "$jobs" -gt 1 ]; then par=(-jobs="$jobs" -workers="$jobs"); fi
  t0=${EPOCHREALTIME/,/.}
  # FUZZ_ARGS is split into words on purpose (several flags).
  # shellcheck disable=SC2086
  (cd "$absdir" &&
   ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
   UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
   ./"$target" -max_total_time="$seconds" -max_len=4096 -timeout=30 \
     -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$absdir/artifacts/" \
     "${par[@]}" ${FUZZ_ARGS:-} "corpus-$target" "$seeds") >"$log" 2>&1 || rc=$?
  t1=${EPOCHREALTIME/,/.}

  # libFuzzer's final stats: one stat::number_of_executed_units per fuzzing
  # process. With jobs, each job writes $dir/fuzz-<job>.log and the main
  # process echoes it into $log as the job ends: count the job logs only.
  local logs=("$log")
  if [ "$jobs" -gt 1 ]; then logs=("$dir"/fuzz-*.log); fi
  local execs rate wall corpus nseeds
  execs=$(cat "${logs[@]}" 2>/dev/null | grep -Eo 'stat::number_of_executed_units: *[0-9]+' |
          grep -Eo '[0-9]+$' | awk '{s += $1} END {print s + 0}')
  rate=$(awk -v n="$execs" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b > a) ? n / (b - a) : 0 }')
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  corpus=$(find "$dir/corpus-$target" -type f | wc -l)
  nseeds=$(find "$seeds" -type f | wc -l)
  echo "$target: ${seconds} s asked, ${wall} s run, $execs executions ($rate/s), corpus $corpus files (+ $nseeds seeds)"
  if [ "$rc" -ne 0 ]; then
    grep -E 'fuzz_pagealloc:|fuzz_malloc:|ERROR|SUMMARY|pagealloc:' "$log" | head -20
    fail "$target: libFuzzer exited with status $rc; inputs in $dir/artifacts/, log in $log"
  fi
  [ "$execs" -gt 0 ] || fail "$target: no executions (no stat::number_of_executed_units in $log)"
}

for target in ${FUZZ_TARGETS:-fuzz_pagealloc fuzz_malloc}; do
  case $target in
    fuzz_pagealloc) fuzz_one fuzz_pagealloc fuzz_replay tests/fuzz/corpus ;;
    fuzz_malloc) fuzz_one fuzz_malloc fuzz_malloc_replay tests/fuzz/corpus_malloc ;;
    *) fail "unknown target '$target' (fuzz_pagealloc, fuzz_malloc)" ;;
  esac
done
