/*
 * gcint.h - the collector's state (include/pagealloc/gc.h; docs/gc.md has
 * the design in prose), shared by the files that implement it:
 *   state.c   the global state and the clock
 *   classes.c the size classes (16-byte steps to 1024, malloc's above)
 *   spans.c   spans on the page heap, the page -> span map
 *   alloc.c   allocation from span classes and explicit free
 *   tcache.c  per-thread allocation caches (cached objects, bdwgc style)
 *   par.c     parallel markers      markq.c   the mark work list's blocks
 *   sweep.c   sweeping (lazy and the background sweeper)
 *   mark.c    the mark work list, conservative scanning, the root set
 *   world.c   registered threads, stopping and restarting the world
 *   threads.c the pthread wrappers, finished threads' results (roots)
 *   roots.c   static data of the loaded objects, added and excluded ranges
 *   cycle.c   a collection, the pacer, trace lines
 *   final.c   finalizers and disappearing links
 *   init.c    options, PAGEALLOC_GC, initialisation, setters, fork
 *   stats.c   statistics, JSON and the full heap check
 *   api.c     the public calls that may initialise or collect
 * Calls between the files go one way (scripts/check-layers.py): state <-
 * markq, spans <- sweep, mark <- par, world <- threads, roots <- final <-
 * alloc <- stats <- cycle <- init <- api; tcache calls spans, sweep and
 * mark and is called by world (a leaving thread's cache), alloc, cycle and
 * api.
 *
 * Spans (gc_span, Go's mspan). A run of pages of the collector's own page
 * heap holding objects of one span class: a size class (classes.c;
 * class 0 is one large object of whole pages) times a kind (scanned,
 * atomic, uncollectable scanned, uncollectable atomic): spc = class * 4 +
 * kind, Go's spanClass with two kind bits instead of noscan. Each span has
 * alloc bits (1 = allocated) and mark bits (1 = reached in the current
 * cycle), one bit per object. Every page of a span maps to its record in
 * the span map.
 *
 * Sweep generations (Go's sweepgen). sweepgen (global) grows by 2 at the
 * end of every mark. For a span s in use:
 *   s->sweepgen == sweepgen - 2  it needs sweeping (its mark bits are the
 *                                truth, its alloc bits are stale);
 *   s->sweepgen == sweepgen      swept: alloc bits are the truth, mark
 *                                bits are zero.
 * A span is claimed for sweeping under its class lock, so there is no
 * "being swept" state. Allocation only ever takes from a swept span.
 *
 * Locks, in order (a thread holding one never waits for an earlier one):
 *   collect_mu -> class locks (by spc) -> fin_mu -> roots_mu ->
 *   threads_mu -> the page heap's -> the OS layer's.
 * A class lock guards every field of its spans except base, npages, size,
 * nelems, spc (constant while the span is in the map), and the class's
 * lists and cursor. A thread cache's run (tcache.c) sets its bits and
 * changes its span under the lock, but takes objects (clears bits)
 * without it. A collection takes every lock from collect_mu to
 * threads_mu, then stops the world, so no stopped thread holds one.
 */
#ifndef PAGEALLOC_GC_GCINT_H
#define PAGEALLOC_GC_GCINT_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/export.h"
#include "base/report.h"
#include "base/tsan.h"
#include "malloc/sizeclass.h"
#include "os/recpool.h"
#include "pagealloc/gc.h"
#include "pagealloc/pageheap.h"

#define GC_PAGE        ((size_t)PAGEALLOC_PAGE_SIZE)
#define GC_PAGE_SHIFT  13u
#define GC_SPAN_WORDS  8u                  /* 512 objects at most */
#define GC_KINDS       4u
#define GC_KIND_NOSCAN 1u                  /* kind bits */
#define GC_KIND_UNCOLL 2u
/* The collector's size classes (classes.c): 16-byte steps to 1024, then
 * the malloc layer's classes above 1024 (malloc class c is class
 * c + GC_CLASS_FROM_PA here). */
#define GC_STEP_CLASSES 64u                /* 16, 32, ..., 1024 */
#define GC_PA_FIRST_ABOVE 31u             /* malloc's class of 1152 (checked) */
#define GC_CLASS_FROM_PA (GC_STEP_CLASSES + 1u - GC_PA_FIRST_ABOVE)
#define GC_NCLASSES    (PA_NCLASSES + GC_CLASS_FROM_PA)
#define GC_NSPC        (GC_NCLASSES * GC_KINDS)
#define GC_MIN_GOAL    ((uint64_t)4 << 20)
#define GC_TRIM_MIN    ((uint64_t)1 << 20)  /* smallest excess worth a release */

