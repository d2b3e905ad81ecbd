/*
 * test_runcount.c - a chunk's run counts (src/pagealloc/runcount.h,
 * docs/pagealloc.md "Run counts"), the structure that lets an allocation
 * that cut a chunk's longest run find the new longest without a rescan:
 *   - pa_run_counts against a page-by-page count written here, on random
 *     bitmaps of runs of varied lengths;
 *   - pa_run_counts_take_word (a page cache taking a word) against a
 *     recount, for every word of random bitmaps;
 *   - pa_run_longest_short against a plain loop over the counters;
 *   - the counts kept by the allocator's incremental updates, checked by
 *     pagealloc_check after every operation of random churn of short runs
 *     (the sizes that reach the counts' fast path) with page caches and
 *     multi-chunk runs, every allocation compared with a first fit
 *     computed here from the bitmaps;
 *   - a page-cache refill of a wholly free word (an allocation of 64
 *     pages for the leaf and counts), checked after the refill and flush;
 *   - the checker reports a count that went stale.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pagealloc/pagealloc.h"
#include "pagealloc/testing.h"
#include "pagealloc/internal.h"      /* the counts, to compare and to break */
#include "rng.h"

#define PAGE  ((uintptr_t)PAGEALLOC_PAGE_SIZE)
#define CHUNK ((uintptr_t)PAGEALLOC_CHUNK_SIZE)
#define BASE  ((uintptr_t)0x3000000000)

typedef uint64_t bits_t[8];

static int is_free(const uint64_t *b, unsigned p)
{
    return !(b[p / 64] >> (p % 64) & 1);
}

/* The counts by walking pages one at a time (no ctz, no word tricks). */
static void slow_counts(const uint64_t *b, pa_runcount *c)
{
    memset(c, 0, sizeof(*c));
    for (unsigned p = 0; p < 512;) {
        if (!is_free(b, p)) {
            p++;
            continue;
        }
        unsigned q = p;
        while (q < 512 && is_free(b, q))
            q++;
        unsigned len = q - p;
        c->n[len < PA_RUN_LONG ? len : PA_RUN_LONG]++;
        p = q;
    }
}

static int counts_equal(const pa_runcount *a, const pa_runcount *b)
{
    for (unsigned k = 1; k < PA_RUN_BUCKETS; k++)
        if (a->n[k] != b->n[k])
            return 0;
    return 1;
}

/* A bitmap of alternating allocated and free runs of 1..scale pages. */
static void random_bits(rng_xorshift *g, bits_t b)
{
    static const unsigned scales[] = { 1, 2, 4, 9, 20, 70, 300 };
    unsigned scale = scales[rng_xorshift_below(g, sizeof scales / sizeof scales[0])];
    int used = (int)rng_xorshift_below(g, 2);
    memset(b, 0, sizeof(bits_t));
    for (unsigned p = 0; p < 512;) {
        unsigned len = 1 + (unsigned)rng_xorshift_below(g, scale);
        for (unsigned j = p; j < p + len && j < 512; j++)
            if (used)
                b[j / 64] |= (uint64_t)1 << (j % 64);
        p += len;
        used = !used;
    }
    if (rng_xorshift_below(g, 8) == 0)
        b[rng_xorshift_below(g, 8)] = 0;           /* a wholly free word */
    if (rng_xorshift_below(g, 8) == 0)
        b[rng_xorshift_below(g, 8)] = ~(uint64_t)0; /* a wholly allocated one */
}

