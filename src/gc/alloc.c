/*
 * alloc.c - allocation from span classes and explicit free (Go's
 * mallocgc and mcentral.cacheSpan; spans.c has the spans, gcint.h the
 * invariants). A registered thread takes small scanned and atomic objects
 * from its cache without a lock (tcache.c has the design and its
 * invariants; the fast path is here); other small objects, and every
 * allocation of a thread that is not registered, take the class lock and
 * the class's current span. A failed
 * allocation returns NULL with errno; the pacing, the last collection and
 * the out-of-memory handler are the caller's (api.c), so this file never
 * calls up into a collection.
 */
#include <errno.h>
#include <string.h>

#include "gc/gcint.h"

/* Take a free object of s from its cursor; 1 and *idx, or 0 if full. */
static int span_take(gc_span *s, uint32_t *idx)
{
    for (uint32_t w = s->freeindex >> 6; w * 64 < s->nelems; w++) {
        uint64_t free = ~s->alloc[w];
        if (w == s->freeindex >> 6)
            free &= ~0ull << (s->freeindex & 63);
        if (!free)
            continue;
        uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(free);
        if (i >= s->nelems)
            break;
        s->alloc[w] |= 1ull << (i & 63);
        s->freeindex = i + 1;
        if (i >= s->hwm)
            s->hwm = i + 1;
        s->nalloc++;
        *idx = i;
        return 1;
    }
    s->freeindex = s->nelems;
    return 0;
}

static void *alloc_cached(gc_tcache *t, unsigned cl, unsigned kind, int *refilled)
{
    void *p = gc_tc_pop(t, cl, kind);
    return p ? p : gc_tcache_refill(t, cl, kind, refilled);
}

static void *alloc_small(size_t size, unsigned kind, int *refilled)
{
    unsigned cl = gc_size_class(size);
    if (kind < GC_TC_KINDS) {
        gc_tcache *t = gc_tc_self;
        if (__builtin_expect(t != NULL, 1) || (gc_self_registered() && (t = gc_tcache_attach())))
            return alloc_cached(t, cl, kind, refilled);
    }
    const pa_class_info *ci = &gc_classes[cl];
    gc_class *c = &gc_g.cls[cl * GC_KINDS + kind];
    uint32_t idx;
    gc_lock(&c->mu);
    gc_span *s = c->cur;                       /* swept: a cycle resets cur */
    if (!s || !span_take(s, &idx)) {
        *refilled = 1;
        s = gc_sweep_for_alloc(c);
        if (!s)
            s = gc_span_new(c, cl * GC_KINDS + kind, ci->npages, ci->size, ci->nelems, ci->divmagic);
        if (!s) {
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
        gc_nonfull_remove(c, s);
        c->cur = s;
        if (!span_take(s, &idx)) {                 /* cannot happen: s has room */
            pthread_mutex_unlock(&c->mu);
            errno = ENOMEM;
            return NULL;
        }
    }
    gc_sub(&gc_g.free_bytes, ci->size);
    /* The object's address must be in this frame before the lock goes: a
     * collection that stops this thread right after the unlock finds the
     * object allocated, and only a pointer to it keeps it. */
    void *volatile hold = (void *)(s->base + (uintptr_t)idx * ci->size);
    pthread_mutex_unlock(&c->mu);
    void *p = hold;
    if (!(kind & GC_KIND_NOSCAN))
        memset(p, 0, ci->size);
    gc_add(&gc_g.alloc_since, ci->size);
    gc_add(&gc_g.total_alloc, ci->size);
    return p;
}

static void *alloc_large(size_t size, unsigned kind)
{
    size_t npages = (size + GC_PAGE - 1) / GC_PAGE;
    if (npages > UINT32_MAX / GC_PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    gc_class *c = &gc_g.cls[kind];
    gc_lock(&c->mu);
    gc_span *s = gc_span_new(c, kind, npages, (uint32_t)(npages * GC_PAGE), 1, 0);
    void *volatile hold = NULL;                    /* as in alloc_small */
    uint32_t bytes = 0;
    if (s) {
        s->alloc[0] = 1;
        s->nalloc = 1;
        s->freeindex = 1;
        gc_sub(&gc_g.free_bytes, s->size);
        hold = (void *)s->base;
        bytes = s->size;
    }
    pthread_mutex_unlock(&c->mu);
    if (!s)
        return NULL;
    gc_add(&gc_g.alloc_since, bytes);
    gc_add(&gc_g.total_alloc, bytes);
    return hold;
}

void *gc_alloc_raw(size_t size, unsigned kind, int *refilled)
{
    if (size > PA_MAX_SMALL) {
        *refilled = 1;
        return alloc_large(size, kind);
    }
    return alloc_small(size, kind, refilled);
}

/* A free into a span the calling thread's cache owns (swept, class lock
 * held) puts the object back in the run, zeroed if scanned: it stays
 * allocated for the collector and the pacer, and is handed out again
 * first. 1 if it did. */
static int free_to_cache(gc_span *s, uint32_t i)
{
    gc_tcache *t = gc_tc_self;
    unsigned kind = s->spc & (GC_KINDS - 1);
    if (!t || !s->run || kind >= GC_TC_KINDS ||
        s->run != &t->run[(s->spc / GC_KINDS) * GC_TC_KINDS + kind])
        return 0;
    gc_run *r = s->run;
    if (!(kind & GC_KIND_NOSCAN))
        memset((void *)(s->base + (uintptr_t)i * s->size), 0, s->size);
    uint32_t w = i >> 6;
    atomic_store_explicit(&r->bits[w],
                          atomic_load_explicit(&r->bits[w], memory_order_relaxed) |
                              1ull << (i & 63),
                          memory_order_relaxed);
    if (w < r->w)
        r->w = w;
    __atomic_store_n(&r->taken, r->taken + 1, __ATOMIC_RELAXED);   /* not handed out */
    return 1;
}

void gc_free_obj(void *p, const char *call)
{
    uintptr_t a = (uintptr_t)p;
    gc_span *s = gc_span_lock(a);
    if (!s) {
        pa_report(call, a, 0, "not an object of the collector's heap");
        return;
    }
    gc_class *c = &gc_g.cls[s->spc];
    uint32_t i = gc_obj_index(s, a);
    uint32_t sg = atomic_load_explicit(&gc_g.sweepgen, memory_order_relaxed);
    int swept = s->sweepgen == sg;
    if (i >= s->nelems || a != s->base + (uintptr_t)i * s->size) {
        gc_span_unlock(s);
        pa_report(call, a, 0, "not the start of an object");
        return;
    }
    if (!gc_bit(s->alloc, i) || gc_cached(s, i)) {
        gc_span_unlock(s);
        pa_report(call, a, 0, "object not allocated (double free?)");
        return;
    }
    gc_fin_drop(a);
    if (swept && free_to_cache(s, i)) {
        gc_span_unlock(s);
        return;
    }
    s->alloc[i >> 6] &= ~(1ull << (i & 63));
    s->mark[i >> 6] &= ~(1ull << (i & 63));
    gc_add(&gc_g.freed_since, s->size);
    if (!swept) {
        gc_span_unlock(s);
        return;                                  /* the sweep counts it */
    }
    s->nalloc--;
    gc_add(&gc_g.free_bytes, s->size);
    if (i < s->freeindex)
        s->freeindex = i;
    if (s->run || c->cur == s)
        ;                                        /* a cache's or current: on no list */
    else if (s->nalloc == 0)
        gc_release_span(c, s);
    else
        gc_nonfull_push(c, s);
    pthread_mutex_unlock(&c->mu);
}
