/*
 * scavchunks.h - the chunks that may hold scavenged pages: one bit per
 * chunk (docs/pagealloc.md, "Chunks with scavenged pages"). Not in Go, and
 * it changes no answer: it lets an allocation over several chunks
 * (multichunk.c) skip the scavenged bitmap of a chunk that has no
 * scavenged page, rather than read its eight words (a cache line of its
 * own, next to the allocation bitmap's) to learn that they are zero.
 *
 * Representation: a pa_chunkset (chunkset.h), bit ci for chunk ci; its
 * committed words cover every grown chunk.
 *
 * Invariant (one-sided): for every grown chunk ci, if any bit of its
 * scavenged bitmap is 1, bit ci is 1. A 1 with no scavenged page is
 * allowed (it only costs the read it would save). Every writer of a 1
 * into a scavenged bitmap sets the chunk's bit: grow (new memory is
 * released), the scavenger (scavenge.c), a page cache giving its pages
 * back (pagecache.c), the test hook that loads a chunk (testing.c). A bit
 * is cleared only where the chunk's scavenged bitmap is known to be zero:
 * after an allocation took a whole chunk, or after an end piece's
 * allocation, when a look at the eight words (already in cache) finds
 * none left. pagealloc_check (check.c) verifies the invariant.
 *
 * Not thread-safe: callers serialise.
 */
#ifndef PAGEALLOC_SCAVCHUNKS_H
#define PAGEALLOC_SCAVCHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "pagealloc/chunkset.h"

typedef pa_chunkset pa_scav_chunks;

/* Set chunk ci's bit (its word committed). */
static inline void pa_scav_chunks_set(pa_scav_chunks *x, uint32_t ci)
{
    x->words[ci >> 6] |= (uint64_t)1 << (ci & 63);
}
/* Clear chunk ci's bit: its scavenged bitmap is zero. */
static inline void pa_scav_chunks_clear(pa_scav_chunks *x, uint32_t ci)
{
    x->words[ci >> 6] &= ~((uint64_t)1 << (ci & 63));
}
static inline int pa_scav_chunks_get(const pa_scav_chunks *x, uint32_t ci)
{
    return (int)(x->words[ci >> 6] >> (ci & 63) & 1);
}

/* Whether any chunk of [lo, hi) (lo < hi) has its bit. A run within two
 * index words (every run of up to 65 chunks): usually both words are zero
 * (memory used once has no scavenged page), one test; else masks and a
 * select (whether the run lies in one word is a coin flip). */
static inline int pa_scav_chunks_any(const pa_scav_chunks *x, uint32_t lo, uint32_t hi)
{
    uint32_t wl = lo >> 6, wh = (hi - 1) >> 6;
    if (__builtin_expect(wh - wl > 1, 0)) {
        for (uint32_t ci = lo; ci < hi; ci++)
            if (pa_scav_chunks_get(x, ci))
                return 1;
        return 0;
    }
    uint64_t vl = x->words[wl], vh = x->words[wh];
    if (__builtin_expect(!(vl | vh), 1))
        return 0;                 /* the usual case: none near */
    uint64_t a = vl & (~(uint64_t)0 << (lo & 63));
    uint64_t b = vh & (~(uint64_t)0 >> (63 - ((hi - 1) & 63)));
    return (wl == wh ? a & b : a | b) != 0;
}

/* Clear the bits of chunks [lo, hi), lo < hi. */
static inline void pa_scav_chunks_clear_range(pa_scav_chunks *x, uint32_t lo, uint32_t hi)
{
    for (uint32_t ci = lo; ci < hi; ci++)
        pa_scav_chunks_clear(x, ci);
}
/* Set the bits of chunks [lo, hi), lo < hi (grow). */
static inline void pa_scav_chunks_set_range(pa_scav_chunks *x, uint32_t lo, uint32_t hi)
{
    for (uint32_t ci = lo; ci < hi; ci++)
        pa_scav_chunks_set(x, ci);
}

#endif /* PAGEALLOC_SCAVCHUNKS_H */
