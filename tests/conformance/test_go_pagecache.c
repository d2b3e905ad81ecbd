/*
 * test_go_pagecache.c - conformance with Go 1.19's runtime/mpagecache_test.go.
 *
 * The case tables are those of Go's tests; the code is ours. Ported:
 *   TestPageCacheAlloc          11 cases
 *   TestPageCacheFlush           2 fixed cases + 100 random ones (our own
 *                                seeded PRNG instead of math/rand)
 *   TestPageAllocAllocToCache    7 cases (6 + DiscontiguousMappedSumBoundary,
 *                                64-bit only)
 * Chunk offsets are relative to the base chunk (Go's BaseChunkIdx, address
 * PA_BASE_CHUNK_ADDR); every allocator is unbacked.
 */
#include "pa_build.h"

#include <stdio.h>
#include <string.h>

#define CP  PAGEALLOC_CHUNK_PAGES
#define PS  PAGEALLOC_PAGE_SIZE
#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PB(c, p) pa_page_base(c, p)
#define CASE_TEST(tbl, i, fn) \
    ((struct CMUnitTest){ (tbl)[i].name, (fn), NULL, NULL, (void *)(uintptr_t)&(tbl)[i] })

/* ------------------------------------------------------ PageCacheAlloc -- */

typedef struct cache_hit {
    size_t    npages;  /* 0 ends the list */
    uintptr_t base;    /* expected address, 0 = failure */
    size_t    scav;    /* expected scavenged bytes */
} cache_hit;

typedef struct cache_alloc_case {
    const char     *name;
    pagealloc_cache cache;
    cache_hit       hits[24];
} cache_alloc_case;

#define B0 PB(0, 0)

static const cache_alloc_case cache_alloc_cases[] = {
    { "Empty", { B0, 0, 0 },
      { { 1, 0, 0 }, { 2, 0, 0 }, { 3, 0, 0 }, { 4, 0, 0 }, { 5, 0, 0 }, { 11, 0, 0 },
        { 12, 0, 0 }, { 16, 0, 0 }, { 27, 0, 0 }, { 32, 0, 0 }, { 43, 0, 0 },
        { 57, 0, 0 }, { 64, 0, 0 }, { 121, 0, 0 } } },
    { "Lo1", { B0, 0x1, 0x1 },
      { { 1, B0, PS }, { 1, 0, 0 }, { 10, 0, 0 } } },
    { "Hi1", { B0, 0x1ull << 63, 0x1 },
      { { 1, B0 + 63 * PS, 0 }, { 1, 0, 0 }, { 10, 0, 0 } } },
    { "Swiss1", { B0, 0x20005555, 0x5505 },
      { { 2, 0, 0 }, { 1, B0, PS }, { 1, B0 + 2 * PS, PS }, { 1, B0 + 4 * PS, 0 },
        { 1, B0 + 6 * PS, 0 }, { 1, B0 + 8 * PS, PS }, { 1, B0 + 10 * PS, PS },
        { 1, B0 + 12 * PS, PS }, { 1, B0 + 14 * PS, PS }, { 1, B0 + 29 * PS, 0 },
        { 1, 0, 0 }, { 10, 0, 0 } } },
    { "Lo2", { B0, 0x3, 0x2ull << 62 },
      { { 2, B0, 0 }, { 2, 0, 0 }, { 1, 0, 0 } } },
    { "Hi2", { B0, 0x3ull << 62, 0x3ull << 62 },
      { { 2, B0 + 62 * PS, 2 * PS }, { 2, 0, 0 }, { 1, 0, 0 } } },
    { "Swiss2", { B0, 0x3333ull << 31, 0x3030ull << 31 },
      { { 2, B0 + 31 * PS, 0 }, { 2, B0 + 35 * PS, 2 * PS }, { 2, B0 + 39 * PS, 0 },
        { 2, B0 + 43 * PS, 2 * PS }, { 2, 0, 0 } } },
    { "Hi53", { B0, ((1ull << 53) - 1) << 10, ((1ull << 16) - 1) << 10 },
      { { 53, B0 + 10 * PS, 16 * PS }, { 53, 0, 0 }, { 1, 0, 0 } } },
    { "Full53", { B0, ~0ull, ((1ull << 16) - 1) << 10 },
      { { 53, B0, 16 * PS }, { 53, 0, 0 }, { 1, B0 + 53 * PS, 0 } } },
    { "Full64", { B0, ~0ull, ~0ull },
      { { 64, B0, 64 * PS }, { 64, 0, 0 }, { 1, 0, 0 } } },
    { "FullMixed", { B0, ~0ull, ~0ull },
      { { 5, B0, 5 * PS }, { 7, B0 + 5 * PS, 7 * PS }, { 1, B0 + 12 * PS, 1 * PS },
        { 23, B0 + 13 * PS, 23 * PS }, { 63, 0, 0 }, { 3, B0 + 36 * PS, 3 * PS },
        { 3, B0 + 39 * PS, 3 * PS }, { 3, B0 + 42 * PS, 3 * PS },
        { 12, B0 + 45 * PS, 12 * PS }, { 11, 0, 0 }, { 4, B0 + 57 * PS, 4 * PS },
        { 4, 0, 0 }, { 6, 0, 0 }, { 36, 0, 0 }, { 2, B0 + 61 * PS, 2 * PS },
        { 3, 0, 0 }, { 1, B0 + 63 * PS, 1 * PS }, { 4, 0, 0 }, { 2, 0, 0 },
        { 62, 0, 0 }, { 1, 0, 0 } } },
};

