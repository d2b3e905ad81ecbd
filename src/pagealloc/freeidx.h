/*
 * freeidx.h - the index of wholly free chunks (docs/pagealloc.md,
 * "Free-chunk index"): one bit per chunk, set exactly when the chunk's
 * leaf summary is PA_SUM_FREE_CHUNK (all 512 pages free). Not in Go, and
 * it changes no answer: it makes the first-fit search of runs of 1023
 * pages or more cheaper (tree.c's find_large) and gives a freed run its
 * exact extent (pa_free_run_extent).
 *
 * Representation. 64-bit words over all 2^26 chunks (8 MiB of address
 * space, reserved once); bit ci % 64 of word ci / 64 is chunk ci. Only the
 * words [lo_word, hi_word) are committed, one contiguous range of whole OS
 * pages covering every grown chunk (a gap between two grows is committed
 * too), charged to the allocator's metadata stat.
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

#include "pagealloc/sysmem.h"

typedef struct pa_free_index {
    uint64_t *words;      /* 2^20 words reserved; [lo_word, hi_word) committed */
    uint32_t  lo_word;    /* committed word range, OS-page aligned */
    uint32_t  hi_word;
    size_t    committed;  /* bytes committed */
} pa_free_index;

/* Reserve the array; charges nothing until grow. 0 or an errno value. */
int  pa_free_index_init(pa_free_index *x);
void pa_free_index_destroy(pa_free_index *x, sysmem_stat *stat);
/* Make the bits of chunks [lo, hi) addressable (zero when new). 0 or an
 * errno value; what was committed before an error stays committed. */
int  pa_free_index_grow(pa_free_index *x, uint32_t lo, uint32_t hi, sysmem_stat *stat);

/* Set chunk ci's bit to is_free (its word must be committed). */
static inline void pa_free_index_set(pa_free_index *x, uint32_t ci, int is_free)
{
    uint64_t bit = (uint64_t)1 << (ci & 63);
    uint64_t *w = &x->words[ci >> 6];
    *w = (*w & ~bit) | (is_free ? bit : 0);
}

/* Set the bits of chunks [lo, hi) to is_free (their words committed). */
static inline void pa_free_index_set_range(pa_free_index *x, uint32_t lo, uint32_t hi, int is_free)
{
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
