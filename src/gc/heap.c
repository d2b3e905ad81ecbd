/*
 * heap.c - the collector's heap: spans of the collector's own page heap,
 * the page -> span map, allocation from span classes and explicit free
 * (Go's mheap.allocSpan/spanOf and mcentral.cacheSpan, with a lock per
 * span class in place of per-P caches; gcint.h has the invariants).
 *
 * Allocation of a small object takes its class lock, finds a free bit in
 * the class's current span from its cursor (freeindex), and else takes a
 * swept span with room (the class's nonfull list), else sweeps unswept
 * spans of the class until one has room (lazy sweeping, sweep.c), else a
 * new span from the page heap. Large objects (> 32 KiB) are spans of
 * their own. Scanned objects are zeroed after the lock is dropped (the
 * bits say allocated, so a collection meanwhile only scans stale words,
 * which is conservative and harmless).
 */
#include <errno.h>
#include <string.h>

#include "gc/gcint.h"

gc_state gc_g;

static int map_set(uintptr_t base, size_t npages, gc_span *s)
{
    for (uintptr_t a = base; a < base + npages * GC_PAGE;
         a = ((a >> GC_MAP_L1_SHIFT) + 1) << GC_MAP_L1_SHIFT) {
        size_t i = a >> GC_MAP_L1_SHIFT;
        if (i >= GC_MAP_L1_COUNT)
            return EINVAL;
        if (!s || atomic_load_explicit(&gc_g.map_l1[i], memory_order_acquire))
            continue;
        pthread_mutex_lock(&gc_g.map_mu);
        if (!atomic_load_explicit(&gc_g.map_l1[i], memory_order_relaxed)) {
            void *mem;
            int err = sysmem_alloc(GC_MAP_L2_COUNT * sizeof(gc_span *), &gc_g.meta, &mem);
            if (err) {
                pthread_mutex_unlock(&gc_g.map_mu);
                return err;
            }
            atomic_store_explicit(&gc_g.map_l1[i], (gc_span **)mem, memory_order_release);
        }
        pthread_mutex_unlock(&gc_g.map_mu);
    }
    for (size_t k = 0; k < npages; k++) {
        uintptr_t a = base + k * GC_PAGE;
        _Atomic(gc_span *) *l2 = (_Atomic(gc_span *) *)atomic_load_explicit(
            &gc_g.map_l1[a >> GC_MAP_L1_SHIFT], memory_order_acquire);
        if (l2)
            atomic_store_explicit(&l2[(a >> GC_PAGE_SHIFT) & (GC_MAP_L2_COUNT - 1)], s,
                                  memory_order_release);
    }
    if (s) {
        pthread_mutex_lock(&gc_g.map_mu);
        uintptr_t lo = atomic_load_explicit(&gc_g.heap_lo, memory_order_relaxed);
        uintptr_t hi = atomic_load_explicit(&gc_g.heap_hi, memory_order_relaxed);
        if (lo == 0 || base < lo)
            atomic_store_explicit(&gc_g.heap_lo, base, memory_order_relaxed);
        if (base + npages * GC_PAGE > hi)
            atomic_store_explicit(&gc_g.heap_hi, base + npages * GC_PAGE, memory_order_relaxed);
        pthread_mutex_unlock(&gc_g.map_mu);
    }
    return 0;
}

int gc_heap_init(void)
{
    pa_sizeclass_init();
    void *mem;
    int err = sysmem_alloc(GC_MAP_L1_COUNT * sizeof(gc_span **), &gc_g.meta, &mem);
    if (err)
        return err;
    gc_g.map_l1 = mem;
    pthread_mutex_init(&gc_g.map_mu, NULL);
    err = pa_fixalloc_init(&gc_g.span_recs, sizeof(gc_span), 64, &gc_g.meta);
    if (err)
        return err;
    for (unsigned i = 0; i < GC_NSPC; i++)
        pthread_mutex_init(&gc_g.cls[i].mu, NULL);
    /* The page heap's limit is soft (it scavenges to stay under); a hard
     * limit is the collector's own (span_new). */
    pageheap_options po = { .limit = gc_g.limit, .background_scavenger = 1 };
    gc_g.ph = pageheap_new(&po);
    return gc_g.ph ? 0 : errno;
}

