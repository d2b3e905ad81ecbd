/*
 * test_go_pagealloc.c - conformance with Go 1.19's runtime/mpagealloc_test.go.
 *
 * The case tables (chunk layouts, requests and expected results) are those
 * of Go's tests on linux/amd64 (4 KiB physical pages); the code is ours.
 * Ported cases:
 *   TestPageAllocGrow          8 (7 + ExtremelyDiscontiguous, 64-bit only)
 *   TestPageAllocAlloc        19 (17 + DiscontiguousMappedSumBoundary and
 *                                 DiscontiguousBadSearchAddr, 64-bit only)
 *   TestPageAllocExhaust      12 (one per request size)
 *   TestPageAllocFree         13
 *   TestPageAllocAllocAndFree  1 (9 operations)
 * Chunk offsets are relative to the base chunk (Go's BaseChunkIdx, address
 * PA_BASE_CHUNK_ADDR); every allocator is unbacked.
 */
#include "pa_build.h"

#include <stdio.h>
#include <string.h>

#define CP  PAGEALLOC_CHUNK_PAGES /* pages per chunk (Go's PallocChunkPages) */
#define PS  PAGEALLOC_PAGE_SIZE   /* bytes per page (Go's PageSize) */
#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PB(c, p) pa_page_base(c, p)

/* ---------------------------------------------------------------- Grow -- */

#define GROW_MAX 40

typedef struct grow_case {
    const char *name;
    size_t      nchunks;
    int64_t     chunks[GROW_MAX];     /* chunk offsets to grow */
    size_t      nranges;
    int64_t     in_use[GROW_MAX][2];  /* expected [lo, hi) in chunk offsets */
} grow_case;

static const grow_case grow_cases[] = {
    { "One", 1, { 0 }, 1, { { 0, 1 } } },
    { "Contiguous2", 2, { 0, 1 }, 1, { { 0, 2 } } },
    { "Contiguous5", 5, { 0, 1, 2, 3, 4 }, 1, { { 0, 5 } } },
    { "Discontiguous", 3, { 0, 2, 4 }, 3, { { 0, 1 }, { 2, 3 }, { 4, 5 } } },
    { "Mixed", 4, { 0, 1, 2, 4 }, 2, { { 0, 3 }, { 4, 5 } } },
    { "WildlyDiscontiguous", 4, { 0, 1, 0x10, 0x21 }, 3,
      { { 0, 2 }, { 0x10, 0x11 }, { 0x21, 0x22 } } },
    /* 33 separate ranges: more than the in-use list's initial capacity of
     * 16, so it has to grow twice. */
    { "ManyDiscontiguous", 33,
      { 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
        32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62, 64 },
      33,
      { { 0, 1 }, { 2, 3 }, { 4, 5 }, { 6, 7 }, { 8, 9 }, { 10, 11 },
        { 12, 13 }, { 14, 15 }, { 16, 17 }, { 18, 19 }, { 20, 21 },
        { 22, 23 }, { 24, 25 }, { 26, 27 }, { 28, 29 }, { 30, 31 },
        { 32, 33 }, { 34, 35 }, { 36, 37 }, { 38, 39 }, { 40, 41 },
        { 42, 43 }, { 44, 45 }, { 46, 47 }, { 48, 49 }, { 50, 51 },
        { 52, 53 }, { 54, 55 }, { 56, 57 }, { 58, 59 }, { 60, 61 },
        { 62, 63 }, { 64, 65 } } },
    /* 64-bit only: the second chunk is 4 TiB above the first. */
    { "ExtremelyDiscontiguous", 2, { 0, 0x100000 }, 2,
      { { 0, 1 }, { 0x100000, 0x100001 } } },
};

