/*
 * threads.c - per-thread caches of free stacks (Go's per-P stackcache;
 * stackcacherefill and stackcacherelease are in api.c's paths; this file
 * owns the caches' life).
 *
 * Each thread that uses an allocator gets an st_tcache (from the
 * allocator's fixed-size allocator) under the allocator's pthread key,
 * linked on the allocator's `threads` list (threads_mu). The cache belongs
 * to its thread (stacks.h): no lock is taken on the fast path, as a Go P
 * owns its stackcache. Others reach a cache only to read its atomic counts
 * for the statistics (under threads_mu, which keeps it from being freed)
 * or to set its flush_req, which the owner honours at its next allocation
 * or free (st_tcache_flush). When the thread exits, the key's destructor
 * (running on that thread) gives its stacks to the pools (the large list
 * to the large pool; beyond their bound: to the heap), adds its counters to `exited` and frees the cache.
 * Allocator deletion empties every cache and deletes the key; no thread
 * may use the allocator or be exiting meanwhile.
 *
 * The key is the cache's home; st_last (one per thread, initial-exec TLS)
 * remembers the last allocator the thread used and its cache, so the fast
 * path skips pthread_getspecific: it matches only while the allocator's
 * generation (unique per allocator made in the process) is the same, so a
 * new allocator at a deleted one's address never finds the old cache, and
 * it is cleared when the cache is freed on its own thread (exit, delete).
 */
#include <errno.h>

#include "stack/stacks.h"

__thread st_last_cache st_last __attribute__((tls_model("initial-exec")));

/* Forget tc as the calling thread's last cache. */
static void forget(st_tcache *tc)
{
    if (st_last.tc == tc)
        st_last = (st_last_cache){ 0 };
}

/* Detach every list of tc; returns the lists per order. Owner (or no
 * other thread running). */
static void detach(st_tcache *tc, st_rec *lists[ST_ORDERS + 1])
{
    for (unsigned o = 0; o <= ST_LARGE; o++) {
        lists[o] = tc->head[o];
        tc->head[o] = NULL;
        st_set_count(tc, o, 0);
    }
    atomic_store_explicit(&tc->large_bytes, 0, memory_order_relaxed);
}

static void unlink_tc(pa_stack_allocator *a, st_tcache *tc)
{
    if (tc->prev)
        tc->prev->next = tc->next;
    else
        a->threads = tc->next;
    if (tc->next)
        tc->next->prev = tc->prev;
    a->nthreads--;
}

