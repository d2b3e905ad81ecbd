/*
 * test_free_index.c - the free-chunk index (src/pagealloc/freeidx.h,
 * docs/pagealloc.md "Free-chunk index"):
 *   - random grow/alloc/free/scavenge/page-cache sequences on several heap
 *     geometries (one range; ranges grown upward, downward and far apart,
 *     so that runs end at gaps, at block-of-8 boundaries and at ranges whose
 *     neighbouring leaf summaries are on OS pages never committed), with pagealloc_check (which
 *     verifies the index bit by bit) after every operation, and every
 *     allocation compared with a first fit computed here from the chunk
 *     bitmaps alone;
 *   - the checker reports a stale bit, both for a grown chunk and for a
 *     committed bit of a chunk that was never grown;
 *   - the index's committed words are charged to the metadata stats and
 *     the layout covers every grown chunk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagealloc/pagealloc.h"
#include "pagealloc/testing.h"
#include "pagealloc/internal.h"      /* to read and break the index on purpose */
#include "rng.h"

#define PAGE  ((uintptr_t)PAGEALLOC_PAGE_SIZE)
#define CHUNK ((uintptr_t)PAGEALLOC_CHUNK_SIZE)
#define BASE  ((uintptr_t)0x3000000000)

static void check_ok(const pagealloc *pa, const char *what, unsigned step)
{
    char msg[256];
    if (pagealloc_check(pa, msg, sizeof msg) != 0)
        fail_msg("step %u (%s): %s", step, what, msg);
}

/* The lowest address where n pages are free, from the bitmaps alone: runs
 * continue across touching chunks of one in-use range and end at gaps. */
static uintptr_t ref_first_fit(const pagealloc *pa, size_t n)
{
    uintptr_t r[64][2];
    size_t nr = pagealloc_test_in_use(pa, r, 64);
    assert_true(nr <= 64);
    for (size_t i = 0; i < nr; i++) {
        uintptr_t run = 0, start = 0;
        for (uintptr_t c = r[i][0]; c < r[i][1]; c += CHUNK) {
            uint64_t alloc[8];
            assert_int_equal(pagealloc_test_chunk_bits(pa, c, alloc, NULL), 1);
            for (unsigned p = 0; p < 512; p++) {
                if (alloc[p / 64] >> (p % 64) & 1) {
                    run = 0;
                    continue;
                }
                if (run++ == 0)
                    start = c + p * PAGE;
                if (run >= n)
                    return start;
            }
        }
    }
    return 0;
}

/* Geometries: ranges of chunks (offsets from BASE, in chunks) grown in this
 * order; later ones are grown during the run. */
typedef struct geo { const char *name; unsigned n; uint64_t off[6], len[6]; } geo;
static const geo geos[] = {
    { "one range", 1, { 0 }, { 40 } },
    { "upward, downward, far", 6, { 16, 29, 3, (1u << 20) - 24, 45, 1u << 21 },
      { 13, 11, 13, 24, 9, 24 } },
    { "block edges", 4, { 8, 24, 17, 40 }, { 8, 8, 7, 16 } },
};

typedef struct live { uintptr_t a; size_t n; } live;

static size_t draw_size(rng_xorshift *g)
{
    uint64_t p = rng_xorshift_below(g, 100);
    if (p < 25)
        return 1 + (size_t)rng_xorshift_below(g, 64);
    if (p < 50)
        return 65 + (size_t)rng_xorshift_below(g, 958);           /* 65..1022 */
    return 1023 + (size_t)rng_xorshift_below(g, 5000);            /* the index's sizes */
}

static void run_random(const geo *gm, uint64_t seed, unsigned steps)
{
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 });
    assert_non_null(pa);
    rng_xorshift g;
    g.x = seed;
    unsigned grown = 0;
    for (; grown < 2 && grown < gm->n; grown++)
        assert_int_equal(pagealloc_grow(pa, BASE + gm->off[grown] * CHUNK, gm->len[grown] * CHUNK), 0);
    static live lv[4096];
    size_t nlive = 0;
    for (unsigned step = 0; step < steps; step++) {
        uint64_t op = rng_xorshift_below(&g, 100);
        const char *what;
        if (op < 2 && grown < gm->n) {
            what = "grow";
            assert_int_equal(pagealloc_grow(pa, BASE + gm->off[grown] * CHUNK, gm->len[grown] * CHUNK), 0);
            grown++;
        } else if (op < 50 && nlive < 4096) {
            what = "alloc";
            size_t n = draw_size(&g);
            uintptr_t want = ref_first_fit(pa, n);
            uintptr_t a = pagealloc_alloc(pa, n, NULL);
            if (a != want)
                fail_msg("step %u: alloc(%zu) = %#lx, first fit %#lx (seed %lu, %s)", step, n,
                         (unsigned long)a, (unsigned long)want, (unsigned long)seed, gm->name);
            if (a)
                lv[nlive++] = (live){ a, n };
        } else if (op < 92 && nlive) {
            what = "free";
            size_t i = (size_t)rng_xorshift_below(&g, nlive);
            pagealloc_free(pa, lv[i].a, lv[i].n);
            lv[i] = lv[--nlive];
        } else if (op < 96) {
            what = "scavenge";
            (void)pagealloc_scavenge(pa, (size_t)rng_xorshift_below(&g, 3000) * PAGE);
        } else {
            what = "page cache";
            pagealloc_cache c = pagealloc_alloc_to_cache(pa);
            for (unsigned k = (unsigned)rng_xorshift_below(&g, 8); k > 0; k--)
                (void)pagealloc_cache_alloc(&c, 1, NULL);
            check_ok(pa, "cache held", step);
            pagealloc_cache_flush(&c, pa);
        }
        check_ok(pa, what, step);
    }
    while (nlive) {
        nlive--;
        pagealloc_free(pa, lv[nlive].a, lv[nlive].n);
    }
    check_ok(pa, "all freed", steps);
    pagealloc_delete(pa);
}

