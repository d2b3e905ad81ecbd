/*
 * test_bench_checksums.c - the core benchmark workloads W1-W4 (BENCHMARKS.md)
 * replayed once, untimed, on an unbacked pagealloc: every allocation
 * address must be the one Go 1.19's allocator returns, which the FNV-1a
 * checksum over the whole sequence asserts. On a mismatch, compare the
 * sequence with Go's: pagealloc-bench-core --trace DIR and bench/run.sh's
 * Go trace mode (bench/README.md).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>

#include "pa_workloads.h"

static void check_workload(enum pa_wl_id w)
{
    pa_wl_options opts = {0};
    pa_wl_result r;
    assert_int_equal(pa_wl_run(w, &opts, &r), 0);
    if (r.checksum != pa_wl_table[w].go_checksum)
        print_error("%s (%s): checksum 0x%016" PRIx64 ", Go 1.19 gives 0x%016" PRIx64 "\n",
                    pa_wl_table[w].name, pa_wl_table[w].title, r.checksum,
                    pa_wl_table[w].go_checksum);
    assert_true(r.checksum == pa_wl_table[w].go_checksum);
}

static void test_w1_churn(void **state)        { (void)state; check_workload(PA_WL_W1); }
static void test_w2_single_pages(void **state) { (void)state; check_workload(PA_WL_W2); }
static void test_w3_large(void **state)        { (void)state; check_workload(PA_WL_W3); }
static void test_w4_page_cache(void **state)   { (void)state; check_workload(PA_WL_W4); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_w1_churn),
        cmocka_unit_test(test_w2_single_pages),
        cmocka_unit_test(test_w3_large),
        cmocka_unit_test(test_w4_page_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
