/*
 * tcache.c - per-thread caches (Go's mcache): one current span per class,
 * found through one initial-exec thread-local pointer, so the fast path is
 * a TLS load, a test and the span's cursor.
 *
 * Life of a cache (pa_tcp): NULL (never used) -> PA_TC_NOCACHE while it
 * is set up (a record from the allocator's fixed-size allocator, the
 * pthread key's value, the registry; a malloc made meanwhile, e.g. by
 * pthread_setspecific itself, goes through the central lists) -> the
 * record -> PA_TC_NOCACHE again once the key's destructor gave the spans
 * back at thread exit (a late malloc or free from another destructor
 * works without a cache).
 */
#include <string.h>

#include "malloc/mheap.h"

__thread pa_tcache *pa_tcp __attribute__((tls_model("initial-exec")));

pa_tcache *pa_tcache_slow(pa_mheap *mh)
{
    if (pa_tcp)
        return NULL;                    /* being set up, or exited */
    pa_tcp = PA_TC_NOCACHE;             /* a malloc from what follows: no cache */
    pa_tcache *tc = pa_fixalloc_alloc_raw(&mh->tcache_recs, NULL);
    if (!tc)
        return NULL;                    /* stays cache-less */
    /* Zeroed up to the stacks, which are read only below their fill
     * (about 17 KiB left untouched: a fresh record's pages stay unfaulted
     * until a class's stack is used, docs/malloc.md "Resident floor"), and
     * field by field where a late remote free may write. */
    memset(tc, 0, offsetof(pa_tcache, lifo));
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        atomic_store_explicit(&tc->emptied[c], 0, memory_order_relaxed);
        atomic_store_explicit(&tc->remote_pending[c], 0, memory_order_relaxed);
    }
    atomic_store_explicit(&tc->any_emptied, 0, memory_order_relaxed);
    for (unsigned c = 1; c < PA_NCLASSES; c++)
        tc->cls[c].lifo_cap = pa_classes[c].lifo_cap;    /* >= 2: sizeclass.c */
    tc->mh = mh;
    if (pthread_setspecific(mh->key, tc) != 0) {
        pa_fixalloc_free(&mh->tcache_recs, tc);
        return NULL;                    /* no destructor: never cache */
    }
    pthread_mutex_lock(&mh->caches_mu);
    tc->prev = NULL;
    tc->next = mh->caches;
    if (mh->caches)
        mh->caches->prev = tc;
    mh->caches = tc;
    pthread_mutex_unlock(&mh->caches_mu);
    pa_tcp = tc;
    return tc;
}

static void fold(_Atomic uint64_t *dst, _Atomic uint64_t *src)
{
    atomic_fetch_add_explicit(dst, atomic_load_explicit(src, memory_order_relaxed),
                              memory_order_relaxed);
    atomic_store_explicit(src, 0, memory_order_relaxed);
}

void pa_tcache_flush(pa_mheap *mh, pa_tcache *tc)
{
    pa_tcache_drain(mh, tc);
    for (unsigned c = 1; c < PA_NCLASSES; c++) {
        pa_span *s = tc->cls[c].span;
        if (s) {
            tc->cls[c].span = NULL;
            pa_central_give(mh, s);
        }
        for (pa_span **list = &tc->partial[c]; ; list = &tc->full[c]) {
            while (*list) {
                s = *list;
                pa_clist_remove(list, s);
                pa_central_give(mh, s);
            }
            if (list == &tc->full[c])
                break;
        }
        tc->nspans[c] = tc->taken[c] = 0;
    }
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        /* The stacks are empty now (drained above): a pop was a
         * malloc and a free. */
        uint64_t pops = atomic_load_explicit(&tc->cls[c].pops, memory_order_relaxed);
        atomic_fetch_add_explicit(&mh->dead.cls[c].allocs, pops, memory_order_relaxed);
        atomic_fetch_add_explicit(&mh->dead.frees[c], pops, memory_order_relaxed);
        atomic_store_explicit(&tc->cls[c].pops, 0, memory_order_relaxed);
        fold(&mh->dead.cls[c].allocs, &tc->cls[c].allocs);
        fold(&mh->dead.frees[c], &tc->frees[c]);
    }
    fold(&mh->dead.large_allocs, &tc->large_allocs);
    fold(&mh->dead.large_frees, &tc->large_frees);
    fold(&mh->dead.large_bytes_in, &tc->large_bytes_in);
    fold(&mh->dead.large_bytes_out, &tc->large_bytes_out);
}