/* A span's record. The fields the marker reads come first; the alloc and
 * mark bits follow the record, gc_span_words each (alloc, then mark, which
 * `mark` points to), so a span of few objects has a small record: records
 * come from one of GC_REC_POOLS pools by their bit words (spans.c). */
typedef struct gc_span {
    uintptr_t base;            /* first byte; constant while mapped */
    uint64_t *mark;            /* alloc + words: mark bits (atomic or); constant */
    uint32_t npages;           /* constant */
    uint32_t size;             /* bytes per object (large: npages pages) */
    uint32_t nelems;           /* objects (large: 1) */
    uint32_t divmagic;         /* offset * divmagic >> 32 == index */
    uint16_t spc;              /* span class */
    uint8_t  in_nonfull;       /* on its class's nonfull stack */
    uint8_t  dead;             /* returned to the page heap */
    uint32_t nalloc;           /* allocated objects (as of the alloc bits) */
    uint32_t freeindex;        /* no free object below it (a cursor) */
    uint32_t sweepgen;         /* see above */
    struct gc_run *run;        /* the thread cache owning it, or NULL (tcache.c) */
    struct gc_span *next, *prev; /* the class's list of spans */
    struct gc_span *nf_next, *nf_prev; /* the nonfull list */
    uint32_t hwm;              /* objects at or above it were never handed out */
    uint64_t alloc[];          /* alloc bits, then the mark bits */
} gc_span;

/* Words of alloc (and of mark) bits of s. */
extern pa_class_info gc_classes[GC_NCLASSES];
extern uint8_t gc_class_by16[GC_STEP_CLASSES + 1];  /* (n + 15) / 16 -> class */
void gc_classes_init(void);                 /* classes.c; idempotent */

/* The class of an n-byte object, n <= PA_MAX_SMALL (0 is class 1). */
static inline unsigned gc_size_class(size_t n)
{
    if (n <= (size_t)GC_STEP_CLASSES * 16u)
        return gc_class_by16[(n + 15) >> 4];      /* one load, as malloc's */
    return pa_size_class(n) + GC_CLASS_FROM_PA;
}

static inline uint32_t gc_span_words(const gc_span *s)
{
    return (s->nelems + 63) / 64;
}

/* Record pools by bit words: spans of at most 1, 4 and 8 words. */
#define GC_REC_POOLS 3u

/* A thread cache's objects of one span class (tcache.c has the rules).
 * bits: objects of span taken from it (alloc bits set) and not yet handed
 * out; written by the owner (relaxed atomic stores, without a lock when
 * taking one), read by others under the class lock and by the collector
 * with the world stopped. bits[GC_SPAN_WORDS] stays 0 (ends the scan).
 * span, base, size: the owned span, changed by the owner under the class
 * lock. w: no bit below word w; taken: objects of the last refill, counted
 * in total_alloc when handed out (owner only). */
typedef struct gc_run {
    _Atomic uint64_t bits[GC_SPAN_WORDS + 1];
    gc_span *span;
    uintptr_t base;
    uint32_t size;
    uint32_t w;
    uint32_t taken;
} gc_run;

#define GC_TC_KINDS 2u             /* scanned and atomic are cached */

/* One thread's cache (tcache.c). inflight: the object being handed out
 * (kept until the next one). next: the list of every cache, push only. */
typedef struct gc_tcache {
    _Atomic uintptr_t inflight;
    _Atomic int used;
    struct gc_tcache *next;
    gc_run run[GC_NCLASSES * GC_TC_KINDS];
} gc_tcache;

extern __thread gc_tcache *gc_tc_self __attribute__((tls_model("initial-exec")));

/* The cache's fast path: the lowest object of the run's current word,
 * inflight first (tcache.c), no lock; NULL if the word is empty. */