static void check_in_use(const grow_case *tc, const pagealloc *pa, const char *order)
{
    uintptr_t got[GROW_MAX + 1][2];
    size_t n = pagealloc_test_in_use(pa, got, GROW_MAX + 1);
    int bad = n != tc->nranges;
    for (size_t k = 0; !bad && k < n; k++)
        bad = got[k][0] != go_chunk_base(tc->in_use[k][0]) ||
              got[k][1] != go_chunk_base(tc->in_use[k][1]);
    if (!bad)
        return;
    print_error("in-use ranges differ (chunks grown in %s order)\n", order);
    print_error("got %zu:\n", n);
    for (size_t k = 0; k < n && k <= GROW_MAX; k++)
        print_error("  #%zu [0x%llx, 0x%llx)\n", k, (unsigned long long)got[k][0],
                    (unsigned long long)got[k][1]);
    print_error("want %zu:\n", tc->nranges);
    for (size_t k = 0; k < tc->nranges; k++)
        print_error("  #%zu [0x%llx, 0x%llx)\n", k,
                    (unsigned long long)go_chunk_base(tc->in_use[k][0]),
                    (unsigned long long)go_chunk_base(tc->in_use[k][1]));
    fail();
}

static void run_grow_case(void **state)
{
    const grow_case *tc = *state;
    static pa_chunk_desc descs[GROW_MAX];
    memset(descs, 0, sizeof descs);

    /* Go grows in map order, i.e. any order: try ascending and descending. */
    for (size_t k = 0; k < tc->nchunks; k++)
        descs[k].off = tc->chunks[k];
    pagealloc *pa = pa_build_n(descs, tc->nchunks, NULL, 0);
    check_in_use(tc, pa, "ascending");
    pagealloc_delete(pa);

    for (size_t k = 0; k < tc->nchunks; k++)
        descs[k].off = tc->chunks[tc->nchunks - 1 - k];
    pa = pa_build_n(descs, tc->nchunks, NULL, 0);
    check_in_use(tc, pa, "descending");
    pagealloc_delete(pa);
}

/* --------------------------------------------------------------- Alloc -- */

typedef struct alloc_hit {
    size_t    npages;  /* 0 ends the list */
    uintptr_t base;    /* expected address, 0 = failure */
    size_t    scav;    /* expected scavenged bytes */
} alloc_hit;

typedef struct alloc_case {
    const char  *name;
    pa_heap_desc before, scav, after;
    alloc_hit    hits[8];
} alloc_case;

