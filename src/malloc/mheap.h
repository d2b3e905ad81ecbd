/*
 * mheap.h - the object allocator's state (Go's mallocgc, mcache, mcentral
 * and mspan, for explicit free instead of a collector), shared by the
 * files that implement it:
 *   sizeclass.c  the size classes          spanmap.c   address -> span
 *   central.c    per-class central lists   tcache.c    per-thread caches
 *   malloc.c     the API: malloc, free, calloc, realloc, aligned, large
 *   mstats.c     statistics and JSON       fork.c      fork safety
 *   report.c     bad-free reports
 * docs/malloc.md has the design in prose.
 *
 * Spans. A span (pa_span, Go's mspan) is a run of pages from the page heap
 * holding objects of one size class (class 0: one large object). Its
 * record lives apart from the objects (fixed-size records from
 * os/fixalloc), and every page of a small span maps to it in the span map
 * (spanmap.c); a large span maps its first page only. No header precedes
 * an object.
 *
 * Bitmaps, kept as words[i] = {alloc, remote} pairs (one cache line for
 * both halves of a word); below, alloc_bits and remote_bits name the two
 * halves. alloc_bits has one bit per object, 1 = allocated. It is written
 * only by the span's owner (relaxed atomic stores: others may read it).
 * The owner is a thread cache (the span is that thread's current span of
 * its class) or, when owner is NULL, the class's central list, whose
 * mutex then serialises every writer. The owner allocates with a cursor:
 * word cw of alloc_bits and `cache`, the free bits of that word not yet
 * handed out (Go's allocCache, here a mask of free objects, lowest first:
 * ctz finds the next). When the cursor passes the last word the span
 * looks full; the owner then collects remote frees and, if any object is
 * free, rewinds the cursor to word 0 (rescan).
 *
 * Freeing. A free finds the span through the span map, checks the
 * pointer is an object's start, its alloc bit is set and it is not
 * already freed (its remote or held bit is clear), else it reports the
 * bad free and changes nothing. Then:
 *   - local (the calling thread owns the span): the object goes on the
 *     thread's recent-free stack of its class (below) and its held bit
 *     is set; when the stack is full its older half first goes back to
 *     the spans: held and alloc bits cleared, and an object in the
 *     cursor's word allocatable at once;
 *   - remote (any other thread, or a span on the central list): counts
 *     the free in remote_count, then sets the object's bit in remote_bits
 *     with an atomic fetch-or (a bit already set: a double free, reported
 *     and the count taken back), so remote_count never falls below the
 *     bits a collect finds. No
 *     lock, no write to the object, no list: the owner folds remote_bits
 *     into alloc_bits when it next needs objects (collect). A remote free
 *     that finds a central span wholly free once its bit is set
 *     (remote_count == nalloc) takes the central lock and returns the
 *     span's pages to the heap (whoever sets the last bit sees it); one
 *     that makes a full central span non-full moves it to the partial
 *     list. So servers whose frees come from other threads pay one atomic
 *     OR and one atomic add per object, and one lock per span.
 *   Double frees are detected exactly except when two frees of the same
 *   object race with each other and with the owner's collect. A remote
 *   free of an object the owner holds (its held bit set: it was freed
 *   already) is found and reported by the collect that meets it.
 *
 * Recent-free stacks (pa_tcache.lifo, tcmalloc's per-thread free lists,
 * with the bitmaps kept). A program that frees and allocates objects of
 * one size in turn gets back the object it freed last, still in its
 * cache, instead of the cursor's next (cold) object; and a free into a
 * span other than the current one costs no list moves. Each entry is a
 * span and an object index (pa_lifo_entry); per class at most
 * pa_classes[c].lifo_cap objects (about 16 KiB). An object on a stack
 * keeps its alloc bit (so no cursor hands it out and its span is not
 * empty) and has its held bit set (so a second free of it is caught and
 * usable-size calls see it freed). Stacks empty back into the spans when
 * full (older half), at thread exit, and in pa_malloc_trim (the calling
 * thread's).
 *
 * Central lists (pa_central, Go's mcentral): per class, a mutex and two
 * lists of unowned spans: partial (may have free objects) and full (had
 * none when last looked at). A thread cache that needs a span gives its
 * old one back (to partial or full, or to the page heap if empty) and
 * takes one from partial, or from full if it has remote frees, or a new
 * one from the page heap.
 *
 * Thread caches (pa_tcache, Go's mcache per P): one current span per
 * class, found through a thread-local pointer, no lock on the fast path. Unlike Go's
 * mcache, a thread keeps owning the spans it filled (per class: a list of
 * full ones, and of partial ones that got frees from the thread itself),
 * so a thread that frees what it allocated frees locally, with plain
 * stores, whatever span the object is in; a span it empties goes back to
 * the page heap (one spare per class is kept). A malloc pops the class's
 * recent-free stack first, then takes the current span's cursor. When
 * its current span is used up it takes, in order: an owned partial span, an owned full span
 * that remote frees have reached (a bounded look, the list rotating; none
 * while no remote free reached the class's spans), a span from the
 * central list, a new span. Before it takes one of the last
 * two it sweeps its whole full list when it has taken spans numbering an
 * eighth of those it owns since the last sweep: a producer whose objects
 * are all freed by other threads then reuses, and gives back to the page
 * heap, the spans the consumers emptied, at an amortised cost of a few
 * span looks per span taken. A pthread key
 * destructor returns the spans at thread exit; a thread whose cache is
 * gone (late frees in other destructors) or being set up allocates
 * through the central list directly.
 *
 * Large objects (> 32 KiB): whole pages from the page heap, with their
 * own span record (class 0), alignment by trimming an over-sized run.
 *
 * Locks, in order: the thread-cache registry (caches_mu) -> a central
 * mutex -> the span map's -> the span records' -> the page heap's -> the
 * OS layer's. The fast paths take none.
 */