static void test_counts_random(void **state)
{
    (void)state;
    rng_xorshift g = { 0x5eed0011u };
    for (int k = 0; k < 20000; k++) {
        bits_t b;
        random_bits(&g, b);
        pa_runcount got, want;
        pa_run_counts(b, &got);
        slow_counts(b, &want);
        if (!counts_equal(&got, &want))
            fail_msg("bitmap #%d: pa_run_counts differs from the page walk", k);
        assert_int_equal(got.n[0], 0);
        /* The longest short length with a count. */
        unsigned loop = PA_RUN_LONG - 1;
        while (loop > 0 && want.n[loop] == 0)
            loop--;
        assert_int_equal(pa_run_longest_short(&got), loop);
    }
    bits_t all_free = { 0 }, all_used;
    memset(all_used, 0xff, sizeof all_used);
    pa_runcount c, want;
    pa_run_counts(all_free, &c);
    pa_run_counts_free(&want);
    assert_true(counts_equal(&c, &want));
    pa_run_counts(all_used, &c);
    pa_run_counts_full(&want);
    assert_true(counts_equal(&c, &want));
    assert_int_equal(pa_run_longest_short(&c), 0);
}

static void test_take_word_random(void **state)
{
    (void)state;
    rng_xorshift g = { 0x5eed0012u };
    for (int k = 0; k < 5000; k++) {
        bits_t b;
        random_bits(&g, b);
        for (unsigned w = 0; w < 8; w++) {
            bits_t t;
            memcpy(t, b, sizeof t);
            pa_runcount c, want;
            pa_run_counts(t, &c);
            pa_run_counts_take_word(&c, t, w);
            t[w] = ~(uint64_t)0;
            slow_counts(t, &want);
            if (!counts_equal(&c, &want))
                fail_msg("bitmap #%d, word %u: counts after taking the word differ", k, w);
        }
    }
}

static void check_ok(const pagealloc *pa, const char *what, unsigned step)
{
    char msg[256];
    if (pagealloc_check(pa, msg, sizeof msg) != 0)
        fail_msg("step %u (%s): %s", step, what, msg);
}

/* The lowest address where n pages are free, from the bitmaps alone. */
static uintptr_t ref_first_fit(const pagealloc *pa, unsigned nchunks, size_t n)
{
    uintptr_t run = 0, start = 0;
    for (unsigned ci = 0; ci < nchunks; ci++) {
        uint64_t alloc[8];
        assert_int_equal(pagealloc_test_chunk_bits(pa, BASE + ci * CHUNK, alloc, NULL), 1);
        for (unsigned p = 0; p < 512; p++) {
            if (!is_free(alloc, p)) {
                run = 0;
                continue;
            }
            if (run++ == 0)
                start = BASE + ci * CHUNK + p * PAGE;
            if (run >= n)
                return start;
        }
    }
    return 0;
}

typedef struct live { uintptr_t a; size_t n; } live;

static void test_counts_in_allocator(void **state)
{
    (void)state;
    enum { NCHUNKS = 6, NLIVE = 2048 };
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 });
    assert_non_null(pa);
    assert_int_equal(pagealloc_grow(pa, BASE, NCHUNKS * CHUNK), 0);
    rng_xorshift g = { 0x5eed0013u };
    static live lv[NLIVE];
    size_t nlive = 0;
    for (unsigned step = 0; step < 30000; step++) {
        uint64_t op = rng_xorshift_below(&g, 100);
        const char *what;
        if (op < 52 && nlive < NLIVE) {
            what = "alloc";
            uint64_t p = rng_xorshift_below(&g, 100);
            size_t n = p < 60 ? 1 + (size_t)rng_xorshift_below(&g, 4)
                     : p < 90 ? 1 + (size_t)rng_xorshift_below(&g, 24)
                     : p < 98 ? 25 + (size_t)rng_xorshift_below(&g, 200)
                              : 400 + (size_t)rng_xorshift_below(&g, 700);
            uintptr_t want = ref_first_fit(pa, NCHUNKS, n);
            uintptr_t a = pagealloc_alloc(pa, n, NULL);
            if (a != want)
                fail_msg("step %u: alloc(%zu) = %#lx, first fit %#lx", step, n,
                         (unsigned long)a, (unsigned long)want);
            if (a)
                lv[nlive++] = (live){ a, n };
        } else if (op < 97 && nlive) {
            what = "free";
            size_t i = (size_t)rng_xorshift_below(&g, nlive);
            pagealloc_free(pa, lv[i].a, lv[i].n);
            lv[i] = lv[--nlive];
        } else {
            what = "page cache";
            pagealloc_cache c = pagealloc_alloc_to_cache(pa);
            check_ok(pa, "cache taken", step);
            for (unsigned k = (unsigned)rng_xorshift_below(&g, 8); k > 0; k--)
                (void)pagealloc_cache_alloc(&c, 1, NULL);
            pagealloc_cache_flush(&c, pa);
        }
        check_ok(pa, what, step);
    }

    /* A stale count is reported. */
    uint32_t ci = pa_chunk_index(BASE);
    pa_runs_of(pa, ci)->n[3]++;
    char msg[256];
    assert_int_not_equal(pagealloc_check(pa, msg, sizeof msg), 0);
    assert_non_null(strstr(msg, "run counts"));
    pa_runs_of(pa, ci)->n[3]--;
    check_ok(pa, "count restored", 0);

    while (nlive) {
        nlive--;
        pagealloc_free(pa, lv[nlive].a, lv[nlive].n);
    }
    check_ok(pa, "all freed", 0);
    pagealloc_delete(pa);
}

