/*
 * heap.h - the thread-safe page heap's state (Go's mheap: allocSpan, grow,
 * freeSpanLocked, plus the memory limit and the scavenger's goals), shared
 * by the files that implement it:
 *   heap.c      life cycle (new, delete) and handle checks
 *   threads.c   per-thread records and their page caches
 *   runcache.c  per-thread run caches and the run map
 *   grow.c      arenas, growth, the chunk map
 *   alloc.c     allocation
 *   free.c      freeing
 *   guard.c     guard mode
 *   limit.c     scavenging, the memory limit, the scavenger's goal
 *   check.c     the checker and the page visitor
 *   stats.c     statistics and their JSON form
 *   scavenger.c the background scavenger and its pacing controller
 * docs/heap.md has the design in prose.
 *
 * What is managed. Runs of 8 KiB pages in arenas of address space the heap
 * reserves from the OS (sysmem). Every arena byte is in one sysmem state:
 * Reserved (not yet grown into), Prepared (grown but free and released:
 * the allocator's "scavenged" pages, and scavenged pages held in page
 * caches), or Ready (everything else: in use, free and resident, cached
 * and resident). The heap makes every transition itself, outside its
 * locks: sysmem_map when growing, sysmem_used when an allocation contains
 * scavenged pages, sysmem_unused when scavenging. The allocators run in
 * unbacked mode and only keep the books.
 *
 * How it is represented.
 *   - Shards: nshards page allocators, each behind its own lock (lock.h:
 *     an exchange to take, a store to give back). Each
 *     grown chunk belongs to exactly one shard, recorded in the chunk map
 *     (a two-level table, 1 byte per 4 MiB chunk: shard + 1, 0 = not the
 *     heap's), which a free reads without a lock to find the owner.
 *   - Threads: a ph_thread per (thread, heap), found through a pthread key
 *     of the heap, in the heap's registry list. It holds the thread's page
 *     cache (one 64-page block of its shard), its event counters, and the
 *     `busy` flag that hands the cache over between its owner and a
 *     flusher.
 *   - Growth: arenas (64 MiB of address space by default) reserved at
 *     process-wide hints 0x00c000000000 and up (as Go's arena hints; each
 *     heap takes the next hint so several heaps do not collide), else
 *     anywhere; a shard that runs out maps the next chunk-multiple of the
 *     current arena (Reserved -> Prepared) and grows its allocator with it
 *     (all of it scavenged).
 *
 * Run caches (runcache.c): with them on, a thread's free of a run of its
 * own shard (<= 512 pages) keeps the run, allocated in the allocator, in
 * the thread's run cache (64 runs, 4 MiB at most), and the thread's next
 * request of exactly that length takes it back, under the busy flag only;
 * a request of 9 pages or more with no such run takes the shortest longer
 * one and gives its tail to the allocator. A big slot holds one run of
 * 513..4096 pages besides (the longer of the held and the freed run),
 * taken the same way by requests of 513 pages or more. The run map (a page count per
 * allocation's first page, one byte, cached runs marked) validates every
 * free with a load and a compare-and-swap, since the allocator cannot see
 * a second free of a cached run.
 *
 * How an allocation goes (heap_alloc). With run caches on, a cached run
 * of exactly n pages first. n < 16 pages: the thread's cache,
 * under its busy flag only; an empty cache is refilled with one
 * pagealloc_alloc_to_cache under the shard lock (Go's per-P cache rule).
 * Otherwise, or if the cache cannot fit n, pagealloc_alloc under the shard
 * lock; if the shard has no room, grow it and retry. The allocator says
 * which pages of the run were scavenged (a bitmap: pagealloc/heapapi.h,
 * or the cache's scav word); if any were, their bytes are admitted
 * against the limit (below) and those pages are made Ready with one
 * sysmem_used over the span from the first to the last of them (Ready
 * pages between are unchanged by it), without any heap lock.
 *
 * Memory limit. `ready` counts arena bytes that are Ready or admitted to
 * become Ready; admission is a compare-and-swap that keeps ready +
 * metadata <= limit. A refused admission counts a limit hit, flushes every
 * cache and scavenges the excess (as Go's memory-limit assist); then it is
 * retried. If it is refused again, a soft limit admits anyway and a hard
 * limit undoes the allocation (each page goes back to the allocator in the
 * state the bitmap says it was in: resident pages as free and resident,
 * scavenged ones as scavenged; no OS query) and fails with ENOMEM.
 *
 * Scavenging (ph_scavenge), for release, the limit and the background
 * scavenger: two-phase per run, as pagealloc.h describes: take under the
 * shard lock (the run is marked allocated and counted in `inflight`),
 * unlock, sysmem_unused, lock, done. Release and the limit flush the page
 * caches first; the background scavenger does not (Go's does not either).
 * The scavenger's goal (ph_excess): retained memory (Ready arena bytes)
 * at most 10% above recent in-use, where "recent" is a peak that decays
 * linearly to the current in-use over one second; and Ready memory plus
 * metadata below 95% of the limit. Its pacing is in scavenger.c.
 *
 * Locks, in the order they may be taken: sec_mu (the JSON sections of
 * client layers; held while a section's function runs, which may take
 * its client's locks, then reg_mu through pageheap_get_stats) -> reg_mu
 * (registry) -> a thread's busy flag -> grow_mu -> a shard's mu -> the OS
 * layer's registry lock;
 * the fixed-size allocators' own mutexes (thread and range records) are
 * leaves (thread records are taken and given back with no heap lock held,
 * range records under grow_mu). What is under which lock:
 *   - a shard's mu: allocator calls only (a grow holds it for
 *     pa_grow_publish alone, which makes no system call: the new range's
 *     allocator metadata is committed before, under grow_mu, by
 *     pa_grow_prepare), with one exception: pageheap_release ends by
 *     releasing the run map's idle pages with every shard's mu (and
 *     grow_mu) held (ph_rm_trim);
 *     sysmem_used, sysmem_unused and sysmem_fault of heap memory never
 *     run under it (two-phase scavenging, below);
 *   - grow_mu: arena reservation and mapping and the allocators'
 *     metadata commits (system calls), the chunk map and run-map
 *     pointers, which growth alone writes, and the shards' metadata
 *     figures; it serialises the grow steps of each allocator;
 *   - reg_mu: the thread list; a thread's cache flush takes its shard's
 *     mu under it;
 *   - a busy flag: the owner's page cache and run cache; refills,
 *     run-cache flushes and a split run's tail (given back before the
 *     flag goes, so no flag-holder sees it in between) take the shard's
 *     mu, and
 *     cache_make_ready calls sysmem_used_ex on the refilled block's
 *     released runs while holding the flag (no heap lock).
 * The fast path takes one busy flag (an atomic exchange and a release
 * store).
 *
 * Guard mode (options.guard): a free validates under the shard lock,
 * then sysmem_fault's the pages (Ready -> Reserved) without a lock, then
 * returns them to the allocator as scavenged (scavenge_done, one chunk at
 * a time); `guarded` counts those bytes. The pages stay allocated until
 * they are Reserved, so nobody can be handed a page being protected. An
 * allocation whose run has scavenged pages maps the Reserved ones among
 * them again (sysmem_map; the OS layer says where they are, one
 * sysmem_state_span per run) before sysmem_used. Page caches are off in
 * guard mode.
 *
 * Metadata: the heap struct, the chunk map, and the thread and range
 * records (from two fixed-size allocators, os/fixalloc.h: the library
 * never calls malloc) are OS memory charged to meta_stat; each shard's
 * allocator keeps its own (shard.meta). Both count against the limit.
 *
 * Handles: `magic` (PH_MAGIC while live) is checked on entry to every
 * public call; see pageheap.h for what that can and cannot catch.
 *
 * Where it stops scaling. A free takes its shard's lock, so threads on
 * one shard serialise on frees (and threads > shards share shards); the
 * sysmem layer has one process-wide lock, taken by every allocation that
 * contains released pages.
 */
