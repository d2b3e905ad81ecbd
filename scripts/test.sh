#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it. Five stages, each in
# a build directory of its own (build/ belongs to `make` and `make run`),
# configured with every option spelled out on every run:
#   1. gcc, optimised, -Werror: every test (unit, conformance,   build-gcc
#      stress)
#   2. clang, AddressSanitizer + UndefinedBehaviorSanitizer:     build-asan
#      every test
#   3. clang, ThreadSanitizer: the stress tests and the unit     build-tsan
#      tests that start threads (label threads)
#   4. valgrind memcheck: the unit tests (gcc, optimised)        build-valgrind
#   5. libFuzzer + ASan/UBSan: the page allocator against its model and
#      the object allocator's API against a slot model, build-fuzz,
#      briefly (FUZZ_SECONDS per target, default 20; `make fuzz` runs
#      longer)
#
# A test program that skipped a check and failed none exits 77
# (tests/support/pa_skip.h) and CTest reports it as skipped; its reasons
# are quoted below the stage. Every stage ends with a line
#   <stage>: N passed, N failed, N skipped
# and the closing line sums all stages (CI tooling reads it):
#   total: N passed, N failed, N skipped
# A stage whose build fails, that finds no tests, or whose CTest report
# cannot be read counts as one failure. The exit status is 0 only when
# nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
jobs=$(nproc 2>/dev/null || echo 2)
passed=0; failed=0; skipped=0

# Cache options common to every CMake stage: no benchmarks, the tool
# (tests/unit/test_cli.c runs it), warnings as errors.
common=(-DPAGEALLOC_BUILD_TESTS=ON -DPAGEALLOC_BUILD_TOOLS=ON -DPAGEALLOC_BUILD_BENCH=OFF
        -DPAGEALLOC_WERROR=ON)

# compiler NAME: the compiler's absolute path (empty when missing), so that
# a cache never sees the same compiler under two spellings.
compiler() { command -v "$1" 2>/dev/null || true; }

# count_stage NAME PASSED FAILED SKIPPED: print the stage's line, add it up.
count_stage() {
  echo "$1: $2 passed, $3 failed, $4 skipped"
  passed=$((passed + $2)); failed=$((failed + $3)); skipped=$((skipped + $4))
}

# configure DIR CMAKE-ARGS...: configure DIR with exactly these options.
# If DIR was configured before with other options (or not by this script),
# its cache goes first: nothing of an earlier configuration survives. (CMake
# itself drops the whole cache when the compiler changes, together with the
# -D options of that very command; the valgrind stage once found no tests
# that way.) Afterwards each -D option is checked in the cache.
configure() {
  local dir=$1; shift
  local stamp=$dir/pa-test-options want
  want=$(printf '%s\n' "$@")
  if [ -e "$dir/CMakeCache.txt" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "($dir: configured with other options before; starting from a fresh cache)"
    rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
  fi
  rm -f "$stamp"
  if ! cmake -S . -B "$dir" "$@" >"$dir.err" 2>&1; then
    cat "$dir.err"; return 1
  fi
  local opt name value got
  for opt in "$@"; do
    case $opt in -D*=*) ;; *) continue ;; esac
    name=${opt#-D}; name=${name%%=*}; name=${name%%:*}; value=${opt#*=}
    # A cache line is NAME:TYPE=VALUE.
    got=$(awk -v n="$name" 'index($0, n ":") == 1 { sub(/^[^=]*=/, ""); print; exit }' \
            "$dir/CMakeCache.txt")
    if [ "$got" != "$value" ]; then
      echo "$dir: asked for $name=$value, the cache holds '$got'"; return 1
    fi
  done
  printf '%s\n' "$@" >"$stamp"
}

# build DIR CMAKE-ARGS...: configure and build DIR; the log is DIR.err.
build() {
  local dir=$1
  configure "$@" || return 1
  if ! cmake --build "$dir" -j"$jobs" >>"$dir.err" 2>&1; then
    grep -E 'error|Error' "$dir.err" | head -n 40
    echo "$dir: the build failed; the whole log is $dir.err"; return 1
  fi
}

# The result lines of a CTest run, as "STATUS<tab>NAME":
#   "  3/20 Test  #7: unit/test_sysmem ......   Passed    0.15 sec"
# STATUS is "Passed", "***Failed", "***Skipped" (SKIP_RETURN_CODE),
# "***Not Run" (executable missing: a failure), "***Not Run (Disabled)",
# "***Timeout", "***Exception: SegFault"...
ctest_results() {
  sed -nE 's/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: +([^ ]+) \.* *(.*[^ ]) +[0-9.]+ sec$/\2\t\1/p' "$1"
}

# The lines of interest in each test's output, from CTest's LastTest.log,
# as "NAME<tab>LINE": the reasons printed by PA_SKIP ("skip: ...") and
# cmocka's own "[  SKIPPED ]" lines.
test_notes() {
  [ -f "$1" ] || return 0
  awk '/^[0-9]+\/[0-9]+ Test: / { name = $0; sub(/^[0-9]+\/[0-9]+ Test: /, "", name); next }
       /^<end of output>$/      { name = ""; next }
       name != "" && (/^skip: / || /\[  SKIPPED \]/) { print name "\t" $0 }' "$1"
}

