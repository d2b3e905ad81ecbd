/*
 * test_bench_checksums.c - the core benchmark workloads W1-W4
 * (workloads/wlgen.h) replayed once, untimed, on an unbacked pagealloc by
 * the benchmarks' own code (workloads/wlcore.c): every allocation address
 * must be the one Go 1.19's allocator returns, which the FNV-1a checksum
 * over the whole sequence asserts. Go's checksums are written out here as
 * well as in wlgen_table, so that neither copy can drift alone. On a
 * mismatch, compare the sequence with Go's: pagealloc-bench-core --trace
 * DIR and bench/run.sh's Go trace mode (bench/README.md).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>

#include "wlcore.h"

static void check_workload(enum wlgen_id w, uint64_t go_checksum)
{
    assert_true(wlgen_table[w].go_checksum == go_checksum);
    wlcore_options opts = {0};
    wlcore_result r;
    assert_int_equal(wlcore_run(w, &opts, &r), 0);
    if (r.checksum != go_checksum)
        print_error("%s (%s): checksum 0x%016" PRIx64 ", Go 1.19 gives 0x%016" PRIx64 "\n",
                    wlgen_table[w].name, wlgen_table[w].title, r.checksum, go_checksum);
    assert_true(r.checksum == go_checksum);
}

static void test_w1_churn(void **state)
{
    (void)state;
    check_workload(WLGEN_W1, 0x22d484c38fec00c0ull);
}

static void test_w2_single_pages(void **state)
{
    (void)state;
    check_workload(WLGEN_W2, 0x5b1496976f15d0e5ull);
}

static void test_w3_large(void **state)
{
    (void)state;
    check_workload(WLGEN_W3, 0x31f058bcd029b8b0ull);
}

static void test_w4_page_cache(void **state)
{
    (void)state;
    check_workload(WLGEN_W4, 0xcf63cb6ae055f4e5ull);
}

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