#ifndef PAGEALLOC_PAGEHEAP_HEAP_H
#define PAGEALLOC_PAGEHEAP_HEAP_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/bits.h"
#include "base/export.h"
#include "base/report.h"
#include "os/fixalloc.h"
#include "os/fork.h"
#include "pagealloc/debug.h"
#include "pagealloc/pageheap.h"
#include "pageheap/ctr.h"
#include "pageheap/lock.h"
#include "pageheap/scavenger.h"

#define PH_PAGE          ((size_t)PAGEALLOC_PAGE_SIZE)
#define PH_CHUNK         ((size_t)PAGEALLOC_CHUNK_SIZE)
#define PH_SMALL_PAGES   16u                 /* served by page caches below this */
#define PH_MAX_SHARDS    16u
#define PH_MAX_PAGES     ((size_t)1 << 34)   /* 128 TiB: beyond any heap */
#define PH_ADDR_LIMIT    ((uintptr_t)1 << 47)
#define PH_MAP_BITS      13u                 /* chunk map: 2 x 13 bits of chunk index */
#define PH_MAP_L2        ((size_t)1 << PH_MAP_BITS)
#define PH_DENSE_PAGES   496u
#define PH_DEFAULT_ARENA ((size_t)64 << 20)
#define PH_GROW_STEP     ((size_t)64 << 20)  /* least growth with several shards (grow.c) */
#define PH_PEAK_DECAY_NS 1000000000u
#define PH_MAGIC         0x50414745484541ull  /* "PAGEHEA": a live heap */