#ifndef PAGEALLOC_MALLOC_MHEAP_H
#define PAGEALLOC_MALLOC_MHEAP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bits.h"
#include "base/report.h"
#include "malloc/sizeclass.h"
#include "os/fixalloc.h"
#include "pagealloc/malloc.h"
#include "pagealloc/pageheap.h"

#define PA_SPAN_WORDS  8u                  /* 512 objects at most (16 B, 1 page) */
#define PA_PAGE        ((size_t)PAGEALLOC_PAGE_SIZE)

/* CACHED: a thread's current span of its class, or detached from every
 * list while the central code works on it; OWNED_PARTIAL, OWNED_FULL: in
 * its owning thread's lists; PARTIAL, FULL: in the central lists (owner
 * NULL); DEAD: released (the record may be reused). */
enum pa_span_state { PA_SPAN_CACHED, PA_SPAN_PARTIAL, PA_SPAN_FULL, PA_SPAN_LARGE, PA_SPAN_DEAD,
                     PA_SPAN_OWNED_PARTIAL, PA_SPAN_OWNED_FULL };

/* One word of each of a span's bitmaps, side by side, so a free reads
 * all three from one place. */
typedef struct pa_span_word {
    _Atomic uint64_t alloc;               /* 1 = allocated; the owner writes */
    _Atomic uint64_t remote;              /* 1 = freed by a non-owner, not folded in */
    _Atomic uint64_t held;                /* 1 = freed onto the owner's recent-free
                                           * stack (alloc still 1); the owner writes */
} pa_span_word;

typedef struct pa_span {
    /* The first cache line holds what a free reads, and the first word of
     * the bitmaps: a free of an object in the first 64 of a span touches
     * this line only (records are 64-byte aligned). base comes first: a
     * freed record's first word is the fixed-size allocator's free-list
     * link, and nothing that can be read after a release (by a free
     * racing with it) is there but base, which a stale large free
     * compares with its pointer. */
    uintptr_t base;                       /* first object; constant while live */
    uint32_t elemsize;                    /* large: npages * PA_PAGE (0 if above 4 GiB) */
    uint32_t divmagic;
    uint32_t npages;
    uint16_t cls;                         /* 0: large */
    uint16_t nelems;
    _Atomic(struct pa_tcache *) owner;    /* NULL: the central list */
    int32_t cw;                           /* cursor word (owner side) */
    uint32_t nwords;
    pa_span_word words[PA_SPAN_WORDS];    /* from byte 40 */
    /* Owner side. */
    uint64_t cache;                       /* free bits of word cw still to hand out */
    _Atomic uint32_t nalloc;              /* allocated objects (owner writes) */
    _Atomic uint32_t remote_count;        /* frees counted, bits set or about to be */
    _Atomic uint8_t state;                /* pa_span_state; central lock if unowned */
    struct pa_span *next, *prev;          /* list links: central lock, or owner */
} pa_span;
_Static_assert(offsetof(pa_span, words) + sizeof(pa_span_word) <= 64,
               "a span's first bitmap word shares the record's first cache line");