static const alloc_case alloc_cases[] = {
    { .name = "AllFree1",
      .before = PA_HEAP({ .off = 0 }),
      .scav = PA_HEAP({ .off = 0, .r = { { 0, 1 }, { 2, 2 } } }),
      .hits = { { 1, PB(0, 0), PS }, { 1, PB(0, 1), 0 }, { 1, PB(0, 2), PS },
                { 1, PB(0, 3), PS }, { 1, PB(0, 4), 0 } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, 5 } } }) },
    { .name = "ManyArena1",
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                        { .off = 1, .r = { { 0, CP } } },
                        { .off = 2, .r = { { 0, CP - 1 } } }),
      .scav = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                      { .off = 1, .r = { { 0, CP } } },
                      { .off = 2, .r = { { 0, CP } } }),
      .hits = { { 1, PB(2, CP - 1), PS } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                       { .off = 1, .r = { { 0, CP } } },
                       { .off = 2, .r = { { 0, CP } } }) },
    { .name = "NotContiguous1",
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                        { .off = 0xff, .r = { { 0, 0 } } }),
      .scav = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                      { .off = 0xff, .r = { { 0, CP } } }),
      .hits = { { 1, PB(0xff, 0), PS } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                       { .off = 0xff, .r = { { 0, 1 } } }) },
    { .name = "AllFree2",
      .before = PA_HEAP({ .off = 0 }),
      .scav = PA_HEAP({ .off = 0, .r = { { 0, 3 }, { 7, 1 } } }),
      .hits = { { 2, PB(0, 0), 2 * PS }, { 2, PB(0, 2), PS }, { 2, PB(0, 4), 0 },
                { 2, PB(0, 6), PS }, { 2, PB(0, 8), 0 } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, 10 } } }) },
    { .name = "Straddle2",
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP - 1 } } },
                        { .off = 1, .r = { { 1, CP - 1 } } }),
      .scav = PA_HEAP({ .off = 0, .r = { { CP - 1, 1 } } }, { .off = 1 }),
      .hits = { { 2, PB(0, CP - 1), PS } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                       { .off = 1, .r = { { 0, CP } } }) },
    { .name = "AllFree5",
      .before = PA_HEAP({ .off = 0 }),
      .scav = PA_HEAP({ .off = 0, .r = { { 0, 8 }, { 9, 1 }, { 17, 5 } } }),
      .hits = { { 5, PB(0, 0), 5 * PS }, { 5, PB(0, 5), 4 * PS }, { 5, PB(0, 10), 0 },
                { 5, PB(0, 15), 3 * PS }, { 5, PB(0, 20), 2 * PS } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, 25 } } }) },
    { .name = "AllFree64",
      .before = PA_HEAP({ .off = 0 }),
      .scav = PA_HEAP({ .off = 0, .r = { { 21, 1 }, { 63, 65 } } }),
      .hits = { { 64, PB(0, 0), 2 * PS }, { 64, PB(0, 64), 64 * PS },
                { 64, PB(0, 128), 0 } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, 192 } } }) },
    { .name = "AllFree65",
      .before = PA_HEAP({ .off = 0 }),
      .scav = PA_HEAP({ .off = 0, .r = { { 129, 1 } } }),
      .hits = { { 65, PB(0, 0), 0 }, { 65, PB(0, 65), PS }, { 65, PB(0, 130), 0 } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, 195 } } }) },
    { .name = "ExhaustPallocChunkPages-3",
      .before = PA_HEAP({ .off = 0 }),
      .scav = PA_HEAP({ .off = 0, .r = { { 10, 1 } } }),
      .hits = { { CP - 3, PB(0, 0), PS }, { CP - 3, 0, 0 }, { 1, PB(0, CP - 3), 0 },
                { 2, PB(0, CP - 2), 0 }, { 1, 0, 0 }, { CP - 3, 0, 0 } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP } } }) },
    { .name = "AllFreePallocChunkPages",
      .before = PA_HEAP({ .off = 0 }),
      .scav = PA_HEAP({ .off = 0, .r = { { 0, 1 }, { CP - 1, 1 } } }),
      .hits = { { CP, PB(0, 0), 2 * PS }, { CP, 0, 0 }, { 1, 0, 0 } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP } } }) },
    { .name = "StraddlePallocChunkPages",
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP / 2 } } },
                        { .off = 1, .r = { { CP / 2, CP / 2 } } }),
      .scav = PA_HEAP({ .off = 0 }, { .off = 1, .r = { { 3, 100 } } }),
      .hits = { { CP, PB(0, CP / 2), 100 * PS }, { CP, 0, 0 }, { 1, 0, 0 } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                       { .off = 1, .r = { { 0, CP } } }) },
    { .name = "StraddlePallocChunkPages+1",
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP / 2 } } }, { .off = 1 }),
      .scav = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                      { .off = 1, .r = { { 0, CP } } }),
      .hits = { { CP + 1, PB(0, CP / 2), (CP + 1) * PS }, { CP, 0, 0 },
                { 1, PB(1, CP / 2 + 1), PS } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                       { .off = 1, .r = { { 0, CP / 2 + 2 } } }) },
    { .name = "AllFreePallocChunkPages*2",
      .before = PA_HEAP({ .off = 0 }, { .off = 1 }),
      .scav = PA_HEAP({ .off = 0 }, { .off = 1 }),
      .hits = { { CP * 2, PB(0, 0), 0 }, { CP * 2, 0, 0 }, { 1, 0, 0 } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                       { .off = 1, .r = { { 0, CP } } }) },
    { .name = "NotContiguousPallocChunkPages*2",
      .before = PA_HEAP({ .off = 0 }, { .off = 0x40 }, { .off = 0x41 }),
      .scav = PA_HEAP({ .off = 0, .r = { { 0, CP } } }, { .off = 0x40 }, { .off = 0x41 }),
      .hits = { { CP * 2, PB(0x40, 0), 0 }, { 21, PB(0, 0), 21 * PS },
                { 1, PB(0, 21), PS } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, 22 } } },
                       { .off = 0x40, .r = { { 0, CP } } },
                       { .off = 0x41, .r = { { 0, CP } } }) },
    { .name = "StraddlePallocChunkPages*2",
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP / 2 } } }, { .off = 1 },
                        { .off = 2, .r = { { CP / 2, CP / 2 } } }),
      .scav = PA_HEAP({ .off = 0, .r = { { 0, 7 } } },
                      { .off = 1, .r = { { 3, 5 }, { 121, 10 } } },
                      { .off = 2, .r = { { CP / 2 + 12, 2 } } }),
      .hits = { { CP * 2, PB(0, CP / 2), 15 * PS }, { CP * 2, 0, 0 }, { 1, 0, 0 } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                       { .off = 1, .r = { { 0, CP } } },
                       { .off = 2, .r = { { 0, CP } } }) },
    { .name = "StraddlePallocChunkPages*5/4",
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                        { .off = 1, .r = { { 0, CP * 3 / 4 } } },
                        { .off = 2, .r = { { 0, CP * 3 / 4 } } },
                        { .off = 3, .r = { { 0, 0 } } }),
      .scav = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                      { .off = 1, .r = { { CP / 2, CP / 4 + 1 } } },
                      { .off = 2, .r = { { CP / 3, 1 } } },
                      { .off = 3, .r = { { CP * 2 / 3, 1 } } }),
      .hits = { { CP * 5 / 4, PB(2, CP * 3 / 4), PS }, { CP * 5 / 4, 0, 0 },
                { 1, PB(1, CP * 3 / 4), PS } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                       { .off = 1, .r = { { 0, CP * 3 / 4 + 1 } } },
                       { .off = 2, .r = { { 0, CP } } },
                       { .off = 3, .r = { { 0, CP } } }) },
    { .name = "AllFreePallocChunkPages*7+5",
      .before = PA_HEAP({ .off = 0 }, { .off = 1 }, { .off = 2 }, { .off = 3 },
                        { .off = 4 }, { .off = 5 }, { .off = 6 }, { .off = 7 }),
      .scav = PA_HEAP({ .off = 0, .r = { { 50, 1 } } }, { .off = 1, .r = { { 31, 1 } } },
                      { .off = 2, .r = { { 7, 1 } } }, { .off = 3, .r = { { 200, 1 } } },
                      { .off = 4, .r = { { 3, 1 } } }, { .off = 5, .r = { { 51, 1 } } },
                      { .off = 6, .r = { { 20, 1 } } }, { .off = 7, .r = { { 1, 1 } } }),
      .hits = { { CP * 7 + 5, PB(0, 0), 8 * PS }, { CP * 7 + 5, 0, 0 },
                { 1, PB(7, 5), 0 } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP } } }, { .off = 1, .r = { { 0, CP } } },
                       { .off = 2, .r = { { 0, CP } } }, { .off = 3, .r = { { 0, CP } } },
                       { .off = 4, .r = { { 0, CP } } }, { .off = 5, .r = { { 0, CP } } },
                       { .off = 6, .r = { { 0, CP } } }, { .off = 7, .r = { { 0, 6 } } }) },
    /* 64-bit only. The first chunk's leaf summary is the last one in a
     * physical page of summaries (4096 / 8 = 512 summaries per page; the
     * base chunk is 512-aligned), the second is 0x100000 chunks (4 TiB)
     * higher, so their summaries are on non-adjacent pages: exhausting the
     * first chunk must not make the allocator read unmapped summaries. */
    { .name = "DiscontiguousMappedSumBoundary",
      .before = PA_HEAP({ .off = 511 }, { .off = 0x100000 }),
      .scav = PA_HEAP({ .off = 511 }, { .off = 0x100000 }),
      .hits = { { CP - 1, PB(511, 0), 0 }, { 1, PB(511, CP - 1), 0 },
                { 1, PB(0x100000, 0), 0 }, { CP - 1, PB(0x100000, 1), 0 },
                { 1, 0, 0 } },
      .after = PA_HEAP({ .off = 511, .r = { { 0, CP } } },
                       { .off = 0x100000, .r = { { 0, CP } } }) },
    /* 64-bit only (Go issue 40191): chunks A (one free page at its top), B
     * (free pages below its top, 0x100503 chunks up) and C (all free,
     * 0x200000 chunks up). The search hint derived while placing the big
     * request in C must not point into unmapped summaries below B. */
    { .name = "DiscontiguousBadSearchAddr",
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP - 1 } } },
                        { .off = 0x100503, .r = { { 0, CP - 10 }, { CP - 1, 1 } } },
                        { .off = 0x200000 }),
      .scav = PA_HEAP({ .off = 0 }, { .off = 0x100503 }, { .off = 0x200000 }),
      .hits = { { 1, PB(0, CP - 1), 0 }, { 100, PB(0x200000, 0), 0 },
                { 9, PB(0x100503, CP - 10), 0 } },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                       { .off = 0x100503, .r = { { 0, CP } } },
                       { .off = 0x200000, .r = { { 0, 100 } } }) },
};

