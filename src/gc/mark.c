/*
 * mark.c - marking (Go's mgcmark.go and mgcwork.go, conservative): a word
 * is a pointer if it lands in an allocated object of the heap (any byte of
 * it; only its first byte when interior pointers are off). A newly marked
 * object that may hold pointers goes on the work list as a range to scan;
 * marking drains the list, never recursing. The work list is a stack of
 * 64 KiB blocks from the OS layer, kept between cycles.
 *
 * All of it runs with the world stopped and every span swept, so the
 * alloc bits are the truth; mark bits are set with an atomic or so that
 * several markers may share a span (gc_mark_parallel).
 *
 * Reading memory we do not own: the scan reads other threads' stacks and
 * every loaded object's static data, whatever the sanitizers think of the
 * bytes (uninitialised stack slots, ASan redzones, words another thread
 * wrote without synchronisation the sanitizer can see: the thread is
 * stopped by a signal). The scanning functions are excluded from ASan and
 * TSan instrumentation (GC_NO_SANITIZE) and, under valgrind, tell memcheck
 * the words are defined before reading them (when <valgrind/memcheck.h>
 * is available at build time; the library never needs valgrind).
 */
#include <string.h>

#include "gc/gcint.h"
#include "gc/markq.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define GC_MAKE_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#endif
#endif
#ifndef GC_MAKE_DEFINED
#define GC_MAKE_DEFINED(p, n) ((void)(p), (void)(n))
#endif

static gc_markq mainq;               /* the collecting thread's work list */
static _Atomic uint64_t helpers_marked;  /* helpers' marked bytes, added after a drain */
static int on_valgrind;              /* read at each mark: tell memcheck before a scan */
static uint64_t root_bytes;          /* bytes gc_mark_range scanned this mark */

void gc_markq_begin(gc_markq *q)
{
    q->marked = 0;
    q->hc_span = NULL;
    q->hc_neg = 0;
    q->hc_len = 0;
    q->interior = atomic_load_explicit(&gc_g.interior, memory_order_relaxed);
    uintptr_t lo = atomic_load_explicit(&gc_g.heap_lo, memory_order_relaxed);
    q->heap_neg = 0 - lo;
    q->heap_len = atomic_load_explicit(&gc_g.heap_hi, memory_order_relaxed) - lo;
}

void gc_mark_init(void)
{
    memset(&mainq, 0, sizeof mainq);
    gc_markq_begin(&mainq);
    atomic_store_explicit(&helpers_marked, 0, memory_order_relaxed);
    root_bytes = 0;
#ifdef RUNNING_ON_VALGRIND
    on_valgrind = RUNNING_ON_VALGRIND != 0;
#endif
}

void gc_mark_add_marked(uint64_t bytes)
{
    atomic_fetch_add_explicit(&helpers_marked, bytes, memory_order_relaxed);
}

uint64_t gc_helper_marked_bytes(void)
{
    return atomic_load_explicit(&helpers_marked, memory_order_relaxed);
}

uint64_t gc_marked_bytes(void)
{
    return mainq.marked + atomic_load_explicit(&helpers_marked, memory_order_relaxed);
}

/* Mark the object word w points into, if any; queue it on q if scanned.
 * w is inside [heap_lo, heap_hi). The span comes from q's one-entry cache
 * when w lands in the same span as the last candidate (objects built
 * together sit together), else from the span map. */
static inline void mark_word_q(gc_markq *q, uintptr_t w)
{
    gc_span *s;
    if (w + q->hc_neg < q->hc_len) {
        s = q->hc_span;
    } else {
        _Atomic(gc_span *) *l2 = (_Atomic(gc_span *) *)atomic_load_explicit(
            &gc_g.map_l1[w >> GC_MAP_L1_SHIFT], memory_order_acquire);
        if (!l2)
            return;
        s = atomic_load_explicit(&l2[(w >> GC_PAGE_SHIFT) & (GC_MAP_L2_COUNT - 1)],
                                 memory_order_acquire);
        if (!s)
            return;
        q->hc_span = s;
        q->hc_neg = 0 - s->base;
        q->hc_len = (uintptr_t)s->npages << GC_PAGE_SHIFT;
    }
    uint32_t i = gc_obj_index(s, w);
    if (i >= s->nelems || !gc_bit(s->alloc, i))
        return;
    uintptr_t base = s->base + (uintptr_t)i * s->size;
    if (w != base && !q->interior)
        return;
    uint64_t bit = 1ull << (i & 63);
    if (__atomic_load_n(&s->mark[i >> 6], __ATOMIC_RELAXED) & bit)
        return;
    if (__atomic_fetch_or(&s->mark[i >> 6], bit, __ATOMIC_RELAXED) & bit)
        return;
    q->marked += s->size;
    if (!(s->spc & GC_KIND_NOSCAN))
        gc_markq_push(q, base, base + s->size);
}

/* The words of [lo, hi) (word-aligned), without a skipped range. */
GC_NO_SANITIZE
static inline __attribute__((always_inline)) void scan_words(gc_markq *q, uintptr_t lo,
                                                            uintptr_t hi)
{
    if (on_valgrind)
        GC_MAKE_DEFINED((void *)lo, hi - lo);
    uintptr_t neg = q->heap_neg, len = q->heap_len;
    for (const volatile uintptr_t *p = (const uintptr_t *)lo; (uintptr_t)p < hi; p++) {
        uintptr_t w = *p;
        if (w + neg < len)                         /* the fast reject */
            mark_word_q(q, w);
    }
}

