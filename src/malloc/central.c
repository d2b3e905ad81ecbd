/*
 * central.c - spans and the per-class central lists (mheap.h has the
 * rules: who owns a span, who may write its bitmap, how remote frees are
 * collected).
 */
#include <errno.h>
#include <string.h>

#include "malloc/mheap.h"
#include "pageheap/heap.h"

/* ---- One span ---------------------------------------------------------------- */

void pa_span_collect(pa_span *s)
{
    if (atomic_load_explicit(&s->remote_count, memory_order_acquire) == 0)
        return;
    uint32_t n = 0, freed = 0;
    for (uint32_t w = 0; w < s->nwords; w++) {
        if (atomic_load_explicit(&s->words[w].remote, memory_order_relaxed) == 0)
            continue;
        uint64_t r = atomic_exchange_explicit(&s->words[w].remote, 0, memory_order_acq_rel);
        n += pa_popcount64(r);
        uint64_t twice = r & atomic_load_explicit(&s->words[w].held, memory_order_relaxed);
        if (twice) {
            /* Freed remotely while on the owner's stack: a double free
             * the remote free could not see (the two raced). The stack
             * keeps the object. */
            for (uint64_t t = twice; t; t &= t - 1)
                pa_malloc_report("free", (void *)(s->base + ((size_t)w * 64 +
                                 (unsigned)__builtin_ctzll(t)) * s->elemsize), s->cls,
                                 "object already freed (double free?)");
            r &= ~twice;
        }
        uint64_t a = atomic_load_explicit(&s->words[w].alloc, memory_order_relaxed);
        atomic_store_explicit(&s->words[w].alloc, a & ~r, memory_order_relaxed);
        freed += pa_popcount64(r);
        if ((int32_t)w == s->cw)
            s->cache |= r;              /* free again in the cursor's word */
    }
    atomic_fetch_sub_explicit(&s->remote_count, n, memory_order_relaxed);
    atomic_store_explicit(&s->nalloc, atomic_load_explicit(&s->nalloc, memory_order_relaxed) - freed,
                          memory_order_relaxed);
}

/* Free bits of word w (1 = free), past the last object masked off. */
static uint64_t free_bits(const pa_span *s, uint32_t w)
{
    uint64_t f = ~atomic_load_explicit(&s->words[w].alloc, memory_order_relaxed);
    uint32_t first = w * 64;
    if (s->nelems - first < 64)
        f &= ((uint64_t)1 << (s->nelems - first)) - 1;
    return f;
}

void pa_span_rewind(pa_span *s)
{
    s->cw = 0;
    s->cache = free_bits(s, 0);
}

void *pa_span_alloc_slow(pa_span *s)
{
    for (int pass = 0; pass < 2; pass++) {
        while (s->cache == 0 && (uint32_t)s->cw + 1 < s->nwords) {
            s->cw++;
            s->cache = free_bits(s, (uint32_t)s->cw);
        }
        if (s->cache)
            return pa_span_alloc_fast(s);
        /* The cursor is at the end: objects freed behind it, locally or
         * remotely, are found by a rescan. */
        pa_span_collect(s);
        if (atomic_load_explicit(&s->nalloc, memory_order_relaxed) >= s->nelems)
            return NULL;
        pa_span_rewind(s);
    }
    return NULL;
}

/* A new span of class c from the page heap, owned by owner; NULL and
 * errno set if there is no memory. No lock needed. */
static pa_span *span_new(pa_mheap *mh, unsigned c, pa_tcache *owner)
{
    const pa_class_info *ci = &pa_classes[c];
    pa_span *s = pa_span_record(&mh->span_recs);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    void *mem = pageheap_alloc(mh->pages, ci->npages);
    if (!mem) {
        pa_fixalloc_free(&mh->span_recs, s);
        return NULL;                    /* errno from the page heap */
    }
    s->base = (uintptr_t)mem;
    s->npages = ci->npages;
    __atomic_store_n(&s->cls, (uint16_t)c, __ATOMIC_RELAXED);
    s->nelems = (uint16_t)ci->nelems;
    s->elemsize = ci->size;
    s->divmagic = ci->divmagic;
    s->nwords = (ci->nelems + 63) / 64;
    s->state = owner ? PA_SPAN_CACHED : PA_SPAN_PARTIAL;
    atomic_store_explicit(&s->owner, owner, memory_order_relaxed);
    pa_span_rewind(s);
    if (pa_spanmap_set(mh, s->base, s->npages, s) != 0) {
        pageheap_free(mh->pages, mem, ci->npages);
        pa_fixalloc_free(&mh->span_recs, s);
        errno = ENOMEM;
        return NULL;
    }
    atomic_fetch_add_explicit(&mh->central[c].spans, 1, memory_order_relaxed);
    return s;
}

/* Give a wholly free span's pages back; unlinked, central lock or owner. */
void pa_span_release(pa_mheap *mh, pa_span *s)
{
    s->state = PA_SPAN_DEAD;            /* a late remote event skips it */
    (void)pa_spanmap_set(mh, s->base, s->npages, NULL);
    atomic_fetch_sub_explicit(&mh->central[s->cls].spans, 1, memory_order_relaxed);
    pageheap_free(mh->pages, (void *)s->base, s->npages);
    s->base = 0;
    pa_fixalloc_free(&mh->span_recs, s);
}

/* ---- Central lists --------------------------------------------------------------- */

static void list_push(pa_span **head, pa_span *s)
{
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
}

