/*
 * runmap.h - the run map's inline accessors (runcache.c has the map's
 * design and encoding; heap.h its entry type and constants): finding a
 * page's entry, a run's length code, and the exact count of a long run,
 * kept in the entries of its next pages. For the heap's
 * free path, its run caches and its checker.
 */
#ifndef PAGEALLOC_PAGEHEAP_RUNMAP_H
#define PAGEALLOC_PAGEHEAP_RUNMAP_H

#include "pageheap/heap.h"

/* The tagged chunk pointer of page a's chunk: its entries' address (a
 * multiple of PAGEALLOC_CHUNK_PAGES bytes) with the owning shard + 1 in
 * the low bits (PH_RM_OWNER), so that a free finds its run's entry and
 * its shard with one lookup instead of the chunk map's and the run map's
 * (heap.h, ph_map_get). 0 if not grown. a below 2^48 (the index is
 * masked, not checked). */
static inline uintptr_t ph_rm_chunk(pageheap *h, uintptr_t a)
{
    size_t ci = a >> 22;
    ph_rm_entry *_Atomic *l2 =
        atomic_load_explicit(&h->runmap[(ci >> PH_MAP_BITS) & (PH_MAP_L2 - 1)], memory_order_acquire);
    if (!l2)
        return 0;
    return (uintptr_t)atomic_load_explicit(&l2[ci & (PH_MAP_L2 - 1)], memory_order_acquire);
}

/* ph_rm_chunk for the fast free (a below 2^48): a missing level-2 block
 * reads as a chunk pointer of 0, a tag no shard has. Without the block
 * test's select: the test jumps to the end with 0. */
static inline __attribute__((always_inline)) uintptr_t ph_rm_chunk_below(pageheap *h, uintptr_t a)
{
    size_t ci = a >> 22;
    ph_rm_entry *_Atomic *l2 =
        atomic_load_explicit(&h->runmap[ci >> PH_MAP_BITS], memory_order_acquire);
    if (__builtin_expect(!l2, 0))
        return 0;
    return (uintptr_t)atomic_load_explicit(&l2[ci & (PH_MAP_L2 - 1)], memory_order_acquire);
}

/* The run map entry of page a (a grown page of the heap), or NULL. */
static inline ph_rm_entry *ph_rm_at(pageheap *h, uintptr_t a)
{
    uintptr_t c = ph_rm_chunk(h, a) & ~(uintptr_t)PH_RM_OWNER;
    return c ? &((ph_rm_entry *)c)[(a / PH_PAGE) & (PAGEALLOC_CHUNK_PAGES - 1)] : NULL;
}

/* The run map entry of page a in its chunk's tagged pointer c
 * (ph_rm_chunk) whose tag is owner (shard + 1; the caller tested it, so
 * that the result needs no test for NULL). */
static inline ph_rm_entry *ph_rm_entry_owned(uintptr_t c, unsigned owner, uintptr_t a)
{
    return &((ph_rm_entry *)(c - owner))[(a / PH_PAGE) & (PAGEALLOC_CHUNK_PAGES - 1)];
}

/* The run map code of an allocation of npages pages. */
static inline uint8_t ph_rm_code(size_t npages)
{
    return npages >= PH_RM_LONG ? PH_RM_LONG : (uint8_t)npages;
}

/* The entry of page k (1 <= k <= PH_RM_XBYTES) of the run whose first
 * page a has entry e; near: those pages lie in a's chunk. */
static inline ph_rm_entry *ph_rm_next(pageheap *h, ph_rm_entry *e, uintptr_t a, unsigned k,
                                      int near)
{
    return near ? e + k : ph_rm_at(h, a + k * PH_PAGE);   /* else the next chunk's */
}

static inline int ph_rm_near(uintptr_t a)
{
    return ((a / PH_PAGE) & (PAGEALLOC_CHUNK_PAGES - 1)) + PH_RM_XBYTES < PAGEALLOC_CHUNK_PAGES;
}

/* Whether the next two pages' entries lie in a's chunk. */
static inline int ph_rm_near2(uintptr_t a)
{
    return ((a / PH_PAGE) & (PAGEALLOC_CHUNK_PAGES - 1)) + 2 < PAGEALLOC_CHUNK_PAGES;
}

/* Write (clear 0) or zero (clear 1) the count entries of the PH_RM_LONG
 * run of npages pages at a: 6 bits each, low bits first, PH_RM_MORE on
 * all but the last (two entries up to 4095 pages). */
static inline void ph_rm_set_count(pageheap *h, ph_rm_entry *e, uintptr_t a, size_t npages,
                                   int clear)
{
    if (npages < 4096 && ph_rm_near2(a)) {      /* the common case, unrolled: two entries */
        uint8_t more = npages >> 6 ? PH_RM_MORE : 0;
        atomic_store_explicit(e + 1, clear ? 0 : (uint8_t)(PH_RM_CONT | more | (npages & 0x3f)),
                              memory_order_relaxed);
        if (more)
            atomic_store_explicit(e + 2, clear ? 0 : (uint8_t)(PH_RM_CONT | (npages >> 6)),
                                  memory_order_relaxed);
        return;
    }
    int near = ph_rm_near(a);
    size_t n = npages;
    for (unsigned k = 1; k <= PH_RM_XBYTES; k++) {
        uint8_t x = (uint8_t)(PH_RM_CONT | (n & 0x3f) | (n >> 6 ? PH_RM_MORE : 0));
        ph_rm_entry *y = ph_rm_next(h, e, a, k, near);
        if (y)                                 /* always: the run's pages are grown */
            atomic_store_explicit(y, clear ? 0 : x, memory_order_relaxed);
        n >>= 6;
        if (!n)
            break;
    }
}

