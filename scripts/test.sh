#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it:
#   1. gcc, optimised, -Werror: every test (unit, conformance, stress)
#   2. clang, AddressSanitizer + UndefinedBehaviorSanitizer: every test
#   3. clang, ThreadSanitizer: the stress tests
#   4. valgrind memcheck: the unit tests (from build 1)
#   5. libFuzzer + ASan/UBSan: the allocator against its model, briefly
#      (FUZZ_SECONDS, default 30; `make fuzz` runs longer)
# Each configuration prints CTest's summary; the last line totals them.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
passed=0; failed=0; status=0

run_ctest() {   # name builddir ctest-args...
  local name=$1 dir=$2; shift 2
  echo "=== $name"
  local log; log=$(mktemp)
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line; line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n1)
  if [ -n "$line" ]; then
    local total fail
    total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
    fail=$(sed -E 's/.* ([0-9]+) tests failed.*/\1/' <<<"$line")
    passed=$((passed + total - fail)); failed=$((failed + fail))
  else
    failed=$((failed + 1))
  fi
  [ "$rc" -eq 0 ] || status=1
  rm -f "$log"
}

build() {       # dir cmake-args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DPAGEALLOC_BUILD_BENCH=OFF "$@" >/dev/null &&
    cmake --build "$dir" -j"$jobs" >/dev/null 2>"$dir.err" || { cat "$dir.err"; return 1; }
}

build build -DCMAKE_C_COMPILER=gcc -DPAGEALLOC_VALGRIND=ON || exit 1
run_ctest "gcc -O2: all tests" build -LE valgrind

build build-asan -DCMAKE_C_COMPILER=clang -DPAGEALLOC_SANITIZE=address,undefined \
  -DCMAKE_BUILD_TYPE=Debug || exit 1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_ctest "clang ASan+UBSan: all tests" build-asan -LE valgrind

build build-tsan -DCMAKE_C_COMPILER=clang -DPAGEALLOC_SANITIZE=thread \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo || exit 1
TSAN_OPTIONS=halt_on_error=1 run_ctest "clang TSan: stress tests" build-tsan -L stress

run_ctest "valgrind memcheck: unit tests" build -L valgrind

echo "=== libFuzzer: fuzz_pagealloc for ${FUZZ_SECONDS:-30} s"
if FUZZ_SECONDS=${FUZZ_SECONDS:-30} scripts/fuzz.sh; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); status=1
fi

echo
echo "total: $passed passed, $failed failed"
exit $status
