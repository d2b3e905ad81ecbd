/*
 * tree.h - the summary tree's operations (tree.c): keeping the levels
 * above the chunk bitmaps up to date, and the first-fit search. The
 * representation (one flat array per level, dirty bits for the lazily
 * updated upper levels) is in internal.h and tree.c's header.
 *
 * Every function requires that the caller serialises calls on pa.
 */
#ifndef PAGEALLOC_PAGEALLOC_TREE_H
#define PAGEALLOC_PAGEALLOC_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "pagealloc/internal.h"

/* Re-summarise the chunks of [base, base+npages) after a change to their
 * bitmaps, and recount their runs (contig: every interior chunk was wholly
 * allocated or freed). */
void      pa_update(pagealloc *pa, uintptr_t base, size_t npages, int contig, int alloc);
/* Re-summarise chunk ci's leaf alone, its run counts already updated. */
void      pa_resummarize(pagealloc *pa, uint32_t ci);
/* The leaf updates of pa_update_run are inline, so that its single-chunk
 * case (nearly every call) costs no call. */

/* Mark the ancestors of leaf ci dirty, bottom up, until one already is. */
static inline void pa_mark_ancestors(pagealloc *pa, uintptr_t ci)
{
    for (int l = PA_LEVELS - 2; l >= 0; l--) {
        ci >>= PA_LEVEL_BITS;
        uint8_t *d = &pa->dirty[l][ci >> 3];
        uint8_t bit = (uint8_t)(1u << (ci & 7));
        if (*d & bit)
            return;
        *d |= bit;
    }
}

/* Write leaf c and keep the free-chunk index exact, but leave marking
 * its ancestors to the caller; whether the leaf changed. The leaf is
 * stored and the index bit set even when nothing changed (both are
 * idempotent): a test of s == old was a coin flip in core W1 (about a
 * third of the single-chunk updates leave the leaf as it was). */
static inline int pa_put_leaf(pagealloc *pa, uint32_t c, pa_sum s)
{
    pa_sum old = pa->sum[PA_LEVELS - 1][c];
    pa->sum[PA_LEVELS - 1][c] = s;
    if (s == PA_SUM_FREE_CHUNK || old == PA_SUM_FREE_CHUNK)
        pa_free_index_set(&pa->free_idx, c, s == PA_SUM_FREE_CHUNK);
    return s != old;
}

/* Every leaf write goes through here or pa_put_leaf: they keep the
 * free-chunk index exact. The ancestors are marked whether or not the
 * leaf changed: an entry marked dirty needlessly costs at most one merge
 * when a search reads it, and the mark's first test (is the parent dirty
 * already?) predicts well, where a test of whether the leaf changed was
 * a coin flip in core W1 (docs/pagealloc.md, "Branch-free search hint,
 * leaf marks and word masks"). */
static inline void pa_set_leaf(pagealloc *pa, uint32_t c, pa_sum s)
{
    (void)pa_put_leaf(pa, c, s);
    pa_mark_ancestors(pa, c);
}

/* The leaf of chunk c after [page, end) of it was wholly allocated or
 * freed; its run counts follow. */
static inline pa_sum pa_run_leaf(pagealloc *pa, uint32_t c, unsigned page, unsigned end,
                                 int alloc, unsigned below, unsigned above)
{
    pa_runcount *rc = pa_runs_of(pa, c);
    if (end - page == PA_CHUNK_PAGES) {
        pa_run_counts_flip(rc, !alloc);    /* it was wholly free (allocated) */
        return alloc ? 0 : PA_SUM_FREE_CHUNK;
    }
    pa_sum old = pa->sum[PA_LEVELS - 1][c];
    return alloc ? pa_sum_after_alloc(pa_chunk_of(pa, c)->alloc, old, rc, page, end - page)
                 : pa_sum_after_free(old, rc, page, end - page, below, above);
}

/* Leaf c, where c is next to a grown chunk (same_block: in its block of
 * 8, whose leaves are committed together); an uncommitted leaf (a gap
 * between grown ranges) reads as 0, which is what an ungrown chunk has. */
static inline pa_sum pa_leaf_near(const pagealloc *pa, uint32_t c, int same_block)
{
    if (!same_block) {
        uintptr_t p = (uintptr_t)c * sizeof(pa_sum) >> __builtin_ctzl(pa->os_page);
        /* Atomic: a grow's prepare may set bits now (growth.c). */
        if (!(__atomic_load_n(&pa->committed[PA_LEVELS - 1][p / 64], __ATOMIC_ACQUIRE) >>
              (p % 64) & 1))
            return 0;
    }
    return pa->sum[PA_LEVELS - 1][c];
}

/* pa_update_run for a range over two chunks or more. */
void      pa_update_run_chunks(pagealloc *pa, uintptr_t base, size_t npages, int alloc,
                               unsigned below, unsigned above);
/* The same as pa_update after a contiguous range was wholly allocated
 * (alloc) or wholly freed; faster, from each chunk's previous summary. For
 * a free, below and above are the free pages just below the range (in its
 * first chunk) and just above it (in its last). */
static inline void pa_update_run(pagealloc *pa, uintptr_t base, size_t npages, int alloc,
                                 unsigned below, unsigned above)
{
    uint32_t sc = pa_chunk_index(base);
    unsigned first = pa_chunk_page(base);
    if (npages <= PA_CHUNK_PAGES - first) {
        pa_set_leaf(pa, sc, pa_run_leaf(pa, sc, first, first + (unsigned)npages, alloc,
                                        below, above));
        return;
    }
    pa_update_run_chunks(pa, base, npages, alloc, below, above);
}

/* The maximal free run holding [base, base+npages) just after it was freed
 * (and pa_update_run), exactly, from the free-chunk index and the leaves:
 * its first page's address and its length in pages. below and above are
 * the free pages just below and above the range in its first and last
 * chunk, as for pa_update_run. */
void      pa_free_run_extent(pagealloc *pa, uintptr_t base, size_t npages, unsigned below,
                             unsigned above, uintptr_t *start, uintptr_t *len);
/* First fit of npages pages at or after from (the search hint, or the
 * hint of npages' size class when that is higher; in a grown range); 0 if
 * none. *new_search: if from is the search hint, a new one (no free page
 * below it), else the search hint as is. A search of 1023 pages or more
 * may raise size-class hints (tree.c, raise_passed_classes). */
uintptr_t pa_find(pagealloc *pa, uintptr_t from, size_t npages, uintptr_t *new_search);
/* pa_find for npages >= PA_LARGE_PAGES (1023): the free-chunk index
 * search, for callers that know the size is large. */
#define   PA_LARGE_PAGES (2 * PA_CHUNK_PAGES - 1)
uintptr_t pa_find_large(pagealloc *pa, uintptr_t from, size_t npages, uintptr_t *new_search);
/* Size in bytes of the dirty bitmaps of levels 0..3. */
#define   PA_DIRTY_BYTES(l) (((size_t)1 << (PA_L0_BITS + (l) * PA_LEVEL_BITS)) / 8)


#endif /* PAGEALLOC_PAGEALLOC_TREE_H */
