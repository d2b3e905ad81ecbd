/*
 * test_go_scavenge.c - conformance with Go 1.19's runtime/mgcscavenge_test.go.
 *
 * The case tables are those of Go's tests on linux/amd64 (4 KiB physical
 * pages, 2 MiB huge pages = 256 runtime pages); the code is ours. Ported:
 *   TestFillAligned                      7 page minimums (1..64), each with
 *                                        Go's 16 fixed words, 1000 random
 *                                        words and (m > 1) 1000 random
 *                                        group patterns (our own seeded PRNG),
 *                                        against our own slow reference
 *   TestPallocDataFindScavengeCandidate 93 cases: the set Go really runs.
 *                                        Go's table is a map and the
 *                                        "OneFree"/"OneScavenged" entries are
 *                                        rewritten for m = 1, 2, 4, 8; only
 *                                        the m = 8 versions survive. With
 *                                        256-page huge pages Go adds
 *                                        PreserveHugePageBottom and
 *                                        PreserveHugePageTop (not Middle: a
 *                                        chunk holds fewer than 3 huge pages).
 *   TestPageAllocScavenge                7 cases (6 + ScavAllVeryDiscontiguous,
 *                                        64-bit only); minPages = 4096/8192
 *                                        rounded up to 1.
 *   TestScavengeIndex                   16 subtests, on the pa_scav_index API;
 *                                        unlike Go's test we also compare
 *                                        the page offsets find returns (Go's
 *                                        real offsets equal its table).
 * Not ported: TestScavenger (the background scavenger's pacing loop) belongs
 * to the background-scavenger module and is tested there.
 */
#include "pa_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagealloc/bitmap.h"
#include "pagealloc/scavindex.h"

#define CP  PAGEALLOC_CHUNK_PAGES
#define PS  PAGEALLOC_PAGE_SIZE
#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PB(c, p) pa_page_base(c, p)
#define CASE_TEST(tbl, i, fn) \
    ((struct CMUnitTest){ (tbl)[i].name, (fn), NULL, NULL, (void *)(uintptr_t)&(tbl)[i] })

/* Runtime pages per huge page (2 MiB / 8 KiB). */
#define HUGE_PAGES (PA_TEST_HUGE_PAGE_SIZE / PAGEALLOC_PAGE_SIZE)
/* Go's minPages for scavenging: physical page / runtime page, at least 1. */
#define MIN_PAGES 1u

/* --------------------------------------------------------- FillAligned -- */

/* Low m bits set (m in 1..64). */
static uint64_t low_mask(unsigned m)
{
    return m >= 64 ? ~0ull : (1ull << m) - 1;
}

static uint64_t fill_aligned_slow(uint64_t x, unsigned m)
{
    uint64_t out = 0;
    for (unsigned i = 0; i < 64; i += m)
        if ((x >> i) & low_mask(m))
            out |= low_mask(m) << i;
    return out;
}

static int check_fill(uint64_t x, unsigned m)
{
    uint64_t want = fill_aligned_slow(x, m), got = pa_fill_aligned(x, m);
    if (got == want)
        return 0;
    print_error("fill_aligned(%016llx, %u): got %016llx, want %016llx\n",
                (unsigned long long)x, m, (unsigned long long)got,
                (unsigned long long)want);
    return 1;
}

static const unsigned fill_mins[] = { 1, 2, 4, 8, 16, 32, 64 };
static char fill_names[LEN(fill_mins)][16];

static void run_fill_aligned(void **state)
{
    const unsigned m = *(const unsigned *)*state;
    const uint64_t fixed[] = {
        0x0000000000000000, 0x00000000ffffffff, 0xffffffff00000000, 0x8000000000000001,
        0xf00000000000000f, 0xf00000010050000f, 0xffffffffffffffff, 0x0000000000000001,
        0x0000000000000002, 0x0000000000000008,
        1ull << (m - 1),
        m < 64 ? 1ull << m : 0, /* Go: 1<<64 is 0 */
        0xb02b9effcf137016, 0x3975a076a9fbff18, 0x0f8c88ec3b81506e, 0x60f14d80ef2fa0e6,
    };
    int bad = 0;
    for (size_t k = 0; k < LEN(fixed); k++)
        bad += check_fill(fixed[k], m);

    pa_rng g = { 0xf111a11ull + m };
    for (int k = 0; k < 1000 && bad < 10; k++) {
        bad += check_fill(pa_rng_next(&g), m);
        if (m > 1) {
            /* Each m-bit group either stays zero or gets random bits. */
            uint64_t v = 0;
            for (unsigned n = 0; n < 64; n += m)
                if (pa_rng_next(&g) % 2 == 0)
                    v |= (pa_rng_next(&g) & low_mask(m)) << n;
            bad += check_fill(v, m);
        }
    }
    assert_int_equal(bad, 0);
}

