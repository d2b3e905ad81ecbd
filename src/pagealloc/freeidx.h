/*
 * freeidx.h - the index of wholly free chunks (docs/pagealloc.md,
 * "Free-chunk index"): one bit per chunk, set exactly when the chunk's
 * leaf summary is PA_SUM_FREE_CHUNK (all 512 pages free). Not in Go, and
 * it changes no answer: it makes the first-fit search of runs of 1023
 * pages or more cheaper (tree.c's find_large) and gives a freed run its
 * exact extent (pa_free_run_extent).
 *
 * Representation: a pa_chunkset (chunkset.h), bit ci for chunk ci;
 * its committed words cover every grown chunk.
 *
 * Invariant (exact): for every chunk ci whose word is committed, the bit
 * is 1 iff ci is grown and its leaf summary is PA_SUM_FREE_CHUNK. Leaves
 * are always exact (tree.c), and every leaf write goes through tree.c's
 * set_leaf, which updates the bit; ungrown chunks have leaf 0 and bit 0.
 * pagealloc_check (check.c) verifies it.
 *
 * Not thread-safe: callers serialise.
 */
#ifndef PAGEALLOC_FREEIDX_H
#define PAGEALLOC_FREEIDX_H

#include <stddef.h>
#include <stdint.h>

#include "pagealloc/chunkset.h"

typedef pa_chunkset pa_free_index;

static inline int pa_free_index_init(pa_free_index *x)
{
    return pa_chunkset_init(x);
}
static inline void pa_free_index_destroy(pa_free_index *x, sysmem_stat *stat)
{
    pa_chunkset_destroy(x, stat);
}
/* Make the bits of chunks [lo, hi) addressable (zero when new), in the
 * two steps of chunkset.h: commit, then publish. */
static inline int pa_free_index_prepare(pa_free_index *x, uint32_t lo, uint32_t hi,
                                        sysmem_stat *stat)
{
    return pa_chunkset_prepare(x, lo, hi, stat);
}
static inline void pa_free_index_publish(pa_free_index *x) { pa_chunkset_publish(x); }

/* Set chunk ci's bit to is_free (its word must be committed). */
static inline void pa_free_index_set(pa_free_index *x, uint32_t ci, int is_free)
{
    uint64_t bit = (uint64_t)1 << (ci & 63);
    uint64_t *w = &x->words[ci >> 6];
    *w = (*w & ~bit) | (is_free ? bit : 0);
}

/* Set the bits of chunks [lo, hi), lo < hi, to is_free (their words
 * committed). */
static inline void pa_free_index_set_range(pa_free_index *x, uint32_t lo, uint32_t hi, int is_free)
{
    if (lo >> 6 == (hi - 1) >> 6) {               /* one word: the common case */
        /* hi - lo ones (1..64) from bit lo % 64: two shifts, no AND. */
        uint64_t m = (~(uint64_t)0 >> (64 - (hi - lo))) << (lo & 63);
        uint64_t *w = &x->words[lo >> 6];
        *w = is_free ? *w | m : *w & ~m;
        return;
    }
    for (uint32_t wi = lo >> 6; wi <= (hi - 1) >> 6; wi++) {
        uint64_t m = ~(uint64_t)0;
        if (wi == lo >> 6)
            m &= ~(uint64_t)0 << (lo & 63);
        if (wi == (hi - 1) >> 6)
            m &= ~(uint64_t)0 >> (63 - ((hi - 1) & 63));
        x->words[wi] = is_free ? x->words[wi] | m : x->words[wi] & ~m;
    }
}

static inline int pa_free_index_get(const pa_free_index *x, uint32_t ci)
{
    return (int)(x->words[ci >> 6] >> (ci & 63) & 1);
}

/* The first chunk in [c, end) whose bit is want (1: free, 0: not), or end.
 * The words of [c, end) must be committed. */
static inline uint32_t pa_free_index_next(const pa_free_index *x, uint32_t c, uint32_t end,
                                          int want)
{
    if (c >= end)
        return end;
    uint64_t flip = want ? 0 : ~(uint64_t)0;
    uint32_t wi = c >> 6, last = (end - 1) >> 6;
    uint64_t v = (x->words[wi] ^ flip) & (~(uint64_t)0 << (c & 63));
    while (!v) {
        if (++wi > last)
            return end;
        v = x->words[wi] ^ flip;
    }
    uint32_t r = (wi << 6) + (uint32_t)__builtin_ctzll(v);
    return r < end ? r : end;
}

/* The first maximal run of ones [c0, *c1) with c0 in [c, end): returns c0
 * (end if there is none) and sets *c1 (at most end). The words of
 * [c, end) must be committed; bits at and above end are 0. */
static inline uint32_t pa_free_index_run(const pa_free_index *x, uint32_t c, uint32_t end,
                                         uint32_t *c1)
{
    *c1 = end;
    if (c >= end)
        return end;
    uint32_t wi = c >> 6, last = (end - 1) >> 6;
    uint64_t v = x->words[wi] & (~(uint64_t)0 << (c & 63));
    while (!v) {
        if (++wi > last)
            return end;
        v = x->words[wi];
    }
    uint32_t c0 = (wi << 6) + (uint32_t)__builtin_ctzll(v);
    /* The first 0 at or above c0: in the same word, past the ones. */
    uint64_t z = ~x->words[wi] & (~(uint64_t)0 << (c0 & 63));
    while (!z) {
        if (++wi > last)
            return c0 < end ? c0 : end;
        z = ~x->words[wi];
    }
    uint32_t r = (wi << 6) + (uint32_t)__builtin_ctzll(z);
    *c1 = r < end ? r : end;
    return c0 < end ? c0 : end;
}

/* The lowest chunk b in [lo, c] such that every chunk of [b, c) is free.
 * The words of [lo, c) must be committed. */
static inline uint32_t pa_free_index_run_below(const pa_free_index *x, uint32_t lo, uint32_t c)
{
    if (c <= lo)
        return c;
    uint32_t wi = (c - 1) >> 6, first = lo >> 6;
    /* Clear bits (not free) at or below c-1, in word wi. */
    uint64_t v = ~x->words[wi] & (~(uint64_t)0 >> (63 - ((c - 1) & 63)));
    while (!v) {
        if (wi-- == first)
            return lo;
        v = ~x->words[wi];
    }
    uint32_t r = (wi << 6) + 63 - (uint32_t)__builtin_clzll(v) + 1;
    return r > lo ? r : lo;
}

#endif /* PAGEALLOC_FREEIDX_H */