static void run_alloc_case(void **state)
{
    const alloc_case *tc = *state;
    pagealloc *b = pa_build(&tc->before, &tc->scav);
    for (size_t k = 0; k < LEN(tc->hits) && tc->hits[k].npages != 0; k++) {
        const alloc_hit *h = &tc->hits[k];
        size_t scav = h->base != 0 ? SIZE_MAX : 0; /* a failed alloc may leave it */
        uintptr_t a = pagealloc_alloc(b, h->npages, &scav);
        if (a != h->base || scav != h->scav) {
            char ga[PA_ADDR_STR], wa[PA_ADDR_STR];
            fail_msg("alloc #%zu (%zu pages): got %s, scav %zu; want %s, scav %zu",
                     k + 1, h->npages, pa_fmt_addr(ga, a), scav,
                     pa_fmt_addr(wa, h->base), h->scav);
        }
    }
    pagealloc *want = pa_build(&tc->after, &tc->scav);
    pa_check_equal(want, b);
    pagealloc_delete(want);
    pagealloc_delete(b);
}

/* ------------------------------------------------------------- Exhaust -- */

static const size_t exhaust_sizes[] = { 1, 2, 3, 4, 5, 8, 16, 64, 1024, 1025, 2048, 2049 };
static char exhaust_names[LEN(exhaust_sizes)][16];