/* ---------------------------------------- PallocDataFindScavengeCandidate -- */

typedef struct cand_case {
    char     name[40];
    pa_range alloc[4], scav[4];
    unsigned min, max;
    pa_range want;   /* n == 0: no candidate */
} cand_case;

/* Go's map ends up with 93 entries on linux/amd64. */
#define NCAND 93
static cand_case cand_cases[NCAND];
static size_t    ncand;

static cand_case *add_cand(const char *name, unsigned m)
{
    if (ncand >= NCAND) {
        fprintf(stderr, "TestPallocDataFindScavengeCandidate: more than %d cases\n", NCAND);
        abort();
    }
    cand_case *c = &cand_cases[ncand++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->min = m;
    c->max = CP;
    return c;
}

static void set_ranges(pa_range *dst, size_t n, const pa_range *src)
{
    memcpy(dst, src, n * sizeof *src);
}
#define SET(dst, ...) set_ranges((dst), LEN(((pa_range[]){ __VA_ARGS__ })), \
                                 (pa_range[]){ __VA_ARGS__ })

/* Build the case list exactly as Go's map ends up. */
static void make_cand_cases(void)
{
    cand_case *c;
    char name[40];

    c = add_cand("MixedMin1", 1);
    SET(c->alloc, { 0, 40 }, { 42, CP - 42 });
    SET(c->scav, { 0, 41 }, { 42, CP - 42 });
    c->want = (pa_range){ 41, 1 };

    c = add_cand("MultiMin1", 1);
    SET(c->alloc, { 0, 63 }, { 65, 20 }, { 87, CP - 87 });
    SET(c->scav, { 86, 1 });
    c->want = (pa_range){ 85, 1 };

    cand_case one_free, one_scav; /* rewritten for each m <= 8, last wins */
    for (unsigned m = 1; m <= 64; m *= 2) {
#define NAMED(base) (snprintf(name, sizeof name, "%sMin%u", (base), m), add_cand(name, m))
        c = NAMED("AllFree");
        c->want = (pa_range){ 0, CP };

        c = NAMED("AllScavenged");
        SET(c->scav, { 0, CP });
        c->want = (pa_range){ 0, 0 };

        c = NAMED("NoneFree");
        SET(c->alloc, { 0, CP });
        SET(c->scav, { CP / 2, CP / 2 });
        c->want = (pa_range){ 0, 0 };

        c = NAMED("StartFree");
        SET(c->alloc, { m, CP - m });
        c->want = (pa_range){ 0, m };

        c = NAMED("EndFree");
        SET(c->alloc, { 0, CP - m });
        c->want = (pa_range){ CP - m, m };

        c = NAMED("Straddle64");
        SET(c->alloc, { 0, 64 - m }, { 64 + m, CP - (64 + m) });
        c->max = 2 * m;
        c->want = (pa_range){ 64 - m, 2 * m };

        c = NAMED("BottomEdge64WithFull");
        SET(c->alloc, { 64, 64 }, { 128 + 3 * m, CP - (128 + 3 * m) });
        SET(c->scav, { 1, 10 });
        c->max = 3 * m;
        c->want = (pa_range){ 128, 3 * m };

        c = NAMED("BottomEdge64WithPocket");
        SET(c->alloc, { 64, 62 }, { 127, 1 }, { 128 + 3 * m, CP - (128 + 3 * m) });
        SET(c->scav, { 1, 10 });
        c->max = 3 * m;
        c->want = (pa_range){ 128, 3 * m };

        c = NAMED("Max0");
        SET(c->scav, { 0, CP - m });
        c->max = 0;
        c->want = (pa_range){ CP - m, m };

        if (m <= 8) {
            memset(&one_free, 0, sizeof one_free);
            snprintf(one_free.name, sizeof one_free.name, "OneFree");
            SET(one_free.alloc, { 0, 40 }, { 40 + m, CP - (40 + m) });
            one_free.min = m;
            one_free.max = CP;
            one_free.want = (pa_range){ 40, m };

            memset(&one_scav, 0, sizeof one_scav);
            snprintf(one_scav.name, sizeof one_scav.name, "OneScavenged");
            SET(one_scav.alloc, { 0, 40 }, { 40 + m, CP - (40 + m) });
            SET(one_scav.scav, { 40, 1 });
            one_scav.min = m;
            one_scav.max = CP;
            one_scav.want = (pa_range){ 0, 0 };
        }
        if (m > 1) {
            c = NAMED("MaxUnaligned");
            SET(c->scav, { 0, CP - (m * 2 - 1) });
            c->max = m - 2;
            c->want = (pa_range){ CP - m, m };

            c = NAMED("SkipSmall");
            SET(c->alloc, { 0, 64 - m }, { 64, 5 }, { 70, 11 }, { 82, CP - 82 });
            c->max = m;
            c->want = (pa_range){ 64 - m, m };

            c = NAMED("SkipMisaligned");
            SET(c->alloc, { 0, 64 - m }, { 64, 63 }, { 127 + m, CP - (127 + m) });
            c->max = m;
            c->want = (pa_range){ 64 - m, m };

            c = NAMED("MaxLessThan");
            SET(c->scav, { 0, CP - m });
            c->max = 1;
            c->want = (pa_range){ CP - m, m };
        }
#undef NAMED
    }
    *add_cand("OneFree", 0) = one_free;
    *add_cand("OneScavenged", 0) = one_scav;

    /* Huge pages of 256 runtime pages: 2 fit in a chunk, 3 do not, so Go
     * adds Bottom and Top but not Middle. */
    const unsigned bits = HUGE_PAGES;
    c = add_cand("PreserveHugePageBottom", 1);
    SET(c->alloc, { bits + 2, CP - (bits + 2) });
    c->max = 3; /* would split the huge page */
    c->want = (pa_range){ 0, bits + 2 };

    c = add_cand("PreserveHugePageTop", 1);
    SET(c->alloc, { 0, CP - bits });
    c->max = 1; /* even one page would split it */
    c->want = (pa_range){ CP - bits, bits };
}