static void test_random_sequences(void **state)
{
    (void)state;
    /* The checker runs after every step: under valgrind (the valgrind
     * stage sets PAGEALLOC_UNDER_VALGRIND) a tenth of the steps, one seed. */
    const char *vg = getenv("PAGEALLOC_UNDER_VALGRIND");
    int slow = vg && *vg && strcmp(vg, "0") != 0;
    for (size_t k = 0; k < sizeof geos / sizeof geos[0]; k++)
        for (uint64_t seed = 1; seed <= (slow ? 1u : 3u); seed++)
            run_random(&geos[k], seed * 7919 + k, slow ? 250 : 2500);
}

static void expect_broken(const pagealloc *pa, const char *rule)
{
    char msg[256];
    assert_int_not_equal(pagealloc_check(pa, msg, sizeof msg), 0);
    if (!strstr(msg, rule))
        fail_msg("checker said \"%s\", expected \"%s\"", msg, rule);
}

static void test_checker_reports_stale_bits(void **state)
{
    (void)state;
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 });
    assert_non_null(pa);
    assert_int_equal(pagealloc_grow(pa, BASE, 16 * CHUNK), 0);
    uintptr_t a = pagealloc_alloc(pa, 700, NULL);      /* chunks 0 and 1 in use */
    assert_int_equal(a, BASE);
    check_ok(pa, "alloc", 0);
    uint32_t c0 = pa_chunk_index(BASE), c5 = c0 + 5, c16 = c0 + 16;
    assert_int_equal(pa_free_index_get(&pa->free_idx, c0), 0);
    assert_int_equal(pa_free_index_get(&pa->free_idx, c5), 1);
    assert_int_equal(pa_free_index_get(&pa->free_idx, c16), 0);

    pa_free_index_set(&pa->free_idx, c0, 1);           /* says free, is not */
    expect_broken(pa, "free-chunk index bit differs");
    pa_free_index_set(&pa->free_idx, c0, 0);
    pa_free_index_set(&pa->free_idx, c5, 0);           /* says used, is free */
    expect_broken(pa, "free-chunk index bit differs");
    pa_free_index_set(&pa->free_idx, c5, 1);
    pa_free_index_set(&pa->free_idx, c16, 1);          /* never grown */
    expect_broken(pa, "not grown");
    pa_free_index_set(&pa->free_idx, c16, 0);
    check_ok(pa, "restored", 0);

    pagealloc_free(pa, a, 700);
    assert_int_equal(pa_free_index_get(&pa->free_idx, c0), 1);
    check_ok(pa, "free", 0);
    pagealloc_delete(pa);
}

static void test_committed_and_charged(void **state)
{
    (void)state;
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 });
    assert_non_null(pa);
    pagealloc_stats before, after;
    pagealloc_get_stats(pa, &before);
    assert_int_equal(pa->free_idx.committed, 0);
    assert_int_equal(pagealloc_grow(pa, BASE, 4 * CHUNK), 0);
    assert_int_equal(pagealloc_grow(pa, BASE + ((uintptr_t)1 << 40), 4 * CHUNK), 0);
    pagealloc_get_stats(pa, &after);
    const pa_free_index *x = &pa->free_idx;
    assert_true(x->committed > 0);
    /* the words start PA_COLOR_BYTES into their pages (base/color.h): one page more */
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    assert_int_equal(x->committed,
                     (size_t)(x->hi_word - x->lo_word) * sizeof(uint64_t) + caps.page_size);
    assert_true(after.metadata_bytes - before.metadata_bytes >= x->committed);
    assert_true(x->lo_word <= pa->start / 64 && (pa->end + 63) / 64 <= x->hi_word);
    /* a 1 TiB gap: 2^18 chunks, 4096 words, committed as one range */
    assert_true(x->hi_word - x->lo_word >= 4096);
    check_ok(pa, "grown", 0);
    /* a run of whole chunks is found in the far range too */
    assert_int_equal(pagealloc_alloc(pa, 2048, NULL), BASE);
    assert_int_equal(pagealloc_alloc(pa, 1100, NULL), BASE + ((uintptr_t)1 << 40));
    assert_int_equal(pagealloc_alloc(pa, 1100, NULL), 0);
    check_ok(pa, "allocated", 0);
    pagealloc_delete(pa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_sequences),
        cmocka_unit_test(test_checker_reports_stale_bits),
        cmocka_unit_test(test_committed_and_charged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