void gc_lock_classes(void)
{
    for (unsigned i = 0; i < GC_NSPC; i++)
        pthread_mutex_lock(&gc_g.cls[i].mu);
}

void gc_unlock_classes(void)
{
    for (unsigned i = GC_NSPC; i-- > 0;)
        pthread_mutex_unlock(&gc_g.cls[i].mu);
}

static void nonfull_remove(gc_class *c, gc_span *s)
{
    if (!s->in_nonfull)
        return;
    if (s->nf_prev)
        s->nf_prev->nf_next = s->nf_next;
    else
        c->nonfull = s->nf_next;
    if (s->nf_next)
        s->nf_next->nf_prev = s->nf_prev;
    s->nf_next = s->nf_prev = NULL;
    s->in_nonfull = 0;
}

/* A new span of npages for class spc, in its class's list, swept; the
 * class lock held. NULL and errno on failure. */
static gc_span *span_new(gc_class *c, unsigned spc, size_t npages, uint32_t size,
                         uint32_t nelems, uint32_t divmagic)
{
    uint64_t limit = gc_ld(&gc_g.limit);
    if (gc_g.hard_limit && limit &&
        gc_ld(&gc_g.heap_bytes) + gc_g.meta.bytes + npages * GC_PAGE > limit) {
        errno = ENOMEM;
        return NULL;
    }
    int err = 0;
    gc_span *s = pa_fixalloc_alloc(&gc_g.span_recs, &err);
    if (!s) {
        errno = err ? err : ENOMEM;
        return NULL;
    }
    int scanned = !(spc & GC_KIND_NOSCAN);
    void *mem = scanned ? pageheap_alloc_zeroed(gc_g.ph, npages) : pageheap_alloc(gc_g.ph, npages);
    if (!mem) {
        err = errno;
        pa_fixalloc_free(&gc_g.span_recs, s);
        errno = err;
        return NULL;
    }
    s->base = (uintptr_t)mem;
    s->npages = (uint32_t)npages;
    s->size = size;
    s->nelems = nelems;
    s->divmagic = divmagic;
    s->spc = (uint16_t)spc;
    s->sweepgen = atomic_load_explicit(&gc_g.sweepgen, memory_order_relaxed);
    err = map_set(s->base, npages, s);
    if (err) {
        pageheap_free(gc_g.ph, mem, npages);
        pa_fixalloc_free(&gc_g.span_recs, s);
        errno = err;
        return NULL;
    }
    s->next = c->spans;
    if (c->spans)
        c->spans->prev = s;
    c->spans = s;
    c->nspans++;
    gc_add(&gc_g.heap_bytes, npages * GC_PAGE);
    gc_add(&gc_g.free_bytes, (uint64_t)size * nelems);
    return s;
}

void gc_release_span(gc_class *c, gc_span *s)
{
    nonfull_remove(c, s);
    if (c->cur == s)
        c->cur = NULL;
    if (c->sweep_pos == s)
        c->sweep_pos = s->next;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->spans = s->next;
    if (s->next)
        s->next->prev = s->prev;
    c->nspans--;
    (void)map_set(s->base, s->npages, NULL);
    gc_sub(&gc_g.heap_bytes, (uint64_t)s->npages * GC_PAGE);
    gc_sub(&gc_g.free_bytes, (uint64_t)s->size * (s->nelems - s->nalloc));
    pageheap_free(gc_g.ph, (void *)s->base, s->npages);
    s->dead = 1;
    pa_fixalloc_free(&gc_g.span_recs, s);
}

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
        s->nalloc++;
        *idx = i;
        return 1;
    }
    s->freeindex = s->nelems;
    return 0;
}

