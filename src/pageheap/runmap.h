/*
 * runmap.h - the run map's inline accessors (runcache.c has the map's
 * design and encoding; heap.h its entry type and constants): finding a
 * page's entry, a run's length code, and the exact count of a long run,
 * kept in the entries of its next PH_RM_XBYTES pages. For the heap's
 * free path, its run caches and its checker.
 */
#ifndef PAGEALLOC_PAGEHEAP_RUNMAP_H
#define PAGEALLOC_PAGEHEAP_RUNMAP_H

#include "pageheap/heap.h"

/* The run map entry of page a (a grown page of the heap), or NULL. */
static inline ph_rm_entry *ph_rm_at(pageheap *h, uintptr_t a)
{
    size_t ci = a >> 22;
    ph_rm_entry *_Atomic *l2 =
        atomic_load_explicit(&h->runmap[(ci >> PH_MAP_BITS) & (PH_MAP_L2 - 1)], memory_order_acquire);
    if (!l2)
        return NULL;
    ph_rm_entry *c = atomic_load_explicit(&l2[ci & (PH_MAP_L2 - 1)], memory_order_acquire);
    return c ? &c[(a / PH_PAGE) & (PAGEALLOC_CHUNK_PAGES - 1)] : NULL;
}

/* The run map code of an allocation of npages pages. */
static inline uint8_t ph_rm_code(size_t npages)
{
    return npages >= PH_RM_LONG ? PH_RM_LONG : (uint8_t)npages;
}

/* The entry of page k of the run whose first page a has entry e. */
static inline ph_rm_entry *ph_rm_next(pageheap *h, ph_rm_entry *e, uintptr_t a, unsigned k)
{
    if (((a / PH_PAGE) & (PAGEALLOC_CHUNK_PAGES - 1)) + k < PAGEALLOC_CHUNK_PAGES)
        return e + k;
    return ph_rm_at(h, a + k * PH_PAGE);      /* the next chunk's entries */
}

/* Write (npages) or clear (0) the exact count of the PH_RM_LONG run at a. */
static inline void ph_rm_set_count(pageheap *h, ph_rm_entry *e, uintptr_t a, size_t npages)
{
    for (unsigned k = 1; k <= PH_RM_XBYTES; k++) {
        uint8_t x = npages ? (uint8_t)(PH_RM_CONT | ((npages >> (7 * (k - 1))) & 0x7f)) : 0;
        ph_rm_entry *y = ph_rm_next(h, e, a, k);
        if (y)                                 /* always: the run's pages are grown */
            atomic_store_explicit(y, x, memory_order_relaxed);
    }
}

/* The exact count of the PH_RM_LONG run at a, 0 if its entries are not
 * continuation entries. */
static inline size_t ph_rm_count(pageheap *h, ph_rm_entry *e, uintptr_t a)
{
    size_t n = 0;
    for (unsigned k = 1; k <= PH_RM_XBYTES; k++) {
        ph_rm_entry *x = ph_rm_next(h, e, a, k);
        uint8_t v = x ? atomic_load_explicit(x, memory_order_relaxed) : 0;
        if (!(v & PH_RM_CONT))
            return 0;
        n |= (size_t)(v & 0x7f) << (7 * (k - 1));
    }
    return n;
}

/* Record a live allocation of npages at a (run caches on). */
static inline void ph_rm_record(pageheap *h, uintptr_t a, size_t npages)
{
    ph_rm_entry *e = ph_rm_at(h, a);
    if (!e)
        return;
    if (npages >= PH_RM_LONG)
        ph_rm_set_count(h, e, a, npages);
    atomic_store_explicit(e, ph_rm_code(npages), memory_order_release);
}

#endif /* PAGEALLOC_PAGEHEAP_RUNMAP_H */
