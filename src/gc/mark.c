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
static _Atomic uint64_t marked_bytes;

void gc_mark_init(void)
{
    memset(&mainq, 0, sizeof mainq);
    atomic_store_explicit(&marked_bytes, 0, memory_order_relaxed);
}

uint64_t gc_marked_bytes(void)
{
    return atomic_load_explicit(&marked_bytes, memory_order_relaxed);
}

/* Mark the object word w points into, if any; queue it on q if scanned. */
static inline void mark_word_q(gc_markq *q, uintptr_t w)
{
    gc_span *s = gc_span_of(w);
    if (!s)
        return;
    uint32_t i = gc_obj_index(s, w);
    if (i >= s->nelems || !gc_bit(s->alloc, i))
        return;
    uintptr_t base = s->base + (uintptr_t)i * s->size;
    if (w != base && !atomic_load_explicit(&gc_g.interior, memory_order_relaxed))
        return;
    uint64_t bit = 1ull << (i & 63);
    if (__atomic_load_n(&s->mark[i >> 6], __ATOMIC_RELAXED) & bit)
        return;
    if (__atomic_fetch_or(&s->mark[i >> 6], bit, __ATOMIC_RELAXED) & bit)
        return;
    atomic_fetch_add_explicit(&marked_bytes, s->size, memory_order_relaxed);
    if (!(s->spc & GC_KIND_NOSCAN))
        gc_markq_push(q, base, base + s->size);
}

GC_NO_SANITIZE
void gc_scan_range_q(gc_markq *q, uintptr_t lo, uintptr_t hi, uintptr_t skip_lo,
                     uintptr_t skip_hi)
{
    lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    hi &= ~(uintptr_t)(sizeof(uintptr_t) - 1);
    if (hi <= lo)
        return;
    GC_MAKE_DEFINED((void *)lo, hi - lo);
    uintptr_t heap_lo = atomic_load_explicit(&gc_g.heap_lo, memory_order_relaxed);
    uintptr_t heap_hi = atomic_load_explicit(&gc_g.heap_hi, memory_order_relaxed);
    for (const volatile uintptr_t *p = (const uintptr_t *)lo; (uintptr_t)p < hi; p++) {
        uintptr_t w = *p;
        if (w < heap_lo || w >= heap_hi)
            continue;                              /* the fast reject */
        if (w >= skip_lo && w < skip_hi)
            continue;
        mark_word_q(q, w);
    }
}

void gc_mark_drain_q(gc_markq *q)
{
    uintptr_t lo, hi;
    while (gc_markq_pop(q, &lo, &hi))
        gc_scan_range_q(q, lo, hi, 0, 0);
}

void gc_mark_range(uintptr_t lo, uintptr_t hi)
{
    gc_scan_range_q(&mainq, lo, hi, 0, 0);
}

void gc_mark_word(uintptr_t w)
{
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
        atomic_fetch_add_explicit(&marked_bytes, s->size, memory_order_relaxed);
        if (!(s->spc & GC_KIND_NOSCAN))
            gc_markq_push(&mainq, base, base + s->size);
    }
}

void gc_mark_uncollectable(void)
{
    for (unsigned cl = 0; cl < PA_NCLASSES; cl++)
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
