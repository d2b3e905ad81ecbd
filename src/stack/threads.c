/*
 * threads.c - per-thread caches of free stacks (Go's per-P stackcache,
 * stackcacherefill and stackcacherelease live in api.c's paths; this file
 * owns the caches' life).
 *
 * Each thread that uses an allocator gets an st_tcache (from the
 * allocator's fixed-size allocator) under the allocator's pthread key,
 * linked on the allocator's `threads` list. The cache's mutex is taken by
 * its thread on every allocation and free, so it is uncontended except
 * while pa_stack_release, pa_stack_get_stats or a thread exit walks the
 * caches. When the thread exits, the key's destructor gives its stacks to
 * the pools (beyond their bound: to the heap), adds its counters to
 * `exited` and frees the cache. Allocator deletion takes every cache's
 * stacks and deletes the key; a thread must not be exiting meanwhile.
 */
#include <errno.h>

#include "stack/stacks.h"

/* Detach every list of tc (tc->mu held); returns the lists per order. */
static void detach(st_tcache *tc, st_rec *lists[ST_ORDERS])
{
    for (unsigned o = 0; o < ST_ORDERS; o++) {
        lists[o] = tc->head[o];
        tc->head[o] = NULL;
        tc->count[o] = 0;
    }
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

static void on_thread_exit(void *arg)
{
    st_tcache *tc = arg;
    pa_stack_allocator *a = tc->owner;
    st_rec *lists[ST_ORDERS];
    pthread_mutex_lock(&a->threads_mu);
    pthread_mutex_lock(&tc->mu);
    detach(tc, lists);
    a->exited.allocs += tc->allocs;
    a->exited.frees += tc->frees;
    a->exited.alloc_bytes += tc->alloc_bytes;
    a->exited.free_bytes += tc->free_bytes;
    a->exited.refills += tc->refills;
    a->exited.flushes += tc->flushes;
    unlink_tc(a, tc);
    pthread_mutex_unlock(&tc->mu);
    pthread_mutex_unlock(&a->threads_mu);
    for (unsigned o = 0; o < ST_ORDERS; o++)
        st_pool_put(a, o, lists[o]);
    pthread_mutex_destroy(&tc->mu);
    pa_fixalloc_free(&a->tcaches, tc);
}

int st_threads_init(pa_stack_allocator *a)
{
    int err = pthread_key_create(&a->key, on_thread_exit);
    return err ? EAGAIN : 0;
}

st_tcache *st_tcache_get(pa_stack_allocator *a)
{
    st_tcache *tc = pthread_getspecific(a->key);
    if (tc)
        return tc;
    int err;
    tc = pa_fixalloc_alloc(&a->tcaches, &err);
    if (!tc)
        return NULL;
    if (pthread_mutex_init(&tc->mu, NULL) != 0) {
        pa_fixalloc_free(&a->tcaches, tc);
        return NULL;
    }
    tc->owner = a;
    if (pthread_setspecific(a->key, tc) != 0) {
        pthread_mutex_destroy(&tc->mu);
        pa_fixalloc_free(&a->tcaches, tc);
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
    return tc;
}

/* Prepend the lists to *out. */
static void gather(st_rec *lists[ST_ORDERS], st_rec **out)
{
    for (unsigned o = 0; o < ST_ORDERS; o++) {
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
    st_rec *all = NULL, *lists[ST_ORDERS];
    pthread_mutex_lock(&a->threads_mu);
    for (st_tcache *tc = a->threads; tc; tc = tc->next) {
        pthread_mutex_lock(&tc->mu);
        detach(tc, lists);
        tc->flushes++;
        pthread_mutex_unlock(&tc->mu);
        gather(lists, &all);
    }
    pthread_mutex_unlock(&a->threads_mu);
    return all;
}

st_rec *st_threads_fini(pa_stack_allocator *a)
{
    st_rec *all = NULL, *lists[ST_ORDERS];
    pthread_mutex_lock(&a->threads_mu);
    while (a->threads) {
        st_tcache *tc = a->threads;
        detach(tc, lists);
        gather(lists, &all);
        unlink_tc(a, tc);
        pthread_mutex_destroy(&tc->mu);
        pa_fixalloc_free(&a->tcaches, tc);
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
        pthread_mutex_lock(&tc->mu);
        c.allocs += tc->allocs;
        c.frees += tc->frees;
        c.alloc_bytes += tc->alloc_bytes;
        c.free_bytes += tc->free_bytes;
        c.refills += tc->refills;
        c.flushes += tc->flushes;
        for (unsigned o = 0; o < ST_ORDERS; o++) {
            out->cached += tc->count[o];
            out->cached_bytes += (uint64_t)tc->count[o] * st_order_pages(o) * ST_PAGE;
        }
        pthread_mutex_unlock(&tc->mu);
    }
    pthread_mutex_unlock(&a->threads_mu);
    out->allocs = c.allocs;
    out->frees = c.frees;
    out->refills = c.refills;
    out->flushes = c.flushes;
    out->live = c.allocs - c.frees;
    out->live_bytes = c.alloc_bytes - c.free_bytes;
}
