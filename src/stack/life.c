/*
 * life.c - pa_stack_allocator_new and pa_stack_allocator_delete.
 *
 * The allocator struct lives in OS memory (sysmem_alloc, charged to its
 * `meta` counter with the fixed-size allocators' blocks). New checks the
 * options, makes the heap unless one is given (background scavenger on),
 * and sets the per-order bounds: a thread cache holds at most
 * cache_bytes / stack size stacks of an order (at least 2), a pool
 * pool_bytes / stack size (at least 1), the large pool pool_bytes, a
 * thread's large list ST_LARGE_CACHE stacks and 16 * cache_bytes of them
 * (no more than pool_bytes), and attaches the allocator's statistics to
 * the heap's JSON as a section, and registers with the fork coordinator
 * (fork.c). Delete unregisters and detaches, takes every cached, pooled
 * and live stack back to the heap, deletes the thread key, and deletes the
 * heap if it made it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/export.h"
#include "stack/stacks.h"

#define DEF_CACHE ((size_t)256 << 10)
#define DEF_POOL  ((size_t)16 << 20)

static _Atomic uint64_t generations;       /* allocators made so far */

/* The allocator's own size, rounded to the OS page. */
static size_t self_bytes(void)
{
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    return (sizeof(pa_stack_allocator) + caps.page_size - 1) & ~(caps.page_size - 1);
}

/* Attach our section to the heap's JSON: "stacks", or "stacks_1".."stacks_3"
 * when other allocators share the heap; none if every name or slot is
 * taken (the stats stay readable through pa_stack_stats_json). */
static void attach_stats(pa_stack_allocator *a)
{
    for (unsigned i = 0; i < 4; i++) {
        char name[sizeof a->stats_name] = "stacks";
        if (i)
            snprintf(name, sizeof name, "stacks_%u", i);
        int err = pageheap_attach_stats(a->heap, name, st_stats_section, a);
        if (err == 0) {
            memcpy(a->stats_name, name, sizeof name);
            return;
        }
        if (err != EEXIST)
            return;
    }
}

PA_API pa_stack_allocator *pa_stack_allocator_new(const pa_stack_options *opts)
{
    pa_stack_options o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    if (o.guard_bytes > ST_MAX_GUARD || o.cache_bytes > ((size_t)1 << 30) ||
        o.pool_bytes > ((size_t)1 << 40)) {
        errno = EINVAL;
        return NULL;
    }
    size_t guard_pages = o.guard_bytes ? (o.guard_bytes + ST_PAGE - 1) / ST_PAGE : 1;
    size_t cache = o.cache_bytes ? o.cache_bytes : DEF_CACHE;
    size_t pool = o.pool_bytes ? o.pool_bytes : DEF_POOL;
    sysmem_stat meta = { 0 };
    void *p;
    int err = sysmem_alloc(self_bytes(), &meta, &p);
    if (err) {
        errno = err;
        return NULL;
    }
    pa_stack_allocator *a = p;
    a->meta = meta;
    a->guard_pages = guard_pages;
    atomic_store(&a->next_id, 1);
    a->gen = atomic_fetch_add(&generations, 1) + 1;
    for (unsigned i = 0; i < ST_ORDERS; i++) {
        size_t sz = st_order_pages(i) * ST_PAGE;
        a->cache_max[i] = cache / sz < 2 ? 2 : (unsigned)(cache / sz > 65536 ? 65536 : cache / sz);
        a->pools[i].max = pool / sz ? pool / sz : 1;
        pthread_mutex_init(&a->pools[i].mu, NULL);
    }
    a->large.max_bytes = pool;
    a->large_cache_bytes = 16 * cache < pool ? 16 * cache : pool;
    pthread_mutex_init(&a->large.mu, NULL);
    pthread_mutex_init(&a->threads_mu, NULL);
    pthread_mutex_init(&a->all_mu, NULL);
    /* Each record and each cache on cache lines of its own: two threads'
     * records side by side made every pair of both miss (stacks.h). */
    pa_fixalloc_init(&a->recs, sizeof(st_rec), ST_LINE, &a->meta);
    pa_fixalloc_init(&a->tcaches, sizeof(st_tcache_slot), ST_LINE, &a->meta);
    if (o.heap) {
        a->heap = o.heap;
    } else {
        a->heap = pageheap_new(&(pageheap_options){ .background_scavenger = 1 });
        a->own_heap = 1;
        if (!a->heap)
            err = errno ? errno : ENOMEM;
    }
    if (!err)
        err = st_threads_init(a);
    if (err) {
        if (a->own_heap && a->heap)
            pageheap_delete(a->heap);
        pa_fixalloc_destroy(&a->recs);
        pa_fixalloc_destroy(&a->tcaches);
        sysmem_free(a, self_bytes(), NULL);
        errno = err;
        return NULL;
    }
    a->magic = ST_MAGIC;
    attach_stats(a);
    st_fork_register(a);
    return a;
}

PA_API void pa_stack_allocator_delete(pa_stack_allocator *a)
{
    if (!st_live(a))
        return;
    st_fork_unregister(a);
    if (a->stats_name[0])
        (void)pageheap_detach_stats(a->heap, a->stats_name, a);
    st_run_put_list(a, st_threads_fini(a));
    st_run_put_list(a, st_pool_drain(a));
    /* Live stacks too: every record still held. */
    for (;;) {
        pthread_mutex_lock(&a->all_mu);
        st_rec *r = a->all;
        pthread_mutex_unlock(&a->all_mu);
        if (!r)
            break;
        st_run_put(a, r);
    }
    a->magic = 0;
    if (a->own_heap)
        pageheap_delete(a->heap);
    pa_fixalloc_destroy(&a->recs);
    pa_fixalloc_destroy(&a->tcaches);
    for (unsigned i = 0; i < ST_ORDERS; i++)
        pthread_mutex_destroy(&a->pools[i].mu);
    pthread_mutex_destroy(&a->large.mu);
    pthread_mutex_destroy(&a->threads_mu);
    pthread_mutex_destroy(&a->all_mu);
    sysmem_free(a, self_bytes(), NULL);
}