/* Run caches (runcache.c, docs/heap.md "Run caches"): per thread, runs
 * the thread freed, kept allocated in the allocator and handed out again
 * without the shard lock, for requests of exactly their length, or (from
 * PH_RC_SPLIT_MIN pages) the head of a longer one. Bounds: PH_RC_ENTRIES
 * runs and PH_RC_PAGES pages per thread. */
#define PH_RC_BINS    64u                 /* bins for 1..64 pages; bin 0: longer runs */
#define PH_RC_ENTRIES 64u
#define PH_RC_PAGES   512u                /* 4 MiB */
#define PH_RC_SPLIT_MIN 9u                /* shorter requests take exact lengths only */
#define PH_RC_BIG_PAGES 4096u             /* the big slot: one run of 513..4096 pages */
#define PH_RC_FILL_SHIFT 16u              /* ph_runcache.fill: runs above, pages below */

/* Run map entries, one byte per page (runcache.c has the encoding's
 * reasons; runmap.h the accessors). At the first page of a live or cached
 * allocation: its length code, 1..62 for exactly that many pages,
 * PH_RM_LONG for 63 pages or more, with PH_RM_CACHED set while a run
 * cache holds it. A PH_RM_LONG run keeps its exact page count in the
 * entries of its next pages (at most PH_RM_XBYTES), 6 bits each, low bits
 * first, each marked PH_RM_CONT, all but the last PH_RM_MORE. Every other
 * entry is 0. */
#define PH_RM_CACHED  0x40u
#define PH_RM_CONT    0x80u
#define PH_RM_MORE    0x40u               /* in a count entry: another follows */
#define PH_RM_LONG    63u
#define PH_RM_XBYTES  6u                  /* 36 bits: any PH_MAX_PAGES count */
#define PH_RM_OWNER   31u                 /* low bits of a chunk pointer: shard + 1 */
typedef _Atomic uint8_t ph_rm_entry;

/* One cached run. */
typedef struct ph_run {
    uintptr_t base;
    ph_rm_entry *rm;                    /* its run map entry (saves a lookup on reuse) */
    uint32_t npages;
    uint16_t next;                      /* entry index + 1 in its bin; 0: end */
} ph_run;

