/*
 * stacks.h - the stack layer's books: stack records, the address map,
 * thread caches, pools, and the allocator that ties them; the lock rules.
 * docs/stack.md has the design and the Go counterparts.
 *
 * A stack is one run of heap pages, `npages` long at `base`: guard pages
 * [base, lo), then the stack [lo, hi). Its record (st_rec, from the
 * allocator's fixed-size allocator) lives exactly as long as the
 * allocator holds the run: from st_run_get, which takes the run from the
 * heap and faults its guard, to st_run_put, which maps the guard again
 * and frees the run to the heap. Meanwhile the record is in one place:
 *   live    handed out to the user (state ST_LIVE);
 *   cached  on a thread cache's list for its order, or its large list
 *           (ST_FREE);
 *   pooled  on the shared pool's list for its order, or in the large
 *           pool (ST_FREE);
 *   moving  on a private list between those (ST_FREE), owned by the one
 *           thread that detached it.
 * Every held record is also on the allocator's `all` list and in the
 * process-wide address map under the 16 KiB granule of its `lo` (map.c),
 * which is how frees are validated without trusting the caller's pointer
 * and how the overflow handler names the stack a guard fault hit.
 *
 * Orders. Small stacks are 8 KiB << order for order 0..3 (8..64 KiB),
 * cached and pooled by order. Large stacks (order ST_LARGE) are a whole
 * number of pages over 64 KiB; a freed one waits in its freeing thread's
 * large list (head[ST_LARGE]: at most ST_LARGE_CACHE stacks and
 * large_cache_bytes of them, any sizes mixed, reused only at exactly the
 * same size), and what that list evicts (its oldest) waits in the large
 * pool for a request of the same size, up to the pool's bound.
 *
 * Locks and their order (a thread cache has none: its thread owns it):
 *   threads_mu  the list of thread caches, the exited threads' counters
 *   pool mu     one order's pool; large.mu the large pool (same rank)
 *   all_mu      the `all` list, lost_bytes
 * threads_mu -> pool mu -> all_mu (-> the fixed-size allocators' own
 * mutexes, leaves; fork.c takes all of them in this order, pools before
 * the large pool); heap calls and system calls
 * are made with no lock of this layer held, except pa_stack_get_stats's
 * residency queries under all_mu. Records move between lists only under
 * the locks of the lists involved (a thread cache's lists: by its owner).
 */
#ifndef PAGEALLOC_STACK_STACKS_H
#define PAGEALLOC_STACK_STACKS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "os/fixalloc.h"
#include "os/fork.h"
#include "pagealloc/stack.h"

#define ST_PAGE        ((size_t)PAGEALLOC_PAGE_SIZE)
#define ST_ORDERS      4u                    /* 8, 16, 32, 64 KiB */
#define ST_LARGE       ST_ORDERS             /* order of a large stack */
#define ST_MAX_BYTES   ((size_t)1 << 30)     /* largest stack */
#define ST_MAX_GUARD   ((size_t)1 << 20)     /* largest guard */
#define ST_MAGIC       0x535441434b53ull     /* "STACKS": a live allocator */
#define ST_ID_BLOCK    4096u                 /* ids a thread takes at once */
#define ST_LARGE_CACHE 4u                    /* large stacks per thread cache */
#define ST_LINE        64u                   /* cache line: records' and caches' alignment */

enum { ST_FREE = 0, ST_LIVE = 1 };

/* A record is written on every pair by the thread that holds it (state,
 * id, next) and read by it (lo, hi, order, owner), so records are
 * allocated on cache lines of their own (ST_LINE). Packed at 16 bytes,
 * two records made one after the other, as two threads' first 1 MiB
 * stacks are, shared a line: with the two threads on two CPUs every pair
 * of both missed on it (thread CPU time of a 1 MiB pair: median 18.8 ns
 * against 12.6 with a line each; docs/stack.md, "Two threads"). The
 * record fills exactly one line: the run's start and length are not
 * stored but derived (st_rec_base, st_rec_npages) from the stack's bounds
 * and the guard's pages, so that a record costs 64 bytes, not 128. The
 * caches are aligned for the same reason. */
