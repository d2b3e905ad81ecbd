/*
 * scavenge.c - returning free pages to the OS (Go's pageAlloc.scavenge,
 * mgcscavenge.go).
 *
 * Policy, as Go's: take the highest chunk the scavenge index marks; in it,
 * the highest run of free, unscavenged pages, in units of one physical
 * page (min_scav_pages), at most what is still wanted, widened downward
 * to a whole huge page when the run would otherwise split one; release it
 * and set its scavenged bits. A chunk with no candidate is unmarked.
 * Scavenging always searches a chunk from its top page; a hit leaves the
 * chunk marked (it may have more).
 *
 * Go marks the run allocated while it releases it, with the heap lock
 * dropped. This allocator is serialised by its caller for the whole call,
 * so the release happens in place. In backed mode the run goes through
 * sysmem_unused; if that fails, scavenging stops there and the run stays
 * free and unscavenged.
 */
#include "pagealloc_internal.h"

/* Scavenge one run from chunk ci, at most max_bytes (rounded up to pages).
 * Returns the bytes released (0: none; the chunk is unmarked), or
 * SIZE_MAX if the OS refused. */
static size_t scavenge_one(pagealloc *pa, uint32_t ci, size_t max_bytes)
{
    size_t want = max_bytes / PA_PAGE_SIZE + (max_bytes % PA_PAGE_SIZE != 0);
    unsigned max = want > PA_CHUNK_PAGES ? PA_CHUNK_PAGES : (unsigned)want;
    if (pa_sum_max(pa_leaf_sum(pa, ci)) >= pa->min_scav_pages) {
        pa_chunk *c = pa_chunk_of(pa, ci);
        unsigned start, n;
        if (pa_find_scavenge_candidate(c->alloc, c->scav, PA_CHUNK_PAGES - 1,
                                       pa->min_scav_pages, max, pa->huge_pages,
                                       &start, &n)) {
            uintptr_t addr = pa_chunk_base(ci) + (uintptr_t)start * PA_PAGE_SIZE;
            if (!pa->unbacked && sysmem_unused((void *)addr, (size_t)n * PA_PAGE_SIZE) != 0)
                return SIZE_MAX;
            pa_bits_set_range(c->scav, start, n);
            return (size_t)n * PA_PAGE_SIZE;
        }
    }
    pa_scav_index_clear(&pa->scav, ci);
    return 0;
}

PA_API size_t pagealloc_scavenge(pagealloc *pa, size_t nbytes)
{
    size_t released = 0;
    while (released < nbytes) {
        unsigned page;
        uint32_t ci = pa_scav_index_find(&pa->scav, &page);
        if (ci == 0)
            break;
        size_t r = scavenge_one(pa, ci, nbytes - released);
        if (r == SIZE_MAX)
            break;
        released += r;
    }
    return released;
}
