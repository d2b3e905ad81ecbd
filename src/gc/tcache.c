/*
 * tcache.c - per-thread allocation caches (the role of Go's mcache and of
 * bdwgc's thread-local free lists), so that a small collectable
 * allocation takes no lock and writes only the thread's own memory.
 *
 * Design: cached objects, bdwgc style, in spans a cache owns, Go style.
 * A registered thread has a gc_tcache with one run (gc_run) per small
 * size class and kind (scanned, atomic; uncollectable kinds and large
 * objects take the class lock as before). A run owns one span of its
 * class (span->run points back) and holds a bitmap of that span's objects
 * it took: a refill, under the class lock, takes up to TC_BYTES of free
 * objects of the owned span (sweeping it first if a cycle came since),
 * else a swept span with room or a new one, and sets their alloc bits,
 * so for the rest of the collector they are allocated (counted in nalloc,
 * not in free_bytes, charged to the pacer at the refill; total_alloc
 * counts them once handed out, at the next refill or flush, and the
 * statistics add those handed out since: gc_tcache_handed_bytes).
 * Scanned objects taken are zeroed right after the refill, outside the
 * lock, except those at or above the span's hwm (never handed out: fresh
 * zeroed pages). The fast path (gc_tc_pop in gcint.h, inline in
 * pa_gc_malloc) clears the lowest bit of the run's current word. The
 * free objects of an owned span that are not in the run wait for its
 * owner's next refill: at most one span a class a thread.
 *
 * Invariants:
 *   - an object whose bit is set in a run has its alloc bit set; no lock
 *     is needed to take it, and only the owner ever takes it;
 *   - only the owner changes a run (bits, span), and it changes the span
 *     and sets bits only under the class lock; so a thread holding the
 *     class lock (a free, a query) sees a stable span and bits that only
 *     lose bits;
 *   - a span with span->run set is on no class list (cur, nonfull) and is
 *     never released: sweep and free leave it to the owner (sweep.c,
 *     alloc.c); the owner disowns it when it is full or on a flush;
 *   - the owner writes inflight = the object it takes before it clears the
 *     object's bit (a signal fence between), so an object is always in a
 *     run's bits, in inflight, or handed out: a collection that stops the
 *     owner in the middle of taking one finds it.
 *
 * The collector (gc_tcache_mark, in mark_all, the world stopped and every
 * class lock held) marks every cached object and every inflight object
 * through the list of all caches (anywhere in the mark: a cached object
 * reached first through a stale word is only scanned, and reads zero);
 * it never takes objects out of a cache.
 * The list is push only (records are reused, never unlinked), so walking
 * it needs no lock that a stopped thread could hold. Cached objects read
 * as zero (or are being zeroed), so scanning them finds nothing; inflight
 * is scanned like any object the program holds. The marked cached bytes
 * count as live for the pacer (at most a span's objects a class a thread).
 *
 * A free by the owner of an object of its own span puts it back in the
 * run (alloc.c, free_to_cache), zeroed first if scanned.
 *
 * Only the owner empties its cache: when its thread unregisters or exits
 * (world.c), and before pa_gc_collect (api.c). A free of a cached object
 * is a double free (alloc.c checks gc_cached); pa_gc_base and pa_gc_size
 * see cached objects as free.
 */
#include <errno.h>
#include <string.h>

#include "gc/gcint.h"

#define TC_BYTES ((size_t)16 << 10)               /* per run and refill */

__thread gc_tcache *gc_tc_self __attribute__((tls_model("initial-exec")));

/* Every cache record, push only; records come straight from the OS layer.
 * The attaching thread is registered and holds no lock, so it takes the
 * OS memory under a collector lock, class 0's (any class lock would do: a
 * collection holds them all from before the stop, and under TSan a thread
 * waiting for one parks; threads_mu would make a call circle with
 * world.c): it is never stopped inside the OS layer, where under TSan
 * another registered thread blocked on the OS layer's lock could not be
 * stopped at all (TSan runs the suspend handler only when a thread leaves
 * an interceptor; seen: a collection waiting for ever on three such
 * threads in stress/test_gc_threads). A forked child makes the class locks
 * new, so it can still make a record. */
static _Atomic(gc_tcache *) tc_list;