static void list_remove(pa_span **head, pa_span *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        *head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

/* File an unowned span by its state after collecting (or release it if
 * it is wholly free and the class has a partial span); central lock held. */
static void file_span(pa_mheap *mh, pa_central *ce, pa_span *s)
{
    pa_span_collect(s);
    uint32_t n = atomic_load_explicit(&s->nalloc, memory_order_relaxed);
    if (n == 0 && ce->partial) {         /* keep one free span per class */
        pa_span_release(mh, s);
        return;
    }
    if (n < s->nelems) {
        s->state = PA_SPAN_PARTIAL;
        list_push(&ce->partial, s);
    } else {
        s->state = PA_SPAN_FULL;
        list_push(&ce->full, s);
    }
}

void pa_central_give(pa_mheap *mh, pa_span *s)
{
    pa_central *ce = &mh->central[s->cls];
    pthread_mutex_lock(&ce->mu);
    atomic_store_explicit(&s->owner, NULL, memory_order_release);
    file_span(mh, ce, s);
    pthread_mutex_unlock(&ce->mu);
}

/* An unowned span with a free object, unlinked, or NULL; central lock. */
static pa_span *find_free(pa_central *ce)
{
    while (ce->partial) {
        pa_span *s = ce->partial;
        list_remove(&ce->partial, s);
        pa_span_collect(s);
        if (atomic_load_explicit(&s->nalloc, memory_order_relaxed) < s->nelems)
            return s;
        s->state = PA_SPAN_FULL;
        list_push(&ce->full, s);
    }
    /* Full spans that remote frees have reached since (bounded look). */
    int looked = 0;
    for (pa_span *s = ce->full, *n; s && looked < 16; s = n, looked++) {
        n = s->next;
        if (atomic_load_explicit(&s->remote_count, memory_order_acquire) == 0)
            continue;
        /* A counted free may not have set its bit yet: take the span only
         * if collecting freed an object. */
        pa_span_collect(s);
        if (atomic_load_explicit(&s->nalloc, memory_order_relaxed) < s->nelems) {
            list_remove(&ce->full, s);
            return s;
        }
    }
    return NULL;
}

pa_span *pa_central_take(pa_mheap *mh, unsigned c, pa_tcache *tc)
{
    pa_central *ce = &mh->central[c];
    pthread_mutex_lock(&ce->mu);
    pa_span *s = find_free(ce);
    if (s) {
        s->state = PA_SPAN_CACHED;
        atomic_store_explicit(&s->owner, tc, memory_order_release);
        pthread_mutex_unlock(&ce->mu);
        pa_span_rewind(s);
        return s;
    }
    pthread_mutex_unlock(&ce->mu);
    if (__builtin_expect(mh->restart_scavenger, 0)) {
        mh->restart_scavenger = 0;          /* a child after fork */
        (void)ph_start_scavenger(mh->pages);
    }
    return span_new(mh, c, tc);
}

void pa_central_remote_event(pa_mheap *mh, pa_span *s)
{
    unsigned c = __atomic_load_n(&s->cls, __ATOMIC_RELAXED);
    if (c == 0 || c >= PA_NCLASSES)
        return;                         /* the record was reused meanwhile */
    pa_central *ce = &mh->central[c];
    pthread_mutex_lock(&ce->mu);
    /* Re-check under the lock: a thread may have taken the span, a
     * concurrent event may have handled it, or it may have been released
     * and its record reused (a span changes class only through a release,
     * made under its class's lock: the same class means the lists of the
     * lock held are the span's). */
    uint8_t st = s->state;
    if (__atomic_load_n(&s->cls, __ATOMIC_RELAXED) == c &&
        atomic_load_explicit(&s->owner, memory_order_acquire) == NULL &&
        (st == PA_SPAN_PARTIAL || st == PA_SPAN_FULL)) {
        pa_span **list = s->state == PA_SPAN_FULL ? &ce->full : &ce->partial;
        list_remove(list, s);
        pa_span_collect(s);
        if (atomic_load_explicit(&s->nalloc, memory_order_relaxed) == 0) {
            pa_span_release(mh, s);
        } else {
            s->state = PA_SPAN_PARTIAL;
            list_push(&ce->partial, s);
        }
    }
    pthread_mutex_unlock(&ce->mu);
}

void *pa_central_alloc_one(pa_mheap *mh, unsigned c)
{
    pa_central *ce = &mh->central[c];
    pthread_mutex_lock(&ce->mu);
    pa_span *s = find_free(ce);
    if (s)
        s->state = PA_SPAN_CACHED;      /* detached: in no list, events skip it */
    pthread_mutex_unlock(&ce->mu);
    if (!s) {
        s = span_new(mh, c, NULL);
        if (!s)
            return NULL;
        s->state = PA_SPAN_CACHED;
    }
    /* Detached and unowned: nobody else writes its bitmap until filed. */
    pa_span_rewind(s);
    void *p = pa_span_alloc_slow(s);
    pthread_mutex_lock(&ce->mu);
    file_span(mh, ce, s);
    pthread_mutex_unlock(&ce->mu);
    return p;
}

size_t pa_central_trim(pa_mheap *mh)
{
    size_t bytes = 0;
    for (unsigned c = 1; c < PA_NCLASSES; c++) {
        pa_central *ce = &mh->central[c];
        pthread_mutex_lock(&ce->mu);
        for (pa_span **list = &ce->partial; ; list = &ce->full) {
            for (pa_span *s = *list, *n; s; s = n) {
                n = s->next;
                pa_span_collect(s);
                if (atomic_load_explicit(&s->nalloc, memory_order_relaxed) == 0) {
                    list_remove(list, s);
                    bytes += (size_t)s->npages * PA_PAGE;
                    pa_span_release(mh, s);
                }
            }
            if (list == &ce->full)
                break;
        }
        pthread_mutex_unlock(&ce->mu);
    }
    return bytes;
}