typedef struct pa_central {
    pthread_mutex_t mu;
    pa_span *partial, *full;              /* unowned spans; mu */
    _Atomic uint64_t spans;               /* spans of this class, any state */
} __attribute__((aligned(64))) pa_central;

/* What a thread's malloc and free of one class read and write, in one
 * half cache line: the current span, the recent-free stack's fill and
 * capacity, and the malloc counters (single writer, relaxed; the
 * statistics read them, and the fill, from other threads). A free onto
 * the stack counts nothing: every entry leaves the stack by a pop
 * (counted in pops, a malloc and a free at once), by going back to its
 * span (counted in pa_tcache.frees then), or is still there (nlifo). So
 * the thread's mallocs are allocs + pops and its frees frees + pops +
 * nlifo (mstats.c), and the common free, a push, touches no counter. */
typedef struct pa_tc_class {
    struct pa_span *span;                 /* current span, or NULL */
    _Atomic uint32_t nlifo;               /* entries on the class's stack */
    uint32_t lifo_cap;                    /* pa_classes[c].lifo_cap once set up */
    _Atomic uint64_t pops;                /* mallocs served by the stack */
    _Atomic uint64_t allocs;              /* other mallocs */
} pa_tc_class;
_Static_assert(sizeof(pa_tc_class) == 32, "a class's fast-path fields fill half a cache line");


typedef struct pa_tcache {
    pa_tc_class cls[PA_NCLASSES];
    /* Other spans this thread owns, per class, circular lists (owner
     * thread only): partial ones got local frees, full ones had no free
     * object when the cursor last passed. */
    pa_span *partial[PA_NCLASSES], *full[PA_NCLASSES];
    /* Spans this thread owns per class (current, partial and full), and
     * how many it took from the central list or the page heap since it
     * last swept its full list (tcache.c). */
    uint32_t nspans[PA_NCLASSES], taken[PA_NCLASSES];
    /* Per class: frees not onto the stack (remote, or with no cache), and
     * stack entries gone back to their spans (pa_tc_class). */
    _Atomic uint64_t frees[PA_NCLASSES];
    _Atomic uint64_t large_allocs, large_frees, large_bytes_in, large_bytes_out;
    struct pa_mheap *mh;                  /* set up: the allocator it belongs to */
    struct pa_tcache *next, *prev;        /* registry; pa_mheap.caches_mu */
    /* Recent-free stacks, newest last (owner thread only). Entries at
     * or above a class's nlifo are never read, so a new cache leaves them
     * as they are (tcache.c: its pages stay unfaulted until used). */
    uint64_t lifo[PA_NCLASSES][PA_LIFO_MAX];
    /* Set by remote frees that left one of this thread's spans with no
     * allocated object, per class and in sum; the owner sweeps those
     * classes at its next refill (tcache.c). A remote free may still add
     * to them after the thread exited (it read the owner just before):
     * only a spurious sweep can follow, as the record stays mapped and
     * these fields are only ever set with atomic stores. Keep them last. */
    _Atomic uint32_t emptied[PA_NCLASSES];
    _Atomic uint32_t any_emptied;
    /* Set by the first remote free into one of this thread's spans since
     * that span's last collect, per class: while it is 0 no full span of
     * the class can have a free object, and refills look at none. Same
     * late-write rule as above. */
    _Atomic uint32_t remote_pending[PA_NCLASSES];
} pa_tcache;