gc_tcache *gc_tcache_attach(void)
{
    if (gc_tc_self)
        return gc_tc_self;
    gc_tcache *t;
    for (t = atomic_load_explicit(&tc_list, memory_order_acquire); t; t = t->next) {
        int free = 0;
        if (atomic_load_explicit(&t->used, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong_explicit(&t->used, &free, 1, memory_order_acquire,
                                                    memory_order_relaxed))
            break;
    }
    if (!t) {
        void *mem;
        gc_lock(&gc_g.cls[0].mu);
        int err = sysmem_alloc((sizeof(gc_tcache) + GC_PAGE - 1) & ~(GC_PAGE - 1), &gc_g.meta,
                               &mem);
        pthread_mutex_unlock(&gc_g.cls[0].mu);
        if (err)
            return NULL;
        t = mem;                                   /* zero: every run empty */
        atomic_store_explicit(&t->used, 1, memory_order_relaxed);
        gc_tcache *head = atomic_load_explicit(&tc_list, memory_order_relaxed);
        do
            t->next = head;
        while (!atomic_compare_exchange_weak_explicit(&tc_list, &head, t, memory_order_release,
                                                      memory_order_relaxed));
    }
    gc_tc_self = t;
    return t;
}

/* Take up to max free objects of s (swept, class lock held) into r's bits
 * (empty); returns the count, *zero the objects that need zeroing. */
static uint32_t take(gc_span *s, gc_run *r, uint32_t max, uint64_t *zero)
{
    uint32_t n = 0, first = GC_SPAN_WORDS;
    for (uint32_t w = s->freeindex >> 6; w * 64 < s->nelems && n < max; w++) {
        uint64_t valid = s->nelems - w * 64 >= 64 ? ~0ull : (1ull << (s->nelems - w * 64)) - 1;
        uint64_t free = ~s->alloc[w] & valid;
        if (w == s->freeindex >> 6)
            free &= ~0ull << (s->freeindex & 63);
        uint32_t k = (uint32_t)__builtin_popcountll(free);
        if (k > max - n) {
            uint64_t rest = free;
            for (uint32_t j = 0; j < max - n; j++)
                rest &= rest - 1;
            free &= ~rest;
            k = max - n;
        }
        if (!free)
            continue;
        if (first == GC_SPAN_WORDS)
            first = w;
        s->alloc[w] |= free;
        atomic_store_explicit(&r->bits[w], free, memory_order_relaxed);
        uint32_t top = w * 64 + 64 - (uint32_t)__builtin_clzll(free);
        s->freeindex = top;
        uint64_t below = s->hwm <= w * 64 ? 0 : s->hwm - w * 64 >= 64 ? ~0ull
                         : (1ull << (s->hwm - w * 64)) - 1;
        zero[w] = free & below;
        if (top > s->hwm)
            s->hwm = top;
        n += k;
    }
    if (!n)
        s->freeindex = s->nelems;
    r->w = first;
    s->nalloc += n;
    return n;
}

/* The run's bits go back to its span (class lock held); r empty after. */
static void give_back(gc_class *c, gc_run *r)
{
    gc_span *s = r->span;
    uint32_t sg = atomic_load_explicit(&gc_g.sweepgen, memory_order_relaxed);
    int swept = s->sweepgen == sg;
    uint32_t n = 0;
    for (uint32_t w = 0; w < GC_SPAN_WORDS; w++) {
        uint64_t b = atomic_load_explicit(&r->bits[w], memory_order_relaxed);
        if (!b)
            continue;
        atomic_store_explicit(&r->bits[w], 0, memory_order_relaxed);
        s->alloc[w] &= ~b;
        s->mark[w] &= ~b;                          /* unswept: the sweep frees them */
        n += (uint32_t)__builtin_popcountll(b);
        uint32_t lo = w * 64 + (uint32_t)__builtin_ctzll(b);
        if (swept && lo < s->freeindex)
            s->freeindex = lo;
    }
    uint64_t bytes = (uint64_t)n * s->size;
    gc_add(&gc_g.freed_since, bytes);
    gc_add(&gc_g.total_alloc, (uint64_t)(r->taken - n) * s->size);
    __atomic_store_n(&r->taken, 0, __ATOMIC_RELAXED);
    s->run = NULL;
    r->span = NULL;
    r->w = GC_SPAN_WORDS;
    if (!swept)
        return;                                    /* the sweep counts them */
    s->nalloc -= n;
    gc_add(&gc_g.free_bytes, bytes);
    if (s->nalloc == 0 && c->cur != s)
        gc_release_span(c, s);
    else if (s->nalloc < s->nelems && c->cur != s)
        gc_nonfull_push(c, s);
}

/* Zero the objects of r whose bits are set in zero: small ones word by
 * word (a memset call costs more than the stores), others in runs of
 * neighbours with one memset. */
static void zero_objects(const gc_run *r, const uint64_t *zero)
{
    size_t size = r->size;
    for (uint32_t w = 0; w < GC_SPAN_WORDS; w++) {
        uint64_t z = zero[w];
        char *base = (char *)r->base + (size_t)w * 64 * size;
        if (size <= 64) {
            for (; z; z &= z - 1) {
                uint64_t *o = (uint64_t *)(base + (size_t)__builtin_ctzll(z) * size);
                for (size_t k = 0; k < size / 8; k++)
                    o[k] = 0;
            }
            continue;
        }
        while (z) {
            uint32_t i = (uint32_t)__builtin_ctzll(z);
            uint64_t from = z >> i;
            uint32_t len = ~from ? (uint32_t)__builtin_ctzll(~from) : 64 - i;
            memset(base + (size_t)i * size, 0, (size_t)len * size);
            z = i + len >= 64 ? 0 : z & (~0ull << (i + len));
        }
    }
}

/* Hand out the lowest object of word w of r (it has one), as alloc.c's
 * fast path does. */
static void *pop(gc_tcache *t, gc_run *r, uint32_t w)
{
    uint64_t b = atomic_load_explicit(&r->bits[w], memory_order_relaxed);
    uintptr_t p = r->base + ((uintptr_t)w * 64 + (uintptr_t)__builtin_ctzll(b)) * r->size;
    atomic_store_explicit(&t->inflight, p, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    atomic_store_explicit(&r->bits[w], b & (b - 1), memory_order_relaxed);
    return (void *)p;
}

void *gc_tcache_refill(gc_tcache *t, unsigned cl, unsigned kind, int *refilled)
{
    gc_run *r = &t->run[cl * GC_TC_KINDS + kind];
    for (uint32_t w = r->w; w < GC_SPAN_WORDS; w++) {   /* a later word of the run */
        if (atomic_load_explicit(&r->bits[w], memory_order_relaxed)) {
            r->w = w;
            return pop(t, r, w);
        }
    }
    const pa_class_info *ci = &gc_classes[cl];
    unsigned spc = cl * GC_KINDS + kind;
    gc_class *c = &gc_g.cls[spc];
    uint32_t max = (uint32_t)(TC_BYTES / ci->size);
    if (max == 0)
        max = 1;
    uint64_t zero[GC_SPAN_WORDS] = { 0 };
    uint32_t n = 0;
    *refilled = 1;
    gc_lock(&c->mu);
    gc_span *s = r->span;
    if (s) {
        gc_sweep_span(c, s);                       /* owned: stays off the lists */
        n = take(s, r, max, zero);
        if (!n) {
            s->run = NULL;                         /* full: nobody's, on no list */
            r->span = NULL;
        }
    }
    if (!n) {
        s = gc_sweep_for_alloc(c);                 /* never an owned span */
        if (!s)
            s = gc_span_new(c, spc, ci->npages, ci->size, ci->nelems, ci->divmagic);
        if (!s) {
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
        gc_nonfull_remove(c, s);
        if (c->cur == s)
            c->cur = NULL;
        s->run = r;
        r->span = s;
        r->base = s->base;
        r->size = s->size;
        n = take(s, r, max, zero);
    }
    uint64_t bytes = (uint64_t)n * ci->size;
    gc_sub(&gc_g.free_bytes, bytes);
    pthread_mutex_unlock(&c->mu);
    gc_add(&gc_g.alloc_since, bytes);
    gc_add(&gc_g.total_alloc, (uint64_t)r->taken * ci->size);   /* all handed out */
    __atomic_store_n(&r->taken, n, __ATOMIC_RELAXED);
    if (!n) {                                      /* cannot happen: s had room */
        errno = ENOMEM;
        return NULL;
    }
    if (!(kind & GC_KIND_NOSCAN))
        zero_objects(r, zero);
    return pop(t, r, r->w);
}

void gc_tcache_flush(int detach)
{
    gc_tcache *t = gc_tc_self;
    if (!t)
        return;
    for (unsigned k = 0; k < GC_NCLASSES * GC_TC_KINDS; k++) {
        gc_run *r = &t->run[k];
        if (!r->span)
            continue;
        gc_class *c = &gc_g.cls[(k / GC_TC_KINDS) * GC_KINDS + k % GC_TC_KINDS];
        gc_lock(&c->mu);
        give_back(c, r);
        pthread_mutex_unlock(&c->mu);
    }
    atomic_store_explicit(&t->inflight, 0, memory_order_relaxed);
    if (detach) {
        gc_tc_self = NULL;
        atomic_store_explicit(&t->used, 0, memory_order_release);
    }
}

void gc_tcache_mark(void)
{
    for (gc_tcache *t = atomic_load_explicit(&tc_list, memory_order_acquire); t; t = t->next) {
        uintptr_t p = atomic_load_explicit(&t->inflight, memory_order_relaxed);
        if (p)
            gc_set_mark(p);
        for (unsigned k = 0; k < GC_NCLASSES * GC_TC_KINDS; k++) {
            gc_run *r = &t->run[k];
            if (!r->span)
                continue;
            for (uint32_t w = 0; w < GC_SPAN_WORDS; w++)
                for (uint64_t b = atomic_load_explicit(&r->bits[w], memory_order_relaxed); b;
                     b &= b - 1)
                    gc_set_mark(r->base + ((uintptr_t)w * 64 + (uintptr_t)__builtin_ctzll(b)) *
                                              r->size);
        }
    }
}

uint64_t gc_tcache_handed_bytes(void)
{
    uint64_t sum = 0;
    for (gc_tcache *t = atomic_load_explicit(&tc_list, memory_order_acquire); t; t = t->next)
        for (unsigned k = 0; k < GC_NCLASSES * GC_TC_KINDS; k++) {
            gc_run *r = &t->run[k];
            uint32_t taken = __atomic_load_n(&r->taken, __ATOMIC_RELAXED), left = 0;
            if (!taken)
                continue;
            for (uint32_t w = 0; w < GC_SPAN_WORDS; w++)
                left += (uint32_t)__builtin_popcountll(
                    atomic_load_explicit(&r->bits[w], memory_order_relaxed));
            if (taken > left)                      /* else a refill raced: skip */
                sum += (uint64_t)(taken - left) * gc_classes[k / GC_TC_KINDS].size;
        }
    return sum;
}