static void run_exhaust_case(void **state)
{
    const size_t npages = *(const size_t *)*state;
    pa_chunk_desc desc[4];
    memset(desc, 0, sizeof desc);
    for (int k = 0; k < 4; k++)
        desc[k].off = k;
    pagealloc *b = pa_build_n(desc, 4, NULL, 0);

    /* Fill the four chunks with npages-page allocations, lowest first. */
    size_t nalloc = (CP * 4) / npages;
    for (size_t k = 0; k < nalloc; k++) {
        uintptr_t want = PB(0, k * npages);
        uintptr_t a = pagealloc_alloc(b, npages, NULL);
        if (a != want) {
            char ga[PA_ADDR_STR], wa[PA_ADDR_STR];
            fail_msg("alloc #%zu: got %s, want %s", k + 1, pa_fmt_addr(ga, a),
                     pa_fmt_addr(wa, want));
        }
    }
    /* The next one does not fit. */
    uintptr_t a = pagealloc_alloc(b, npages, NULL);
    if (a != 0) {
        char ga[PA_ADDR_STR];
        fail_msg("alloc #%zu: got %s, want 0 (heap exhausted)", nalloc + 1, pa_fmt_addr(ga, a));
    }

    /* Expected: the first nalloc*npages pages in use. */
    size_t left = nalloc * npages;
    for (int k = 0; k < 4; k++) {
        size_t here = left >= CP ? CP : left;
        desc[k].r[0].i = 0;
        desc[k].r[0].n = (unsigned)here;
        left -= here;
    }
    pagealloc *want = pa_build_n(desc, 4, NULL, 0);
    pa_check_equal(want, b);
    pagealloc_delete(want);
    pagealloc_delete(b);
}

/* ---------------------------------------------------------------- Free -- */

typedef struct free_case {
    const char  *name;
    size_t       npages;
    pa_heap_desc before, after;
    uintptr_t    frees[8];  /* 0 ends the list */
} free_case;