/* Release an owned span tc emptied (in none of its lists). */
static void release_owned(pa_mheap *mh, pa_tcache *tc, pa_span *s)
{
    tc->nspans[s->cls]--;
    pa_span_release(mh, s);
}

/* Look at every span of tc's full list of class c: fold in its remote
 * frees; one that has free objects moves to the partial list, one that is
 * empty goes back to the page heap (unless it would be the only partial
 * span: one spare is kept). */
static void sweep_full(pa_mheap *mh, pa_tcache *tc, unsigned c)
{
    pa_span *s = tc->full[c], *last = s->prev;
    for (;;) {
        pa_span *next = s->next;
        int done = s == last;
        if (atomic_load_explicit(&s->remote_count, memory_order_acquire) != 0) {
            pa_span_collect(s);
            if (atomic_load_explicit(&s->remote_count, memory_order_acquire) != 0)
                /* A free counted but not yet in the bits: look again later. */
                atomic_fetch_add_explicit(&tc->remote_pending[c], 1, memory_order_relaxed);
            uint32_t n = atomic_load_explicit(&s->nalloc, memory_order_relaxed);
            if (n < s->nelems) {
                pa_clist_remove(&tc->full[c], s);
                if (n == 0 && tc->partial[c]) {
                    release_owned(mh, tc, s);
                } else {
                    s->state = PA_SPAN_OWNED_PARTIAL;
                    pa_clist_push(&tc->partial[c], s);
                }
            }
        }
        if (done)
            break;
        s = next;
    }
}

/* Sweep the full lists of the classes in which remote frees emptied
 * spans of tc. */
static void sweep_emptied(pa_mheap *mh, pa_tcache *tc)
{
    atomic_store_explicit(&tc->any_emptied, 0, memory_order_relaxed);
    for (unsigned c = 1; c < PA_NCLASSES; c++)
        if (atomic_load_explicit(&tc->emptied[c], memory_order_relaxed) != 0) {
            atomic_store_explicit(&tc->emptied[c], 0, memory_order_relaxed);
            if (tc->full[c])
                sweep_full(mh, tc, c);
        }
}

pa_span *pa_tcache_refill(pa_mheap *mh, pa_tcache *tc, unsigned c)
{
    if (__builtin_expect(atomic_load_explicit(&tc->any_emptied, memory_order_acquire) != 0, 0))
        sweep_emptied(mh, tc);
    pa_span *old = tc->cls[c].span;
    if (old) {                          /* used up (pa_span_alloc_slow said so) */
        tc->cls[c].span = NULL;
        old->state = PA_SPAN_OWNED_FULL;
        pa_clist_push(&tc->full[c], old);
        tc->full[c] = old->next;        /* newest at the tail: look at older first */
    }
    pa_span *s = tc->partial[c];
    int pending = atomic_load_explicit(&tc->remote_pending[c], memory_order_acquire) != 0;
    if (s) {
        pa_clist_remove(&tc->partial[c], s);
    } else if (pending) {
        /* Owned full spans that remote frees have reached: look at a few,
         * rotating the list so that every span gets its turn. */
        for (int looked = 0; looked < 8 && tc->full[c]; looked++) {
            pa_span *f = tc->full[c];
            if (atomic_load_explicit(&f->remote_count, memory_order_acquire) != 0) {
                pa_span_collect(f);
                if (atomic_load_explicit(&f->nalloc, memory_order_relaxed) < f->nelems) {
                    pa_clist_remove(&tc->full[c], f);
                    s = f;
                    break;
                }
            }
            tc->full[c] = f->next;
        }
    }
    if (!s && pending && tc->full[c] && tc->taken[c] * 8 >= tc->nspans[c]) {
        tc->taken[c] = 0;
        atomic_store_explicit(&tc->remote_pending[c], 0, memory_order_relaxed);
        sweep_full(mh, tc, c);
        s = tc->partial[c];
        if (s)
            pa_clist_remove(&tc->partial[c], s);
    }
    if (s) {
        s->state = PA_SPAN_CACHED;
        pa_span_rewind(s);
    } else {
        s = pa_central_take(mh, c, tc);
        if (!s)
            return NULL;
        tc->nspans[c]++;
        tc->taken[c]++;
    }
    tc->cls[c].span = s;
    return s;
}

/* A local free left s (owned by tc, not its current span) with nalloc
 * objects: move it between tc's lists, or release it when empty. */