/* Each case runs twice: through the public header's inline one-page path
 * (the macro pagealloc_cache_alloc) and through the exported function
 * itself, `(pagealloc_cache_alloc)`; both must give Go's answers and leave
 * the same cache. */
static void run_cache_alloc_case(void **state)
{
    const cache_alloc_case *tc = *state;
    pagealloc_cache end[2];
    for (int exported = 0; exported < 2; exported++) {
        pagealloc_cache c = tc->cache;
        for (size_t k = 0; k < LEN(tc->hits) && tc->hits[k].npages != 0; k++) {
            const cache_hit *h = &tc->hits[k];
            size_t scav = h->base != 0 ? SIZE_MAX : 0; /* a failed alloc may leave it */
            uintptr_t a = exported ? (pagealloc_cache_alloc)(&c, h->npages, &scav)
                                   : pagealloc_cache_alloc(&c, h->npages, &scav);
            if (a != h->base || scav != h->scav) {
                char ga[PA_ADDR_STR], wa[PA_ADDR_STR];
                fail_msg("%s: alloc #%zu (%zu pages): got %s, scav %zu; want %s, scav %zu",
                         exported ? "exported" : "inline", k + 1, h->npages,
                         pa_fmt_addr(ga, a), scav, pa_fmt_addr(wa, h->base), h->scav);
            }
        }
        end[exported] = c;
    }
    assert_memory_equal(&end[0], &end[1], sizeof end[0]);
}

/* ------------------------------------------------------ PageCacheFlush -- */

typedef struct flush_case {
    char     name[24];
    unsigned base;   /* first page of the cache in the chunk (multiple of 64) */
    uint64_t cache;
    uint64_t scav;
} flush_case;

#define NRANDOM_FLUSH 100
static flush_case flush_cases[2 + NRANDOM_FLUSH];

/* The runs of 1 bits of a 64-bit word as page ranges starting at page base. */
static void word_to_ranges(uint64_t bits, unsigned base, pa_range out[PA_MAX_RANGES])
{
    size_t n = 0;
    unsigned start = 0, size = 0;
    memset(out, 0, PA_MAX_RANGES * sizeof(pa_range));
    for (unsigned i = 0; i < 64; i++) {
        if ((bits >> i) & 1) {
            if (size == 0)
                start = base + i;
            size++;
        } else if (size != 0) {
            out[n++] = (pa_range){ start, size };
            size = 0;
        }
    }
    if (size != 0)
        out[n++] = (pa_range){ start, size };
    assert_true(n <= PA_MAX_RANGES);
}