static const free_case free_cases[] = {
    { .name = "Free1", .npages = 1,
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } }),
      .frees = { PB(0, 0), PB(0, 1), PB(0, 2), PB(0, 3), PB(0, 4) },
      .after = PA_HEAP({ .off = 0, .r = { { 5, CP - 5 } } }) },
    { .name = "ManyArena1", .npages = 1,
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                        { .off = 1, .r = { { 0, CP } } },
                        { .off = 2, .r = { { 0, CP } } }),
      .frees = { PB(0, CP / 2), PB(1, 0), PB(2, CP - 1) },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP / 2 }, { CP / 2 + 1, CP / 2 - 1 } } },
                       { .off = 1, .r = { { 1, CP - 1 } } },
                       { .off = 2, .r = { { 0, CP - 1 } } }) },
    { .name = "Free2", .npages = 2,
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } }),
      .frees = { PB(0, 0), PB(0, 2), PB(0, 4), PB(0, 6), PB(0, 8) },
      .after = PA_HEAP({ .off = 0, .r = { { 10, CP - 10 } } }) },
    { .name = "Straddle2", .npages = 2,
      .before = PA_HEAP({ .off = 0, .r = { { CP - 1, 1 } } },
                        { .off = 1, .r = { { 0, 1 } } }),
      .frees = { PB(0, CP - 1) },
      .after = PA_HEAP({ .off = 0 }, { .off = 1 }) },
    { .name = "Free5", .npages = 5,
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } }),
      .frees = { PB(0, 0), PB(0, 5), PB(0, 10), PB(0, 15), PB(0, 20) },
      .after = PA_HEAP({ .off = 0, .r = { { 25, CP - 25 } } }) },
    { .name = "Free64", .npages = 64,
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } }),
      .frees = { PB(0, 0), PB(0, 64), PB(0, 128) },
      .after = PA_HEAP({ .off = 0, .r = { { 192, CP - 192 } } }) },
    { .name = "Free65", .npages = 65,
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } }),
      .frees = { PB(0, 0), PB(0, 65), PB(0, 130) },
      .after = PA_HEAP({ .off = 0, .r = { { 195, CP - 195 } } }) },
    { .name = "FreePallocChunkPages", .npages = CP,
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } }),
      .frees = { PB(0, 0) },
      .after = PA_HEAP({ .off = 0 }) },
    { .name = "StraddlePallocChunkPages", .npages = CP,
      .before = PA_HEAP({ .off = 0, .r = { { CP / 2, CP / 2 } } },
                        { .off = 1, .r = { { 0, CP / 2 } } }),
      .frees = { PB(0, CP / 2) },
      .after = PA_HEAP({ .off = 0 }, { .off = 1 }) },
    { .name = "StraddlePallocChunkPages+1", .npages = CP + 1,
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                        { .off = 1, .r = { { 0, CP } } }),
      .frees = { PB(0, CP / 2) },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP / 2 } } },
                       { .off = 1, .r = { { CP / 2 + 1, CP / 2 - 1 } } }) },
    { .name = "FreePallocChunkPages*2", .npages = CP * 2,
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                        { .off = 1, .r = { { 0, CP } } }),
      .frees = { PB(0, 0) },
      .after = PA_HEAP({ .off = 0 }, { .off = 1 }) },
    { .name = "StraddlePallocChunkPages*2", .npages = CP * 2,
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                        { .off = 1, .r = { { 0, CP } } },
                        { .off = 2, .r = { { 0, CP } } }),
      .frees = { PB(0, CP / 2) },
      .after = PA_HEAP({ .off = 0, .r = { { 0, CP / 2 } } }, { .off = 1 },
                       { .off = 2, .r = { { CP / 2, CP / 2 } } }) },
    { .name = "AllFreePallocChunkPages*7+5", .npages = CP * 7 + 5,
      .before = PA_HEAP({ .off = 0, .r = { { 0, CP } } }, { .off = 1, .r = { { 0, CP } } },
                        { .off = 2, .r = { { 0, CP } } }, { .off = 3, .r = { { 0, CP } } },
                        { .off = 4, .r = { { 0, CP } } }, { .off = 5, .r = { { 0, CP } } },
                        { .off = 6, .r = { { 0, CP } } }, { .off = 7, .r = { { 0, CP } } }),
      .frees = { PB(0, 0) },
      .after = PA_HEAP({ .off = 0 }, { .off = 1 }, { .off = 2 }, { .off = 3 },
                       { .off = 4 }, { .off = 5 }, { .off = 6 },
                       { .off = 7, .r = { { 5, CP - 5 } } }) },
};

