/*
 * test_runmerge.c - the run caches' merge policies (options.run_cache_merge,
 * docs/heap.md "Merging frees"): which freed runs a run cache keeps and
 * which it gives to the allocator, where they merge with a free
 * neighbour, and the placements that follow, on heaps with known
 * allocations (one shard, runs of 16 pages or more, so that they come
 * from the allocator in address order, not from a page cache); then a
 * churn under each policy that the checker and the statistics accept.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pagealloc/pagealloc.h"
#include "pagealloc/pageheap.h"
#include "pa_heap_expect.h"

#define PAGE ((size_t)PAGEALLOC_PAGE_SIZE)
#define RUN 20u                              /* pages: the allocator's, not a page cache's */

static uint64_t run_cache_bytes(pageheap *h)
{
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    assert_int_equal(s.ready_bytes + s.prepared_bytes,
                     s.in_use_bytes + s.cache_bytes + s.free_bytes + s.released_bytes);
    return s.run_cache_bytes;
}

static pageheap *heap(pageheap_run_merge m)
{
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1, .run_cache_merge = m });
    assert_non_null(h);
    return h;
}

/* n runs of the given lengths, back to back in one chunk (a fresh heap's
 * first fit). */
static void alloc_row(pageheap *h, char **r, const size_t *len, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        r[i] = pageheap_alloc(h, len[i]);
        assert_non_null(r[i]);
        if (i)
            assert_ptr_equal(r[i], r[i - 1] + len[i - 1] * PAGE);
    }
    uintptr_t first = (uintptr_t)r[0] / PAGE % PAGEALLOC_CHUNK_PAGES;
    uintptr_t last = (uintptr_t)r[n - 1] / PAGE % PAGEALLOC_CHUNK_PAGES;
    assert_true(first < last);              /* one chunk: the neighbours are read there */
}

/* Default (next): a run whose next page is free goes to the allocator and
 * merges; one whose next neighbour is allocated is kept. A request for
 * the merged length then gets the merged run; with every run kept it
 * gets fresh pages above them. */
static void test_next(void **state)
{
    (void)state;
    static const size_t len[4] = { RUN, RUN, RUN, RUN };
    for (int keep = 0; keep <= 1; keep++) {
        pageheap *h = heap(keep ? PAGEHEAP_MERGE_OFF : PAGEHEAP_MERGE_DEFAULT);
        char *r[4];
        alloc_row(h, r, len, 4);
        pageheap_free(h, r[1], RUN);          /* next (r[2]) allocated: kept */
        assert_int_equal(run_cache_bytes(h), RUN * PAGE);
        pageheap_free(h, r[3], RUN);          /* next free (the heap's top) */
        assert_int_equal(run_cache_bytes(h), (keep ? 2 : 1) * RUN * PAGE);
        pageheap_free(h, r[2], RUN);          /* next (r[3]) free, unless kept */
        assert_int_equal(run_cache_bytes(h), (keep ? 3 : 1) * RUN * PAGE);
        pa_expect_heap_ok(h);
        char *m = pageheap_alloc(h, 2 * RUN);
        if (keep)
            assert_true(m >= r[3] + RUN * PAGE);   /* no 40-page hole: fresh pages */
        else
            assert_ptr_equal(m, r[2]);             /* r[2] and r[3] merged */
        char *k = pageheap_alloc(h, RUN);          /* the last run kept */
        assert_ptr_equal(k, keep ? r[2] : r[1]);
        pa_expect_heap_ok(h);
        pageheap_free(h, m, 2 * RUN);
        pageheap_free(h, k, RUN);
        pageheap_free(h, r[0], RUN);
        pa_expect_heap_ok(h);
        pageheap_delete(h);
    }
}

/* Both: a run whose previous neighbour is free in the allocator goes
 * there too; a short run before it (its code read len pages back) is
 * allocated; a run longer than the look-back counts as free (a guess). */
