/*
 * test_go_pallocbits.c - conformance with Go 1.19's runtime/mpallocbits_test.go,
 * run against the chunk bitmap primitives of src/bitmap.h.
 *
 * The case tables are those of Go's tests; the code is ours. Ported:
 *   TestPallocBitsAllocRange        7 subtests
 *   TestMallocBitsPopcntRange       5 bitmaps, 39 queries
 *   TestPallocBitsSummarizeRandom   1000 bitmaps from our own seeded PRNG,
 *                                   checked against our own slow summary
 *   TestPallocBitsSummarize         9 cases
 *   TestPallocBitsAlloc            15 cases
 *   TestPallocBitsFree              6 cases
 *   TestFindBitRange64            136 checks (64 + 64 + 8)
 * plus (not Go tests of their own) the incremental leaf updates and run
 * counts, the one-pass checked clear of a free, packing and unpacking of summaries,
 * including the 2^21 maximum that packs as 1<<63; and Go's benchmark
 * patterns (BenchmarkPallocBitsSummarize) as summary checks.
 * Bitmaps are built with pa_ranges_to_bits (no library code) except where
 * the library's set-range is what is tested.
 */
#include "pa_build.h"

#include <stdio.h>
#include <string.h>

#include "pagealloc/bitmap.h"

#define CP  PAGEALLOC_CHUNK_PAGES
#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CASE_TEST(tbl, i, fn) \
    ((struct CMUnitTest){ (tbl)[i].name, (fn), NULL, NULL, (void *)(uintptr_t)&(tbl)[i] })

typedef uint64_t bits_t[8];

static void make_bits(const pa_range *r, size_t nr, bits_t out)
{
    memset(out, 0, sizeof(bits_t));
    pa_ranges_to_bits(r, nr, out);
}

static void invert_bits(bits_t b)
{
    for (int k = 0; k < 8; k++)
        b[k] = ~b[k];
}

/* ---------------------------------------------------------- AllocRange -- */

typedef struct alloc_range_case {
    const char *name;
    unsigned    i, n;
    bits_t      want;
} alloc_range_case;

static const alloc_range_case alloc_range_cases[] = {
    { "OneLow", 0, 1, { 0x1 } },
    { "OneHigh", CP - 1, 1, { [7] = 1ull << 63 } },
    { "Inner", 129, 5, { [2] = 0x3e } },
    { "Aligned", 128, 128, { [2] = ~0ull, [3] = ~0ull } },
    { "Begin", 0, 321, { ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, 0x1 } },
    { "End", CP - (64 * 3 + 1), 64 * 3 + 1,
      { [4] = 1ull << 63, [5] = ~0ull, [6] = ~0ull, [7] = ~0ull } },
    { "All", 0, CP, { ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull } },
};

static void run_alloc_range_case(void **state)
{
    const alloc_range_case *tc = *state;
    bits_t b = { 0 };
    pa_bits_set_range(b, tc->i, tc->n);
    pa_check_bits("bits", b, tc->want);
}

/* ---------------------------------------------------------- PopcntRange -- */

typedef struct popcnt_query { unsigned i, n, want; } popcnt_query;

typedef struct popcnt_case {
    const char  *name;
    pa_range     init[32];
    popcnt_query q[12];   /* n == 0 ends the list */
} popcnt_case;