static void run_cand_case(void **state)
{
    const cand_case *tc = *state;
    uint64_t alloc[8] = { 0 }, scav[8] = { 0 };
    pa_ranges_to_bits(tc->alloc, LEN(tc->alloc), alloc);
    pa_ranges_to_bits(tc->scav, LEN(tc->scav), scav);
    unsigned start = 0xdead, size = 0xdead;
    int found = pa_find_scavenge_candidate(alloc, scav, CP - 1, tc->min, tc->max,
                                           HUGE_PAGES, &start, &size);
    if (tc->want.n == 0) {
        if (found && size != 0)
            fail_msg("candidate: got {%u, %u}, want none", start, size);
        return;
    }
    if (!found)
        fail_msg("candidate: got none, want {%u, %u}", tc->want.i, tc->want.n);
    if (start != tc->want.i || size != tc->want.n)
        fail_msg("candidate: got {%u, %u}, want {%u, %u}", start, size, tc->want.i,
                 tc->want.n);
}

/* ------------------------------------------------------ PageAllocScavenge -- */

typedef struct scav_step { size_t request, expect; } scav_step;

typedef struct scav_case {
    const char  *name;
    pa_heap_desc before_alloc, before_scav;
    scav_step    steps[4];   /* request 0 ends the list */
    pa_heap_desc after_scav;
} scav_case;

#define ALL SIZE_MAX
#define MP MIN_PAGES

