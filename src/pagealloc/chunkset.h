/*
 * chunkset.h - a set of chunks, a bit per chunk over the whole address
 * space: the storage the scavenge index (scavindex.h) and the free-chunk
 * index (freeidx.h) share; what a bit means is theirs.
 *
 * Representation. 64-bit words over all 2^26 chunks (8 MiB of address
 * space, reserved once by init, charged nothing); bit ci % 64 of word
 * ci / 64 is chunk ci. Only the words [lo_word, hi_word) are committed:
 * one contiguous range of whole OS pages covering every chunk grown so
 * far (a gap between two grows is committed too, so the range never
 * splits), charged to the caller's metadata stat, `committed` bytes in
 * all. Committed words start zero. Nothing outside the range may be read
 * or written.
 *
 * Not thread-safe: callers serialise.
 */
#ifndef PAGEALLOC_CHUNKSET_H
#define PAGEALLOC_CHUNKSET_H

#include <stddef.h>
#include <stdint.h>

#include "pagealloc/sysmem.h"

typedef struct pa_chunkset {
    uint64_t *words;      /* 2^20 words reserved; [lo_word, hi_word) committed */
    uint32_t  lo_word;    /* committed word range, OS-page aligned */
    uint32_t  hi_word;
    size_t    committed;  /* bytes committed */
} pa_chunkset;

/* Reserve the array; charges nothing until grow. 0 or an errno value. */
int  pa_chunkset_init(pa_chunkset *b);
void pa_chunkset_destroy(pa_chunkset *b, sysmem_stat *stat);
/* Make the bits of chunks [lo, hi) addressable (zero when new). 0 or an
 * errno value; what was committed before an error stays committed. */
int  pa_chunkset_grow(pa_chunkset *b, uint32_t lo, uint32_t hi, sysmem_stat *stat);

#endif /* PAGEALLOC_CHUNKSET_H */