/* A stack entry: the span's record address (below 2^48, as every user
 * address on the 64-bit targets; pa_span_record refuses others) and the
 * object's index above it. */
#define PA_LIFO_SHIFT 48u
static inline uint64_t pa_lifo_entry(const struct pa_span *s, size_t i)
{
    return (uint64_t)(uintptr_t)s | ((uint64_t)i << PA_LIFO_SHIFT);
}

typedef struct pa_mheap {
    pageheap *pages;                      /* spans' and large objects' pages */
    pa_fixalloc span_recs;                /* pa_span records */
    pa_fixalloc tcache_recs;              /* pa_tcache records */
    sysmem_stat meta;                     /* this struct, span records, span map */
    size_t self_bytes;
    pthread_key_t key;                    /* thread-exit destructor */
    pthread_mutex_t caches_mu;
    pa_tcache *caches;                    /* live thread caches; caches_mu */
    pa_tcache dead;                       /* counters of exited threads (atomic adds) */
    int restart_scavenger;                /* a child after fork: start it again */
    pa_central central[PA_NCLASSES];
} pa_mheap;

/* The heap of the process, made at first use (malloc.c). */
extern pa_mheap *_Atomic pa_mh;
pa_mheap *pa_mheap_get(void);
/* Register the fork handlers and start the background scavenger, once:
 * right after the allocator is made, or, in the drop-in, from its
 * constructor (pa_malloc_dropin_deferred says 1 until then). */
void      pa_malloc_late_init(pa_mheap *mh);
int       pa_malloc_dropin_deferred(void);

/* ---- spanmap.c --------------------------------------------------------------- */
/* The span holding page address a (small spans: every page; large: the
 * first), or NULL. Any thread, no lock: two loads. */
#define PA_SPANMAP_L1_SHIFT 30u                 /* 1 GiB per first-level entry */
#define PA_SPANMAP_L1_COUNT ((size_t)1 << (47 - PA_SPANMAP_L1_SHIFT))
typedef _Atomic(pa_span *) pa_spanmap_slot;
extern _Atomic(pa_spanmap_slot *) pa_spanmap_l1[PA_SPANMAP_L1_COUNT];
static inline pa_span *pa_spanmap_get(uintptr_t a)
{
    size_t i = a >> PA_SPANMAP_L1_SHIFT;
    if (__builtin_expect(i >= PA_SPANMAP_L1_COUNT, 0))
        return NULL;
    pa_spanmap_slot *l2 = atomic_load_explicit(&pa_spanmap_l1[i], memory_order_acquire);
    if (__builtin_expect(l2 == NULL, 0))
        return NULL;
    size_t k = (a >> 13) & (((size_t)1 << (PA_SPANMAP_L1_SHIFT - 13)) - 1);
    return atomic_load_explicit(&l2[k], memory_order_acquire);
}
/* Map (s) or unmap (NULL) npages pages from base. 0 or an errno value
 * (a level-2 block could not be had); unmapping cannot fail. */
int      pa_spanmap_set(pa_mheap *mh, uintptr_t base, size_t npages, pa_span *s);
/* Fork: 0 takes the map's lock, 1 releases it, 2 makes it new (child). */
void     pa_spanmap_fork(int phase);
/* Call fn for each run of pages mapping to one record, in address order,
 * with the run's first page. No lock; walk.c has the rules for readers. */
typedef void (*pa_spanmap_walk_fn)(void *arg, uintptr_t page, pa_span *s);
void     pa_spanmap_walk(pa_spanmap_walk_fn fn, void *arg);

/* ---- span and central lists (central.c) ------------------------------------ */
/* Fold a span's remote frees into its bitmap; owner (or central lock). */
void     pa_span_collect(pa_span *s);
/* Rewind the cursor to scan the span from its first word. */
void     pa_span_rewind(pa_span *s);
/* Hand the next free object of a span the caller owns, or NULL if it is
 * full (after collecting remote frees). */
void    *pa_span_alloc_slow(pa_span *s);
/* A span for tc (owner set to tc, cursor rewound) from class c's central
 * list or the page heap; NULL and errno ENOMEM if none can be had. */