/* A refill whose word is wholly free is taken as an allocation of its 64
 * pages (the leaf and counts derived from the old leaf, src/pagealloc/
 * pagecache.c). Each trial: a chunk wholly allocated, then word w freed
 * and random runs above it freed (some touching word w, some long, so
 * the derived max comes from the counts, from a rescan, or from a piece);
 * the refill must take word w whole and leave summaries and counts that
 * pagealloc_check accepts, and so must the flush that gives it back. */
static void test_refill_whole_word(void **state)
{
    (void)state;
    rng_xorshift g = { 0x5eed0021u };
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 });
    assert_non_null(pa);
    assert_int_equal(pagealloc_grow(pa, BASE, 2 * CHUNK), 0);
    assert_int_equal(pagealloc_alloc(pa, 2 * 512, NULL), BASE);
    for (unsigned trial = 0; trial < 1000; trial++) {
        unsigned w = (unsigned)rng_xorshift_below(&g, 8);
        for (unsigned p = (w + 1) * 64; p < 512;) {
            unsigned gap = (unsigned)rng_xorshift_below(&g, 4) == 0
                               ? 0 : 1 + (unsigned)rng_xorshift_below(&g, 40);
            unsigned run = 1 + (unsigned)rng_xorshift_below(
                                   &g, rng_xorshift_below(&g, 3) == 0 ? 120 : 14);
            p += gap;
            if (p >= 512)
                break;
            if (run > 512 - p)
                run = 512 - p;
            if (p == (w + 1) * 64 && gap == 0 && run == 1 && (trial & 1))
                run = 2;                   /* vary the run touching word w */
            pagealloc_free(pa, BASE + p * PAGE, run);
            p += run + 1;                  /* an allocated page between runs */
        }
        pagealloc_free(pa, BASE + w * 64 * PAGE, 64);
        check_ok(pa, "set up", trial);
        pagealloc_cache c = pagealloc_alloc_to_cache(pa);
        if (c.base != BASE + w * 64 * PAGE || c.cache != ~(uint64_t)0)
            fail_msg("trial %u: refill took %#lx/%#llx, want word %u whole", trial,
                     (unsigned long)c.base, (unsigned long long)c.cache, w);
        check_ok(pa, "refill", trial);
        uintptr_t want = ref_first_fit(pa, 2, 1);
        if (pagealloc_alloc(pa, 1, NULL) != want)
            fail_msg("trial %u: first fit after the refill differs", trial);
        check_ok(pa, "alloc after the refill", trial);
        pagealloc_cache_flush(&c, pa);
        check_ok(pa, "flush", trial);
        while (pagealloc_alloc(pa, 1, NULL) != 0)
            ;                              /* all allocated again */
    }
    pagealloc_delete(pa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_random),
        cmocka_unit_test(test_take_word_random),
        cmocka_unit_test(test_counts_in_allocator),
        cmocka_unit_test(test_refill_whole_word),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
