/*
 * pagealloc.h - the page allocator: Go's pageAlloc (runtime/mpagealloc.go)
 * as a C library.
 *
 * A pagealloc manages runs of 8 KiB pages inside address ranges the caller
 * adds with pagealloc_grow. Allocation is address-ordered first fit: the
 * lowest run of npages free pages is returned, exactly as Go's allocator
 * would return it. Free pages are either resident or "scavenged" (returned
 * to the OS); pagealloc_scavenge returns free resident pages to the OS,
 * highest addresses first, and an allocation reports how many of its bytes
 * were scavenged so the caller can make them Ready again.
 *
 * Backed mode (the default) releases scavenged memory through the
 * OS-memory layer (sysmem_unused); the caller maps the grown ranges itself.
 * Unbacked mode (options.unbacked) never maps, touches or releases the
 * managed range: only the allocator's own metadata is real memory. Use it
 * for device memory, a reserved region, or any range with its own backing.
 *
 * Threads: a pagealloc is not thread-safe; the caller serialises every call
 * on one allocator (pageheap.h is the thread-safe heap built on it).
 *
 * Error convention: functions returning int return 0 or an errno value and
 * change nothing on error (pagealloc_grow says exactly what a failed grow
 * keeps: committed metadata). An invalid free (outside the heap, unaligned,
 * pages not allocated) is reported to the error handler, which by default
 * prints one line naming the call, the address, the page count and the
 * broken rule, and aborts.
 */
#ifndef PAGEALLOC_PAGEALLOC_H
#define PAGEALLOC_PAGEALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "sysmem.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PAGEALLOC_PAGE_SIZE   8192u
#define PAGEALLOC_CHUNK_PAGES 512u
#define PAGEALLOC_CHUNK_SIZE  (4u << 20)
#define PAGEALLOC_CACHE_PAGES 64u

typedef struct pagealloc pagealloc;

typedef struct pagealloc_options {
    int    unbacked;        /* nonzero: metadata only */
    size_t phys_page_size;  /* 0: detect */
    size_t huge_page_size;  /* 0: detect; SIZE_MAX: none */
    /* Chunks with at least this many pages in use are never scavenged, so
     * that dense chunks stay huge-page backed (Go 1.21 uses 496 of 512);
     * 0: no such rule (Go 1.19). */
    unsigned dense_pages;
} pagealloc_options;

/* NULL options: backed, detected page sizes. NULL and errno on failure:
 * EINVAL for a page size that is not a power of two in [4 KiB, 512 KiB]
 * or a huge page size that is not a power of two of at most 4 MiB. */
pagealloc *pagealloc_new(const pagealloc_options *opts);
void       pagealloc_delete(pagealloc *pa);

/* Add [base, base+size) to the heap: whole chunks (PAGEALLOC_CHUNK_SIZE),
 * so base and size must be chunk aligned (as Go's heap always grows); the
 * new pages start free and scavenged. EINVAL for an empty or unaligned
 * range, one beyond 48-bit addresses or one touching chunk 0; EEXIST for a
 * range that overlaps an already grown one; ENOMEM (or the OS layer's
 * error) if metadata cannot be committed. On that last failure the heap is
 * unchanged, but metadata pages committed before the failing step stay
 * committed and counted in pagealloc_stats.metadata_bytes: they are zero,
 * as unused metadata is, and a later grow over the same addresses reuses
 * them instead of committing them again. */
int        pagealloc_grow(pagealloc *pa, uintptr_t base, size_t size);

/* Lowest free run of npages pages; 0 if none (or npages == 0). *scav_bytes
 * (may be NULL) receives how many of its bytes were scavenged. */
uintptr_t  pagealloc_alloc(pagealloc *pa, size_t npages, size_t *scav_bytes);

/* Free npages pages at base (Go's free(base, n, scavenged=false)): the
 * pages become free and resident and the chunk is marked for scavenging. */
void       pagealloc_free(pagealloc *pa, uintptr_t base, size_t npages);

/* The same, for callers that handle errors themselves: returns 0, or
 * EINVAL (reporting nothing, changing nothing) for a free that
 * pagealloc_free would report: npages zero, base unaligned, the range
 * overflowing or outside the heap, or any of its pages not allocated. */
int        pagealloc_try_free(pagealloc *pa, uintptr_t base, size_t npages);

/* Return at least nbytes of free resident memory to the OS (Go's
 * scavenge(nbytes, nil)), highest addresses first; returns bytes released
 * (may exceed nbytes; less when nothing is left). */
size_t     pagealloc_scavenge(pagealloc *pa, size_t nbytes);

