/*
 * markq.h - the mark work list (Go's gcWork and workbufs): a stack of
 * ranges [lo, hi) still to scan, in blocks of 64 KiB taken from the OS
 * layer and recycled through a free pool (never returned; they are
 * metadata). Each marker owns one gc_markq; full blocks can be handed to
 * the shared queue (gc_markq_share / gc_markq_steal) so idle markers find
 * work. A push that cannot get a block sets the overflow flag, and the
 * cycle rescans the marked objects until no overflow is left (as bdwgc's
 * mark-stack overflow).
 *
 * Threads: a gc_markq is used by its owner only; the free pool and the
 * shared queue are guarded by their own mutex (markq.c).
 */
#ifndef PAGEALLOC_GC_MARKQ_H
#define PAGEALLOC_GC_MARKQ_H

#include <stdatomic.h>
#include <stdint.h>

#if defined(__clang__)
#define GC_NO_SANITIZE __attribute__((no_sanitize("address", "thread", "undefined")))
#else
#define GC_NO_SANITIZE __attribute__((no_sanitize_address, no_sanitize_thread, \
                                      no_sanitize_undefined))
#endif

#define GC_WBLOCK_BYTES ((size_t)64 << 10)
#define GC_WBLOCK_N ((GC_WBLOCK_BYTES - 2 * sizeof(void *)) / (2 * sizeof(uintptr_t)))

typedef struct gc_wblock {
    struct gc_wblock *next;
    uintptr_t n;                       /* ranges held */
    uintptr_t r[GC_WBLOCK_N][2];
} gc_wblock;

/* One marker's work list and its private state for a drain.
 *   top          newest block of ranges still to scan;
 *   marked       bytes of the objects this marker marked (summed by the
 *                cycle, so markers never share a counter's cache line);
 *   hc_*         a one-entry span cache: the span of the last candidate
 *                word, whose pages are w with w + hc_neg < hc_len (hc_neg
 *                is minus the span's base); valid for one mark only
 *                (gc_markq_begin resets it);
 *   interior     gc_g.interior, read once per mark;
 *   heap_neg, heap_len  [heap_lo, heap_hi) of gc_g the same way, read
 *                once per mark (no span is made or freed while the world
 *                is stopped).
 *   active, nworkers  set by par.c for a parallel drain (NULL otherwise):
 *                when fewer than nworkers markers are active, the drain
 *                gives spare work to the shared queue.
 * Owned by one thread; nothing in it is shared.
 * Bases are kept negated because the main queue is a static of the
 * library: when the library is linked into a program, its static data is
 * scanned as roots, and a plain heap address here would keep that object
 * alive (the negation of a heap address is never one).
 */
typedef struct gc_markq {
    gc_wblock *top;
    uint64_t marked;
    struct gc_span *hc_span;
    uintptr_t hc_neg, hc_len;
    int interior;
    uintptr_t heap_neg, heap_len;
    _Atomic unsigned *active;
    unsigned nworkers;
} gc_markq;

extern _Atomic int gc_mark_overflow;

/* Make the pool ready for a cycle of `markers` markers: OS memory, so
 * called before the world stops (markq.c). */
void       gc_wblock_reserve(unsigned markers);
gc_wblock *gc_wblock_get(void);        /* empty block from the pool, or NULL */
void       gc_wblock_put(gc_wblock *b);

static inline void gc_markq_push(gc_markq *q, uintptr_t lo, uintptr_t hi)
{
    gc_wblock *b = q->top;
    if (!b || b->n == GC_WBLOCK_N) {
        gc_wblock *nb = gc_wblock_get();
        if (!nb) {
            atomic_store_explicit(&gc_mark_overflow, 1, memory_order_relaxed);
            return;
        }
        nb->next = b;
        q->top = b = nb;
    }
    b->r[b->n][0] = lo;
    b->r[b->n][1] = hi;
    b->n++;
}

static inline int gc_markq_pop(gc_markq *q, uintptr_t *lo, uintptr_t *hi)
{
    gc_wblock *b = q->top;
    while (b && b->n == 0) {
        q->top = b->next;
        gc_wblock_put(b);
        b = q->top;
    }
    if (!b)
        return 0;
    b->n--;
    *lo = b->r[b->n][0];
    *hi = b->r[b->n][1];
    return 1;
}

/* When the shared queue is empty, give it an older block of q, or the
 * older half of q's only block (if it holds 8 ranges or more), or the
 * upper half of the newest range if it is longer than two scan chunks;
 * take a block from the shared queue into q (1 if one was had). */
void gc_markq_share(gc_markq *q);
int  gc_markq_steal(gc_markq *q);
int  gc_markq_waiting(void);           /* the shared queue holds a block */

/* Ranges longer than this are scanned a piece at a time: the rest goes
 * back on the list, where another marker can take it (gc_markq_share
 * halves a long range when it is all a marker has). */
#define GC_SCAN_CHUNK ((uintptr_t)4096)

/* mark.c */
void      gc_markq_begin(gc_markq *q);   /* a new mark: no cached span, reads interior */
void      gc_mark_add_marked(uint64_t bytes);  /* a helper's total after its drain */
void      gc_scan_range_q(gc_markq *q, uintptr_t lo, uintptr_t hi, uintptr_t skip_lo,
                          uintptr_t skip_hi);
void      gc_mark_drain_q(gc_markq *q);
gc_markq *gc_main_queue(void);

#endif /* PAGEALLOC_GC_MARKQ_H */