static void *alloc_small(size_t size, unsigned kind, int *refilled)
{
    unsigned cl = pa_size_class(size);
    const pa_class_info *ci = &pa_classes[cl];
    gc_class *c = &gc_g.cls[cl * GC_KINDS + kind];
    uint32_t idx;
    pthread_mutex_lock(&c->mu);
    gc_span *s = c->cur;                       /* swept: a cycle resets cur */
    if (!s || !span_take(s, &idx)) {
        *refilled = 1;
        s = gc_sweep_for_alloc(c);
        if (!s)
            s = span_new(c, cl * GC_KINDS + kind, ci->npages, ci->size, ci->nelems, ci->divmagic);
        if (!s) {
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
        nonfull_remove(c, s);
        c->cur = s;
        if (!span_take(s, &idx)) {                 /* cannot happen: s has room */
            pthread_mutex_unlock(&c->mu);
            errno = ENOMEM;
            return NULL;
        }
    }
    gc_sub(&gc_g.free_bytes, ci->size);
    pthread_mutex_unlock(&c->mu);
    void *p = (void *)(s->base + (uintptr_t)idx * ci->size);
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
    pthread_mutex_lock(&c->mu);
    gc_span *s = span_new(c, kind, npages, (uint32_t)(npages * GC_PAGE), 1, 0);
    if (s) {
        s->alloc[0] = 1;
        s->nalloc = 1;
        s->freeindex = 1;
        gc_sub(&gc_g.free_bytes, s->size);
    }
    pthread_mutex_unlock(&c->mu);
    if (!s)
        return NULL;
    gc_add(&gc_g.alloc_since, s->size);
    gc_add(&gc_g.total_alloc, s->size);
    return (void *)s->base;
}

void *gc_alloc(size_t size, unsigned kind)
{
    if (!gc_g.inited && gc_ensure_init() != 0)
        return NULL;
    for (int attempt = 0;; attempt++) {
        int refilled = 0;
        void *p = size <= PA_MAX_SMALL ? alloc_small(size, kind, &refilled)
                                       : alloc_large(size, kind);
        if (p) {
            if (refilled || size > PA_MAX_SMALL)
                gc_maybe_collect();
            return p;
        }
        if (errno != ENOMEM || attempt > 0)
            break;
        gc_collect(2, 1);                           /* a last collection, then retry */
    }
    if (gc_g.oom)
        return gc_g.oom(size);
    errno = ENOMEM;
    return NULL;
}

gc_span *gc_span_lock(uintptr_t a)
{
    for (;;) {
        gc_span *s = gc_span_of(a);
        if (!s)
            return NULL;
        unsigned spc = __atomic_load_n(&s->spc, __ATOMIC_RELAXED);
        if (spc >= GC_NSPC)
            return NULL;
        pthread_mutex_lock(&gc_g.cls[spc].mu);
        if (gc_span_of(a) == s && s->spc == spc && !s->dead)
            return s;
        pthread_mutex_unlock(&gc_g.cls[spc].mu);
    }
}

void gc_span_unlock(gc_span *s)
{
    pthread_mutex_unlock(&gc_g.cls[s->spc].mu);
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
    if (!gc_bit(s->alloc, i)) {
        gc_span_unlock(s);
        pa_report(call, a, 0, "object not allocated (double free?)");
        return;
    }
    gc_fin_drop(a);
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
    if (s->nalloc == 0 && c->cur != s)
        gc_release_span(c, s);
    else if (!s->in_nonfull && c->cur != s) {
        s->nf_next = c->nonfull;
        s->nf_prev = NULL;
        if (c->nonfull)
            c->nonfull->nf_prev = s;
        c->nonfull = s;
        s->in_nonfull = 1;
    }
    pthread_mutex_unlock(&c->mu);
}
