/*
 * chunkset.h - a set of chunks, a bit per chunk over the whole address
 * space: the storage the scavenge index (scavindex.h) and the free-chunk
 * index (freeidx.h) share; what a bit means is theirs.
 *
 * Representation. 64-bit words over all 2^26 chunks (8 MiB of address
 * space and one page, reserved once by init, charged nothing; the words
 * start PA_COLOR_BYTES into it, base/color.h); bit ci % 64 of word
 * ci / 64 is chunk ci. The words [prep_lo, prep_hi) (multiples of a
 * page's words) are committed: the OS pages holding them, one contiguous
 * range covering every chunk grown so far (a gap between two grows is
 * committed too, so the range never splits), charged to the caller's
 * metadata stat, `committed` bytes in all.
 * Committed words start zero. [lo_word, hi_word) is the published part,
 * inside it: what readers (the checker, the scavenge index) may walk.
 * Nothing outside the committed range may be read or written.
 *
 * Growth in two steps (docs/pagealloc.md, "Growth"): prepare commits the
 * words (system calls) and moves only prep_lo, prep_hi and committed,
 * which no reader reads; publish, under the readers' lock, moves
 * lo_word and hi_word (memory writes only).
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
    uint32_t  lo_word;    /* published word range, OS-page aligned; 0, 0: none */
    uint32_t  hi_word;
    uint32_t  prep_lo;    /* committed word range (prepare's alone) */
    uint32_t  prep_hi;
    size_t    committed;  /* bytes committed (prepare's alone) */
} pa_chunkset;

/* Reserve the array; charges nothing until grow. 0 or an errno value. */
int  pa_chunkset_init(pa_chunkset *b);
void pa_chunkset_destroy(pa_chunkset *b, sysmem_stat *stat);
/* Commit the bits of chunks [lo, hi) (zero when new). 0 or an errno
 * value; what was committed before an error stays committed. */
int  pa_chunkset_prepare(pa_chunkset *b, uint32_t lo, uint32_t hi, sysmem_stat *stat);
/* Publish every committed word: no system call. */
static inline void pa_chunkset_publish(pa_chunkset *b)
{
    b->lo_word = b->prep_lo;
    b->hi_word = b->prep_hi;
}

#endif /* PAGEALLOC_CHUNKSET_H */