static const popcnt_case popcnt_cases[] = {
    { .name = "None",
      .q = { { 0, 1, 0 }, { 5, 3, 0 }, { 2, 11, 0 }, { CP / 4 + 1, CP / 2, 0 },
             { 0, CP, 0 } } },
    { .name = "All",
      .init = { { 0, CP } },
      .q = { { 0, 1, 1 }, { 5, 3, 3 }, { 2, 11, 11 }, { CP / 4 + 1, CP / 2, CP / 2 },
             { 0, CP, CP } } },
    { .name = "Half",
      .init = { { CP / 2, CP / 2 } },
      .q = { { 0, 1, 0 }, { 5, 3, 0 }, { 2, 11, 0 }, { CP / 2 - 1, 1, 0 },
             { CP / 2, 1, 1 }, { CP / 2 + 10, 1, 1 }, { CP / 2 - 1, 2, 1 },
             { CP / 4, CP / 4, 0 }, { CP / 4, CP / 4 + 1, 1 },
             { CP / 4 + 1, CP / 2, CP / 4 + 1 }, { 0, CP, CP / 2 } } },
    { .name = "OddBound",
      .init = { { 0, 111 } },
      .q = { { 0, 1, 1 }, { 5, 3, 3 }, { 2, 11, 11 }, { 110, 2, 1 }, { 99, 50, 12 },
             { 110, 1, 1 }, { 111, 1, 0 }, { 99, 1, 1 }, { 120, 1, 0 },
             { CP / 2, CP / 2, 0 }, { 0, CP, 111 } } },
    { .name = "Scattered",
      .init = { { 1, 3 }, { 5, 1 }, { 7, 1 }, { 10, 2 }, { 13, 1 }, { 15, 4 },
                { 21, 1 }, { 23, 1 }, { 26, 2 }, { 30, 5 }, { 36, 2 }, { 40, 3 },
                { 44, 6 }, { 51, 1 }, { 53, 2 }, { 58, 3 }, { 63, 1 }, { 67, 2 },
                { 71, 10 }, { 84, 1 }, { 89, 7 }, { 99, 2 }, { 103, 1 }, { 107, 2 },
                { 111, 1 }, { 113, 1 }, { 115, 1 }, { 118, 1 }, { 120, 2 }, { 125, 5 } },
      .q = { { 0, 11, 6 }, { 0, 64, 39 }, { 13, 64, 40 }, { 64, 64, 34 },
             { 0, 128, 73 }, { 1, 128, 74 }, { 0, CP, 75 } } },
};

