/*
 * map.c - the process-wide address map of held stacks: the 8 KiB page of
 * a stack's `lo` -> its record. Frees look their stack up here instead of
 * trusting the caller's pa_stack, and the overflow handler (in a signal
 * handler, so lock-free) finds the stack whose guard a fault hit.
 *
 * Representation: a two-level radix table over 48-bit addresses, keyed by
 * 16 KiB granule: the smallest run is one guard page and one stack page,
 * so the `lo` of two held stacks are at least 16 KiB apart and never share
 * a granule (halving the table's resident bytes against 8 KiB keys). The
 * granule number (34 bits) splits into 16 bits for the first level (an
 * array of 2^16 node pointers, 512 KiB, taken from the OS at first use)
 * and 18 bits for a node (2^18 record pointers, 2 MiB, covering 4 GiB).
 * Both come from sysmem_alloc zero-filled and become resident only where
 * written: one 4 KiB page of a node covers 8 MiB of stacks. Nodes are never
 * freed (address space is reused by the heap, and a handler may be
 * reading). Every slot is read and written atomically: writers (the
 * allocator that holds the run) store with release, readers load with
 * acquire; a node is installed with a compare-exchange, the loser giving
 * its copy back.
 *
 * Invariant: slot(granule(r->lo)) == r exactly while r is held. Lookups
 * compare r->lo, since a granule's slot answers for all of it.
 * st_map_guard looks at most max_guard pages above the faulting one.
 */
#include <errno.h>
#include <pthread.h>

#include "stack/stacks.h"

#define L2_BITS  18u
#define L1_BITS  16u
#define PAGE_SHIFT 14u                      /* the 16 KiB granule */
#define ADDR_BITS  48u

typedef _Atomic(st_rec *) st_slot;

static _Atomic(_Atomic(st_slot *) *) l1;   /* 2^L1_BITS node pointers */
_Static_assert(L1_BITS + L2_BITS + PAGE_SHIFT == 48, "the map covers 48-bit addresses");
_Static_assert((2 * PAGEALLOC_PAGE_SIZE) >> PAGE_SHIFT == 1, "a granule is the smallest run");
static sysmem_stat map_meta;                /* bytes of the table */
static pthread_mutex_t l1_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic size_t max_guard_pages;      /* largest guard published */

static _Atomic(st_slot *) *first_level(int create)
{
    _Atomic(st_slot *) *t = atomic_load_explicit(&l1, memory_order_acquire);
    if (t || !create)
        return t;
    pthread_mutex_lock(&l1_mu);
    t = atomic_load_explicit(&l1, memory_order_acquire);
    if (!t) {
        void *p;
        if (sysmem_alloc(sizeof(*t) << L1_BITS, &map_meta, &p) == 0) {
            t = p;
            atomic_store_explicit(&l1, t, memory_order_release);
        }
    }
    pthread_mutex_unlock(&l1_mu);
    return t;
}

static st_slot *slot_of(uintptr_t addr, int create)
{
    if (addr >> ADDR_BITS)
        return NULL;
    uintptr_t pn = addr >> PAGE_SHIFT;   /* granule number */
    _Atomic(st_slot *) *t = first_level(create);
    if (!t)
        return NULL;
    _Atomic(st_slot *) *e = &t[pn >> L2_BITS];
    st_slot *node = atomic_load_explicit(e, memory_order_acquire);
    if (!node && create) {
        void *p;
        size_t bytes = sizeof(st_slot) << L2_BITS;
        if (sysmem_alloc(bytes, &map_meta, &p) != 0)
            return NULL;
        st_slot *want = p, *expect = NULL;
        if (atomic_compare_exchange_strong_explicit(e, &expect, want, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            node = want;
        } else {
            sysmem_free(p, bytes, &map_meta);
            node = expect;
        }
    }
    return node ? &node[pn & (((uintptr_t)1 << L2_BITS) - 1)] : NULL;
}

int st_map_set(uintptr_t lo, st_rec *r)
{
    st_slot *s = slot_of(lo, r != NULL);
    if (!s)
        return r ? ENOMEM : 0;
    if (r) {
        size_t g = r->guard_pages;
        size_t m = atomic_load_explicit(&max_guard_pages, memory_order_relaxed);
        while (g > m && !atomic_compare_exchange_weak_explicit(&max_guard_pages, &m, g,
                                                                memory_order_relaxed,
                                                                memory_order_relaxed))
            ;
    }
    atomic_store_explicit(s, r, memory_order_release);
    return 0;
}

st_rec *st_map_get(uintptr_t addr)
{
    st_slot *s = slot_of(addr, 0);
    return s ? atomic_load_explicit(s, memory_order_acquire) : NULL;
}

st_rec *st_map_guard(uintptr_t addr)
{
    size_t m = atomic_load_explicit(&max_guard_pages, memory_order_relaxed);
    uintptr_t page = addr & ~(uintptr_t)(ST_PAGE - 1);
    for (size_t k = 1; k <= m; k++) {
        st_rec *r = st_map_get(page + k * ST_PAGE);
        if (r && st_rec_base(r) <= addr && addr < r->lo)
            return r;
    }
    return NULL;
}

void st_map_fork(int phase)
{
    if (phase == 0)
        pthread_mutex_lock(&l1_mu);
    else if (phase == 1)
        pthread_mutex_unlock(&l1_mu);
    else
        pthread_mutex_init(&l1_mu, NULL);
}