pa_span *pa_central_take(pa_mheap *mh, unsigned c, pa_tcache *tc);
/* Give back a span a thread cache owned. */
void     pa_central_give(pa_mheap *mh, pa_span *s);
/* A remote free found an unowned span now wholly free, or newly non-full. */
void     pa_central_remote_event(pa_mheap *mh, pa_span *s);
/* Allocate one object of class c with no thread cache. */
void    *pa_central_alloc_one(pa_mheap *mh, unsigned c);
/* Return every wholly free unowned span's pages to the heap; bytes. */
size_t   pa_central_trim(pa_mheap *mh);

/* ---- fork.c and the thread caches' key (tcache.c) ----------------------------- */
/* Register the fork handlers for mh (once, after mh is published). */
void     pa_malloc_fork_init(pa_mheap *mh);
int      pa_tcache_key_create(pa_mheap *mh);

/* ---- tcache.c --------------------------------------------------------------- */
/* The calling thread's cache: NULL while it cannot have one (being set
 * up, or after the thread's exit destructor ran). */
pa_tcache *pa_tcache_slow(pa_mheap *mh);
/* The thread's cache: NULL before first use, PA_TC_NOCACHE while it is
 * being set up or after the thread's exit destructor, else the cache (a
 * record from mh->tcache_recs). Only a pointer lives in thread-local
 * storage, so that dlopen of the library needs almost no static TLS. */
#define PA_TC_NOCACHE ((pa_tcache *)1)
extern __thread pa_tcache *pa_tcp __attribute__((tls_model("initial-exec")));
static inline pa_tcache *pa_tcache_get(pa_mheap *mh)
{
    pa_tcache *tc = pa_tcp;
    if (__builtin_expect((uintptr_t)tc > 1, 1))
        return tc;
    return tc ? NULL : pa_tcache_slow(mh);
}
/* tc's stack of class c is full: its older half goes back to the spans. */
void       pa_tcache_spill(pa_mheap *mh, pa_tcache *tc, unsigned c);
/* Empty tc's recent-free stacks back into their spans. */
void       pa_tcache_drain(pa_mheap *mh, pa_tcache *tc);
/* Give a cache's spans back and fold its counters (thread exit, fork). */
void       pa_tcache_flush(pa_mheap *mh, pa_tcache *tc);
/* tc's current span of class c is used up: make another current (owned,
 * central or new) and return it; NULL with errno ENOMEM if none. */
pa_span   *pa_tcache_refill(pa_mheap *mh, pa_tcache *tc, unsigned c);

/* Give a wholly free span's pages back and its record (in no list). */
void       pa_span_release(pa_mheap *mh, pa_span *s);

/* Circular doubly-linked lists of spans (a thread's own lists). */
static inline void pa_clist_push(pa_span **head, pa_span *s)
{
    pa_span *h = *head;
    if (!h) {
        s->next = s->prev = s;
    } else {
        s->next = h;
        s->prev = h->prev;
        h->prev->next = s;
        h->prev = s;
    }
    *head = s;
}
static inline void pa_clist_remove(pa_span **head, pa_span *s)
{
    if (s->next == s) {
        *head = NULL;
    } else {
        s->prev->next = s->next;
        s->next->prev = s->prev;
        if (*head == s)
            *head = s->next;
    }
    s->next = s->prev = NULL;
}

/* ---- fast paths ------------------------------------------------------------- */

/* The next free object of the caller's span, or NULL when the cursor's
 * word is used up (then pa_span_alloc_slow). */