typedef struct st_rec {
    /* Constant while the record is held (set before it is published in
     * the map, with a release store). */
    uintptr_t lo, hi;               /* the stack; the guard is below lo */
    pa_stack_allocator *owner;
    uint16_t guard_pages;           /* guard = run start .. lo (<= 1 MiB) */
    uint16_t order;                 /* 0..ST_ORDERS-1, or ST_LARGE */
    /* ST_LIVE while handed out; the free's compare-exchange makes a
     * double free lose. */
    _Atomic unsigned state;
    _Atomic uint64_t id;            /* of the current (or last) allocation */
    struct st_rec *next;            /* cache, pool or private list: its lock */
    struct st_rec *all_prev, *all_next;  /* `all` list: all_mu */
} st_rec;

_Static_assert(sizeof(st_rec) <= ST_LINE, "a stack record fills one cache line");
_Static_assert(ST_MAX_GUARD / ST_PAGE <= UINT16_MAX, "guard pages fit the record");

/* The heap run behind a record: the guard's first byte, and its pages. */
static inline uintptr_t st_rec_base(const st_rec *r)
{
    return r->lo - (uintptr_t)r->guard_pages * ST_PAGE;
}

static inline size_t st_rec_npages(const st_rec *r)
{
    return r->guard_pages + (r->hi - r->lo) / ST_PAGE;
}

/* One thread's cache for one allocator (Go's per-P stackcache). Owned by
 * its thread: only the owner reads or writes the lists and the id block,
 * with no lock and no atomic read-modify-write; the counts and counters
 * are atomics that only the owner stores (relaxed) and others read for the
 * statistics. Another thread asks for the cache to be emptied by setting
 * flush_req; the owner does it at its next allocation or free. The thread
 * exit destructor (on the owner) and allocator deletion (nobody else
 * running) are the only other writers. */
typedef struct st_tcache {
    /* Free stacks, most recent first: head[o] for order o, and
     * head[ST_LARGE] the large list (exact sizes mixed, at most
     * ST_LARGE_CACHE long and large_bytes <= a->large_cache_bytes). */
    st_rec *head[ST_ORDERS + 1];
    _Atomic unsigned count[ST_ORDERS + 1];   /* length of head[o] */
    _Atomic uint64_t large_bytes;   /* stack bytes on head[ST_LARGE] */
    _Atomic uint64_t allocs, frees, alloc_bytes, free_bytes, refills, flushes;
    _Atomic int flush_req;          /* set by pa_stack_release */
    uint64_t id_next, id_end;       /* ids reserved by this thread */
    struct st_tcache *prev, *next;  /* threads list: threads_mu */
    pa_stack_allocator *owner;      /* constant */
} st_tcache;

/* Where a cache sits: in a 2 KiB slot of its fixalloc, ST_TCACHE_SHIFT
 * bytes in, so every cache starts at byte 1536 or 3584 of a 4 KiB page.
 * Records and caches are both carved line by line from 64 KiB fixalloc
 * blocks whose first object is 64 bytes in. Packed (one 192-byte cache
 * after the other), cache j's three lines had the page offsets of records
 * 3j..3j+2, the first made: a program's first stacks. A pair stores the
 * cache (head[o], count[o], the counters, id_next) and then loads the
 * record (lo, hi, next, order), and a load behind a store whose address
 * matches it in bits 11..0 waits (4 KiB aliasing): in the benchmark,
 * head[1], a 16 KiB stack's list, sat at the offset of the first record's
 * hi, loaded right after it by pa_stack_alloc. The one-thread 16 KiB pair
 * read 12.9-13.0 ns in most processes of the benchmark and 14.4-16.1 in 7
 * of 40, while glibc's and mimalloc's stayed put; a small driver showed
 * the same with one virtual layout every time (setarch -R), so on this AMD
 * EPYC VM something physical decides how much the aliasing costs
 * (docs/stack.md, "One process in several"). Moving head[] alone to
 * another offset of its line moved the collision to the 64 KiB and 1 MiB
 * pairs (other counters on other records' lines). Here a cache meets only
 * records 23-25 and 55-57 of each 64, none of the first 23. The price:
 * 2 KiB of address space per thread cache (31 per fixalloc block), and
 * one resident 4 KiB page per two caches. The code indexes the cache as
 * before (instructions per pair unchanged). */
#define ST_TCACHE_SLOT  2048u
#define ST_TCACHE_SHIFT 1472u   /* + the block's 64-byte header: 1536 */
typedef struct st_tcache_slot {
    unsigned char shift[ST_TCACHE_SHIFT];   /* unused */
    st_tcache tc;
    unsigned char tail[ST_TCACHE_SLOT - ST_TCACHE_SHIFT - sizeof(st_tcache)];
} st_tcache_slot;

