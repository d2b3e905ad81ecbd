/*
 * test_regpool.c - the OS layer's region blocks (src/os/regpool.c): small
 * regions share pool pages, a large state array has whole pages of its own
 * with its header in a pool slot, a given-back slot reads as "as created"
 * when it is reused, and metadata goes back to where it was once every
 * region made since has gone. The figures are pinned through
 * sysmem_metadata_bytes (every registry block is written, so resident).
 * docs/os-layer.md "Region blocks" has the design.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pagealloc/sysmem.h"

static size_t PS;

/* Slots of the 128-byte class in one pool page (slot 0 is the header). */
static size_t small_per_page(void)
{
    return PS / 128 - 1;
}

static int group_setup(void **state)
{
    (void)state;
    sysmem_caps c;
    sysmem_get_caps(&c);
    PS = c.page_size;
    /* The region table, made now; the pool page of this region goes
     * with it (its only slot is given back). */
    void *p;
    if (sysmem_reserve(NULL, PS, &p) != 0 || sysmem_free(p, PS, NULL) != 0)
        return -1;
    return 0;
}

/* One page holds the blocks of PS/128 - 1 one-page regions; the next
 * region takes a second page; all freed, both pages go back. (Before the
 * pool, each of these regions had a page of its own.) */
static void test_small_regions_share_a_page(void **state)
{
    (void)state;
    enum { MAX = 1024 };
    static void *p[MAX];
    size_t n = small_per_page();
    assert_true(n + 1 <= MAX);
    uint64_t m0 = sysmem_metadata_bytes();
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sysmem_reserve(NULL, PS, &p[i]), 0);
    assert_int_equal(sysmem_metadata_bytes(), m0 + PS);
    assert_int_equal(sysmem_reserve(NULL, PS, &p[n]), 0);
    assert_int_equal(sysmem_metadata_bytes(), m0 + 2 * PS);
    /* A slot given back is taken again: no new page. */
    assert_int_equal(sysmem_free(p[n / 2], PS, NULL), 0);
    assert_int_equal(sysmem_alloc(PS, NULL, &p[n / 2]), 0);
    assert_int_equal(sysmem_metadata_bytes(), m0 + 2 * PS);
    for (size_t i = 0; i <= n; i++)
        assert_int_equal(sysmem_free(p[i], PS, NULL), 0);
    assert_int_equal(sysmem_metadata_bytes(), m0);
}

/* A region whose array is exactly one page (a 64 MiB heap arena with 4 KiB
 * pages): the array takes that page, the header a slot; two such regions
 * take three pages (before: two pages each, the header spilling the array
 * onto a second page). */
static void test_page_array_header_apart(void **state)
{
    (void)state;
    size_t n = (PS / 8) * 32 * PS;      /* PS/8 words of 32 pages */
    void *a, *b;
    uint64_t m0 = sysmem_metadata_bytes();
    assert_int_equal(sysmem_reserve(NULL, n, &a), 0);
    assert_int_equal(sysmem_reserve(NULL, n, &b), 0);
    assert_int_equal(sysmem_metadata_bytes(), m0 + 3 * PS);
    assert_int_equal(sysmem_map((char *)a + n - PS, PS, NULL), 0);
    assert_int_equal(sysmem_state_of((char *)a + n - PS), SYSMEM_PREPARED);
    assert_int_equal(sysmem_state_of((char *)a + n - 2 * PS), SYSMEM_RESERVED);
    assert_int_equal(sysmem_free(a, n, NULL), 0);
    assert_int_equal(sysmem_metadata_bytes(), m0 + 2 * PS);
    assert_int_equal(sysmem_free(b, n, NULL), 0);
    assert_int_equal(sysmem_metadata_bytes(), m0);
}

/* A slot given back by a region whose pages changed state is cleared: the
 * region that takes it next reads "as created" everywhere. */
static void test_reused_slot_reads_as_created(void **state)
{
    (void)state;
    void *keep, *a, *b;
    /* keep holds the pool page, so a's slot is reused rather than unmapped */
    assert_int_equal(sysmem_reserve(NULL, PS, &keep), 0);
    assert_int_equal(sysmem_reserve(NULL, 64 * PS, &a), 0);
    for (size_t i = 0; i < 64; i += 3)
        assert_int_equal(sysmem_map((char *)a + i * PS, PS, NULL), 0);
    uint64_t m = sysmem_metadata_bytes();
    assert_int_equal(sysmem_free(a, 64 * PS, NULL), 0);
    assert_int_equal(sysmem_metadata_bytes(), m);
    assert_int_equal(sysmem_reserve(NULL, 64 * PS, &b), 0);
    assert_int_equal(sysmem_metadata_bytes(), m);
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(sysmem_state_of((char *)b + i * PS), SYSMEM_RESERVED);
    assert_int_equal(sysmem_free(b, 64 * PS, NULL), 0);
    assert_int_equal(sysmem_free(keep, PS, NULL), 0);
    char msg[256];
    assert_int_equal(sysmem_check(msg, sizeof msg), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_regions_share_a_page),
        cmocka_unit_test(test_page_array_header_apart),
        cmocka_unit_test(test_reused_slot_reads_as_created),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
