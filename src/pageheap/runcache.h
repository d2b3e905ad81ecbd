/*
 * runcache.h - a run cache's bin operations, inline for the heap's fast
 * paths (alloc.c) and for runcache.c, which has the cache's design
 * (docs/heap.md, "Run caches"). ph_runcache in heap.h states the
 * invariants these keep: every used entry in exactly one bin (bin k for
 * k pages, 1 <= k <= PH_RC_BINS; bin 0 for longer runs), bit k-1 of
 * `nonempty` set iff bin k is not empty, `runs` and `bytes` the totals.
 * Every function here runs under the owning thread's busy flag.
 */
#ifndef PAGEALLOC_PAGEHEAP_RUNCACHE_H
#define PAGEALLOC_PAGEHEAP_RUNCACHE_H

#include "pageheap/heap.h"

static inline unsigned rc_bin_of(size_t npages)
{
    return npages <= PH_RC_BINS ? (unsigned)npages : 0;
}

/* Push entry i (index + 1) onto its bin. */
static inline void rc_push(ph_runcache *rc, unsigned i)
{
    ph_run *r = &rc->e[i - 1];
    unsigned b = rc_bin_of(r->npages);
    r->next = rc->head[b];
    rc->head[b] = (uint16_t)i;
    if (b)
        rc->nonempty |= (uint64_t)1 << (b - 1);
}

/* Unlink entry i from bin b, whose predecessor is prev (0: i is the head). */
static inline void rc_unlink(ph_runcache *rc, unsigned b, unsigned prev, unsigned i)
{
    uint16_t next = rc->e[i - 1].next;
    if (prev)
        rc->e[prev - 1].next = next;
    else
        rc->head[b] = next;
    if (b && !rc->head[b])
        rc->nonempty &= ~((uint64_t)1 << (b - 1));
}

/* Take entry i, already unlinked from its bin, out of the cache: its
 * slot goes on the free list and the totals drop. Returns its base. */
static inline uintptr_t rc_release_entry(ph_runcache *rc, unsigned i)
{
    ph_run *r = &rc->e[i - 1];
    ctr_own_sub(&rc->runs, 1);
    ctr_own_sub(&rc->bytes, (uint64_t)r->npages * PH_PAGE);
    r->next = rc->freel;
    rc->freel = (uint16_t)i;
    return r->base;
}

/* The most recently cached run of exactly b pages (1 <= b <= PH_RC_BINS),
 * taken out of the cache, its run map entry in *rm; 0 if its bin is
 * empty. */
static inline uintptr_t rc_take_exact(ph_runcache *rc, unsigned b, ph_rm_entry **rm)
{
    unsigned i = rc->head[b];
    if (!i)
        return 0;
    ph_run *r = &rc->e[i - 1];
    uint16_t next = r->next;            /* rc_unlink and rc_release_entry, */
    rc->head[b] = next;                 /* knowing the run is b pages long */
    if (!next)
        rc->nonempty &= ~((uint64_t)1 << (b - 1));
    *rm = r->rm;
    ctr_own_sub(&rc->runs, 1);
    ctr_own_sub(&rc->bytes, (uint64_t)b * PH_PAGE);
    r->next = rc->freel;
    rc->freel = (uint16_t)i;
    uintptr_t base = r->base;
    if (!base)                          /* a cached run is never at 0: the */
        __builtin_unreachable();        /* caller's test of it is the bin's */
    return base;
}

/* Add the run [a, npages), whose run map entry is rm, to the cache; the
 * caller made sure it fits (fewer than PH_RC_ENTRIES runs, at most
 * PH_RC_PAGES pages after). */
static inline void rc_insert(ph_runcache *rc, uintptr_t a, size_t npages, ph_rm_entry *rm)
{
    unsigned i = rc->freel;
    if (i)
        rc->freel = rc->e[i - 1].next;
    else
        i = ++rc->hw;
    rc->e[i - 1].base = a;
    rc->e[i - 1].rm = rm;
    rc->e[i - 1].npages = (uint32_t)npages;
    rc_push(rc, i);
    ctr_own_add(&rc->runs, 1);
    ctr_own_add(&rc->bytes, npages * PH_PAGE);
}

#endif /* PAGEALLOC_PAGEHEAP_RUNCACHE_H */