GC_NO_SANITIZE
void gc_scan_range_q(gc_markq *q, uintptr_t lo, uintptr_t hi, uintptr_t skip_lo,
                     uintptr_t skip_hi)
{
    lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    hi &= ~(uintptr_t)(sizeof(uintptr_t) - 1);
    if (hi <= lo)
        return;
    if (skip_lo >= skip_hi) {
        scan_words(q, lo, hi);
        return;
    }
    if (on_valgrind)
        GC_MAKE_DEFINED((void *)lo, hi - lo);
    uintptr_t heap_lo = atomic_load_explicit(&gc_g.heap_lo, memory_order_relaxed);
    uintptr_t heap_hi = atomic_load_explicit(&gc_g.heap_hi, memory_order_relaxed);
    for (const volatile uintptr_t *p = (const uintptr_t *)lo; (uintptr_t)p < hi; p++) {
        uintptr_t w = *p;
        if (w < heap_lo || w >= heap_hi)
            continue;
        if (w >= skip_lo && w < skip_hi)
            continue;
        mark_word_q(q, w);
    }
}

/*
 * Draining. Scanning an object is mostly waiting for its memory: a marked
 * object was last touched when it was allocated, long out of the caches.
 * So ranges popped from the list wait in a small ring (GC_PF ranges),
 * their first line prefetched as they enter, and are scanned as they
 * leave: by then the line has had GC_PF scans' time to arrive. Popping a
 * range longer than GC_SCAN_CHUNK takes one chunk and pushes the rest
 * back. In a parallel drain, every 32 scans the marker checks whether a
 * marker is idle and, if so, gives work to the shared queue.
 */
#define GC_PF 16u                              /* a power of 2 */

GC_NO_SANITIZE
void gc_mark_drain_q(gc_markq *q)
{
    uintptr_t ring[GC_PF][2];
    unsigned head = 0, n = 0, k = 0;
    for (;;) {
        uintptr_t lo, hi;
        while (n < GC_PF && gc_markq_pop(q, &lo, &hi)) {
            if (hi - lo > GC_SCAN_CHUNK) {
                gc_markq_push(q, lo + GC_SCAN_CHUNK, hi);  /* room: just popped */
                hi = lo + GC_SCAN_CHUNK;
            }
            __builtin_prefetch((const void *)lo);
            unsigned t = (head + n) & (GC_PF - 1);
            ring[t][0] = lo;
            ring[t][1] = hi;
            n++;
        }
        if (n == 0)
            return;
        lo = ring[head][0];
        hi = ring[head][1];
        head = (head + 1) & (GC_PF - 1);
        n--;
        scan_words(q, lo, hi);                 /* heap ranges are word-aligned */
        if (q->active && (++k & 31) == 0 &&
            atomic_load_explicit(q->active, memory_order_relaxed) < q->nworkers)
            gc_markq_share(q);
    }
}

void gc_mark_range(uintptr_t lo, uintptr_t hi)
{
    if (hi > lo)
        root_bytes += hi - lo;
    gc_scan_range_q(&mainq, lo, hi, 0, 0);
}

uint64_t gc_root_bytes(void)
{
    return root_bytes;
}

void gc_mark_word(uintptr_t w)
{
    if (w >= atomic_load_explicit(&gc_g.heap_lo, memory_order_relaxed) &&
        w < atomic_load_explicit(&gc_g.heap_hi, memory_order_relaxed))
        mark_word_q(&mainq, w);
}

void gc_mark_drain(void)
{
    gc_mark_drain_q(&mainq);
}

void gc_mark_obj_children(uintptr_t obj, uintptr_t skip_lo, uintptr_t skip_hi)
{
    gc_span *s = gc_span_of(obj);
    if (!s || (s->spc & GC_KIND_NOSCAN))
        return;
    gc_scan_range_q(&mainq, obj, obj + s->size, skip_lo, skip_hi);
    gc_mark_drain_q(&mainq);
}

int gc_is_marked(uintptr_t base)
{
    gc_span *s = gc_span_of(base);
    if (!s)
        return 1;                                  /* not ours: never cleared */
    uint32_t i = gc_obj_index(s, base);
    if (i >= s->nelems)
        return 1;
    return gc_bit(s->mark, i);
}

void gc_set_mark(uintptr_t base)
{
    gc_span *s = gc_span_of(base);
    if (!s)
        return;
    uint32_t i = gc_obj_index(s, base);
    if (i >= s->nelems || !gc_bit(s->alloc, i))
        return;
    uint64_t bit = 1ull << (i & 63);
    if (!(__atomic_fetch_or(&s->mark[i >> 6], bit, __ATOMIC_RELAXED) & bit)) {
        mainq.marked += s->size;
        if (!(s->spc & GC_KIND_NOSCAN))
            gc_markq_push(&mainq, base, base + s->size);
    }
}

void gc_mark_uncollectable(void)
{
    for (unsigned cl = 0; cl < GC_NCLASSES; cl++)
        for (unsigned k = GC_KIND_UNCOLL; k < GC_KINDS; k++)
            for (gc_span *s = gc_g.cls[cl * GC_KINDS + k].spans; s; s = s->next)
                for (uint32_t i = 0; i < s->nelems; i++)
                    if (gc_bit(s->alloc, i))
                        gc_set_mark(s->base + (uintptr_t)i * s->size);
}

gc_markq *gc_main_queue(void)
{
    return &mainq;
}
