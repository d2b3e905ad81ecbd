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
/* The same after a contiguous range was wholly allocated (alloc) or
 * wholly freed; faster, from each chunk's previous summary. For a free,
 * below and above are the free pages just below the range (in its first
 * chunk) and just above it (in its last). */
void      pa_update_run(pagealloc *pa, uintptr_t base, size_t npages, int alloc,
                        unsigned below, unsigned above);
/* The maximal free run holding [base, base+npages) just after it was freed
 * (and pa_update_run), exactly, from the free-chunk index and the leaves:
 * its first page's address and its length in pages. below and above are
 * the free pages just below and above the range in its first and last
 * chunk, as for pa_update_run. */
void      pa_free_run_extent(pagealloc *pa, uintptr_t base, size_t npages, unsigned below,
                             unsigned above, uintptr_t *start, uintptr_t *len);
/* First fit of npages pages at or after from (a search or size-class
 * hint, in a grown range); 0 if none. *new_search: if from is the search
 * hint, a new one (no free page below it), else the search hint as is. */
uintptr_t pa_find(pagealloc *pa, uintptr_t from, size_t npages, uintptr_t *new_search);
/* Size in bytes of the dirty bitmaps of levels 0..3. */
#define   PA_DIRTY_BYTES(l) (((size_t)1 << (PA_L0_BITS + (l) * PA_LEVEL_BITS)) / 8)


#endif /* PAGEALLOC_PAGEALLOC_TREE_H */
