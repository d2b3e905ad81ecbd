/*
 * runcount.h - a chunk's run counts: how many maximal free runs of each
 * short length the chunk has (docs/pagealloc.md, "Run counts"). Not in
 * Go, and it changes no answer: when an allocation cuts a chunk's longest
 * free run, the new longest of a chunk of short runs is the longest length
 * whose count is not zero, found without rescanning the bitmap.
 *
 * Representation: 32 counters of 16 bits per chunk (64 bytes), after the
 * chunk bitmaps of their block (internal.h, pa_runs_of). Run lengths go to
 * buckets by pa_run_bucket: a length k of 1..PA_RUN_LONG-1 to bucket k,
 * every length of PA_RUN_LONG pages or more to bucket PA_RUN_LONG, and
 * length 0 (no run: an empty piece of a cut run) to bucket 0, which is
 * scratch and never read, so updates need no test for empty pieces.
 *
 * Invariant (exact): for every grown chunk and k in 1..PA_RUN_LONG,
 * n[k] is the number of maximal free runs of the chunk's allocation bitmap
 * whose bucket is k (a run ends at an allocated page or at the chunk's
 * edge, so runs never continue into a neighbouring chunk here). Kept by
 * every leaf update in tree.c under the caller's serialisation;
 * pagealloc_check verifies it against a recount (pa_run_counts).
 */
#ifndef PAGEALLOC_RUNCOUNT_H
#define PAGEALLOC_RUNCOUNT_H

#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Runs this long or longer share a bucket. A cut of a chunk's longest run
 * rescans the bitmap when another run this long remains, so the longer the
 * exact lengths go, the fewer rescans: 15, 31, 47 and 63 took heap W1 (its
 * requests of 9..512 pages) 519.5, 505.4, 496.9 and 494.8 instructions a
 * step, core W1 922.8, 909.0, 911.5 and 917.7 a pair (callgrind, 2026-12-04;
 * docs/pagealloc.md, "Run counts"). 31 is kept: 47 gained heap W1 another
 * 9 a step but cost heap W3 and core W3 (their ends of runs over several
 * chunks read the counters for the longest short run) 0.6 % and 1.3 %,
 * where 31 costs them nothing; 64 bytes, one cache line. */
#define PA_RUN_LONG 31u
#define PA_RUN_BUCKETS 32u         /* a multiple of 16: read 16 at a time */
_Static_assert(PA_RUN_BUCKETS % 16 == 0 && PA_RUN_LONG == PA_RUN_BUCKETS - 1,
               "pa_run_longest_short reads the counters 16 at a time");

typedef struct pa_runcount {
    uint16_t n[PA_RUN_BUCKETS];
} pa_runcount;

static inline unsigned pa_run_bucket(unsigned len)
{
    return len < PA_RUN_LONG ? len : PA_RUN_LONG;
}

/* The counts of a wholly free chunk: one long run. */
static inline void pa_run_counts_free(pa_runcount *c)
{
    *c = (pa_runcount){ .n = { [PA_RUN_LONG] = 1 } };
}
/* The counts of a wholly allocated chunk: none. */
static inline void pa_run_counts_full(pa_runcount *c)
{
    *c = (pa_runcount){ .n = { 0 } };
}

/* The counts of a chunk that was wholly free and is now wholly allocated
 * (is_free 0), or the reverse (1). The counts were exact before, and every
 * counter but the long bucket's is 0 in both states, so only that one is
 * written: storing the whole 96 bytes (48 counters, measured), for each
 * chunk covered by a run over several chunks, cost heap W3 6 % more
 * instructions. */
static inline void pa_run_counts_flip(pa_runcount *c, int is_free)
{
    c->n[PA_RUN_LONG] = (uint16_t)(is_free != 0);
}

/* The longest short length (1..PA_RUN_LONG-1) whose count is not zero,
 * or 0. Without SSE2, four counters per 64-bit word: the highest set bit
 * of the highest non-zero word lies in the highest non-zero counter. */
static inline unsigned pa_run_longest_short(const pa_runcount *c)
{
#if defined(__SSE2__)
    /* Without a branch: the counters compared with zero 16 at a time in
     * two 128-bit halves, packed to one byte each; the highest non-zero
     * one of 1..PA_RUN_LONG-1 is the highest bit of the mask (bit 0 is or-ed in for the case of
     * none, which then answers 0). A loop over four words that stopped at
     * the first non-zero one mispredicted about once per call in core W1
     * (docs/pagealloc.md, "Branch-free search hint, leaf marks and word
     * masks"). */
    const __m128i zero = _mm_setzero_si128();
    const __m128i *p = (const __m128i *)c->n;
    uint64_t eq = 0;
    for (unsigned i = 0; i < PA_RUN_BUCKETS / 16; i++) {
        __m128i a = _mm_cmpeq_epi16(_mm_loadu_si128(p + 2 * i), zero);
        __m128i b = _mm_cmpeq_epi16(_mm_loadu_si128(p + 2 * i + 1), zero);
        eq |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_packs_epi16(a, b)) << (16 * i);
    }
    uint64_t nz = ~eq & ((((uint64_t)1 << PA_RUN_LONG) - 1) & ~(uint64_t)1);
    return 63 - (unsigned)__builtin_clzll(nz | 1);
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v[PA_RUN_BUCKETS / 4];
    memcpy(v, c->n, sizeof(v));
    v[0] &= ~(uint64_t)0xffff;                     /* bucket 0: scratch */
    v[PA_RUN_BUCKETS / 4 - 1] &= ~((uint64_t)0xffff << 48);   /* bucket PA_RUN_LONG */
    for (unsigned w = PA_RUN_BUCKETS / 4; w-- > 0;)
        if (v[w])
            return w * 4 + (63 - (unsigned)__builtin_clzll(v[w])) / 16;
    return 0;
#else
    unsigned k = PA_RUN_LONG - 1;
    while (k > 0 && c->n[k] == 0)
        k--;
    return k;
#endif
}

/* Count the maximal free runs of allocation bitmap b (one chunk) into *c,
 * bucket 0 left zero: for whole re-summarisations and the checker. */
void pa_run_counts(const uint64_t *b, pa_runcount *c);
/* Update *c, the counts of bitmap b, for word w of b becoming wholly
 * allocated; call before changing b. Returns the length of the longest
 * free run the word cut (0 if it had no free page). */
unsigned pa_run_counts_take_word(pa_runcount *c, const uint64_t *b, unsigned w);

#endif /* PAGEALLOC_RUNCOUNT_H */
