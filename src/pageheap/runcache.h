/*
 * runcache.h - a run cache's bin operations, inline for the heap's fast
 * paths (alloc.c) and for runcache.c, which has the cache's design
 * (docs/heap.md, "Run caches"). ph_runcache in heap.h states the
 * invariants these keep: every used entry in exactly one bin (bin k for
 * k pages, 1 <= k <= PH_RC_BINS; bin 0 for longer runs), bit k-1 of
 * `nonempty` set iff bin k is not empty, `fill` the totals. Every bin
 * operation here runs under the owning thread's busy flag; the fill's
 * readers (rc_fill_*) and rc_may_keep, the owner's bound test, need not.
 */
#ifndef PAGEALLOC_PAGEHEAP_RUNCACHE_H
#define PAGEALLOC_PAGEHEAP_RUNCACHE_H

#include "pageheap/heap.h"

/* What a run of npages adds to a run cache's fill: one run, npages
 * pages. */
static inline uint64_t rc_fill_unit(size_t npages)
{
    return ((uint64_t)1 << PH_RC_FILL_SHIFT) + npages;
}

/* The runs and the pages of a run cache's fill. */
static inline uint64_t rc_fill_runs(uint64_t fill)
{
    return fill >> PH_RC_FILL_SHIFT;
}
static inline uint64_t rc_fill_pages(uint64_t fill)
{
    return fill & (((uint64_t)1 << PH_RC_FILL_SHIFT) - 1);
}

/* Whether t's run cache may take a run of npages, read by its owner
 * without the busy flag: only the owner adds runs (a flusher only takes
 * them away), so a "no" can only be stale the safe way (a run goes to the
 * allocator that could have been kept). Both bounds in one test of the
 * fill: runs (at most PH_RC_ENTRIES, a power of two) reach the bound iff
 * their bit RC_RUNS_BIT is set; pages + npages (each at most PH_RC_PAGES)
 * plus 2^RC_PAGES_BIT - 1 - PH_RC_PAGES, below 2^(RC_PAGES_BIT + 1) and
 * never carrying into the runs, exceed the bound iff their bit
 * RC_PAGES_BIT is set. */
#define RC_RUNS_BIT  6u                   /* 2^6 = PH_RC_ENTRIES */
#define RC_PAGES_BIT 10u                  /* 2^10 > PH_RC_PAGES */
_Static_assert(PH_RC_ENTRIES == 1u << RC_RUNS_BIT &&
                   PH_RC_PAGES < 1u << RC_PAGES_BIT &&
                   (2u << RC_PAGES_BIT) <= 1u << PH_RC_FILL_SHIFT,
               "rc_may_keep's one test does not fit the fill's fields");
static inline int rc_may_keep(ph_thread *t, size_t npages)
{
    uint64_t f = atomic_load_explicit(&t->rc.fill, memory_order_relaxed) + npages +
                 ((1u << RC_PAGES_BIT) - 1 - PH_RC_PAGES);
    return npages <= PH_RC_PAGES &&
           (f & ((1u << RC_PAGES_BIT) | (1u << (PH_RC_FILL_SHIFT + RC_RUNS_BIT)))) == 0;
}

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
    ctr_own_sub(&rc->fill, rc_fill_unit(r->npages));
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
    ctr_own_sub(&rc->fill, rc_fill_unit(b));
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
    ctr_own_add(&rc->fill, rc_fill_unit(npages));
}

#endif /* PAGEALLOC_PAGEHEAP_RUNCACHE_H */