/* A thread's run cache; every field written under its thread's busy
 * flag. Invariants: each entry in use is in exactly one bin (bin k for k
 * pages, 1 <= k <= 64; bin 0 for longer runs); bit k-1 of `nonempty` is
 * set iff bin k (k >= 1) is not empty; `fill` counts the runs held and
 * their pages; each held run is allocated in its thread's shard's
 * allocator and its run map entry is PH_RM_CACHED | its length code; its
 * pages are Ready. Unused entries are those at index >= hw and those on
 * the `freel` list. A zeroed struct is an empty cache.
 * `fill` holds both totals, the runs in the bins times 2^PH_RC_FILL_SHIFT
 * plus their pages (rc_fill_*, runcache.h), so that a run goes in or out
 * with one add or subtract and rc_may_keep tests both bounds with one
 * mask. It is also what other threads read (the owner's free path
 * without the flag, pageheap_stats, pageheap_check): a relaxed atomic
 * counter, changed in place with ctr_own_add / ctr_own_sub (one writer
 * at a time, the flag's holder), not private totals copied to published
 * ones after each change (issue 11: each hit and each keep four
 * instructions shorter, and the keep's bound test five). */
typedef struct ph_runcache {
    _Atomic uint64_t fill;              /* runs << PH_RC_FILL_SHIFT | pages */
    uint64_t nonempty;
    uint16_t head[PH_RC_BINS + 1];      /* entry index + 1; 0: empty */
    uint16_t freel;                     /* unused entries (index + 1) */
    uint16_t hw;                        /* entries [0, hw) have been used */
    /* The big slot: one run longer than PH_RC_PAGES and at most
     * PH_RC_BIG_PAGES (base 0: empty), outside the bounds above; its run
     * map entry is PH_RM_CACHED | PH_RM_LONG. */
    uintptr_t big;
    uint64_t big_pages;
    ph_run e[PH_RC_ENTRIES];
} ph_runcache;

/* Event counters of one thread. Single writer (the owning thread,
 * ctr_stat_add: ctr.h); any thread reads them (relaxed loads). `uncached`: the
 * allocations no cache served (pageheap_stats reports allocs - uncached
 * as cache_allocs), so that a run-cache hit, the common case, adds to two
 * counters, not three. */
typedef struct ph_counters {
    _Atomic uint64_t allocs, alloc_bytes, uncached, frees, freed_bytes;
} ph_counters;

typedef struct ph_thread {
    atomic_int busy;                    /* 1 while owner or flusher uses cache */
    unsigned shard;                     /* constant */
    unsigned rm_owner;                  /* shard + 1: its run map tag; constant */
    pagealloc_cache cache;              /* under busy; pages of shard's allocator */
    _Atomic uint64_t cache_bytes;       /* bytes in cache; written under busy */
    _Atomic uint64_t cache_released;    /* bytes of those scavenged; under busy */
    ph_runcache rc;                     /* run cache; under busy */
    _Atomic uint64_t rc_big;            /* bytes in rc's big slot; written under busy */
    ph_counters c;
    struct ph_thread *prev, *next;      /* registry list, under heap->reg_mu */
    pageheap *heap;                     /* constant */
} ph_thread;

typedef struct ph_shard {
    ph_lock mu;                         /* lock.h */
    pagealloc *pa;                      /* under mu */
    _Atomic uint64_t inflight;          /* bytes taken for scavenging, changed under mu */
    _Atomic uint64_t meta;              /* pa's metadata bytes, changed under grow_mu */
    unsigned nthreads;                  /* threads bound here, under reg_mu */
    unsigned nfresh;                    /* non-empty ranges in its ph_fresh_set, under mu */
} __attribute__((aligned(64))) ph_shard;

/* A shard's untouched fresh-window ranges [lo, hi) (fresh.h), under its mu. */
#define PH_FRESH_SLOTS 4
typedef struct ph_fresh { uintptr_t lo, hi; } ph_fresh;
typedef struct ph_fresh_set { ph_fresh slot[PH_FRESH_SLOTS]; } ph_fresh_set;

/* A reservation (freed at delete, with its run map block) or a grown
 * range (walked by the check). */