static void run_free_case(void **state)
{
    const free_case *tc = *state;
    pagealloc *b = pa_build(&tc->before, NULL);
    for (size_t k = 0; k < LEN(tc->frees) && tc->frees[k] != 0; k++)
        pagealloc_test_free(b, tc->frees[k], tc->npages);
    pagealloc *want = pa_build(&tc->after, NULL);
    pa_check_equal(want, b);
    pagealloc_delete(want);
    pagealloc_delete(b);
}

/* ------------------------------------------------------- AllocAndFree -- */

typedef struct alloc_free_op {
    int       alloc;   /* 1: alloc npages, expect base; 0: free npages at base */
    size_t    npages;
    uintptr_t base;
} alloc_free_op;

static const alloc_free_op chunks8_ops[] = {
    { 1, CP * 8, PB(0, 0) }, { 0, CP * 8, PB(0, 0) },
    { 1, CP * 8, PB(0, 0) }, { 0, CP * 8, PB(0, 0) },
    { 1, CP * 8, PB(0, 0) }, { 0, CP * 8, PB(0, 0) },
    { 1, 1, PB(0, 0) },      { 0, 1, PB(0, 0) },
    { 1, CP * 8, PB(0, 0) },
};

static void test_alloc_and_free_chunks8(void **state)
{
    (void)state;
    static const pa_heap_desc init = PA_HEAP({ .off = 0 }, { .off = 1 }, { .off = 2 },
                                             { .off = 3 }, { .off = 4 }, { .off = 5 },
                                             { .off = 6 }, { .off = 7 });
    pagealloc *b = pa_build(&init, NULL);
    for (size_t k = 0; k < LEN(chunks8_ops); k++) {
        const alloc_free_op *op = &chunks8_ops[k];
        if (!op->alloc) {
            pagealloc_test_free(b, op->base, op->npages);
            continue;
        }
        uintptr_t a = pagealloc_alloc(b, op->npages, NULL);
        if (a != op->base) {
            char ga[PA_ADDR_STR], wa[PA_ADDR_STR];
            fail_msg("op #%zu alloc(%zu): got %s, want %s", k + 1, op->npages,
                     pa_fmt_addr(ga, a), pa_fmt_addr(wa, op->base));
        }
    }
    pagealloc_delete(b);
}

/* ---------------------------------------------------------------- main -- */

#define CASE_TEST(tbl, i, fn) \
    ((struct CMUnitTest){ (tbl)[i].name, (fn), NULL, NULL, (void *)(uintptr_t)&(tbl)[i] })

int main(void)
{
    static struct CMUnitTest grow_tests[LEN(grow_cases)];
    static struct CMUnitTest alloc_tests[LEN(alloc_cases)];
    static struct CMUnitTest exhaust_tests[LEN(exhaust_sizes)];
    static struct CMUnitTest free_tests[LEN(free_cases)];
    const struct CMUnitTest alloc_and_free_tests[] = {
        cmocka_unit_test(test_alloc_and_free_chunks8),
    };

    for (size_t i = 0; i < LEN(grow_cases); i++)
        grow_tests[i] = CASE_TEST(grow_cases, i, run_grow_case);
    for (size_t i = 0; i < LEN(alloc_cases); i++)
        alloc_tests[i] = CASE_TEST(alloc_cases, i, run_alloc_case);
    for (size_t i = 0; i < LEN(exhaust_sizes); i++) {
        snprintf(exhaust_names[i], sizeof exhaust_names[i], "%zu", exhaust_sizes[i]);
        exhaust_tests[i] = (struct CMUnitTest){ exhaust_names[i], run_exhaust_case, NULL, NULL,
                                                (void *)(uintptr_t)&exhaust_sizes[i] };
    }
    for (size_t i = 0; i < LEN(free_cases); i++)
        free_tests[i] = CASE_TEST(free_cases, i, run_free_case);

    int failed = 0;
    failed += cmocka_run_group_tests_name("TestPageAllocGrow", grow_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestPageAllocAlloc", alloc_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestPageAllocExhaust", exhaust_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestPageAllocFree", free_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestPageAllocAllocAndFree", alloc_and_free_tests,
                                          NULL, NULL);
    return failed != 0;
}