static inline void *gc_tc_pop(gc_tcache *t, unsigned cl, unsigned kind)
{
    gc_run *r = &t->run[cl * GC_TC_KINDS + kind];
    uint32_t w = r->w;
    uint64_t b = atomic_load_explicit(&r->bits[w], memory_order_relaxed);
    if (__builtin_expect(b == 0, 0))
        return NULL;
    uintptr_t p = r->base + ((uintptr_t)w * 64 + (uintptr_t)__builtin_ctzll(b)) * r->size;
    atomic_store_explicit(&t->inflight, p, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    atomic_store_explicit(&r->bits[w], b & (b - 1), memory_order_relaxed);
    return (void *)p;
}

/* Per span class: its spans, the current span and the sweep cursor. */
typedef struct gc_class {
    pthread_mutex_t mu;
    gc_span *spans;            /* every span of the class, newest first */
    gc_span *cur;              /* allocation span (swept), or NULL */
    gc_span *nonfull;          /* swept spans with a free object */
    gc_span *sweep_pos;        /* next span to look at for sweeping */
    uint64_t nspans;
} __attribute__((aligned(64))) gc_class;

/* The page -> span map: 1 GiB regions of 2^17 pages, made on demand. */
#define GC_MAP_L1_SHIFT 30u
#define GC_MAP_L1_COUNT ((size_t)1 << (47 - GC_MAP_L1_SHIFT))
#define GC_MAP_L2_COUNT ((size_t)1 << (GC_MAP_L1_SHIFT - GC_PAGE_SHIFT))

/* One registered thread (world.c). threads_mu guards the list; the
 * fields up to tls are set at registration and constant afterwards; sp,
 * alt_hi and norm_sp are written by the thread in the suspend handler
 * (alt_hi and norm_sp before sp, which is stored with release). */
#define GC_THREAD_TLS 16u          /* static TLS blocks kept per thread */
typedef struct gc_thread {
    pthread_t tid;
    uintptr_t stack_hi;        /* highest stack address */
    _Atomic uintptr_t sp;      /* saved stack pointer while stopped */
    struct gc_thread *next, *prev;
    uintptr_t stack_lo;        /* lowest stack address; 0 if unknown */
    int main_thread;           /* the process's first thread (its stack's
                                * low part may be unmapped) */
    uint32_t ntls;             /* TLS blocks outside the stack mapping */
    uintptr_t tls[GC_THREAD_TLS][2];
    uintptr_t alt_hi;          /* stopped on its signal stack: its top */
    uintptr_t norm_sp;         /* then the normal stack's sp, 0 if lost */
    _Atomic int park;          /* GC_RUNNING..GC_SIGNALLED (world.c) */
    _Atomic uint32_t acked;    /* the last stop its handler answered */
} gc_thread;

/* gc_thread.park: how the stopper reached the thread. A thread about to
 * block on a collector lock publishes sp and goes RUNNING -> PARKED; the
 * stopper claims a PARKED thread (-> STOPPED_PARKED, no signal) or
 * signals a RUNNING one (-> SIGNALLED); restart undoes either. */
enum { GC_RUNNING = 0, GC_PARKED = 1, GC_STOPPED_PARKED = 2, GC_SIGNALLED = 3 };

/* gc_lock takes a collector lock. Under ThreadSanitizer, which holds an
 * asynchronous signal back from a thread blocked in pthread_mutex_lock, a
 * registered thread that would block parks first (world.c), so the stopper
 * needs no signal to reach it; elsewhere it is pthread_mutex_lock. */
#define GC_UNDER_TSAN PA_UNDER_TSAN
int gc_mutex_lock_parked(pthread_mutex_t *m);
int gc_sem_wait_parked(sem_t *sem);        /* sem_wait; parked under TSan (world.c) */
static inline int gc_lock(pthread_mutex_t *m)
{
#if GC_UNDER_TSAN
    return gc_mutex_lock_parked(m);
#else
    return pthread_mutex_lock(m);
#endif
}

/* The collector, one per process. */
typedef struct gc_state {
    int inited;
    pageheap *ph;
    sysmem_stat meta;          /* the collector's own metadata */
    pa_recpool span_recs[GC_REC_POOLS]; /* each with its own mutex; pages go back (spans.c) */
    _Atomic(gc_span **) *map_l1;
    _Atomic uintptr_t heap_lo, heap_hi; /* [lo, hi) covers every span; grow only */
    pthread_mutex_t map_mu;
    gc_class cls[GC_NSPC];

    pthread_mutex_t collect_mu;
    _Atomic uint32_t sweepgen;
    _Atomic int disabled;      /* pa_gc_disable nesting */
    _Atomic int percent;
    _Atomic uint64_t limit;
    int hard_limit;
    uint64_t initial_heap;
    unsigned markers;
    _Atomic int interior;
    _Atomic int find_leak;
    _Atomic int trace;
    _Atomic int finalize_mode;
    int bg_sweeper;
    int check_heap;
    int static_roots;
    int sig_suspend, sig_restart;

    /* Pacing (bytes of objects). */
    _Atomic uint64_t live_marked;    /* marked bytes of the last cycle */
    _Atomic uint64_t alloc_since;    /* allocated since the last mark */
    _Atomic uint64_t freed_since;    /* explicitly freed since then */
    _Atomic uint64_t goal;
    _Atomic uint64_t heap_bytes;     /* pages held by spans */
    _Atomic uint64_t free_bytes;     /* free object bytes in swept spans */
    _Atomic uint64_t unswept;        /* spans not yet swept this cycle */
    _Atomic uint64_t map_released;   /* page map bytes returned (spans.c) */

    /* Counters. */
    _Atomic uint64_t total_alloc, collections, forced, pause_last, pause_max,
        pause_total, mark_cpu, swept_bytes, released_total, fin_run, links_cleared,
        leaks_found;
    uint64_t t0_ns;

    pa_gc_oom_fn oom;
    pa_gc_leak_fn leak_fn;
    void *leak_arg;
    pa_gc_event_fn event_fn;
    void *event_arg;
    void (*fin_notifier)(void);
} gc_state;

extern gc_state gc_g;
/* Markers of the last cycle (par.c); read by the statistics while a
 * cycle may be setting it. */
extern _Atomic unsigned gc_last_markers;


static inline uint64_t gc_ld(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}
static inline void gc_add(_Atomic uint64_t *v, uint64_t d)
{
    atomic_fetch_add_explicit(v, d, memory_order_relaxed);
}
static inline void gc_sub(_Atomic uint64_t *v, uint64_t d)
{
    atomic_fetch_sub_explicit(v, d, memory_order_relaxed);
}

/* The span holding address a, or NULL; never faults. */
static inline gc_span *gc_span_of(uintptr_t a)
{
    if (a < atomic_load_explicit(&gc_g.heap_lo, memory_order_relaxed) ||
        a >= atomic_load_explicit(&gc_g.heap_hi, memory_order_relaxed))
        return NULL;
    _Atomic(gc_span *) *l2 = (_Atomic(gc_span *) *)atomic_load_explicit(
        &gc_g.map_l1[a >> GC_MAP_L1_SHIFT], memory_order_acquire);
    if (!l2)
        return NULL;
    return atomic_load_explicit(&l2[(a >> GC_PAGE_SHIFT) & (GC_MAP_L2_COUNT - 1)],
                                memory_order_acquire);
}

/* The index of the object at a in s (a inside the span); nelems if a is
 * in the tail past the last object. No divide instruction. */
static inline uint32_t gc_obj_index(const gc_span *s, uintptr_t a)
{
    uint64_t off = a - s->base;
    if (s->nelems == 1)
        return off < s->size ? 0 : 1;
    return (uint32_t)((off * s->divmagic) >> 32);
}
static inline int gc_bit(const uint64_t *w, uint32_t i)
{
    return (int)((w[i >> 6] >> (i & 63)) & 1);
}

/* 1 if object i of s sits in a thread cache (allocated for the collector,
 * free for the program). */
static inline int gc_cached(const gc_span *s, uint32_t i)
{
    gc_run *r = __atomic_load_n(&s->run, __ATOMIC_RELAXED);
    return r && r->span == s &&
           ((atomic_load_explicit(&r->bits[i >> 6], memory_order_relaxed) >> (i & 63)) & 1);
}

/* The base of the allocated object containing a, or 0; no lock (callers
 * hold the class lock, or the world is stopped). */
static inline uintptr_t gc_base_unlocked(uintptr_t a)
{
    gc_span *s = gc_span_of(a);
    if (!s)
        return 0;
    uint32_t i = gc_obj_index(s, a);
    if (i >= s->nelems || !gc_bit(s->alloc, i) || gc_cached(s, i))
        return 0;
    return s->base + (uintptr_t)i * s->size;
}

static inline void gc_nonfull_push(gc_class *c, gc_span *s)
{
    if (s->in_nonfull)
        return;
    s->nf_next = c->nonfull;
    s->nf_prev = NULL;
    if (c->nonfull)
        c->nonfull->nf_prev = s;
    c->nonfull = s;
    s->in_nonfull = 1;
}

static inline void gc_nonfull_remove(gc_class *c, gc_span *s)
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

/* state.c */
uint64_t gc_now_ns(void);

/* spans.c */
int      gc_heap_init(void);
gc_span *gc_span_new(gc_class *c, unsigned spc, size_t npages, uint32_t size,
                     uint32_t nelems, uint32_t divmagic);   /* class lock held */
gc_span *gc_span_lock(uintptr_t a);            /* locked class, or NULL */
void     gc_span_unlock(gc_span *s);
void     gc_release_span(gc_class *c, gc_span *s);  /* class lock held */
void     gc_lock_classes(void);
void     gc_unlock_classes(void);
uint64_t gc_heap_free_pages(const pageheap_stats *ps);   /* resident free pages */
/* Release free pages above the goal of a swept heap (spans.c has the
 * rule); explicit_gc: after an explicit collection. Bytes released. */
size_t   gc_heap_pace(int explicit_gc);
size_t   gc_heap_release_all(void);            /* every free page and record page */
int      gc_heap_expand(size_t bytes);         /* 0 or ENOMEM: pages Ready now */

/* alloc.c: NULL and errno on failure, no collection */
void    *gc_alloc_raw(size_t size, unsigned kind, int *refilled);
void     gc_free_obj(void *p, const char *call);

/* tcache.c */
void    *gc_tcache_refill(gc_tcache *t, unsigned cl, unsigned kind, int *refilled);
gc_tcache *gc_tcache_attach(void);        /* the calling thread's; NULL if none */
void     gc_tcache_flush(int detach);     /* the calling thread's objects go back */
void     gc_tcache_mark(void);            /* world stopped: cached objects are live */
uint64_t gc_tcache_handed_bytes(void);    /* handed out, not yet in total_alloc */

/* api.c: allocation with pacing, a last collection and the OOM handler */
void    *gc_alloc(size_t size, unsigned kind);

/* sweep.c */
int      gc_sweep_span(gc_class *c, gc_span *s);  /* 1 if swept now */
gc_span *gc_sweep_for_alloc(gc_class *c);         /* a swept span with room */
size_t   gc_sweep_all(void);                      /* finish the sweep */
void     gc_sweeper_kick(void);
void     gc_sweeper_start(void);
void     gc_sweep_fork_child(void);
/* leaked objects found by sweeping in leak-finding mode, one at a time */
int      gc_leak_pop(uintptr_t *obj, size_t *size);

/* mark.c */
void     gc_mark_init(void);
void     gc_mark_range(uintptr_t lo, uintptr_t hi);   /* conservative roots */
uint64_t gc_root_bytes(void);     /* bytes gc_mark_range scanned in the last mark */
void     gc_mark_obj_children(uintptr_t obj, uintptr_t skip_lo, uintptr_t skip_hi);
void     gc_mark_word(uintptr_t w);
void     gc_mark_drain(void);
int      gc_is_marked(uintptr_t base);            /* base of an object */
void     gc_set_mark(uintptr_t base);
void     gc_mark_uncollectable(void);
uint64_t gc_marked_bytes(void);
uint64_t gc_helper_marked_bytes(void);            /* the helpers' part of it */
void     gc_par_start(unsigned markers);          /* make helpers; world running (par.c) */
unsigned gc_mark_parallel(void);                  /* drain with helpers (par.c) */
void     gc_par_fork_child(void);

/* world.c */
int      gc_world_init(void);
void     gc_world_stop(void);
void     gc_world_start(void);        /* wakes the stopped threads: the pause ends */
void     gc_world_start_wait(void);   /* then: every handler has left (threads_mu held) */
/* Every registered thread's stack; the collecting thread's from own_lo
 * (its caller's frames) up, plus its saved registers [regs, regs_end). */
void     gc_scan_threads(uintptr_t own_lo, uintptr_t regs, uintptr_t regs_end);
void     gc_threads_lock(void);
void     gc_threads_unlock(void);
uint32_t gc_thread_count(void);
void     gc_world_fork_child(void);
int      gc_self_registered(void);
int      gc_thread_register(const void *stack_base);
int      gc_thread_unregister(void);

/* threads.c */
int      gc_results_init(void);
void     gc_scan_results(void);       /* threads_mu held */
void     gc_results_fork_child(void);
int      gc_thread_create(pthread_t *t, const pthread_attr_t *attr, void *(*start)(void *),
                          void *arg);

/* roots.c */
void     gc_roots_lock(void);
void     gc_roots_unlock(void);
void     gc_roots_gather(void);       /* before the stop: static segments */
void     gc_scan_roots(void);         /* with the world stopped */
void     gc_roots_fork_child(void);

/* cycle.c */
void     gc_collect(int forced, int release, void *keep);
void     gc_maybe_collect(void *keep);
uint64_t gc_heap_in_use(void);

/* final.c */
void     gc_fin_lock(void);
void     gc_fin_unlock(void);
void     gc_finalize_after_mark(void);   /* world stopped */
void     gc_mark_pending(void);          /* queued finalizers are roots */
void     gc_fin_drop(uintptr_t obj);     /* explicit free */
void     gc_fin_after_cycle(int in_alloc);
uint64_t gc_fin_pending_count(void);
void     gc_fin_fork_child(void);

/* stats.c */
int      gc_check_locked(char *msg, size_t n);   /* collect_mu held */

/* init.c */
int      gc_ensure_init(void);     /* 0 if ready; registers the first thread */

#endif /* PAGEALLOC_GC_GCINT_H */