typedef struct ph_range {
    uintptr_t base;
    size_t size;
    unsigned shard;
    void *rm;                           /* reservation: run map entries of its chunks (or NULL) */
    size_t rm_bytes;
    struct ph_range *next;
} ph_range;

/* A client layer's section of the JSON (pageheap_attach_stats). Slots are
 * filled in attach order and kept packed; the whole array is under the
 * heap's sec_mu, which is also held while fn runs. */
typedef struct ph_section {
    char name[32];
    pageheap_stats_fn fn;
    void *arg;
} ph_section;

struct pageheap {
    /* Constant after pageheap_new (PH_MAGIC; 0 once deleted). First, so
     * that checking a foreign pointer reads as little as possible. */
    uint64_t magic;
    uint64_t id;                        /* unique among the process's heaps */
    pthread_key_t key;
    unsigned nshards;
    int hard;
    int reads_zero;                     /* released pages read back zero */
    size_t phys_page;
    size_t arena_bytes;
    pageheap_huge_policy huge;
    pageheap_clock clock;
    size_t self_bytes;
    int scav_on;
    int guard;                          /* guard mode: frees are sysmem_fault'ed */
    int threadless;                     /* no thread records (ph_set_threadless) */
    int runcache;                       /* run caches and the run map are on */
    int rc_merge;                       /* PAGEHEAP_MERGE_NEXT, _BOTH or 0 (runmap.h) */
    /* Run map level 1 (PH_MAP_L2 blocks of PH_MAP_L2 chunk pointers, each
     * to its chunk's PAGEALLOC_CHUNK_PAGES entries); NULL unless runcache.
     * Blocks and chunk pointers are set under grow_mu, read by anyone. */
    _Atomic(ph_rm_entry *_Atomic *) *runmap;

    _Atomic uint64_t limit;             /* 0: none */
    sysmem_stat heap_stat;              /* arena bytes mapped (Prepared + Ready) */
    sysmem_stat meta_stat;              /* this struct and the chunk map */
    _Atomic uint64_t ready;             /* arena bytes Ready or admitted to be */
    _Atomic uint64_t guarded;           /* guard mode: free arena bytes made Reserved */
    _Atomic uint64_t reserved_total;    /* arena address space reserved */
    _Atomic uint64_t grows, grow_bytes, scavenges, scavenged_bytes;
    _Atomic uint64_t assist_ns, limit_hits, limit_failures;
    ph_counters dead;                   /* exited threads, thread-less calls (fetch_add) */

    pthread_mutex_t reg_mu;             /* registry */
    ph_thread *threads;                 /* under reg_mu */
    unsigned nthreads;                  /* under reg_mu */

    pa_fixalloc thread_recs;            /* ph_thread records (own mutex) */
    pa_fixalloc range_recs;             /* ph_range records (own mutex) */

    pthread_mutex_t grow_mu;            /* growth */
    uintptr_t arena_cur, arena_end;     /* unused part of the current arena; grow_mu */
    ph_range *regions;                  /* reservations; grow_mu */
    ph_range *grown;                    /* grown ranges, newest first; grow_mu */

    pthread_mutex_t goal_mu;            /* scavenger goal state */
    uint64_t peak_in_use, peak_time;    /* decaying peak of in-use; goal_mu */
    uint64_t ceil_pm;                   /* options.resident_ceiling; 0: off */
    _Atomic uint64_t in_use_hwm;        /* its highest in-use seen (limit.c) */

    pthread_mutex_t sec_mu;             /* JSON sections of client layers */
    ph_section sections[PAGEHEAP_STATS_SECTIONS];   /* sec_mu; fn NULL: free slot */

    pa_scavenger scav;                  /* if scav_on */
    sm_fork_client fork;                /* registered from new to delete */
    _Atomic(uint8_t *) map[PH_MAP_L2];  /* chunk map level 1; entries set under grow_mu */
    ph_shard shards[PH_MAX_SHARDS];
    ph_fresh_set fresh[PH_MAX_SHARDS];  /* shards[i]'s untouched window pages (fresh.c) */
};

/* ---- Small helpers, for every file of the heap -------------------------- */

