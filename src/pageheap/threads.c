/*
 * threads.c - the heap's per-thread records and their page caches.
 *
 * A ph_thread exists per (thread, heap), found through the heap's pthread
 * key and linked into the heap's registry (reg_mu). Records come from the
 * heap's fixed-size allocator (os/fixalloc.h), never from libc. A thread
 * is bound to the least-used shard when its record is made; its cache is
 * one 64-page block of that shard, used under the record's busy flag,
 * which is also the handshake that lets another thread flush the cache.
 */
#include <errno.h>
#include <string.h>

#include "pagealloc/debug.h"
#include "pageheap/heap.h"

static void cache_flush_locked(ph_shard *s, pagealloc_cache *c)
{
    /* A flushed cache does not mark the scavenge index (Go's flush does
     * not): mark the block when it returns resident pages, so that release
     * finds them. */
    uintptr_t base = c->base;
    int resident = (c->cache & ~c->scav) != 0;
    pagealloc_cache_flush(c, s->pa);
    if (resident)
        pagealloc_scavenge_mark(s->pa, base, PAGEALLOC_CACHE_PAGES);
    PA_DEBUG_AFTER(s->pa, "pagealloc_cache_flush", base, PAGEALLOC_CACHE_PAGES);
}

/* Return t's cache to its shard. t's busy flag held. */
static void thread_flush(pageheap *h, ph_thread *t)
{
    ph_rc_flush(h, t);
    if (t->cache.cache == 0)
        return;
    ph_shard *s = &h->shards[t->shard];
    ph_lock_take(&s->mu);
    cache_flush_locked(s, &t->cache);
    ph_lock_give(&s->mu);
    cache_publish(t);
}

static void fold_counters(ph_counters *dst, ph_counters *src)
{
    ctr_add(&dst->allocs, ld(&src->allocs));
    ctr_add(&dst->alloc_bytes, ld(&src->alloc_bytes));
    ctr_add(&dst->uncached, ld(&src->uncached));
    ctr_add(&dst->frees, ld(&src->frees));
    ctr_add(&dst->freed_bytes, ld(&src->freed_bytes));
}

/* heap.h says what it is. */
/* What ph_last.h holds when the thread has no heap to remember (at
 * first, after its exit, after pageheap_delete of its heap): never NULL,
 * so that `ph_last.h == h` alone proves h is not NULL, and the fast paths
 * (alloc.c, free.c) read h->id without first testing h and its magic
 * word: a handle equal to ph_last.h is a heap this thread used, and its
 * id, never reused, matches only while that heap lives (pageheap_delete
 * forgets it for the deleting thread, so its next call reads the magic
 * word and faults there; another thread's stale record faults at h->id,
 * as it did at the magic word). */
const uint64_t ph_last_none;
__thread ph_last_rec ph_last __attribute__((tls_model("initial-exec"))) = { .h = PH_LAST_NONE };

void ph_last_forget(const pageheap *h)
{
    if (ph_last.h == h)
        ph_last.h = PH_LAST_NONE;
}

/* The key destructor: the thread is exiting. */
void ph_thread_exit(void *arg)
{
    ph_thread *t = arg;
    pageheap *h = t->heap;
    if (ph_last.t == t)
        ph_last.h = PH_LAST_NONE;
    pthread_mutex_lock(&h->reg_mu);
    busy_lock(t);
    thread_flush(h, t);
    busy_unlock(t);
    fold_counters(&h->dead, &t->c);
    if (t->prev)
        t->prev->next = t->next;
    else
        h->threads = t->next;
    if (t->next)
        t->next->prev = t->prev;
    h->shards[t->shard].nthreads--;
    h->nthreads--;
    pthread_mutex_unlock(&h->reg_mu);
    pa_fixalloc_free(&h->thread_recs, t);
}

/* The calling thread's state, created on first use; NULL if it cannot be
 * (the caller then goes without a cache). */
ph_thread *ph_thread_find(pageheap *h)
{
    if (h->threadless)
        return NULL;
    ph_thread *t = pthread_getspecific(h->key);
    if (t) {
        ph_last = (ph_last_rec){ .h = h, .id = h->id, .t = t, .rc_id = h->runcache ? h->id : 0 };
        return t;
    }
    t = pa_fixalloc_alloc(&h->thread_recs, NULL);      /* zeroed */
    if (!t)
        return NULL;
    t->heap = h;
    pthread_mutex_lock(&h->reg_mu);
    unsigned best = 0;
    for (unsigned i = 1; i < h->nshards; i++)
        if (h->shards[i].nthreads < h->shards[best].nthreads)
            best = i;
    t->shard = best;
    t->rm_owner = best + 1;
    h->shards[best].nthreads++;
    h->nthreads++;
    t->next = h->threads;
    if (h->threads)
        h->threads->prev = t;
    h->threads = t;
    pthread_mutex_unlock(&h->reg_mu);
    if (pthread_setspecific(h->key, t) != 0) {
        ph_thread_exit(t);
        return NULL;
    }
    ph_last = (ph_last_rec){ .h = h, .id = h->id, .t = t, .rc_id = h->runcache ? h->id : 0 };
    return t;
}

PA_API void pageheap_flush_caches(pageheap *h)
{
    if (ph_heap_bad(h, "pageheap_flush_caches", 0, 0))
        return;
    pthread_mutex_lock(&h->reg_mu);
    for (ph_thread *t = h->threads; t; t = t->next) {
        busy_lock(t);
        thread_flush(h, t);
        busy_unlock(t);
    }
    pthread_mutex_unlock(&h->reg_mu);
}
