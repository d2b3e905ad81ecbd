/*
 * scavindex.h - the scavenge index (Go's scavengeIndex, mgcscavenge.go):
 * which chunks may hold free pages that are still resident.
 *
 * One bit per chunk over the whole 48-bit address space (2^26 chunks), kept
 * in 64-bit words. The array is reserved once (8 MiB of address space) and
 * only the words covering grown chunks are committed. A set bit is a hint:
 * the chunk may have free, unscavenged pages; a clear bit means it has none.
 *
 * search is the address of the highest page that may be a candidate:
 * find() scans downward from its chunk and lowers it; mark() raises it
 * (and sets "marked") when it marks pages above it. 0 means "nothing to
 * scavenge". Every set bit lies at or below search's chunk, or in the
 * same group of 8 chunks (Go scans its index a byte at a time, and its
 * answers depend on that granularity, which this index reproduces).
 * "marked" reproduces Go's negative searchAddr: a find that starts from a
 * marked search may raise it within the group and does not clear it when
 * it finds nothing.
 *
 * Not thread-safe: callers serialise (the allocator's lock in Go).
 */
#ifndef PAGEALLOC_SCAVINDEX_H
#define PAGEALLOC_SCAVINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "pagealloc/geometry.h"
#include "pagealloc/chunkset.h"
#include "pagealloc/sysmem.h"

typedef struct pa_scav_index {
    pa_chunkset bits;   /* chunkset.h: the words, their committed range */
    uint32_t  min_chunk;  /* lowest chunk ever grown: find stops there */
    uintptr_t search;     /* highest candidate page address; 0: none */
    int       marked;     /* search was raised by mark since the last find */
} pa_scav_index;

/* Reserve the array; charges nothing until grow. 0 or an errno value. */
int      pa_scav_index_init(pa_scav_index *x);
void     pa_scav_index_destroy(pa_scav_index *x, sysmem_stat *stat);
/* Make chunks [lo, hi) addressable, in two steps (chunkset.h): prepare
 * commits the words and changes nothing find or mark read (0 or an errno
 * value); publish makes them part of the index (no system call). grow
 * is both. */
int      pa_scav_index_prepare(pa_scav_index *x, uint32_t lo, uint32_t hi,
                               sysmem_stat *stat);
void     pa_scav_index_publish(pa_scav_index *x, uint32_t lo);
int      pa_scav_index_grow(pa_scav_index *x, uint32_t lo, uint32_t hi,
                            sysmem_stat *stat);
/* Mark the chunks holding pages [base, limit) (addresses; limit > base).
 * The common one-chunk case is inline (every free calls it); the general
 * one is pa_scav_index_mark_range. */
void     pa_scav_index_mark_range(pa_scav_index *x, uintptr_t base, uintptr_t limit);
static inline void pa_scav_index_mark(pa_scav_index *x, uintptr_t base, uintptr_t limit)
{
    uintptr_t top = limit - PA_PAGE_SIZE;
    uint32_t ci = pa_chunk_index(base);
    if (ci != pa_chunk_index(top)) {
        pa_scav_index_mark_range(x, base, limit);
        return;
    }
    x->bits.words[ci / 64] |= (uint64_t)1 << (ci % 64);
    if (x->search < top) {
        x->search = top;
        x->marked = 1;
    }
}
/* pa_scav_index_mark of a range over two chunks or more (a multi-chunk
 * free): one masked OR when its chunks share an index word. */
static inline void pa_scav_index_mark_chunks(pa_scav_index *x, uintptr_t base, uintptr_t limit)
{
    uintptr_t top = limit - PA_PAGE_SIZE;
    uint32_t ci = pa_chunk_index(base), last = pa_chunk_index(top);
    if (ci / 64 != last / 64) {
        pa_scav_index_mark_range(x, base, limit);
        return;
    }
    x->bits.words[ci / 64] |= (~(uint64_t)0 >> (63 - (last - ci))) << (ci % 64);
    if (x->search < top) {
        x->search = top;
        x->marked = 1;
    }
}
/* Highest marked chunk at or below search; returns its index and in *page
 * the page to start searching down from (search's page if it is in that
 * chunk, else 511). Returns 0 if none (and clears search). */
uint32_t pa_scav_index_find(pa_scav_index *x, unsigned *page);
/* The chunk has no more pages to scavenge. */
void     pa_scav_index_clear(pa_scav_index *x, uint32_t ci);

#endif /* PAGEALLOC_SCAVINDEX_H */