static inline uint64_t ld(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Whether h is a live heap (see "Handles" in pageheap.h). */
static inline int heap_live(const pageheap *h)
{
    return h && h->magic == PH_MAGIC;
}

/* Report call(addr, npages) on a handle that is not a live heap; 1 if so. */
static inline int ph_heap_bad(const pageheap *h, const char *call, uintptr_t addr, size_t npages)
{
    if (heap_live(h))
        return 0;
    char rule[128];
    snprintf(rule, sizeof rule, "handle %#lx is not a live pageheap (NULL, deleted or foreign)",
             (unsigned long)(uintptr_t)h);
    pa_report(call, addr, npages, rule);
    return 1;
}

static inline uint64_t now_ns(const pageheap *h)
{
    return h->clock.now_ns(h->clock.arg);
}

static inline void busy_lock(ph_thread *t)
{
    while (atomic_exchange_explicit(&t->busy, 1, memory_order_acquire))
        sched_yield();
}
static inline void busy_unlock(ph_thread *t)
{
    atomic_store_explicit(&t->busy, 0, memory_order_release);
}

/* Publish the cache's size for readers; busy held. */
static inline void cache_publish(ph_thread *t)
{
    atomic_store_explicit(&t->cache_bytes,
                          (uint64_t)pa_popcount64(t->cache.cache) * PH_PAGE,
                          memory_order_relaxed);
    atomic_store_explicit(&t->cache_released,
                          (uint64_t)pa_popcount64(t->cache.scav & t->cache.cache) * PH_PAGE,
                          memory_order_relaxed);
}

/* Publish the size of the run cache's big slot for readers (the bins'
 * figures, rc.fill, are read where they are kept); busy held. */
static inline void rc_publish_big(ph_thread *t)
{
    atomic_store_explicit(&t->rc_big, t->rc.big_pages * PH_PAGE, memory_order_relaxed);
}

/* The calling thread's record of the heap it used last (threads.c),
 * found without pthread_getspecific; valid while `id` is that heap's id
 * (never reused). h is never NULL (PH_LAST_NONE), nor set for a
 * threadless heap. `rc_id` is the id too if the heap has run caches,
 * else 0 (no heap's id): the fast paths test `rc_id == h->id` and so
 * learn both in one compare, without reading h->runcache (issue 11).
 * Initial-exec TLS: the default model under -fPIC calls __tls_get_addr,
 * which made the fast paths spill their arguments. */
typedef struct ph_last_rec {
    const pageheap *h;
    uint64_t id;
    struct ph_thread *t;
    uint64_t rc_id;
} ph_last_rec;
extern __thread ph_last_rec ph_last __attribute__((tls_model("initial-exec")));
extern const uint64_t ph_last_none;       /* ph_last.h, never NULL: threads.c */
#define PH_LAST_NONE ((const pageheap *)&ph_last_none)
void ph_last_forget(const pageheap *h);

/* The calling thread's record, created on first use; NULL if it cannot be
 * (the caller then goes without a cache). ph_thread_find (threads.c) is
 * the slow path. */
ph_thread *ph_thread_find(pageheap *h);
static inline ph_thread *ph_thread_get(pageheap *h)
{
    if (ph_last.h == h && ph_last.id == h->id)
        return ph_last.t;
    return ph_thread_find(h);
}

/* Shard + 1 owning the chunk of addr, 0 if not the heap's (the chunk map,
 * written by grow.c). Any thread. */
static inline unsigned ph_map_get(pageheap *h, uintptr_t a)
{
    if (a >= ((uintptr_t)1 << 48))
        return 0;
    size_t ci = a >> 22;
    uint8_t *l2 = atomic_load_explicit(&h->map[ci >> PH_MAP_BITS], memory_order_acquire);
    if (!l2)
        return 0;
    return __atomic_load_n(&l2[ci & (PH_MAP_L2 - 1)], __ATOMIC_ACQUIRE);
}

/* Metadata bytes: the heap's own plus every allocator's. */
static inline uint64_t meta_total(pageheap *h)
{
    uint64_t m = sysmem_stat_load(&h->meta_stat);
    for (unsigned i = 0; i < h->nshards; i++)
        m += ld(&h->shards[i].meta);
    return m;
}

/* Give [a, a + npages pages) back to shard s's allocator as free and
 * scavenged, one chunk's piece at a time (pagealloc_scavenge_done takes
 * runs within one chunk), each checked at level 2 under `call`. The
 * shard's lock held. */
static inline void ph_give_back_scavenged(ph_shard *s, uintptr_t a, size_t npages,
                                          const char *call)
{
    for (uintptr_t p = a, end = a + npages * PH_PAGE; p < end;) {
        uintptr_t stop = (p | (PH_CHUNK - 1)) + 1;
        if (stop > end)
            stop = end;
        pagealloc_scavenge_done(s->pa, p, (stop - p) / PH_PAGE, 1);
        PA_DEBUG_AFTER(s->pa, call, p, (stop - p) / PH_PAGE);
        p = stop;
    }
}

/* ---- Across the files ------------------------------------------------------ */

/* heap.c */
/* For a heap that serves a malloc: never make thread records (they would
 * need pthread_setspecific, which may call malloc) nor page caches; each
 * thread's requests go to a shard picked from its stack address. Before
 * the heap's first use. */
void       ph_set_threadless(pageheap *h);
/* Start the background scavenger of a heap made without it (outside any
 * lock a malloc might hold: it creates a thread). 0 or an errno value. */
int        ph_start_scavenger(pageheap *h);

/* Fork: every heap is a client of the OS layer's fork coordinator
 * (os/fork.h), registered by pageheap_new and unregistered by delete. Its
 * prepare takes every lock of the heap in its lock order, the busy flag
 * of every thread record included (so no page cache is mid-change), each
 * shard's once no run of it is out for scavenging (inflight 0: the
 * scavenger needs only that shard's lock to bring it back);
 * parent releases them; child makes them new, clears every busy flag
 * (the other threads' records and caches stay, flushable) and marks the
 * background scavenger stopped (its thread does not exist in the child;
 * ph_start_scavenger starts a new one). The handlers run only once some
 * layer has installed the coordinator (sm_fork_install). Not waited for:
 * an allocation or free in flight in another thread (between its locked
 * steps and its sysmem calls) is lost in the child, its run allocated
 * for good; a client layer that needs a clean child waits for its own
 * calls (the stack layer does). */

/* threads.c */
/* ph_thread_find: see ph_thread_get. */
/* The pthread key's destructor: the thread is exiting. */
void       ph_thread_exit(void *arg);

/* runcache.c */
/* Make the run map's level 1 (pageheap_new). 0 or an errno value. */
int        ph_rm_init(pageheap *h);
/* Make the run map block of the new reservation r (runcache on); grow_mu
 * held. 0 or an errno value (r->rm stays NULL). */
int        ph_rm_reserve(pageheap *h, ph_range *r);
/* Point the run map at the entries of the grown range g's chunks, in
 * their reservations' blocks (runcache on); grow_mu held. 0 or an errno
 * value (nothing changed that matters: only level-2 blocks are kept). */
int        ph_rm_grow(pageheap *h, ph_range *g);
/* Give the OS the run map's pages that cover only chunks that are wholly
 * free or not grown (pageheap_release): they hold zeros, and no entry of
 * them is written while every shard's lock is held (a writer holds an
 * allocation first). Takes grow_mu and every shard's lock, in order, and
 * makes its two OS-layer calls per page under them. */
void       ph_rm_trim(pageheap *h);
/* Undo ph_rm_grow for g (a failed grow); grow_mu held. */
void       ph_rm_drop(pageheap *h, ph_range *g);
/* Free the run map's levels 1 and 2 (delete; the reservations' blocks
 * go with the reservations, in ph_grow_destroy). */
void       ph_rm_destroy(pageheap *h);
/* A run of npages from t's run cache when its exact bin is empty or
 * npages > PH_RC_BINS (the caller tried the bin, alloc.c): an exact run
 * of a longer length, or from PH_RC_SPLIT_MIN pages the shortest longer
 * run, whose tail goes to the allocator under the shard lock; records the
 * allocation in the run map. 0 if none. t's busy flag held on entry;
 * released on success, still held on 0. Adding runs is inline (runcache.h, rc_insert). */
uintptr_t  ph_rc_alloc_locked(pageheap *h, ph_thread *t, size_t npages);
/* The run in t's big slot for a request of npages > PH_RC_PAGES, if it is
 * at least that long (its tail goes to the allocator), recorded in the
 * run map; 0 if not. Takes t's busy flag. */
uintptr_t  ph_rc_big_alloc(pageheap *h, ph_thread *t, size_t npages);
/* Give the run at a (its run map entry e, ours: the caller took it from
 * a cache) of npages back to shard s's allocator: clear its entries,
 * then free it under the shard lock. */
void       ph_rc_release(pageheap *h, ph_shard *s, ph_rm_entry *e, uintptr_t a, size_t npages);
/* Give t's cached runs back to its shard's allocator; t's busy flag held.
 * Returns the bytes given back. */
uint64_t   ph_rc_flush(pageheap *h, ph_thread *t);
/* ph_rc_flush for every thread (takes reg_mu and the busy flags). */
uint64_t   ph_rc_flush_all(pageheap *h);
/* A free that does not match the run map (entry v at a): report it with
 * the allocator's rule, or with the run map's. */
void       ph_rc_bad_free(pageheap *h, ph_shard *s, uintptr_t a, size_t npages, uint8_t v);
/* Check t's run cache (check.c); 0 or EFAULT with msg. All locks held. */
int        ph_rc_check(pageheap *h, ph_thread *t, char *msg, size_t size);
/* Mark t's cached pages within chunk c as PAGEHEAP_PAGE_CACHED in st. */
void       ph_rc_visit(ph_thread *t, uintptr_t c, uint8_t *st);

/* grow.c */
/* Give shard si at least npages more pages. No lock held. */
int        ph_grow(pageheap *h, unsigned si, size_t npages);
/* Return the arenas, the grown-range records and the chunk map (delete). */
void       ph_grow_destroy(pageheap *h);

/* limit.c */
/* Release at least want bytes of free resident memory; no lock held. */
size_t     ph_scavenge(pageheap *h, size_t want);
/* Flush the caches and scavenge want bytes, timed as an assist. */
size_t     ph_assist(pageheap *h, size_t want);
/* Bytes by which Ready memory + metadata + extra exceeds the limit. */
uint64_t   ph_over_limit(pageheap *h, uint64_t extra);
/* Add bytes to ready if the limit allows (always without a limit). */
int        ph_admit(pageheap *h, uint64_t bytes);
int        ph_ceiling_admits(pageheap *h, uint64_t bytes);  /* the resident ceiling */
void       ph_ceiling(pageheap *h);     /* ceil_pm set, bytes became Ready: enforce it */
/* The background scavenger's hooks (pa_scav_hooks). */
uint64_t   ph_hook_now(void *arg);
size_t     ph_excess(void *arg, uint64_t now);
size_t     ph_hook_release(void *arg, size_t max);

/* guard.c */
/* Map the guarded (Reserved) pages among the scavenged pages of a run just
 * allocated (bit i of scav: page i scavenged). 0 or an errno value. */
int        ph_guard_unprotect(pageheap *h, uintptr_t base, size_t npages, const uint64_t *scav);
/* Guard mode's free of a validated run; 1 if done, 0 if the pages could
 * not be protected (the caller frees them normally). */
int        ph_guard_free(pageheap *h, ph_shard *s, uintptr_t a, size_t npages);

/* stats.c */
/* reg_mu held iff reg_held. */
void       ph_stats_fill(pageheap *h, pageheap_stats *out, int reg_held);

#endif /* PAGEALLOC_PAGEHEAP_HEAP_H */
