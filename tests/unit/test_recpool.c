/*
 * test_recpool.c - os/recpool: records are zeroed, distinct and inside the
 * pool's blocks; freeing every record of a page lets a trim return it
 * (Prepared in the OS layer, not counted as resident), and the page is
 * made Ready again when records are needed; allocation fills partly used
 * pages before empty ones; the caller's stat counts exactly the blocks,
 * the descriptors and the block table, and is zero after destroy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "os/recpool.h"

#define N 2000u
#define SIZE 200u               /* 256 with 64-byte alignment */

static void *recs[N];

static void fill(pa_recpool *p)
{
    for (unsigned i = 0; i < N; i++) {
        int err = 0;
        recs[i] = pa_recpool_alloc(p, &err);
        assert_non_null(recs[i]);
        assert_int_equal((uintptr_t)recs[i] % 64, 0);
        const unsigned char *b = recs[i];
        for (unsigned k = 0; k < SIZE; k++)
            assert_int_equal(b[k], 0);
        memset(recs[i], 0xa5, SIZE);
    }
}

static void test_bad_init(void **state)
{
    (void)state;
    pa_recpool p;
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    assert_int_equal(pa_recpool_init(&p, 0, 64, NULL), EINVAL);
    assert_int_equal(pa_recpool_init(&p, 64, 48, NULL), EINVAL);
    assert_int_equal(pa_recpool_init(&p, caps.page_size + 1, 64, NULL), EINVAL);
}

static void test_trim_returns_empty_pages(void **state)
{
    (void)state;
    sysmem_stat st = { 0 };
    pa_recpool p;
    assert_int_equal(pa_recpool_init(&p, SIZE, 64, &st), 0);
    fill(&p);
    pa_recpool_stats u;
    pa_recpool_usage(&p, &u);
    assert_int_equal(u.inuse, N);
    uint64_t full_resident = u.resident_bytes;
    assert_true(full_resident >= (uint64_t)N * 256);
    assert_int_equal(u.prepared_bytes, 0);

    /* Free every record but the first 10: their pages become empty. */
    for (unsigned i = 10; i < N; i++)
        pa_recpool_free(&p, recs[i]);
    pa_recpool_usage(&p, &u);
    assert_int_equal(u.inuse, 10);
    size_t got = pa_recpool_trim(&p, 0);
    assert_true(got > 0);
    pa_recpool_usage(&p, &u);
    assert_int_equal(u.prepared_bytes, got);
    assert_int_equal(u.resident_bytes + got, full_resident);
    assert_true(u.resident_bytes <= (10 * 256 + p.page - 1) / p.page * p.page);
    /* The survivors are intact; a released page is Prepared. */
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(((unsigned char *)recs[i])[SIZE - 1], 0xa5);
    assert_int_equal(sysmem_state_of(recs[N - 1]), SYSMEM_PREPARED);
    assert_int_equal(sysmem_state_of(recs[0]), SYSMEM_READY);
    /* A second trim finds nothing more. */
    assert_int_equal(pa_recpool_trim(&p, 0), 0);

    /* Records are needed again: released pages come back Ready and zero. */
    for (unsigned i = 10; i < N; i++) {
        recs[i] = pa_recpool_alloc(&p, NULL);
        assert_non_null(recs[i]);
        assert_int_equal(sysmem_state_of(recs[i]), SYSMEM_READY);
        for (unsigned k = 0; k < SIZE; k++)
            assert_int_equal(((unsigned char *)recs[i])[k], 0);
    }
    pa_recpool_usage(&p, &u);
    assert_int_equal(u.prepared_bytes, 0);
    assert_int_equal(u.resident_bytes, full_resident);
    pa_recpool_destroy(&p);
    assert_int_equal(sysmem_stat_load(&st), 0);
}

static void test_keep_bounds_trim(void **state)
{
    (void)state;
    pa_recpool p;
    assert_int_equal(pa_recpool_init(&p, SIZE, 64, NULL), 0);
    fill(&p);
    for (unsigned i = 0; i < N; i++)
        pa_recpool_free(&p, recs[i]);
    pa_recpool_stats u;
    pa_recpool_usage(&p, &u);
    uint64_t keep = 3 * p.per_page;
    (void)pa_recpool_trim(&p, keep);
    pa_recpool_usage(&p, &u);
    /* At most keep free records stay on resident pages, and no fewer than
     * a page's worth less. */
    uint64_t spare = u.resident_bytes / p.page * p.per_page;
    assert_true(spare <= keep);
    assert_true(spare + p.per_page > keep);
    pa_recpool_destroy(&p);
}

static void test_partial_pages_first(void **state)
{
    (void)state;
    pa_recpool p;
    assert_int_equal(pa_recpool_init(&p, SIZE, 64, NULL), 0);
    fill(&p);
    /* Empty one page entirely, and free one record of another page. */
    char *page0 = (char *)((uintptr_t)recs[0] & ~(uintptr_t)(p.page - 1));
    char *partial = NULL;
    for (unsigned i = 0; i < N; i++) {
        char *pg = (char *)((uintptr_t)recs[i] & ~(uintptr_t)(p.page - 1));
        if (pg == page0) {
            pa_recpool_free(&p, recs[i]);
            recs[i] = NULL;
        } else if (!partial && i > N / 2) {
            partial = recs[i];
            pa_recpool_free(&p, recs[i]);
            recs[i] = NULL;
        }
    }
    /* The next record comes from the partly used page, not the empty one. */
    void *r = pa_recpool_alloc(&p, NULL);
    assert_ptr_equal(r, partial);
    pa_recpool_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_init),
        cmocka_unit_test(test_trim_returns_empty_pages),
        cmocka_unit_test(test_keep_bounds_trim),
        cmocka_unit_test(test_partial_pages_first),
    };
    return cmocka_run_group_tests_name("recpool", tests, NULL, NULL);
}