/* Two-phase scavenging, for callers that must not hold their lock across
 * the system call that releases memory. take finds the next run
 * pagealloc_scavenge would release (at most max_bytes, rounded up to whole
 * physical pages, possibly widened to a huge page), marks it allocated so
 * nobody else can have it, and returns its base and page count (0 when
 * nothing is left to scavenge). The caller releases the memory itself
 * (sysmem_unused), then calls done: released nonzero records the run as
 * scavenged; zero returns it as free and resident. Neither touches the
 * managed memory, in either mode. */
uintptr_t  pagealloc_scavenge_take(pagealloc *pa, size_t max_bytes, size_t *npages);
void       pagealloc_scavenge_done(pagealloc *pa, uintptr_t base, size_t npages, int released);
/* (A run from take always lies within one chunk.) */

/* Mark the chunks of [base, base+npages) as possibly holding free resident
 * pages, so that scavenging looks there (pagealloc_free does this itself;
 * a page-cache flush, as in Go, does not). The range must be in the heap. */
void       pagealloc_scavenge_mark(pagealloc *pa, uintptr_t base, size_t npages);

/* Page cache (Go's pageCache): a 64-page aligned block whose free pages are
 * taken from the allocator at once and handed out without touching it.
 * base == 0 is an empty cache. cache: 1 bits = free pages owned by the
 * cache; scav: 1 bits = those pages are scavenged. */
typedef struct pagealloc_cache { uintptr_t base; uint64_t cache; uint64_t scav; } pagealloc_cache;
pagealloc_cache pagealloc_alloc_to_cache(pagealloc *pa);
uintptr_t  pagealloc_cache_alloc(pagealloc_cache *c, size_t npages, size_t *scav_bytes);
void       pagealloc_cache_flush(pagealloc_cache *c, pagealloc *pa);

/* The one-page case of pagealloc_cache_alloc inlined into the caller: the
 * lowest page the cache owns, with no call. Any other request (2..64 pages,
 * an empty cache, a bad count) goes to the exported function, which stays
 * the one definition for the ABI: `(pagealloc_cache_alloc)(...)` or its
 * address always reaches it. Same answers and effects as the function;
 * define PAGEALLOC_NO_INLINE before including this header to call it
 * always. See docs/pagealloc.md#page-cache. */
#if defined(__GNUC__) && !defined(PAGEALLOC_NO_INLINE)
static inline uintptr_t pagealloc_cache_alloc_inline(pagealloc_cache *c, size_t npages,
                                                     size_t *scav_bytes)
{
    uint64_t cache = c->cache;
    if (__builtin_expect(npages != 1 || cache == 0, 0))
        return (pagealloc_cache_alloc)(c, npages, scav_bytes);
    uint64_t rest = cache & (cache - 1);           /* all but the lowest page */
    uint64_t bit = cache ^ rest;                   /* the lowest page */
    uint64_t scav = c->scav;
    if (scav_bytes)
        *scav_bytes = (scav & bit) ? PAGEALLOC_PAGE_SIZE : 0;
    c->cache = rest;
    c->scav = scav & ~bit;
    return c->base + (uintptr_t)(unsigned)__builtin_ctzll(cache) * PAGEALLOC_PAGE_SIZE;
}
#define pagealloc_cache_alloc(c, npages, scav_bytes) \
    pagealloc_cache_alloc_inline((c), (npages), (scav_bytes))
#endif

/* Statistics, computed exactly from the allocator's state. */
#define PAGEALLOC_STATS_VERSION 1
typedef struct pagealloc_stats {
    uint32_t version;          /* PAGEALLOC_STATS_VERSION */
    uint64_t heap_bytes;       /* bytes in grown chunks */
    uint64_t free_bytes;       /* free pages (scavenged or not) */
    uint64_t scavenged_bytes;  /* free pages returned to the OS */
    uint64_t metadata_bytes;   /* mapped metadata (summaries, chunk bitmaps, index) */
    uint64_t chunks;           /* grown chunks */
} pagealloc_stats;
void       pagealloc_get_stats(const pagealloc *pa, pagealloc_stats *out);

/* Full invariant check: every summary equals the one recomputed from the
 * bitmaps, scavenged pages are free, the search hint is below no free page,
 * the in-use ranges are sorted and disjoint. Returns 0, or EFAULT with a
 * one-line description of the first broken invariant written to msg. */
int        pagealloc_check(const pagealloc *pa, char *msg, size_t msg_size);


#ifdef __cplusplus
}
#endif
#endif /* PAGEALLOC_PAGEALLOC_H */