static const scav_case scav_cases[] = {
    { .name = "AllFreeUnscavExhaust",
      .before_alloc = PA_HEAP({ .off = 0 }, { .off = 1 }, { .off = 2 }),
      .before_scav = PA_HEAP({ .off = 0 }, { .off = 1 }, { .off = 2 }),
      .steps = { { ALL, 3 * CP * PS } },
      .after_scav = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                            { .off = 1, .r = { { 0, CP } } },
                            { .off = 2, .r = { { 0, CP } } }) },
    { .name = "NoneFreeUnscavExhaust",
      .before_alloc = PA_HEAP({ .off = 0, .r = { { 0, CP } } }, { .off = 1 },
                              { .off = 2, .r = { { 0, CP } } }),
      .before_scav = PA_HEAP({ .off = 0 }, { .off = 1, .r = { { 0, CP } } }, { .off = 2 }),
      .steps = { { ALL, 0 } },
      .after_scav = PA_HEAP({ .off = 0 }, { .off = 1, .r = { { 0, CP } } }, { .off = 2 }) },
    { .name = "ScavHighestPageFirst",
      .before_alloc = PA_HEAP({ .off = 0 }),
      .before_scav = PA_HEAP({ .off = 0, .r = { { MP, CP - 2 * MP } } }),
      .steps = { { 1, MP * PS } },
      .after_scav = PA_HEAP({ .off = 0, .r = { { MP, CP - MP } } }) },
    { .name = "ScavMultiple",
      .before_alloc = PA_HEAP({ .off = 0 }),
      .before_scav = PA_HEAP({ .off = 0, .r = { { MP, CP - 2 * MP } } }),
      .steps = { { MP * PS, MP * PS }, { MP * PS, MP * PS } },
      .after_scav = PA_HEAP({ .off = 0, .r = { { 0, CP } } }) },
    { .name = "ScavMultiple2",
      .before_alloc = PA_HEAP({ .off = 0 }, { .off = 1 }),
      .before_scav = PA_HEAP({ .off = 0, .r = { { MP, CP - 2 * MP } } },
                             { .off = 1, .r = { { 0, CP - 2 * MP } } }),
      .steps = { { 2 * MP * PS, 2 * MP * PS }, { MP * PS, MP * PS }, { MP * PS, MP * PS } },
      .after_scav = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                            { .off = 1, .r = { { 0, CP } } }) },
    { .name = "ScavDiscontiguous",
      .before_alloc = PA_HEAP({ .off = 0 }, { .off = 0xe }),
      .before_scav = PA_HEAP({ .off = 0, .r = { { MP, CP - 2 * MP } } },
                             { .off = 0xe, .r = { { 2 * MP, CP - 2 * MP } } }),
      .steps = { { 2 * MP * PS, 2 * MP * PS }, { ALL, 2 * MP * PS }, { ALL, 0 } },
      .after_scav = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                            { .off = 0xe, .r = { { 0, CP } } }) },
    /* 64-bit only. */
    { .name = "ScavAllVeryDiscontiguous",
      .before_alloc = PA_HEAP({ .off = 0 }, { .off = 0x1000 }),
      .before_scav = PA_HEAP({ .off = 0 }, { .off = 0x1000 }),
      .steps = { { ALL, 2 * CP * PS }, { ALL, 0 } },
      .after_scav = PA_HEAP({ .off = 0, .r = { { 0, CP } } },
                            { .off = 0x1000, .r = { { 0, CP } } }) },
};

static void run_scav_case(void **state)
{
    const scav_case *tc = *state;
    pagealloc *b = pa_build(&tc->before_alloc, &tc->before_scav);
    for (size_t k = 0; k < LEN(tc->steps) && tc->steps[k].request != 0; k++) {
        size_t got = pagealloc_scavenge(b, tc->steps[k].request);
        if (got != tc->steps[k].expect)
            fail_msg("scavenge #%zu (request %zu): got %zu bytes, want %zu", k + 1,
                     tc->steps[k].request, got, tc->steps[k].expect);
    }
    pagealloc *want = pa_build(&tc->before_alloc, &tc->after_scav);
    pa_check_equal(want, b);
    pagealloc_delete(want);
    pagealloc_delete(b);
}

/* -------------------------------------------------------- ScavengeIndex -- */

#define BASE_CI ((uint32_t)(PA_BASE_CHUNK_ADDR / PAGEALLOC_CHUNK_SIZE))

enum si_op_kind {
    SI_END = 0,
    SI_MARK,            /* mark [PB(a, b), PB(c, d)) */
    SI_FIND,            /* find -> chunk a (offset; -1: none), page b */
    SI_FIND_DOWN,       /* find -> chunk i, page 511 for i = a down to c */
    SI_MARK_EACH,       /* mark chunk i whole, for i in [a, c) */
    SI_MARK_FIND_EACH,  /* mark chunk i whole, then find -> i, page 511 */
};