# run_ctest STAGE DIR CTEST-ARGS...: run the selected tests of DIR and
# count them: Passed is passed, Skipped and Disabled are skipped, anything
# else failed. The count must agree with CTest's own summary line
# ("95% tests passed, 1 tests failed out of 20", where skipped tests count
# in the total but not disabled ones); no test found, no summary, or a
# non-zero exit with no failed test is one more failure.
run_ctest() {
  local stage=$1 dir=$2; shift 2
  local log=$dir/pa-ctest.log
  # Whole outputs in LastTest.log (CTest cuts a passed test's at 1 KiB).
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j"$jobs" \
        --test-output-size-passed 1048576 --test-output-size-failed 1048576 \
        "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local p=0 f=0 s=0 disabled=0 st name problem=""
  local -A result=()
  while IFS=$'\t' read -r st name; do
    result[$name]=$st
    case $st in
      Passed)                    p=$((p + 1)) ;;
      '***Skipped')              s=$((s + 1)) ;;
      '***Not Run (Disabled)')   s=$((s + 1)); disabled=$((disabled + 1)) ;;
      *)                         f=$((f + 1)) ;;
    esac
  done < <(ctest_results "$log")

  local summary; summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n1)
  if grep -q 'No tests were found' "$log" || [ $((p + f + s)) -eq 0 ]; then
    problem="no tests were found"
  elif [ -z "$summary" ]; then
    problem="no CTest summary line"
  else
    local sum_failed sum_total
    sum_failed=$(sed -E 's/.* ([0-9]+) tests failed.*/\1/' <<<"$summary")
    sum_total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$summary")
    if [ "$sum_failed" -ne "$f" ] || [ "$sum_total" -ne $((p + f + s - disabled)) ]; then
      problem="counted $p passed, $f failed, $s skipped; CTest says: $summary"
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
      problem="ctest exited with status $rc"
    fi
  fi

  # Why each skipped test skipped (each reason once, with how many of the
  # program's tests it skipped); and a program that skipped with plain
  # skip() passed while hiding it (use PA_SKIP): that is a failure.
  local note hidden="" reasons=""
  while IFS=$'\t' read -r name note; do
    case ${result[$name]:-} in
      '***Skipped') [[ $note == skip:* ]] && reasons+="$name: ${note#skip: }"$'\n' ;;
      Passed)       [[ $hidden == *" $name "* ]] || hidden+=" $name " ;;
    esac
  done < <(test_notes "$dir/Testing/Temporary/LastTest.log")
  [ -n "$reasons" ] &&
    printf '%s' "$reasons" | sort | uniq -c | sed -E 's/^ *([0-9]+) (.*)$/  skipped \2 (x\1)/'
  for name in $hidden; do
    echo "  $name passed but cmocka skipped a test in it (plain skip(), not PA_SKIP)"
    p=$((p - 1)); f=$((f + 1))
  done

  if [ -n "$problem" ]; then
    echo "$stage: FAILED: $problem"
    f=$((f + 1))
  fi
  count_stage "$stage" "$p" "$f" "$s"
}

# stage NAME DIR CTEST-ARGS -- CMAKE-ARGS...: build DIR, then run the tests.
# A failed build is one failure; the other stages still run.
stage() {
  local name=$1 dir=$2; shift 2
  local ctest_args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do ctest_args+=("$1"); shift; done
  shift
  local start=$SECONDS
  echo "=== $name ($dir)"
  if build "$dir" "${common[@]}" "$@"; then
    run_ctest "$name" "$dir" "${ctest_args[@]}"
  else
    echo "$name: FAILED: no build"
    count_stage "$name" 0 1 0
  fi
  echo "($name: $((SECONDS - start)) s)"
}

gcc=$(compiler gcc); clang=$(compiler clang)

stage "gcc -O2: all tests" build-gcc -LE valgrind -- \
  -DCMAKE_C_COMPILER="$gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPAGEALLOC_SANITIZE= -DPAGEALLOC_VALGRIND=OFF

ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
stage "clang ASan+UBSan: all tests" build-asan -LE valgrind -- \
  -DCMAKE_C_COMPILER="$clang" -DCMAKE_BUILD_TYPE=Debug \
  -DPAGEALLOC_SANITIZE=address,undefined -DPAGEALLOC_VALGRIND=OFF

TSAN_OPTIONS=halt_on_error=1 \
stage "clang TSan: stress and threaded unit tests" build-tsan -L 'stress|threads' -- \
  -DCMAKE_C_COMPILER="$clang" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPAGEALLOC_SANITIZE=thread -DPAGEALLOC_VALGRIND=OFF

stage "valgrind memcheck: unit tests" build-valgrind -L valgrind -- \
  -DCMAKE_C_COMPILER="$gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPAGEALLOC_SANITIZE= -DPAGEALLOC_VALGRIND=ON

# Each fuzz target is one test: it fails on a crash, a failing seed, or
# when it made no executions at all (scripts/fuzz.sh).
start=$SECONDS
for target in fuzz_pagealloc fuzz_malloc; do
  echo "=== libFuzzer: $target for ${FUZZ_SECONDS:-20} s (build-fuzz)"
  if FUZZ_SECONDS=${FUZZ_SECONDS:-20} FUZZ_DIR=build-fuzz FUZZ_TARGETS=$target scripts/fuzz.sh; then
    count_stage "libFuzzer $target" 1 0 0
  else
    count_stage "libFuzzer $target" 0 1 0
  fi
done
echo "(libFuzzer: $((SECONDS - start)) s)"

echo
echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