static void run_flush_case(void **state)
{
    const flush_case *tc = *state;
    pa_chunk_desc alloc = { .off = 0, .r = { { tc->base, 64 } } };
    pa_chunk_desc scav = { .off = 0 };
    pagealloc *b = pa_build_n(&alloc, 1, &scav, 1);

    pagealloc_cache c = { PB(0, tc->base), tc->cache, tc->scav };
    pagealloc_cache_flush(&c, b);
    if (c.cache != 0 || c.base != 0)
        fail_msg("flush left the cache non-empty: base 0x%llx, cache %016llx, scav %016llx",
                 (unsigned long long)c.base, (unsigned long long)c.cache,
                 (unsigned long long)c.scav);

    /* The cache's free pages are back (free), its scavenged ones scavenged. */
    word_to_ranges(~tc->cache, tc->base, alloc.r);
    word_to_ranges(tc->scav, tc->base, scav.r);
    pagealloc *want = pa_build_n(&alloc, 1, &scav, 1);
    if (pa_diff_allocs(want, b) != 0)
        fail_msg("after flushing base page %u, cache %016llx, scav %016llx", tc->base,
                 (unsigned long long)tc->cache, (unsigned long long)tc->scav);
    pagealloc_delete(want);
    pagealloc_delete(b);
}

static void make_flush_cases(void)
{
    flush_cases[0] = (flush_case){ "Empty", 0, 0, 0 };
    flush_cases[1] = (flush_case){ "Full", 0, ~0ull, ~0ull };
    pa_rng g = { 0xf1005eedu };
    for (int k = 0; k < NRANDOM_FLUSH; k++) {
        flush_case *fc = &flush_cases[2 + k];
        snprintf(fc->name, sizeof fc->name, "Random/%02d", k);
        fc->base = (unsigned)pa_rng_below(&g, CP / 64) * 64;
        fc->cache = pa_rng_next(&g);
        fc->scav = pa_rng_next(&g) & fc->cache;
    }
}

/* ---------------------------------------------------------- AllocToCache -- */

typedef struct to_cache_case {
    const char     *name;
    pa_heap_desc    before_alloc, before_scav;
    pagealloc_cache hits[4];  /* expected caches, in order */
    size_t          nhits;
    pa_heap_desc    after_alloc, after_scav;
} to_cache_case;

static const to_cache_case to_cache_cases[] = {
    { .name = "AllFree",
      .before_alloc = PA_HEAP({ .off = 0 }),
      .before_scav = PA_HEAP({ .off = 0, .r = { { 1, 1 }, { 64, 64 } } }),
      .hits = { { PB(0, 0), ~0ull, 0x2 }, { PB(0, 64), ~0ull, ~0ull },
                { PB(0, 128), ~0ull, 0 }, { PB(0, 192), ~0ull, 0 } },
      .nhits = 4,
      .after_alloc = PA_HEAP({ .off = 0, .r = { { 0, 256 } } }) },
    { .name = "ManyArena",
      .before_alloc = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                              { .off = 1, .r = { { 0, CP } } },
                              { .off = 2, .r = { { 0, CP - 64 } } }),
      .before_scav = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                             { .off = 1, .r = { { 0, CP } } }, { .off = 2 }),
      .hits = { { PB(2, CP - 64), ~0ull, 0 } },
      .nhits = 1,
      .after_alloc = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                             { .off = 1, .r = { { 0, CP } } },
                             { .off = 2, .r = { { 0, CP } } }) },
    { .name = "NotContiguous",
      .before_alloc = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                              { .off = 0xff, .r = { { 0, 0 } } }),
      .before_scav = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                             { .off = 0xff, .r = { { 31, 67 } } }),
      .hits = { { PB(0xff, 0), ~0ull, ((1ull << 33) - 1) << 31 } },
      .nhits = 1,
      .after_alloc = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                             { .off = 0xff, .r = { { 0, 64 } } }),
      .after_scav = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                            { .off = 0xff, .r = { { 64, 34 } } }) },
    { .name = "First",
      .before_alloc = PA_HEAP({ .off = 0, .r = { { 0, 32 }, { 33, 31 }, { 96, 32 } } }),
      .before_scav = PA_HEAP({ .off = 0, .r = { { 1, 4 }, { 31, 5 }, { 66, 2 } } }),
      .hits = { { PB(0, 0), 1ull << 32, 1ull << 32 },
                { PB(0, 64), (1ull << 32) - 1, 0x3ull << 2 } },
      .nhits = 2,
      .after_alloc = PA_HEAP({ .off = 0, .r = { { 0, 128 } } }) },
    { .name = "Fail",
      .before_alloc = PA_HEAP({ .off = 0, .r = { { 0, CP } } }),
      .hits = { { 0, 0, 0 }, { 0, 0, 0 }, { 0, 0, 0 } },
      .nhits = 3,
      .after_alloc = PA_HEAP({ .off = 0, .r = { { 0, CP } } }) },
    { .name = "RetainScavBits",
      .before_alloc = PA_HEAP({ .off = 0, .r = { { 0, 1 }, { 10, 2 } } }),
      .before_scav = PA_HEAP({ .off = 0, .r = { { 0, 4 }, { 11, 1 } } }),
      .hits = { { PB(0, 0), ~(0x1ull | (0x3ull << 10)), 0x7ull << 1 } },
      .nhits = 1,
      .after_alloc = PA_HEAP({ .off = 0, .r = { { 0, 64 } } }),
      .after_scav = PA_HEAP({ .off = 0, .r = { { 0, 1 }, { 11, 1 } } }) },
    /* 64-bit only: as in TestPageAllocAlloc, the first chunk's summary is
     * the last on its physical page (512 summaries per 4 KiB page) and the
     * second chunk is 0x100000 chunks higher. */
    { .name = "DiscontiguousMappedSumBoundary",
      .before_alloc = PA_HEAP({ .off = 511, .r = { { 0, CP - 1 } } },
                              { .off = 0x100000, .r = { { 1, CP - 1 } } }),
      .before_scav = PA_HEAP({ .off = 511 }, { .off = 0x100000 }),
      .hits = { { PB(511, CP - 64), 1ull << 63, 0 }, { PB(0x100000, 0), 1, 0 },
                { 0, 0, 0 } },
      .nhits = 3,
      .after_alloc = PA_HEAP({ .off = 511, .r = { { 0, CP } } },
                             { .off = 0x100000, .r = { { 0, CP } } }) },
};