typedef struct si_op { enum si_op_kind kind; int64_t a, b, c, d; } si_op;

typedef struct si_case {
    const char *name;
    si_op       ops[6];
} si_case;

#define NONE -1
#define LAST (CP - 1)

static const si_case si_cases[] = {
    { "Uninitialized", { { SI_FIND, NONE, 0, 0, 0 } } },
    { "OnePage", { { SI_MARK, 0, 3, 0, 4 }, { SI_FIND, 0, 3, 0, 0 },
                   { SI_FIND, NONE, 0, 0, 0 } } },
    { "FirstPage", { { SI_MARK, 0, 0, 0, 1 }, { SI_FIND, 0, 0, 0, 0 },
                     { SI_FIND, NONE, 0, 0, 0 } } },
    { "SeveralPages", { { SI_MARK, 0, 9, 0, 14 }, { SI_FIND, 0, 13, 0, 0 },
                        { SI_FIND, NONE, 0, 0, 0 } } },
    { "WholeChunk", { { SI_MARK, 0, 0, 1, 0 }, { SI_FIND, 0, LAST, 0, 0 },
                      { SI_FIND, NONE, 0, 0, 0 } } },
    { "LastPage", { { SI_MARK, 0, LAST, 1, 0 }, { SI_FIND, 0, LAST, 0, 0 },
                    { SI_FIND, NONE, 0, 0, 0 } } },
    { "TwoChunks", { { SI_MARK, 0, 128, 1, 128 }, { SI_FIND, 1, 127, 0, 0 },
                     { SI_FIND, 0, LAST, 0, 0 }, { SI_FIND, NONE, 0, 0, 0 } } },
    { "TwoChunksOffset", { { SI_MARK, 7, 128, 8, 129 }, { SI_FIND, 8, 128, 0, 0 },
                           { SI_FIND, 7, LAST, 0, 0 }, { SI_FIND, NONE, 0, 0, 0 } } },
    { "SevenChunksOffset", { { SI_MARK, 6, 11, 13, 15 }, { SI_FIND, 13, 14, 0, 0 },
                             { SI_FIND_DOWN, 12, 0, 6, 0 }, { SI_FIND, NONE, 0, 0, 0 } } },
    { "ThirtyTwoChunks", { { SI_MARK, 0, 0, 32, 0 }, { SI_FIND_DOWN, 31, 0, 0, 0 },
                           { SI_FIND, NONE, 0, 0, 0 } } },
    { "ThirtyTwoChunksOffset", { { SI_MARK, 3, 0, 35, 0 }, { SI_FIND_DOWN, 34, 0, 3, 0 },
                                 { SI_FIND, NONE, 0, 0, 0 } } },
    { "Mark", { { SI_MARK_EACH, 0, 0, 32, 0 }, { SI_FIND_DOWN, 31, 0, 0, 0 },
                { SI_FIND, NONE, 0, 0, 0 } } },
    { "MarkInterleaved", { { SI_MARK_FIND_EACH, 0, 0, 32, 0 }, { SI_FIND, NONE, 0, 0, 0 } } },
    { "MarkIdempotentOneChunk", { { SI_MARK, 0, 0, 1, 0 }, { SI_MARK, 0, 0, 1, 0 },
                                  { SI_FIND, 0, LAST, 0, 0 }, { SI_FIND, NONE, 0, 0, 0 } } },
    { "MarkIdempotentThirtyTwoChunks",
      { { SI_MARK, 0, 0, 32, 0 }, { SI_MARK, 0, 0, 32, 0 }, { SI_FIND_DOWN, 31, 0, 0, 0 },
        { SI_FIND, NONE, 0, 0, 0 } } },
    { "MarkIdempotentThirtyTwoChunksOffset",
      { { SI_MARK, 4, 0, 31, 0 }, { SI_MARK, 5, 0, 36, 0 }, { SI_FIND_DOWN, 35, 0, 4, 0 },
        { SI_FIND, NONE, 0, 0, 0 } } },
};

/* One find: expect chunk offset want (NONE: nothing) at page want_page,
 * then clear the chunk found, as Go's test helper does. */