static void span_lists_update(pa_mheap *mh, pa_tcache *tc, pa_span *s)
{
    unsigned c = s->cls;
    uint32_t n = atomic_load_explicit(&s->nalloc, memory_order_relaxed);
    if (s->state == PA_SPAN_OWNED_FULL) {
        pa_clist_remove(&tc->full[c], s);
    } else if (n == 0 && s->next != s) {
        /* Empty, and another partial span is kept as the spare. */
        pa_clist_remove(&tc->partial[c], s);
    } else {
        return;                         /* stays in the partial list */
    }
    if (n == 0 && tc->partial[c]) {
        release_owned(mh, tc, s);
        return;
    }
    s->state = PA_SPAN_OWNED_PARTIAL;
    pa_clist_push(&tc->partial[c], s);
}

/* Stack entry e leaves the stack for good: its object is free in its
 * span (held and alloc bits clear), allocatable at once if it is in the
 * current span's cursor word; the span moves lists (or goes back to the
 * page heap) as the free requires. */
static void unhold(pa_mheap *mh, pa_tcache *tc, uint64_t e)
{
    pa_span *s = (pa_span *)(uintptr_t)(e & (((uint64_t)1 << PA_LIFO_SHIFT) - 1));
    size_t i = (size_t)(e >> PA_LIFO_SHIFT);
    pa_span_word *sw = &s->words[i / 64];
    uint64_t m = (uint64_t)1 << (i % 64);
    atomic_store_explicit(&sw->held, atomic_load_explicit(&sw->held, memory_order_relaxed) & ~m,
                          memory_order_relaxed);
    atomic_store_explicit(&sw->alloc, atomic_load_explicit(&sw->alloc, memory_order_relaxed) & ~m,
                          memory_order_relaxed);
    atomic_store_explicit(&s->nalloc, atomic_load_explicit(&s->nalloc, memory_order_relaxed) - 1,
                          memory_order_relaxed);
    if (s == tc->cls[s->cls].span) {
        if ((size_t)s->cw == i / 64)
            s->cache |= m;
    } else {
        span_lists_update(mh, tc, s);
    }
}

/* The k oldest entries of class c's stack go back to their spans. A span
 * emptied here is released: no other entry names it, as every entry's
 * object still counts in its span's nalloc. */
static void unhold_oldest(pa_mheap *mh, pa_tcache *tc, unsigned c, uint32_t k)
{
    uint64_t *st = tc->lifo[c];
    uint32_t n = atomic_load_explicit(&tc->cls[c].nlifo, memory_order_relaxed);
    for (uint32_t j = 0; j < k; j++)
        unhold(mh, tc, st[j]);
    memmove(st, st + k, (size_t)(n - k) * sizeof *st);
    atomic_store_explicit(&tc->cls[c].nlifo, n - k, memory_order_relaxed);
    /* The k frees, not counted when they were pushed (mheap.h). */
    atomic_store_explicit(&tc->frees[c],
                          atomic_load_explicit(&tc->frees[c], memory_order_relaxed) + k,
                          memory_order_relaxed);
}

void pa_tcache_spill(pa_mheap *mh, pa_tcache *tc, unsigned c)
{
    uint32_t n = atomic_load_explicit(&tc->cls[c].nlifo, memory_order_relaxed);
    unhold_oldest(mh, tc, c, n - n / 2);
}

void pa_tcache_drain(pa_mheap *mh, pa_tcache *tc)
{
    for (unsigned c = 1; c < PA_NCLASSES; c++)
        unhold_oldest(mh, tc, c, atomic_load_explicit(&tc->cls[c].nlifo, memory_order_relaxed));
}

/* The key's destructor: the thread is exiting. */
static void tcache_exit(void *arg)
{
    pa_tcache *tc = arg;
    pa_mheap *mh = tc->mh;
    pa_tcp = PA_TC_NOCACHE;             /* later mallocs of this thread: no cache */
    pthread_mutex_lock(&mh->caches_mu);
    if (tc->prev)
        tc->prev->next = tc->next;
    else
        mh->caches = tc->next;
    if (tc->next)
        tc->next->prev = tc->prev;
    pa_tcache_flush(mh, tc);           /* under caches_mu: stats see it once */
    pthread_mutex_unlock(&mh->caches_mu);
    pa_fixalloc_free(&mh->tcache_recs, tc);
}

int pa_tcache_key_create(pa_mheap *mh)
{
    return pthread_key_create(&mh->key, tcache_exit);
}