static void run_to_cache_case(void **state)
{
    const to_cache_case *tc = *state;
    pagealloc *b = pa_build(&tc->before_alloc, &tc->before_scav);
    for (size_t k = 0; k < tc->nhits; k++) {
        const pagealloc_cache *w = &tc->hits[k];
        pagealloc_cache got = pagealloc_alloc_to_cache(b);
        if (got.base != w->base || got.cache != w->cache || got.scav != w->scav) {
            char ga[PA_ADDR_STR], wa[PA_ADDR_STR];
            fail_msg("cache #%zu: got {%s, cache %016llx, scav %016llx}, "
                     "want {%s, cache %016llx, scav %016llx}", k + 1,
                     pa_fmt_addr(ga, got.base), (unsigned long long)got.cache,
                     (unsigned long long)got.scav, pa_fmt_addr(wa, w->base),
                     (unsigned long long)w->cache, (unsigned long long)w->scav);
        }
    }
    pagealloc *want = pa_build(&tc->after_alloc, &tc->after_scav);
    pa_check_equal(want, b);
    pagealloc_delete(want);
    pagealloc_delete(b);
}

/* ---------------------------------------------------------------- main -- */

int main(void)
{
    static struct CMUnitTest cache_alloc_tests[LEN(cache_alloc_cases)];
    static struct CMUnitTest flush_tests[LEN(flush_cases)];
    static struct CMUnitTest to_cache_tests[LEN(to_cache_cases)];

    make_flush_cases();
    for (size_t i = 0; i < LEN(cache_alloc_cases); i++)
        cache_alloc_tests[i] = CASE_TEST(cache_alloc_cases, i, run_cache_alloc_case);
    for (size_t i = 0; i < LEN(flush_cases); i++)
        flush_tests[i] = CASE_TEST(flush_cases, i, run_flush_case);
    for (size_t i = 0; i < LEN(to_cache_cases); i++)
        to_cache_tests[i] = CASE_TEST(to_cache_cases, i, run_to_cache_case);

    int failed = 0;
    failed += cmocka_run_group_tests_name("TestPageCacheAlloc", cache_alloc_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestPageCacheFlush", flush_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestPageAllocAllocToCache", to_cache_tests,
                                          NULL, NULL);
    return failed != 0;
}