static void test_both(void **state)
{
    (void)state;
    static const size_t len[5] = { RUN, RUN, RUN, RUN, RUN };
    for (int both = 0; both <= 1; both++) {
        pageheap *h = heap(both ? PAGEHEAP_MERGE_BOTH : PAGEHEAP_MERGE_NEXT);
        char *r[5];
        alloc_row(h, r, len, 5);
        pageheap_free(h, r[1], RUN);          /* r[0] and r[2] allocated: kept */
        assert_int_equal(run_cache_bytes(h), RUN * PAGE);
        pageheap_flush_caches(h);             /* r[1] now free in the allocator */
        assert_int_equal(run_cache_bytes(h), 0);
        pageheap_free(h, r[2], RUN);          /* previous (r[1]) free; next allocated */
        assert_int_equal(run_cache_bytes(h), both ? 0 : RUN * PAGE);
        char *m = pageheap_alloc(h, 2 * RUN);
        if (both)
            assert_ptr_equal(m, r[1]);         /* r[1] and r[2] merged */
        else
            assert_true(m >= r[4] + RUN * PAGE);
        pa_expect_heap_ok(h);
        pageheap_free(h, m, 2 * RUN);
        pageheap_free(h, r[0], RUN);
        pageheap_free(h, r[3], RUN);
        pageheap_free(h, r[4], RUN);
        pa_expect_heap_ok(h);
        pageheap_delete(h);
    }

    /* A 40-page run before: its code, 40 entries back, covers the page
     * below; a 100-page run's code and count entries lie beyond the
     * 62-entry look-back: all zeros, counted free. */
    static const size_t len2[6] = { 40, RUN, RUN, 100, RUN, RUN };
    pageheap *h = heap(PAGEHEAP_MERGE_BOTH);
    char *r[6];
    alloc_row(h, r, len2, 6);
    pageheap_free(h, r[1], RUN);
    assert_int_equal(run_cache_bytes(h), RUN * PAGE);
    pageheap_free(h, r[4], RUN);
    assert_int_equal(run_cache_bytes(h), RUN * PAGE);
    pa_expect_heap_ok(h);
    for (unsigned i = 0; i < 6; i++)
        if (i != 1 && i != 4)
            pageheap_free(h, r[i], len2[i]);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* A churn of W1's sizes under each policy: every free is accepted, the
 * checker agrees with the caches and the allocator, and everything comes
 * back at the end. */
static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1Dull;
}

static size_t churn_size(uint64_t *x)
{
    uint64_t p = rng_next(x) % 100;
    if (p < 50) return 1;
    if (p < 85) return 2 + rng_next(x) % 7;
    if (p < 98) return 9 + rng_next(x) % 56;
    return 65 + rng_next(x) % 448;
}

static void test_churn(void **state)
{
    (void)state;
    enum { SLOTS = 512, STEPS = 20000 };
    static const pageheap_run_merge pol[3] = { PAGEHEAP_MERGE_NEXT, PAGEHEAP_MERGE_BOTH,
                                               PAGEHEAP_MERGE_OFF };
    for (unsigned k = 0; k < 3; k++) {
        pageheap *h = pageheap_new(&(pageheap_options){ .run_cache_merge = pol[k] });
        assert_non_null(h);
        static char *p[SLOTS];
        static size_t n[SLOTS];
        uint64_t x = 42;
        for (unsigned i = 0; i < SLOTS; i++) {
            n[i] = churn_size(&x);
            p[i] = pageheap_alloc(h, n[i]);
            assert_non_null(p[i]);
            memset(p[i], (int)i, PAGE);
        }
        for (unsigned s = 0; s < STEPS; s++) {
            unsigned i = (unsigned)(rng_next(&x) % SLOTS);
            assert_int_equal((unsigned char)p[i][0], (unsigned char)i);
            pageheap_free(h, p[i], n[i]);
            n[i] = churn_size(&x);
            p[i] = pageheap_alloc(h, n[i]);
            assert_non_null(p[i]);
            memset(p[i], (int)i, PAGE);
            if (s % 5000 == 0)
                pa_expect_heap_ok(h);
        }
        pa_expect_heap_ok(h);
        for (unsigned i = 0; i < SLOTS; i++)
            pageheap_free(h, p[i], n[i]);
        pageheap_flush_caches(h);
        pageheap_stats st;
        pageheap_get_stats(h, &st);
        assert_int_equal(st.in_use_bytes, 0);
        assert_int_equal(st.cache_bytes, 0);
        pa_expect_heap_ok(h);
        pageheap_delete(h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next),
        cmocka_unit_test(test_both),
        cmocka_unit_test(test_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
