/*
 * api.c - pa_stack_alloc and pa_stack_free: the paths a stack takes.
 *
 * Allocation of a small order (Go's stackalloc with a stackcache):
 *   thread cache -> (empty: refill half the capacity from the order's
 *   pool, Go's stackcacherefill) -> (pool empty: a fresh run from the
 *   heap, run.c). Large: the thread's large list (a stack of exactly the
 *   size; Go has no per-P cache for these), then the large pool (exactly
 *   the size, Go's stackLarge, pool.c), else a fresh run from the heap.
 * Free (Go's stackfree): validate through the address map (the record
 * under the granule of s->lo must be this allocator's, with the same range,
 * and live: a compare-exchange LIVE -> FREE makes a double free lose),
 * then push on the thread cache; a cache over its capacity keeps the
 * most recently freed half and gives the rest to the pool (Go's
 * stackcacherelease). Large: to the front of the thread's large list;
 * while that list is over ST_LARGE_CACHE stacks or large_cache_bytes,
 * its oldest go to the large pool (beyond the pool's bound: the heap). A
 * stack larger than large_cache_bytes goes to the large pool at once.
 * A thread without a cache (its record could not be made) uses the pools
 * and the heap directly, counted in the direct_* counters.
 * The thread cache is the caller's own (threads.c): no lock, no atomic
 * read-modify-write on its fast path; the free's compare-exchange on the
 * record is the one locked instruction of a cached pair. A pending
 * flush request (pa_stack_release from another thread) is honoured first.
 * Heap calls run with no lock held.
 */
#include <errno.h>

#include "base/export.h"
#include "base/report.h"
#include "stack/stacks.h"

/* The order for size bytes and the stack pages it gets. */
static unsigned order_of(size_t size, size_t *pages)
{
    size_t p = (size + ST_PAGE - 1) / ST_PAGE;
    for (unsigned o = 0; o < ST_ORDERS; o++) {
        if (p <= st_order_pages(o)) {
            *pages = st_order_pages(o);
            return o;
        }
    }
    *pages = p;
    return ST_LARGE;
}

/* Pop a stack of order o from tc, refilling from the pool when empty. */
static st_rec *cache_pop(pa_stack_allocator *a, st_tcache *tc, unsigned o)
{
    if (!tc->head[o]) {
        size_t got;
        st_rec *l = st_pool_take(a, o, a->cache_max[o] / 2, &got);
        if (!l)
            return NULL;
        tc->head[o] = l;
        st_set_count(tc, o, (unsigned)got);
        st_bump(&tc->refills, 1);
    }
    st_rec *r = tc->head[o];
    tc->head[o] = r->next;
    st_set_count(tc, o, st_count(tc, o) - 1);
    r->next = NULL;
    return r;
}

/* Take a stack of exactly bytes from tc's large list, or NULL. */
static st_rec *large_pop(st_tcache *tc, size_t bytes)
{
    st_rec **pp = &tc->head[ST_LARGE];
    while (*pp && (*pp)->hi - (*pp)->lo != bytes)
        pp = &(*pp)->next;
    st_rec *r = *pp;
    if (r) {
        *pp = r->next;
        r->next = NULL;
        st_set_count(tc, ST_LARGE, st_count(tc, ST_LARGE) - 1);
        st_bump(&tc->large_bytes, (uint64_t)0 - bytes);
    }
    return r;
}

/* Push r on tc's large list; returns what the bounds evict (the oldest),
 * as a list for the large pool. */
static st_rec *large_push(pa_stack_allocator *a, st_tcache *tc, st_rec *r)
{
    size_t bytes = r->hi - r->lo;
    if (bytes > a->large_cache_bytes) {
        r->next = NULL;
        return r;
    }
    r->next = tc->head[ST_LARGE];
    tc->head[ST_LARGE] = r;
    unsigned n = st_count(tc, ST_LARGE) + 1;
    uint64_t held = atomic_load_explicit(&tc->large_bytes, memory_order_relaxed) + bytes;
    if (n <= ST_LARGE_CACHE && held <= a->large_cache_bytes) {
        st_set_count(tc, ST_LARGE, n);
        atomic_store_explicit(&tc->large_bytes, held, memory_order_relaxed);
        return NULL;
    }
    /* Keep the longest prefix within both bounds (r itself fits). */
    st_rec *last = r;
    unsigned keep = 1;
    uint64_t kept = bytes;
    while (last->next && keep < ST_LARGE_CACHE &&
           kept + (last->next->hi - last->next->lo) <= a->large_cache_bytes) {
        last = last->next;
        kept += last->hi - last->lo;
        keep++;
    }
    st_rec *evict = last->next;
    last->next = NULL;
    st_set_count(tc, ST_LARGE, keep);
    atomic_store_explicit(&tc->large_bytes, kept, memory_order_relaxed);
    st_bump(&tc->flushes, 1);
    return evict;
}