static void run_popcnt_case(void **state)
{
    const popcnt_case *tc = *state;
    bits_t b;
    make_bits(tc->init, LEN(tc->init), b);
    int bad = 0;
    for (size_t k = 0; k < LEN(tc->q) && tc->q[k].n != 0; k++) {
        unsigned got = pa_bits_popcnt_range(b, tc->q[k].i, tc->q[k].n);
        if (got != tc->q[k].want) {
            print_error("popcnt(i=%u, n=%u): got %u, want %u\n", tc->q[k].i, tc->q[k].n,
                        got, tc->q[k].want);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* ------------------------------------------------------------ Summarize -- */

/* Our reference summary: count the free (0) pages one by one. */
static void summarize_slow(const bits_t b, unsigned *start, unsigned *max, unsigned *end)
{
    unsigned run = 0, best = 0, first = CP;
    for (unsigned p = 0; p < CP; p++) {
        if ((b[p / 64] >> (p % 64)) & 1) {
            if (first == CP)
                first = p;
            run = 0;
        } else if (++run > best) {
            best = run;
        }
    }
    *start = first;
    *max = best;
    *end = run;
}

/* Fills the zeroed b with alternating used and free runs, starting with
 * either, their lengths drawn from 1 to one of a few scales (short runs
 * to runs of hundreds of pages). */
static void random_runs(pa_rng *g, bits_t b)
{
    static const unsigned scales[] = { 2, 6, 24, 80, 300 };
    unsigned scale = scales[pa_rng_next(g) % LEN(scales)];
    int used = (int)(pa_rng_next(g) & 1);
    for (unsigned p = 0; p < CP;) {
        unsigned len = 1 + (unsigned)(pa_rng_next(g) % scale);
        for (unsigned j = p; j < p + len && j < CP; j++)
            if (used)
                b[j / 64] |= 1ull << (j % 64);
        p += len;
        used = !used;
    }
}

static int check_sum(pa_sum got, unsigned start, unsigned max, unsigned end)
{
    int bad = 0;
    if (pa_sum_start(got) != start) {
        print_error("start: got %u, want %u\n", pa_sum_start(got), start);
        bad = 1;
    }
    if (pa_sum_max(got) != max) {
        print_error("max: got %u, want %u\n", pa_sum_max(got), max);
        bad = 1;
    }
    if (pa_sum_end(got) != end) {
        print_error("end: got %u, want %u\n", pa_sum_end(got), end);
        bad = 1;
    }
    return bad;
}

static void test_summarize_random(void **state)
{
    (void)state;
    pa_rng g = { 0x5eed0001u };
    for (int k = 0; k < 1000; k++) {
        bits_t b;
        for (int w = 0; w < 8; w++)
            b[w] = pa_rng_next(&g);
        unsigned s, m, e;
        summarize_slow(b, &s, &m, &e);
        if (check_sum(pa_bits_summarize(b), s, m, e)) {
            print_error("bitmap #%d: %016llx %016llx %016llx %016llx %016llx %016llx "
                        "%016llx %016llx\n", k,
                        (unsigned long long)b[0], (unsigned long long)b[1],
                        (unsigned long long)b[2], (unsigned long long)b[3],
                        (unsigned long long)b[4], (unsigned long long)b[5],
                        (unsigned long long)b[6], (unsigned long long)b[7]);
            fail();
        }
    }
}

/* Go's BenchmarkPallocBitsSummarize patterns (every word the same), each
 * checked against the slow summary as the benchmark does. */
static void test_summarize_patterns(void **state)
{
    (void)state;
    static const uint64_t patterns[] = {
        0, ~0ull, 0xaa, 0xaaaaaaaaaaaaaaaa, 0x80000000aaaaaaaa, 0xaaaaaaaa00000001,
        0xbbbbbbbbbbbbbbbb, 0x80000000bbbbbbbb, 0xbbbbbbbb00000001, 0xcccccccccccccccc,
        0x4444444444444444, 0x4040404040404040, 0x4000400040004000, 0x1000404044ccaaff,
    };
    int bad = 0;
    for (size_t k = 0; k < LEN(patterns); k++) {
        bits_t b;
        for (int w = 0; w < 8; w++)
            b[w] = patterns[k];
        unsigned s, m, e;
        summarize_slow(b, &s, &m, &e);
        if (check_sum(pa_bits_summarize(b), s, m, e)) {
            print_error("pattern %016llx\n", (unsigned long long)patterns[k]);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

typedef struct summarize_case {
    const char *name;
    pa_range    free[4];          /* free pages; all others in use */
    unsigned    start, max, end;  /* expected summary */
} summarize_case;

static const summarize_case summarize_cases[] = {
    { "NoneFree", { { 0, 0 } }, 0, 0, 0 },
    { "OnlyStart", { { 0, 10 } }, 10, 10, 0 },
    { "OnlyEnd", { { CP - 40, 40 } }, 0, 40, 40 },
    { "StartAndEnd", { { 0, 11 }, { CP - 23, 23 } }, 11, 23, 23 },
    { "StartMaxEnd", { { 0, 4 }, { 50, 100 }, { CP - 4, 4 } }, 4, 100, 4 },
    { "OnlyMax", { { 1, 20 }, { 35, 241 }, { CP - 50, 30 } }, 0, 241, 0 },
    { "MultiMax", { { 35, 2 }, { 40, 5 }, { 100, 5 } }, 0, 5, 0 },
    { "One", { { 2, 1 } }, 0, 1, 0 },
    { "AllFree", { { 0, CP } }, CP, CP, CP },
};

static void run_summarize_case(void **state)
{
    const summarize_case *tc = *state;
    bits_t b;
    make_bits(tc->free, LEN(tc->free), b);
    invert_bits(b);
    pa_sum got = pa_bits_summarize(b);
    assert_int_equal(check_sum(got, tc->start, tc->max, tc->end), 0);
    /* The packed value itself is canonical. */
    assert_true(got == pa_sum_pack(tc->start, tc->max, tc->end));
}

/* Not in Go: the incremental leaf updates (pa_sum_after_alloc, _free)
 * against the slow summary, and the run counts they keep against a
 * recount, on random bitmaps of runs of varied lengths:
 * allocate a random part of a random free run, then free it again. */
static void test_sum_after_random(void **state)
{
    (void)state;
    pa_rng g = { 0x5eed0002u };
    for (int k = 0; k < 20000; k++) {
        bits_t b = { 0 };
        random_runs(&g, b);
        unsigned s, m, e;
        summarize_slow(b, &s, &m, &e);
        if (m == 0)
            continue;
        pa_sum old = pa_sum_pack(s, m, e);
        pa_runcount rc, want;
        pa_run_counts(b, &rc);
        unsigned p = (unsigned)(pa_rng_next(&g) % CP);
        while (b[p / 64] >> (p % 64) & 1)
            p = (p + 1) % CP;
        unsigned a = p - pa_bits_free_below(b, p), q = p + pa_bits_free_above(b, p);
        unsigned i = a + (unsigned)(pa_rng_next(&g) % (q - a));
        unsigned n = 1 + (unsigned)(pa_rng_next(&g) % (q - i));
        pa_bits_set_range(b, i, n);
        summarize_slow(b, &s, &m, &e);
        pa_sum mid = pa_sum_after_alloc(b, old, &rc, i, n);
        if (check_sum(mid, s, m, e)) {
            print_error("after_alloc #%d: run [%u, %u), pages [%u, %u)\n", k, a, q, i, i + n);
            fail();
        }
        pa_run_counts(b, &want);
        if (memcmp(rc.n + 1, want.n + 1, sizeof(rc.n) - sizeof(rc.n[0]))) {
            print_error("after_alloc #%d: run counts differ from a recount\n", k);
            fail();
        }
        pa_bits_clear_range(b, i, n);
        pa_sum back = pa_sum_after_free(mid, &rc, i, n, pa_bits_free_below(b, i),
                                        pa_bits_free_above(b, i + n));
        pa_run_counts(b, &want);
        if (memcmp(rc.n + 1, want.n + 1, sizeof(rc.n) - sizeof(rc.n[0]))) {
            print_error("after_free #%d: run counts differ from a recount\n", k);
            fail();
        }
        if (back != old) {
            print_error("after_free #%d: pages [%u, %u)\n", k, i, i + n);
            fail();
        }
    }
}

/* Not in Go: the forms for the ends of a run over several chunks
 * (pa_sum_after_alloc_tail, _head: pages [i, 512) or [0, j) of a free run
 * that reaches the chunk's edge) against the slow summary and a recount. */
static void test_sum_after_edge_random(void **state)
{
    (void)state;
    pa_rng g = { 0x5eed0003u };
    int tails = 0, heads = 0;
    for (int k = 0; k < 20000; k++) {
        bits_t b = { 0 };
        random_runs(&g, b);
        unsigned s, m, e;
        summarize_slow(b, &s, &m, &e);
        pa_sum old = pa_sum_pack(s, m, e);
        int tail = (int)(pa_rng_next(&g) & 1);
        unsigned run = tail ? e : s;              /* the free run at that edge */
        if (run == 0 || run == CP)
            continue;                             /* none, or the whole chunk */
        pa_runcount rc, want;
        pa_run_counts(b, &rc);
        /* Take 1..run pages of it from the edge inward, not all 512. */
        unsigned n = 1 + (unsigned)(pa_rng_next(&g) % run);
        unsigned i = tail ? CP - n : 0;
        pa_bits_set_range(b, i, n);
        pa_sum got = tail ? pa_sum_after_alloc_tail(b, old, &rc, i)
                          : pa_sum_after_alloc_head(b, old, &rc, n);
        tails += tail;
        heads += !tail;
        summarize_slow(b, &s, &m, &e);
        if (check_sum(got, s, m, e)) {
            print_error("after_alloc_%s #%d: pages [%u, %u)\n", tail ? "tail" : "head", k,
                        i, i + n);
            fail();
        }
        pa_run_counts(b, &want);
        if (memcmp(rc.n + 1, want.n + 1, sizeof(rc.n) - sizeof(rc.n[0]))) {
            print_error("after_alloc_%s #%d: run counts differ from a recount\n",
                        tail ? "tail" : "head", k);
            fail();
        }
    }
    assert_true(tails > 1000 && heads > 1000);
}

/* Not in Go: the one-pass checked clear of a free (pa_bits_clear_if_set)
 * against a test with pa_bits_all_in_range and a pa_bits_clear_range, on
 * random bitmaps and ranges of every width, most of them all set. */
static void test_clear_if_set_random(void **state)
{
    (void)state;
    pa_rng g = { 0x5eed0003u };
    for (int k = 0; k < 50000; k++) {
        bits_t b, want;
        for (int w = 0; w < 8; w++)
            b[w] = pa_rng_next(&g) % 4 ? ~0ull : pa_rng_next(&g);
        unsigned i = (unsigned)(pa_rng_next(&g) % CP);
        unsigned n = 1 + (unsigned)(pa_rng_next(&g) % (CP - i));
        if (pa_rng_next(&g) % 2)
            pa_bits_set_range(b, i, n);                /* a valid free */
        if (pa_rng_next(&g) % 4 == 0)                  /* one page of it free */
            b[(i + n / 2) / 64] &= ~(1ull << ((i + n / 2) % 64));
        memcpy(want, b, sizeof want);
        int ok = pa_bits_all_in_range(want, i, n);
        if (ok)
            pa_bits_clear_range(want, i, n);
        if (pa_bits_clear_if_set(b, i, n) != ok || memcmp(b, want, sizeof b)) {
            print_error("clear_if_set #%d: pages [%u, %u)\n", k, i, i + n);
            fail();
        }
    }
}

/* Not in Go: the checked clears and the set-and-test of a range reaching
 * a chunk edge (pa_bits_clear_if_set_tail, _head; pa_bits_set_test_tail,
 * _head) against the general ones: every edge once each side, then
 * random ones. */
static void test_clear_if_set_edge_random(void **state)
{
    (void)state;
    pa_rng g = { 0x5eed0004u };
    for (int k = 0; k < 50000; k++) {
        bits_t b, want;
        for (int w = 0; w < 8; w++)
            b[w] = pa_rng_next(&g) % 4 ? ~0ull : pa_rng_next(&g);
        int tail = (int)(pa_rng_next(&g) & 1);
        unsigned e = 1 + (unsigned)(pa_rng_next(&g) % (CP - 1));   /* 1..511 */
        if (k < 2 * ((int)CP - 1)) {    /* first every edge, both sides */
            tail = k & 1;
            e = 1 + (unsigned)k / 2;
        }
        unsigned i = tail ? e : 0, n = tail ? CP - e : e;
        if (pa_rng_next(&g) % 2)
            pa_bits_set_range(b, i, n);                /* a valid free */
        if (pa_rng_next(&g) % 4 == 0) {                /* one page of it free */
            unsigned p = i + (unsigned)(pa_rng_next(&g) % n);
            b[p / 64] &= ~(1ull << (p % 64));
        }
        bits_t b2, want2, scav;
        memcpy(b2, b, sizeof b2);
        memcpy(want2, b, sizeof want2);
        memcpy(want, b, sizeof want);
        int ok = pa_bits_clear_if_set(want, i, n);
        int got = tail ? pa_bits_clear_if_set_tail(b, e) : pa_bits_clear_if_set_head(b, e);
        if (got != ok || memcmp(b, want, sizeof b)) {
            print_error("clear_if_set_%s #%d: pages [%u, %u)\n", tail ? "tail" : "head", k,
                        i, i + n);
            fail();
        }
        /* The allocation side: set the range, say whether a scavenged bit
         * (random, often none) lies in it. */
        for (int w = 0; w < 8; w++)
            scav[w] = pa_rng_next(&g) % 2 ? 0 : pa_rng_next(&g) & pa_rng_next(&g);
        ok = pa_bits_set_test(want2, scav, i, n);
        got = tail ? pa_bits_set_test_tail(b2, scav, e) : pa_bits_set_test_head(b2, scav, e);
        if (got != ok || memcmp(b2, want2, sizeof b2)) {
            print_error("set_test_%s #%d: pages [%u, %u)\n", tail ? "tail" : "head", k,
                        i, i + n);
            fail();
        }
    }
}

/* ---------------------------------------------------------- Pack/unpack -- */

static void test_sum_pack(void **state)
{
    (void)state;
    /* Field layout: start bits 0..20, max 21..41, end 42..62. */
    assert_true(pa_sum_pack(0, 0, 0) == 0);
    assert_true(pa_sum_pack(1, 2, 3) == (1ull | 2ull << 21 | 3ull << 42));
    assert_true(PA_SUM_FREE_CHUNK == (512ull | 512ull << 21 | 512ull << 42));

    static const unsigned vals[] = { 0, 1, 2, 63, 64, 511, 512, 513, 4096,
                                     (1u << 20) + 7, (1u << 21) - 1 };
    for (size_t a = 0; a < LEN(vals); a++)
        for (size_t b = 0; b < LEN(vals); b++)
            for (size_t c = 0; c < LEN(vals); c++) {
                pa_sum s = pa_sum_pack(vals[a], vals[b], vals[c]);
                assert_true((s >> 63) == 0);
                assert_int_equal(pa_sum_start(s), vals[a]);
                assert_int_equal(pa_sum_max(s), vals[b]);
                assert_int_equal(pa_sum_end(s), vals[c]);
            }

    /* max == 2^21 (a whole free level-0 entry) is stored as exactly 1<<63
     * and every field decodes as 2^21. */
    pa_sum m = pa_sum_pack(1u << 21, 1u << 21, 1u << 21);
    assert_true(m == 1ull << 63);
    assert_int_equal(pa_sum_start(m), 1u << 21);
    assert_int_equal(pa_sum_max(m), 1u << 21);
    assert_int_equal(pa_sum_end(m), 1u << 21);
    assert_int_equal(PA_SUM_MAXV, 1u << 21);
}

/* ---------------------------------------------------------------- Alloc -- */

typedef struct bits_alloc_case {
    const char *name;
    pa_range    before[4];
    unsigned    npages;
    unsigned    hits[8];  /* expected Find(npages, 0) results, in order */
    size_t      nhits;
    pa_range    after[4];
} bits_alloc_case;

#define NF PA_NOT_FOUND

static const bits_alloc_case bits_alloc_cases[] = {
    { .name = "AllFree1", .npages = 1, .hits = { 0, 1, 2, 3, 4, 5 }, .nhits = 6,
      .after = { { 0, 6 } } },
    { .name = "AllFree2", .npages = 2, .hits = { 0, 2, 4, 6, 8, 10 }, .nhits = 6,
      .after = { { 0, 12 } } },
    { .name = "AllFree5", .npages = 5, .hits = { 0, 5, 10, 15, 20 }, .nhits = 5,
      .after = { { 0, 25 } } },
    { .name = "AllFree64", .npages = 64, .hits = { 0, 64, 128 }, .nhits = 3,
      .after = { { 0, 192 } } },
    { .name = "AllFree65", .npages = 65, .hits = { 0, 65, 130 }, .nhits = 3,
      .after = { { 0, 195 } } },
    { .name = "SomeFree64", .before = { { 0, 32 }, { 64, 32 }, { 100, CP - 100 } },
      .npages = 64, .hits = { NF }, .nhits = 1,
      .after = { { 0, 32 }, { 64, 32 }, { 100, CP - 100 } } },
    { .name = "NoneFree1", .before = { { 0, CP } }, .npages = 1,
      .hits = { NF, NF }, .nhits = 2, .after = { { 0, CP } } },
    { .name = "NoneFree2", .before = { { 0, CP } }, .npages = 2,
      .hits = { NF, NF }, .nhits = 2, .after = { { 0, CP } } },
    { .name = "NoneFree5", .before = { { 0, CP } }, .npages = 5,
      .hits = { NF, NF }, .nhits = 2, .after = { { 0, CP } } },
    { .name = "NoneFree65", .before = { { 0, CP } }, .npages = 65,
      .hits = { NF, NF }, .nhits = 2, .after = { { 0, CP } } },
    { .name = "ExactFit1", .before = { { 0, CP / 2 - 3 }, { CP / 2 - 2, CP / 2 + 2 } },
      .npages = 1, .hits = { CP / 2 - 3, NF }, .nhits = 2, .after = { { 0, CP } } },
    { .name = "ExactFit2", .before = { { 0, CP / 2 - 3 }, { CP / 2 - 1, CP / 2 + 1 } },
      .npages = 2, .hits = { CP / 2 - 3, NF }, .nhits = 2, .after = { { 0, CP } } },
    { .name = "ExactFit5", .before = { { 0, CP / 2 - 3 }, { CP / 2 + 2, CP / 2 - 2 } },
      .npages = 5, .hits = { CP / 2 - 3, NF }, .nhits = 2, .after = { { 0, CP } } },
    { .name = "ExactFit65", .before = { { 0, CP / 2 - 31 }, { CP / 2 + 34, CP / 2 - 34 } },
      .npages = 65, .hits = { CP / 2 - 31, NF }, .nhits = 2, .after = { { 0, CP } } },
    { .name = "SomeFree161", .before = { { 0, 185 }, { 331, 1 } }, .npages = 161,
      .hits = { 332 }, .nhits = 1, .after = { { 0, 185 }, { 331, 162 } } },
};

static void run_bits_alloc_case(void **state)
{
    const bits_alloc_case *tc = *state;
    bits_t b, want;
    make_bits(tc->before, LEN(tc->before), b);
    for (size_t k = 0; k < tc->nhits; k++) {
        unsigned ns;
        unsigned a = pa_bits_find(b, tc->npages, 0, &ns);
        if (a != tc->hits[k])
            fail_msg("find #%zu (%u pages): got %d, want %d", k + 1, tc->npages, (int)a,
                     (int)tc->hits[k]);
        if (a != PA_NOT_FOUND)
            pa_bits_set_range(b, a, tc->npages);
    }
    make_bits(tc->after, LEN(tc->after), want);
    pa_check_bits("bits", b, want);
}

/* ----------------------------------------------------------------- Free -- */

typedef struct bits_free_case {
    const char *name;
    pa_range    before_inv[4];  /* free pages before (all others in use) */
    unsigned    npages;
    unsigned    frees[8];
    size_t      nfrees;
    pa_range    after_inv[4];   /* free pages after */
} bits_free_case;

static const bits_free_case bits_free_cases[] = {
    { .name = "SomeFree", .npages = 1, .before_inv = { { 0, 32 }, { 64, 32 }, { 100, 1 } },
      .frees = { 32 }, .nfrees = 1, .after_inv = { { 0, 33 }, { 64, 32 }, { 100, 1 } } },
    { .name = "NoneFree1", .npages = 1, .frees = { 0, 1, 2, 3, 4, 5 }, .nfrees = 6,
      .after_inv = { { 0, 6 } } },
    { .name = "NoneFree2", .npages = 2, .frees = { 0, 2, 4, 6, 8, 10 }, .nfrees = 6,
      .after_inv = { { 0, 12 } } },
    { .name = "NoneFree5", .npages = 5, .frees = { 0, 5, 10, 15, 20 }, .nfrees = 5,
      .after_inv = { { 0, 25 } } },
    { .name = "NoneFree64", .npages = 64, .frees = { 0, 64, 128 }, .nfrees = 3,
      .after_inv = { { 0, 192 } } },
    { .name = "NoneFree65", .npages = 65, .frees = { 0, 65, 130 }, .nfrees = 3,
      .after_inv = { { 0, 195 } } },
};

static void run_bits_free_case(void **state)
{
    const bits_free_case *tc = *state;
    bits_t b, want;
    make_bits(tc->before_inv, LEN(tc->before_inv), b);
    invert_bits(b);
    for (size_t k = 0; k < tc->nfrees; k++)
        pa_bits_clear_range(b, tc->frees[k], tc->npages);
    make_bits(tc->after_inv, LEN(tc->after_inv), want);
    invert_bits(want);
    pa_check_bits("bits", b, want);
}

/* ------------------------------------------------------- FindBitRange64 -- */

static int check_range64(uint64_t x, unsigned n, unsigned want)
{
    unsigned got = pa_find_bit_range64(x, n);
    if (want == NF ? got < 64 : got != want) {
        if (want == NF)
            print_error("find_bit_range64(%016llx, %u): got %u, want none (>= 64)\n",
                        (unsigned long long)x, n, got);
        else
            print_error("find_bit_range64(%016llx, %u): got %u, want %u\n",
                        (unsigned long long)x, n, got, want);
        return 1;
    }
    return 0;
}

static void test_find_bit_range64(void **state)
{
    (void)state;
    int bad = 0;
    for (unsigned n = 1; n <= 64; n++)
        bad += check_range64(~0ull, n, 0);
    for (unsigned n = 1; n <= 64; n++)
        bad += check_range64(0, n, NF);
    static const struct { uint64_t x; unsigned n, want; } fixed[] = {
        { 0x8000000000000000, 1, 63 },
        { 0xc000010001010000, 2, 62 },
        { 0xc000010001030000, 2, 16 },
        { 0xe000030001030000, 3, 61 },
        { 0xe000030001070000, 3, 16 },
        { 0xffff03ff01070000, 16, 48 },
        { 0xffff03ff0107ffff, 16, 0 },
        { 0x0fff03ff01079fff, 16, NF },
    };
    for (size_t k = 0; k < LEN(fixed); k++)
        bad += check_range64(fixed[k].x, fixed[k].n, fixed[k].want);
    assert_int_equal(bad, 0);
}

/* The first fit of pa_bits_find (bitfind.c: fixed shift-and schedules for
 * 2..64 pages) against a page-by-page search, on random run bitmaps, every
 * length 1..512 and random starting pages, with and without the new search
 * hint. The reference starts at page search: below it pages count as used
 * (the callers' contract, which the bitmap here need not keep), so the
 * bitmap gets them set first. */
static unsigned naive_find(const bits_t b, unsigned n, unsigned search)
{
    unsigned run = 0;
    for (unsigned p = search; p < CP; p++) {
        run = b[p / 64] >> (p % 64) & 1 ? 0 : run + 1;
        if (run == n)
            return p + 1 - n;
    }
    return NF;
}

static void test_find_random(void **state)
{
    (void)state;
    pa_rng g = { 0x5eed0004u };
    for (int iter = 0; iter < 4000; iter++) {
        bits_t b = { 0 };
        random_runs(&g, b);
        unsigned search = pa_rng_next(&g) % 3 ? (unsigned)(pa_rng_next(&g) % CP) : 0;
        search -= search % 64 * (unsigned)(pa_rng_next(&g) & 1);   /* word aligned, or not */
        for (unsigned p = 0; p < search; p++)
            b[p / 64] |= 1ull << (p % 64);
        unsigned first = naive_find(b, 1, search);
        for (unsigned n = 1; n <= CP; n += n < 80 ? 1 : 1 + (unsigned)(pa_rng_next(&g) % 40)) {
            unsigned want = naive_find(b, n, search), ns = 12345;
            unsigned got = pa_bits_find(b, n, search, &ns);
            if (got != want || ns != first)
                fail_msg("iter %d: find %u pages from %u: got %d (hint %d), want %d (hint %d)",
                         iter, n, search, (int)got, (int)ns, (int)want, (int)first);
            assert_int_equal(pa_bits_find(b, n, search, NULL), want);
        }
    }
}

/* ---------------------------------------------------------------- main -- */

int main(void)
{
    static struct CMUnitTest alloc_range_tests[LEN(alloc_range_cases)];
    static struct CMUnitTest popcnt_tests[LEN(popcnt_cases)];
    static struct CMUnitTest summarize_tests[LEN(summarize_cases)];
    static struct CMUnitTest bits_alloc_tests[LEN(bits_alloc_cases)];
    static struct CMUnitTest bits_free_tests[LEN(bits_free_cases)];
    const struct CMUnitTest summarize_random_tests[] = {
        cmocka_unit_test(test_summarize_random),
        cmocka_unit_test(test_summarize_patterns),
        cmocka_unit_test(test_sum_after_random),
        cmocka_unit_test(test_sum_after_edge_random),
        cmocka_unit_test(test_clear_if_set_random),
        cmocka_unit_test(test_clear_if_set_edge_random),
    };
    const struct CMUnitTest find_range_tests[] = {
        cmocka_unit_test(test_find_bit_range64),
        cmocka_unit_test(test_find_random),
    };
    const struct CMUnitTest pack_tests[] = {
        cmocka_unit_test(test_sum_pack),
    };

    for (size_t i = 0; i < LEN(alloc_range_cases); i++)
        alloc_range_tests[i] = CASE_TEST(alloc_range_cases, i, run_alloc_range_case);
    for (size_t i = 0; i < LEN(popcnt_cases); i++)
        popcnt_tests[i] = CASE_TEST(popcnt_cases, i, run_popcnt_case);
    for (size_t i = 0; i < LEN(summarize_cases); i++)
        summarize_tests[i] = CASE_TEST(summarize_cases, i, run_summarize_case);
    for (size_t i = 0; i < LEN(bits_alloc_cases); i++)
        bits_alloc_tests[i] = CASE_TEST(bits_alloc_cases, i, run_bits_alloc_case);
    for (size_t i = 0; i < LEN(bits_free_cases); i++)
        bits_free_tests[i] = CASE_TEST(bits_free_cases, i, run_bits_free_case);

    int failed = 0;
    failed += cmocka_run_group_tests_name("TestPallocBitsAllocRange", alloc_range_tests,
                                          NULL, NULL);
    failed += cmocka_run_group_tests_name("TestMallocBitsPopcntRange", popcnt_tests,
                                          NULL, NULL);
    failed += cmocka_run_group_tests_name("TestPallocBitsSummarizeRandom",
                                          summarize_random_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestPallocBitsSummarize", summarize_tests,
                                          NULL, NULL);
    failed += cmocka_run_group_tests_name("TestPallocBitsAlloc", bits_alloc_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestPallocBitsFree", bits_free_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestFindBitRange64", find_range_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("PallocSumPack", pack_tests, NULL, NULL);
    return failed != 0;
}