static void si_find(pa_scav_index *x, int64_t want, unsigned want_page, int step)
{
    unsigned page = 0xdead;
    uint32_t got = pa_scav_index_find(x, &page);
    uint32_t want_ci = want == NONE ? 0 : BASE_CI + (uint32_t)want;
    if (got != want_ci) {
        if (got == 0)
            fail_msg("find #%d: got none, want chunk base%+lld page %u", step,
                     (long long)want, want_page);
        if (want == NONE)
            fail_msg("find #%d: got chunk base%+lld page %u, want none", step,
                     (long long)got - BASE_CI, page);
        fail_msg("find #%d: got chunk base%+lld page %u, want chunk base%+lld page %u",
                 step, (long long)got - BASE_CI, page, (long long)want, want_page);
    }
    if (got == 0)
        return; /* Go clears chunk 0 here; it is never part of our index */
    if (page != want_page)
        fail_msg("find #%d: chunk base%+lld: got page %u, want page %u", step,
                 (long long)want, page, want_page);
    pa_scav_index_clear(x, got);
}

static void run_si_case(void **state)
{
    const si_case *tc = *state;
    pa_scav_index x;
    sysmem_stat stat = { 0 };
    assert_int_equal(pa_scav_index_init(&x), 0);
    assert_int_equal(pa_scav_index_grow(&x, BASE_CI, BASE_CI + 64, &stat), 0);

    int step = 0;
    for (size_t k = 0; k < LEN(tc->ops) && tc->ops[k].kind != SI_END; k++) {
        const si_op *op = &tc->ops[k];
        switch (op->kind) {
        case SI_MARK:
            pa_scav_index_mark(&x, PB(op->a, op->b), PB(op->c, op->d));
            break;
        case SI_FIND:
            si_find(&x, op->a, (unsigned)op->b, ++step);
            break;
        case SI_FIND_DOWN:
            for (int64_t i = op->a; i >= op->c; i--)
                si_find(&x, i, LAST, ++step);
            break;
        case SI_MARK_EACH:
            for (int64_t i = op->a; i < op->c; i++)
                pa_scav_index_mark(&x, PB(i, 0), PB(i + 1, 0));
            break;
        case SI_MARK_FIND_EACH:
            for (int64_t i = op->a; i < op->c; i++) {
                pa_scav_index_mark(&x, PB(i, 0), PB(i + 1, 0));
                si_find(&x, i, LAST, ++step);
            }
            break;
        case SI_END:
            break;
        }
    }
    pa_scav_index_destroy(&x, &stat);
}

/* ---------------------------------------------------------------- main -- */

int main(void)
{
    static struct CMUnitTest fill_tests[LEN(fill_mins)];
    static struct CMUnitTest cand_tests[LEN(cand_cases)];
    static struct CMUnitTest scav_tests[LEN(scav_cases)];
    static struct CMUnitTest si_tests[LEN(si_cases)];

    for (size_t i = 0; i < LEN(fill_mins); i++) {
        snprintf(fill_names[i], sizeof fill_names[i], "Min%u", fill_mins[i]);
        fill_tests[i] = (struct CMUnitTest){ fill_names[i], run_fill_aligned, NULL, NULL,
                                             (void *)(uintptr_t)&fill_mins[i] };
    }
    make_cand_cases();
    for (size_t i = 0; i < ncand; i++)
        cand_tests[i] = CASE_TEST(cand_cases, i, run_cand_case);
    for (size_t i = 0; i < LEN(scav_cases); i++)
        scav_tests[i] = CASE_TEST(scav_cases, i, run_scav_case);
    for (size_t i = 0; i < LEN(si_cases); i++)
        si_tests[i] = CASE_TEST(si_cases, i, run_si_case);

    int failed = 0;
    failed += cmocka_run_group_tests_name("TestFillAligned", fill_tests, NULL, NULL);
    if (ncand != NCAND) {
        fprintf(stderr, "TestPallocDataFindScavengeCandidate: built %zu cases, want %d\n",
                ncand, NCAND);
        return 1;
    }
    failed += cmocka_run_group_tests_name("TestPallocDataFindScavengeCandidate", cand_tests,
                                          NULL, NULL);
    failed += cmocka_run_group_tests_name("TestPageAllocScavenge", scav_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestScavengeIndex", si_tests, NULL, NULL);
    return failed != 0;
}