static inline void *pa_span_alloc_fast(pa_span *s)
{
    uint64_t c = s->cache;
    if (__builtin_expect(c == 0, 0))
        return NULL;
    unsigned bit = (unsigned)__builtin_ctzll(c);
    s->cache = c & (c - 1);
    _Atomic uint64_t *w = &s->words[s->cw].alloc;
    atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) | ((uint64_t)1 << bit),
                          memory_order_relaxed);
    atomic_store_explicit(&s->nalloc, atomic_load_explicit(&s->nalloc, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return (void *)(s->base + ((size_t)s->cw * 64 + bit) * s->elemsize);
}

/* The object freed last onto tc's stack of class c, which holds n > 0
 * entries, taken off it. */
static inline void *pa_lifo_take(pa_tcache *tc, size_t c, uint32_t n)
{
    uint64_t e = tc->lifo[c][n - 1];
    atomic_store_explicit(&tc->cls[c].nlifo, n - 1, memory_order_relaxed);
    pa_span *s = (pa_span *)(uintptr_t)(e & (((uint64_t)1 << PA_LIFO_SHIFT) - 1));
    size_t i = (size_t)(e >> PA_LIFO_SHIFT);
    _Atomic uint64_t *h = &s->words[i / 64].held;
    atomic_store_explicit(h, atomic_load_explicit(h, memory_order_relaxed) & ~((uint64_t)1 << (i % 64)),
                          memory_order_relaxed);
    return (void *)(s->base + i * s->elemsize);
}

/* The same, or NULL if the stack is empty. */
static inline void *pa_lifo_pop(pa_tcache *tc, size_t c)
{
    uint32_t n = atomic_load_explicit(&tc->cls[c].nlifo, memory_order_relaxed);
    return __builtin_expect(n == 0, 0) ? NULL : pa_lifo_take(tc, c, n);
}

/* Put object i of s (owned by tc, class c, checked allocated and not
 * freed) on tc's stack; 0 if the stack is full (pa_tcache_spill). */
static inline int pa_lifo_push(pa_tcache *tc, size_t c, pa_span *s, size_t i)
{
    pa_tc_class *k = &tc->cls[c];
    uint32_t n = atomic_load_explicit(&k->nlifo, memory_order_relaxed);
    if (__builtin_expect(n >= k->lifo_cap, 0))
        return 0;
    _Atomic uint64_t *h = &s->words[i / 64].held;
    atomic_store_explicit(h, atomic_load_explicit(h, memory_order_relaxed) | ((uint64_t)1 << (i % 64)),
                          memory_order_relaxed);
    tc->lifo[c][n] = pa_lifo_entry(s, i);
    atomic_store_explicit(&k->nlifo, n + 1, memory_order_relaxed);
    return 1;
}

/* A span record from the records' allocator, every field set to its
 * initial value (zero, owner NULL, state CACHED) with atomic stores where
 * a free racing with the record's previous life may still read it: a
 * remote free reads owner, nalloc, remote_count, state and cls after its
 * bit is set, when another thread may already have released the span and
 * made the record a new one. NULL if there is no memory. */
static inline pa_span *pa_span_record(pa_fixalloc *recs)
{
    pa_span *s = pa_fixalloc_alloc_raw(recs, NULL);
    if (!s)
        return NULL;
    if ((uintptr_t)s >> PA_LIFO_SHIFT) {  /* cannot be a stack entry's span */
        pa_fixalloc_free(recs, s);
        return NULL;
    }
    s->base = 0;
    s->elemsize = s->divmagic = s->npages = 0;
    __atomic_store_n(&s->cls, 0, __ATOMIC_RELAXED);
    s->nelems = 0;
    s->cw = 0;
    s->nwords = 0;
    s->cache = 0;
    s->next = s->prev = NULL;
    atomic_store_explicit(&s->owner, NULL, memory_order_relaxed);
    atomic_store_explicit(&s->nalloc, 0, memory_order_relaxed);
    atomic_store_explicit(&s->remote_count, 0, memory_order_relaxed);
    atomic_store_explicit(&s->state, PA_SPAN_CACHED, memory_order_relaxed);
    for (unsigned w = 0; w < PA_SPAN_WORDS; w++) {
        atomic_store_explicit(&s->words[w].alloc, 0, memory_order_relaxed);
        atomic_store_explicit(&s->words[w].remote, 0, memory_order_relaxed);
        atomic_store_explicit(&s->words[w].held, 0, memory_order_relaxed);
    }
    return s;
}

/* Report a bad free or size query: "pagealloc: CALL(ADDR, class C): RULE". */
void pa_malloc_report(const char *call, const void *p, unsigned cls, const char *rule);

#endif /* PAGEALLOC_MALLOC_MHEAP_H */