/* Count an allocation and give it an id. */
static uint64_t count_alloc(pa_stack_allocator *a, st_tcache *tc, size_t bytes)
{
    st_bump(&tc->allocs, 1);
    st_bump(&tc->alloc_bytes, bytes);
    if (tc->id_next == tc->id_end) {
        tc->id_next = atomic_fetch_add_explicit(&a->next_id, ST_ID_BLOCK, memory_order_relaxed);
        tc->id_end = tc->id_next + ST_ID_BLOCK;
    }
    return tc->id_next++;
}

PA_API int pa_stack_alloc(pa_stack_allocator *a, size_t size, pa_stack *out)
{
    if (!st_live(a) || !out || size == 0 || size > ST_MAX_BYTES)
        return EINVAL;
    size_t pages;
    unsigned o = order_of(size, &pages);
    size_t bytes = pages * ST_PAGE;
    st_tcache *tc = st_tcache_get(a);
    st_rec *r = NULL;
    uint64_t id = 0;
    if (tc) {
        if (atomic_load_explicit(&tc->flush_req, memory_order_relaxed))
            st_tcache_flush(a, tc);
        if (o < ST_ORDERS)
            r = cache_pop(a, tc, o);
        else
            r = large_pop(tc, bytes);
        if (r)
            id = count_alloc(a, tc, bytes);
    } else if (o < ST_ORDERS) {
        size_t got;
        r = st_pool_take(a, o, 1, &got);
    }
    if (!r && o == ST_LARGE && (r = st_large_take(a, pages)) != NULL && tc) {
        id = count_alloc(a, tc, bytes);
    } else if (!r) {
        int err;
        r = st_run_get(a, pages, o, &err);
        if (!r)
            return err;
        if (tc)
            id = count_alloc(a, tc, bytes);
    }
    if (!tc) {
        id = atomic_fetch_add_explicit(&a->next_id, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&a->direct_allocs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&a->direct_alloc_bytes, bytes, memory_order_relaxed);
    }
    atomic_store_explicit(&r->id, id, memory_order_relaxed);
    atomic_store_explicit(&r->state, ST_LIVE, memory_order_release);
    out->lo = (void *)r->lo;
    out->hi = (void *)r->hi;
    out->sp = (void *)(r->hi & ~(uintptr_t)15);
    out->size = r->hi - r->lo;
    out->guard = (void *)st_rec_base(r);
    out->id = id;
    return 0;
}

/* The live record of a for s, or NULL after reporting why not. */
static st_rec *validate(pa_stack_allocator *a, const pa_stack *s, const char *call)
{
    if (!st_live(a)) {
        pa_report(call, (uintptr_t)a, 0, "not a live stack allocator");
        return NULL;
    }
    if (!s) {
        pa_report(call, 0, 0, "NULL stack");
        return NULL;
    }
    uintptr_t lo = (uintptr_t)s->lo, hi = (uintptr_t)s->hi;
    size_t np = hi > lo ? (hi - lo) / ST_PAGE : 0;
    st_rec *r = st_map_get(lo);
    if (!r || r->lo != lo || r->hi != hi) {
        pa_report(call, lo, np, "not a stack of this allocator");
        return NULL;
    }
    if (r->owner != a) {
        pa_report(call, lo, np, "stack of another allocator");
        return NULL;
    }
    return r;
}

PA_API void pa_stack_free(pa_stack_allocator *a, const pa_stack *s)
{
    st_rec *r = validate(a, s, "pa_stack_free");
    if (!r)
        return;
    unsigned live = ST_LIVE;
    if (!atomic_compare_exchange_strong_explicit(&r->state, &live, ST_FREE, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        pa_report("pa_stack_free", r->lo, (r->hi - r->lo) / ST_PAGE,
                  "stack is not live (double free?)");
        return;
    }
    size_t bytes = r->hi - r->lo;
    unsigned o = r->order;
    st_tcache *tc = st_tcache_get(a);
    if (!tc) {
        atomic_fetch_add_explicit(&a->direct_frees, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&a->direct_free_bytes, bytes, memory_order_relaxed);
        if (o < ST_ORDERS)
            st_pool_put(a, o, r);
        else
            st_large_put(a, r);
        return;
    }
    if (atomic_load_explicit(&tc->flush_req, memory_order_relaxed))
        st_tcache_flush(a, tc);
    st_rec *spill = NULL;
    st_bump(&tc->frees, 1);
    st_bump(&tc->free_bytes, bytes);
    if (o < ST_ORDERS) {
        unsigned n = st_count(tc, o) + 1;
        r->next = tc->head[o];
        tc->head[o] = r;
        st_set_count(tc, o, n);
        if (n > a->cache_max[o]) {
            /* Keep the most recent half (warm pages); the rest goes. */
            unsigned keep = a->cache_max[o] / 2;
            st_rec *last = tc->head[o];
            for (unsigned i = 1; i < keep; i++)
                last = last->next;
            spill = last->next;
            last->next = NULL;
            st_set_count(tc, o, keep);
            st_bump(&tc->flushes, 1);
        }
    }
    if (o == ST_LARGE)
        spill = large_push(a, tc, r);
    if (spill)
        st_pool_put(a, o, spill);
}