/* The exact count of the PH_RM_LONG run at a, 0 if its entries are not
 * count entries. */
static inline size_t ph_rm_count(pageheap *h, ph_rm_entry *e, uintptr_t a)
{
    if (ph_rm_near2(a)) {                       /* up to 4095 pages, unrolled */
        uint8_t v1 = atomic_load_explicit(e + 1, memory_order_relaxed);
        if (!(v1 & PH_RM_CONT))
            return 0;
        if (!(v1 & PH_RM_MORE))
            return v1 & 0x3fu;
        uint8_t v2 = atomic_load_explicit(e + 2, memory_order_relaxed);
        if (!(v2 & PH_RM_CONT))
            return 0;
        if (!(v2 & PH_RM_MORE))
            return (v1 & 0x3fu) | (size_t)(v2 & 0x3f) << 6;
    }
    int near = ph_rm_near(a);
    size_t n = 0;
    for (unsigned k = 1; k <= PH_RM_XBYTES; k++) {
        ph_rm_entry *x = ph_rm_next(h, e, a, k, near);
        uint8_t v = x ? atomic_load_explicit(x, memory_order_relaxed) : 0;
        if (!(v & PH_RM_CONT))
            return 0;
        n |= (size_t)(v & 0x3f) << (6 * (k - 1));
        if (!(v & PH_RM_MORE))
            return n;
    }
    return 0;
}

/*
 * Whether the run at a (npages pages, entry e, a live allocation of its
 * chunk) has a free neighbour in the allocator, by policy
 * (PAGEHEAP_MERGE_NEXT or PAGEHEAP_MERGE_BOTH, h->rc_merge): a run cache
 * then gives it to the allocator, where it merges, rather than keeping it
 * (docs/heap.md "Merging frees"). Read from the run map alone, without a
 * lock: a guess, and either answer is correct (the run is kept or freed).
 * Neither side is looked at across its chunk's edge (there: not free).
 * - After the run: page a + npages's entry is 0 (a free page, or one a
 *   page cache holds). A run's first page, cached or not, or a long run's
 *   count entry, is not 0.
 * - Before it (PAGEHEAP_MERGE_BOTH): the nearest non-zero entry among the
 *   PH_RM_LOOKBACK pages below a is a short run's (code c, cached or not,
 *   at page a - k) that ends below a - 1 (c < k); a long run's code or
 *   count entry there covers page a - 1 (at least 63 pages, k <= 62). No
 *   non-zero entry within reach also counts as free: free pages, or a
 *   run longer than the reach (W5: treating those as allocated kept
 *   10 MB more of its peak).
 */
#define PH_RM_LOOKBACK 62u
static inline int ph_rm_next_free(const ph_rm_entry *e, uintptr_t a, size_t npages)
{
    /* At a chunk's edge (rarely: expected not to be, so that the entry's
     * load stays in line in the fast free) the answer is "not free". */
    return __builtin_expect(((a / PH_PAGE) & (PAGEALLOC_CHUNK_PAGES - 1)) + npages <
                                PAGEALLOC_CHUNK_PAGES, 1) &&
           atomic_load_explicit(e + npages, memory_order_relaxed) == 0;
}

static inline int ph_rm_prev_free(const ph_rm_entry *e, uintptr_t a)
{
    unsigned pg = (unsigned)((a / PH_PAGE) & (PAGEALLOC_CHUNK_PAGES - 1));
    unsigned reach = pg < PH_RM_LOOKBACK ? pg : PH_RM_LOOKBACK;
    for (unsigned k = 1; k <= reach; k++) {
        unsigned v = atomic_load_explicit(e - k, memory_order_relaxed);
        if (v)
            return !(v & PH_RM_CONT) && (v & ~PH_RM_CACHED) < k;
    }
    return reach > 0;
}

static inline int ph_rm_free_neighbour(const ph_rm_entry *e, uintptr_t a, size_t npages,
                                       int policy)
{
    return ph_rm_next_free(e, a, npages) ||
           (policy == PAGEHEAP_MERGE_BOTH && ph_rm_prev_free(e, a));
}

/* Record a live allocation of npages at a (run caches on). */
static inline void ph_rm_record(pageheap *h, uintptr_t a, size_t npages)
{
    ph_rm_entry *e = ph_rm_at(h, a);
    if (!e)
        return;
    uint8_t code = (uint8_t)npages;            /* ph_rm_code, without a second test */
    if (npages >= PH_RM_LONG) {
        ph_rm_set_count(h, e, a, npages, 0);
        code = PH_RM_LONG;
    }
    atomic_store_explicit(e, code, memory_order_release);
}

#endif /* PAGEALLOC_PAGEHEAP_RUNMAP_H */
