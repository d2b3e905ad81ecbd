/*
 * pa_skip.h - skipped tests that stay visible.
 *
 * cmocka's skip() ends a test without failing it, and the program still
 * exits 0, so CTest would count a program that skipped checks as passed.
 * Here a skip is recorded: PA_SKIP prints its reason on a line of its own
 * ("skip: <reason>", which scripts/test.sh quotes in its report) and then
 * calls skip(); the test program returns pa_test_status(failed) (or uses
 * PA_RUN_GROUP_TESTS*), which is
 *   1   when any test failed,
 *   77  when none failed and at least one was skipped (PA_SKIP_EXIT),
 *   0   otherwise.
 * tests/CMakeLists.txt registers every test with SKIP_RETURN_CODE 77, so
 * CTest reports such a program as "Skipped" ("Not Run"), not as passed.
 *
 * Include after <cmocka.h>. Header only: the count lives in one function
 * static, and each test program is a single translation unit using it.
 */
#ifndef PA_SKIP_H
#define PA_SKIP_H

#include <stdarg.h>
#include <stdio.h>

/* The exit status CTest reads as "skipped" (SKIP_RETURN_CODE). */
#define PA_SKIP_EXIT 77

/* How many tests of this program were skipped so far. */
static inline int *pa_skip_count(void)
{
    static int skipped;
    return &skipped;
}

/* Records one skip and prints "skip: <reason>". */
static inline void pa_skip_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void pa_skip_note(const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    ++*pa_skip_count();
    print_message("skip: %s\n", reason);
}

/* Skip the current test with a printf-style reason (no trailing newline). */
#define PA_SKIP(...)                                                                           \
    do {                                                                                       \
        pa_skip_note(__VA_ARGS__);                                                             \
        skip();                                                                                \
    } while (0)

/*
 * The program's exit status from the number of failed tests (the sum of
 * cmocka_run_group_tests* results): never a raw count, which could wrap
 * to 0 or read as 77.
 */
static inline int pa_test_status(int failed)
{
    if (failed != 0)
        return 1;
    return *pa_skip_count() > 0 ? PA_SKIP_EXIT : 0;
}

#define PA_RUN_GROUP_TESTS(tests, setup, teardown)                                             \
    pa_test_status(cmocka_run_group_tests(tests, setup, teardown))
#define PA_RUN_GROUP_TESTS_NAME(name, tests, setup, teardown)                                  \
    pa_test_status(cmocka_run_group_tests_name(name, tests, setup, teardown))

#endif
