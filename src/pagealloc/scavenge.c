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
 * pagealloc_scavenge releases in place: the allocator is serialised by
 * its caller for the whole call. In backed mode the run goes through
 * sysmem_unused; if that fails, scavenging stops there and the run stays
 * free and unscavenged. A heap that must not make the system call under
 * its lock uses the two-phase form, as Go does: take (the run is marked
 * allocated, so nobody else gets it), unlock, release, lock, done.
 *
 * Huge pages: with dense_pages set, a chunk with at least that many pages
 * in use is skipped and unmarked (a later free marks it again), so dense
 * chunks keep their huge pages.
 */
#include "pagealloc/internal.h"
#include "pagealloc/debug.h"
#include "pagealloc/heapapi.h"

/* Whether chunk c is dense enough to be left alone (huge-page policy). */
static int is_dense(const pagealloc *pa, const pa_chunk *c)
{
    if (pa->dense_pages == 0)
        return 0;
    return pa_bits_popcnt_range(c->alloc, 0, PA_CHUNK_PAGES) >= pa->dense_pages;
}

/*
 * The next run to scavenge, of at most max_bytes (rounded up to pages):
 * walks the scavenge index from the top, unmarking chunks that have no
 * candidate. Returns its base and *npages, or 0 when nothing is left.
 */
static uintptr_t next_candidate(pagealloc *pa, size_t max_bytes, unsigned *npages)
{
    size_t want = max_bytes / PA_PAGE_SIZE + (max_bytes % PA_PAGE_SIZE != 0);
    unsigned max = want > PA_CHUNK_PAGES ? PA_CHUNK_PAGES : (unsigned)want;
    for (;;) {
        unsigned page;
        uint32_t ci = pa_scav_index_find(&pa->scav, &page);
        if (ci == 0)
            return 0;
        pa_chunk *c = pa_chunk_of(pa, ci);
        unsigned start;
        if (pa_sum_max(pa_leaf_sum(pa, ci)) >= pa->min_scav_pages && !is_dense(pa, c) &&
            pa_find_scavenge_candidate(c->alloc, c->scav, PA_CHUNK_PAGES - 1,
                                       pa->min_scav_pages, max, pa->huge_pages,
                                       &start, npages))
            return pa_chunk_base(ci) + (uintptr_t)start * PA_PAGE_SIZE;
        pa_scav_index_clear(&pa->scav, ci);
    }
}

/* Record n pages at addr (one chunk) as released: their scavenged bits,
 * and their chunk's bit in the scavenged-chunk set (scavchunks.h). */
static void mark_released(pagealloc *pa, uintptr_t addr, unsigned n)
{
    uint32_t ci = pa_chunk_index(addr);
    pa_bits_set_range(pa_chunk_of(pa, ci)->scav, pa_chunk_page(addr), n);
    pa_scav_chunks_set(&pa->scav_chunks, ci);
}

PA_API size_t pagealloc_scavenge(pagealloc *pa, size_t nbytes)
{
    size_t released = 0;
    if (!pa_live(pa, "pagealloc_scavenge"))
        return 0;
    while (released < nbytes) {
        unsigned n;
        uintptr_t addr = next_candidate(pa, nbytes - released, &n);
        if (addr == 0)
            break;
        if (!pa->unbacked && sysmem_unused((void *)addr, (size_t)n * PA_PAGE_SIZE) != 0)
            break;     /* the OS refused: the run stays free and resident */
        mark_released(pa, addr, n);
        released += (size_t)n * PA_PAGE_SIZE;
    }
    PA_DEBUG_AFTER(pa, "pagealloc_scavenge", 0, released / PA_PAGE_SIZE);
    return released;
}

PA_API uintptr_t pagealloc_scavenge_take(pagealloc *pa, size_t max_bytes, size_t *npages)
{
    unsigned n = 0;
    *npages = 0;
    if (!pa_live(pa, "pagealloc_scavenge_take"))
        return 0;
    uintptr_t addr = max_bytes ? next_candidate(pa, max_bytes, &n) : 0;
    *npages = n;
    if (addr)
        (void)pa_alloc_range(pa, addr, n, NULL);   /* a candidate has no scavenged page */
    PA_DEBUG_AFTER(pa, "pagealloc_scavenge_take", addr, n);
    return addr;
}

PA_API void pagealloc_scavenge_done(pagealloc *pa, uintptr_t base, size_t npages, int released)
{
    if (!pa_live(pa, "pagealloc_scavenge_done"))
        return;
    /* It must be what take handed out: allocated pages inside one chunk
     * (a run given back twice, or freed meanwhile, would be handed out
     * twice). Only the first of these is visible here; the rest is the
     * caller's contract. */
    const char *rule = pa_free_violation(pa, base, npages);
    if (!rule && pa_chunk_index(base) != pa_chunk_index(base + npages * PA_PAGE_SIZE - 1))
        rule = "run spans chunks: not one from pagealloc_scavenge_take";
    if (rule) {
        pa_report("pagealloc_scavenge_done", base, npages, rule);
        return;
    }
    /* A run that could not be released is free and resident again, and its
     * chunk is marked so it is found again. */
    pa_free_range(pa, base, npages, released != 0);
    if (released)
        mark_released(pa, base, (unsigned)npages);
    PA_DEBUG_AFTER(pa, "pagealloc_scavenge_done", base, npages);
}