static uint64_t ld(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Add tc's counters to c. */
static void add_counts(st_counts *c, st_tcache *tc)
{
    c->allocs += ld(&tc->allocs);
    c->frees += ld(&tc->frees);
    c->alloc_bytes += ld(&tc->alloc_bytes);
    c->free_bytes += ld(&tc->free_bytes);
    c->refills += ld(&tc->refills);
    c->flushes += ld(&tc->flushes);
}

void st_tcache_flush(pa_stack_allocator *a, st_tcache *tc)
{
    st_rec *lists[ST_ORDERS + 1];
    atomic_store_explicit(&tc->flush_req, 0, memory_order_relaxed);
    detach(tc, lists);
    st_bump(&tc->flushes, 1);
    for (unsigned o = 0; o <= ST_LARGE; o++)
        if (lists[o])
            st_pool_put(a, o, lists[o]);
}

static void on_thread_exit(void *arg)
{
    st_tcache *tc = arg;
    pa_stack_allocator *a = tc->owner;
    forget(tc);
    st_rec *lists[ST_ORDERS + 1];
    detach(tc, lists);
    pthread_mutex_lock(&a->threads_mu);
    add_counts(&a->exited, tc);
    unlink_tc(a, tc);
    pthread_mutex_unlock(&a->threads_mu);
    for (unsigned o = 0; o <= ST_LARGE; o++)
        st_pool_put(a, o, lists[o]);
    st_tcache_drop(a, tc);
}

st_tcache *st_tcache_new(pa_stack_allocator *a)
{
    int err;
    st_tcache_slot *slot = pa_fixalloc_alloc(&a->tcaches, &err);
    return slot ? &slot->tc : NULL;
}

void st_tcache_drop(pa_stack_allocator *a, st_tcache *tc)
{
    pa_fixalloc_free(&a->tcaches, (char *)tc - offsetof(st_tcache_slot, tc));
}

int st_threads_init(pa_stack_allocator *a)
{
    int err = pthread_key_create(&a->key, on_thread_exit);
    return err ? EAGAIN : 0;
}

st_tcache *st_tcache_get_slow(pa_stack_allocator *a)
{
    st_tcache *tc = pthread_getspecific(a->key);
    if (tc) {
        st_last = (st_last_cache){ .a = a, .gen = a->gen, .tc = tc };
        return tc;
    }
    tc = st_tcache_new(a);
    if (!tc)
        return NULL;
    tc->owner = a;
    if (pthread_setspecific(a->key, tc) != 0) {
        st_tcache_drop(a, tc);
        return NULL;
    }
    pthread_mutex_lock(&a->threads_mu);
    tc->prev = NULL;
    tc->next = a->threads;
    if (a->threads)
        a->threads->prev = tc;
    a->threads = tc;
    a->nthreads++;
    pthread_mutex_unlock(&a->threads_mu);
    st_overflow_thread();
    st_last = (st_last_cache){ .a = a, .gen = a->gen, .tc = tc };
    return tc;
}

/* Prepend the lists to *out. */
static void gather(st_rec *lists[ST_ORDERS + 1], st_rec **out)
{
    for (unsigned o = 0; o <= ST_LARGE; o++) {
        st_rec *l = lists[o];
        while (l) {
            st_rec *n = l->next;
            l->next = *out;
            *out = l;
            l = n;
        }
    }
}

st_rec *st_threads_drain(pa_stack_allocator *a)
{
    st_rec *all = NULL, *lists[ST_ORDERS + 1];
    st_tcache *own = pthread_getspecific(a->key);
    pthread_mutex_lock(&a->threads_mu);
    for (st_tcache *tc = a->threads; tc; tc = tc->next)
        if (tc != own)
            atomic_store_explicit(&tc->flush_req, 1, memory_order_relaxed);
    pthread_mutex_unlock(&a->threads_mu);
    if (own) {
        detach(own, lists);
        st_bump(&own->flushes, 1);
        gather(lists, &all);
    }
    return all;
}

st_rec *st_threads_fini(pa_stack_allocator *a)
{
    st_rec *all = NULL, *lists[ST_ORDERS + 1];
    pthread_mutex_lock(&a->threads_mu);
    while (a->threads) {
        st_tcache *tc = a->threads;
        detach(tc, lists);
        gather(lists, &all);
        unlink_tc(a, tc);
        forget(tc);
        st_tcache_drop(a, tc);
    }
    pthread_mutex_unlock(&a->threads_mu);
    pthread_key_delete(a->key);
    return all;
}

void st_threads_stats(pa_stack_allocator *a, pa_stack_stats *out)
{
    pthread_mutex_lock(&a->threads_mu);
    st_counts c = a->exited;
    out->threads = a->nthreads;
    for (st_tcache *tc = a->threads; tc; tc = tc->next) {
        add_counts(&c, tc);
        for (unsigned o = 0; o < ST_ORDERS; o++) {
            unsigned n = st_count(tc, o);
            out->cached += n;
            out->cached_bytes += (uint64_t)n * st_order_pages(o) * ST_PAGE;
        }
        out->cached += st_count(tc, ST_LARGE);
        out->cached_bytes += ld(&tc->large_bytes);
    }
    pthread_mutex_unlock(&a->threads_mu);
    out->allocs = c.allocs;
    out->frees = c.frees;
    out->refills = c.refills;
    out->flushes = c.flushes;
    out->live = c.allocs - c.frees;
    out->live_bytes = c.alloc_bytes - c.free_bytes;
}

void st_threads_after_fork(pa_stack_allocator *a)
{
    st_tcache *own = pthread_getspecific(a->key);
    st_tcache *tc = a->threads;
    while (tc) {
        st_tcache *next = tc->next;
        if (tc != own) {
            add_counts(&a->exited, tc);
            unlink_tc(a, tc);
            st_tcache_drop(a, tc);
        }
        tc = next;
    }
}