_Static_assert(sizeof(st_tcache_slot) == ST_TCACHE_SLOT, "slot size");

/* Add d to an owner-only counter (a load and a store, no locked op). */
static inline void st_bump(_Atomic uint64_t *c, uint64_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

static inline unsigned st_count(st_tcache *tc, unsigned o)
{
    return atomic_load_explicit(&tc->count[o], memory_order_relaxed);
}

static inline void st_set_count(st_tcache *tc, unsigned o, unsigned n)
{
    atomic_store_explicit(&tc->count[o], n, memory_order_relaxed);
}

typedef struct st_pool {
    pthread_mutex_t mu;
    st_rec *head;                   /* mu */
    size_t count;                   /* mu; at most max */
    size_t max;                     /* constant: pool_bytes / stack size */
} st_pool;

/* Free large stacks (Go's stackLarge): lists by log2 of the stack's
 * pages; a stack is reused only by a request of exactly its size. */
#define ST_LARGE_BUCKETS 18u                 /* 2^17 pages = 1 GiB */
typedef struct st_large {
    pthread_mutex_t mu;
    st_rec *head[ST_LARGE_BUCKETS];  /* mu */
    size_t count;                    /* mu */
    size_t bytes;                    /* stack bytes held; mu; <= max_bytes */
    size_t max_bytes;                /* constant: options.pool_bytes */
} st_large;

/* The calling thread's last allocator and its cache there (threads.c). */
typedef struct st_last_cache {
    const pa_stack_allocator *a;
    uint64_t gen;
    st_tcache *tc;
} st_last_cache;
extern __thread st_last_cache st_last __attribute__((tls_model("initial-exec")));

/* Counters of exited threads, summed into the stats: threads_mu. */
typedef struct st_counts {
    uint64_t allocs, frees, alloc_bytes, free_bytes, refills, flushes;
} st_counts;

struct pa_stack_allocator {
    uint64_t magic;                 /* ST_MAGIC while live; constant */
    uint64_t gen;                   /* constant: unique per allocator made */
    pageheap *heap;                 /* constant */
    int own_heap;                   /* constant: delete heap with us */
    size_t guard_pages;             /* constant, >= 1 */
    unsigned cache_max[ST_ORDERS];  /* constant: stacks per thread cache */
    size_t large_cache_bytes;       /* constant: bound of a large list */
    st_pool pools[ST_ORDERS];
    st_large large;
    pthread_key_t key;              /* this thread's st_tcache */
    pthread_mutex_t threads_mu;
    st_tcache *threads;             /* threads_mu */
    unsigned nthreads;              /* threads_mu */
    st_counts exited;               /* threads_mu */
    pthread_mutex_t all_mu;
    st_rec *all;                    /* every held record; all_mu */
    uint64_t lost_bytes;            /* all_mu */
    _Atomic uint64_t next_id;       /* next block of ids */
    _Atomic uint64_t heap_allocs, heap_frees, released_bytes, guard_bytes;
    _Atomic uint64_t direct_allocs, direct_frees;   /* without a cache */
    _Atomic uint64_t direct_alloc_bytes, direct_free_bytes;
    sm_fork_client fork;            /* registered from new to delete */
    _Atomic unsigned in_heap;       /* threads inside st_run_get/put */
    _Atomic int forking;            /* set by the fork handlers under
                                     * threads_mu: st_run_get/put wait */
    char stats_name[16];            /* constant: our section of the heap's
                                     * JSON ("stacks", ...); "" if none */
    sysmem_stat meta;               /* this struct and the fixalloc blocks */
    pa_fixalloc recs;               /* st_rec */
    pa_fixalloc tcaches;            /* st_tcache_slot */
};

static inline int st_live(const pa_stack_allocator *a)
{
    return a && a->magic == ST_MAGIC;
}

static inline size_t st_order_pages(unsigned order)
{
    return (size_t)1 << order;
}

/* ---- map.c: 16 KiB granule of an address -> record (process-wide) -- */
/* Publish r under the granule of lo (r NULL: remove). 0 or ENOMEM. */
int     st_map_set(uintptr_t lo, st_rec *r);
/* The record whose lo is in the granule of addr, or NULL (callers
 * compare r->lo). Lock-free and async-signal-safe. */
st_rec *st_map_get(uintptr_t addr);
/* The record whose guard holds addr, or NULL (async-signal-safe). */
st_rec *st_map_guard(uintptr_t addr);
/* Fork: phase 0 takes the map's lock, 1 releases it, 2 makes it new. */
void    st_map_fork(int phase);

/* ---- run.c: runs from and to the heap -------------------------------- */
/* A fresh held record of stack_pages pages (order as given), its guard
 * faulted; NULL with an errno value in *err. No lock held. */
st_rec *st_run_get(pa_stack_allocator *a, size_t stack_pages, unsigned order, int *err);
/* Give r's run back to the heap (guard mapped again) and drop r. No lock
 * held; r on no list but `all`. */
void    st_run_put(pa_stack_allocator *a, st_rec *r);
/* st_run_put on every record of a list linked by next. */
void    st_run_put_list(pa_stack_allocator *a, st_rec *list);

/* ---- pool.c: shared pools per order ----------------------------------- */
/* Detach up to n records of order o; returns the list, count in *got. */
st_rec *st_pool_take(pa_stack_allocator *a, unsigned o, size_t n, size_t *got);
/* Add a list of records of order o (ST_LARGE: to the large pool); what
 * exceeds the bound goes back to the heap. No lock of this layer held. */
void    st_pool_put(pa_stack_allocator *a, unsigned o, st_rec *list);
/* Detach every pooled record of every order and every large one, as one
 * list. */
st_rec *st_pool_drain(pa_stack_allocator *a);
/* A free large stack of exactly pages pages, or NULL. */
st_rec *st_large_take(pa_stack_allocator *a, size_t pages);
/* Keep a free large stack, or give it to the heap beyond the bound. No
 * lock of this layer held. */
void    st_large_put(pa_stack_allocator *a, st_rec *r);

/* ---- threads.c: per-thread caches ------------------------------------- */
/* Create the key; destroy every cache (delete). */
int        st_threads_init(pa_stack_allocator *a);
/* The calling thread's cache, created at first use; NULL if none can be
 * made (the caller then goes to the pools). st_tcache_get answers from
 * st_last when it names a (threads.c), else asks the slow path. */
st_tcache *st_tcache_get_slow(pa_stack_allocator *a);
static inline st_tcache *st_tcache_get(pa_stack_allocator *a)
{
    if (st_last.a == a && st_last.gen == a->gen)
        return st_last.tc;
    return st_tcache_get_slow(a);
}
/* Ask every other thread to empty its cache at its next call, and
 * detach the calling thread's cached records as one list (release). */
st_rec    *st_threads_drain(pa_stack_allocator *a);
/* Give every list of tc (the caller's own, its large list too) to the
 * pools. */
void       st_tcache_flush(pa_stack_allocator *a, st_tcache *tc);
/* Drain, free every cache record and delete the key (delete). */
st_rec    *st_threads_fini(pa_stack_allocator *a);
/* Sum the caches' and exited threads' counters and cached stacks. */
void       st_threads_stats(pa_stack_allocator *a, pa_stack_stats *out);
/* In a forked child (every lock made new): drop every other thread's
 * cache, its counters kept as an exited thread's; the stacks it held stay
 * on `all` (given back at delete), without walking its lists, which
 * their owner may have been changing at the fork. */
void       st_threads_after_fork(pa_stack_allocator *a);
/* A zeroed cache in a new slot (st_tcache_slot), or NULL; its slot back. */
st_tcache *st_tcache_new(pa_stack_allocator *a);
void       st_tcache_drop(pa_stack_allocator *a, st_tcache *tc);

/* ---- release.c: statistics ------------------------------------------ */
/* The stats of allocator arg as a JSON object, for the heap's JSON
 * (pageheap_stats_fn: snprintf semantics, no trailing newline). */
size_t st_stats_section(void *arg, char *buf, size_t size);

/* ---- overflow.c: guard faults ------------------------------------------ */
/* Give the calling thread a signal stack if the handler is installed and
 * the thread has none. */
void st_overflow_thread(void);
/* Fork: phase 0 takes the install lock, 1 releases it, 2 makes it new. */
void st_overflow_fork(int phase);

/* ---- fork.c: the layer's fork handlers ---------------------------------- */
/* Register a with the OS layer's fork coordinator (and, once, the layer's
 * process-wide locks), installing the coordinator; unregister at delete. */
void st_fork_register(pa_stack_allocator *a);
void st_fork_unregister(pa_stack_allocator *a);

#endif /* PAGEALLOC_STACK_STACKS_H */
