/*
 * pageheap.c - the thread-safe page heap (Go's mheap: allocSpan, grow,
 * freeSpanLocked, plus the memory limit and the scavenger's goals).
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
 *   - Shards: nshards page allocators, each behind its own mutex. Each
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
 * How an allocation goes (heap_alloc). n < 16 pages: the thread's cache,
 * under its busy flag only; an empty cache is refilled with one
 * pagealloc_alloc_to_cache under the shard lock (Go's per-P cache rule).
 * Otherwise, or if the cache cannot fit n, pagealloc_alloc under the shard
 * lock; if the shard has no room, grow it and retry. Then, if the run
 * contains scavenged bytes, they are admitted against the limit (below)
 * and made Ready with sysmem_used, without any heap lock.
 *
 * Memory limit. `ready` counts arena bytes that are Ready or admitted to
 * become Ready; admission is a compare-and-swap that keeps ready +
 * metadata <= limit. A refused admission counts a limit hit, flushes every
 * cache and scavenges the excess (as Go's memory-limit assist); then it is
 * retried. If it is refused again, a soft limit admits anyway and a hard
 * limit undoes the allocation (each page goes back to the allocator in the
 * state it was in: Ready pages as free and resident, Prepared ones as
 * scavenged) and fails with ENOMEM.
 *
 * Scavenging (heap_scavenge), for release, the limit and the background
 * scavenger: two-phase per run, as pagealloc.h describes: take under the
 * shard lock (the run is marked allocated and counted in `inflight`),
 * unlock, sysmem_unused, lock, done. Release and the limit flush the page
 * caches first; the background scavenger does not (Go's does not either).
 * The scavenger's goal (heap_excess): retained memory (Ready arena bytes)
 * at most 10% above recent in-use, where "recent" is a peak that decays
 * linearly to the current in-use over one second; and Ready memory plus
 * metadata below 95% of the limit. Its pacing is in scavenger.c.
 *
 * Locks, in the order they may be taken: reg_mu (registry) -> a thread's
 * busy flag -> grow_mu -> a shard's mu -> sysmem's own lock. Nothing is
 * taken while holding a shard lock except sysmem (via nothing here: no
 * system call is made under a shard lock). The fast path takes one busy
 * flag (an atomic exchange and a release store).
 *
 * Guard mode (options.guard): a free validates under the shard lock,
 * then sysmem_fault's the pages (Ready -> Reserved) without a lock, then
 * returns them to the allocator as scavenged (scavenge_done, one chunk at
 * a time); `guarded` counts those bytes. The pages stay allocated until
 * they are Reserved, so nobody can be handed a page being protected. An
 * allocation whose run has scavenged bytes maps its Reserved pages again
 * (sysmem_map) before sysmem_used. Page caches are off in guard mode.
 *
 * Handles: `magic` (PH_MAGIC while live) is checked on entry to every
 * public call; see pageheap.h for what that can and cannot catch.
 *
 * Where it stops scaling. A free takes its shard's lock, so threads on
 * one shard serialise on frees (and threads > shards share shards); the
 * sysmem layer has one process-wide lock, taken by every allocation that
 * contains released pages.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pagealloc/pageheap.h"
#include "pagealloc/testing.h"
#include "debug.h"
#include "bits.h"
#include "export.h"
#include "report.h"
#include "scavenger.h"

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
#define PH_PEAK_DECAY_NS 1000000000u
#define PH_MAGIC         0x50414745484541ull  /* "PAGEHEA": a live heap */

/* Event counters of one thread. Single writer (the owning thread) with
 * relaxed atomic load+store; any thread reads them. */
typedef struct ph_counters {
    _Atomic uint64_t allocs, alloc_bytes, cache_allocs, frees, freed_bytes;
} ph_counters;

typedef struct ph_thread {
    atomic_int busy;                    /* 1 while owner or flusher uses cache */
    unsigned shard;                     /* constant */
    pagealloc_cache cache;              /* under busy; pages of shard's allocator */
    _Atomic uint64_t cache_bytes;       /* bytes in cache; written under busy */
    _Atomic uint64_t cache_released;    /* bytes of those scavenged; under busy */
    ph_counters c;
    struct ph_thread *prev, *next;      /* registry list, under heap->reg_mu */
    pageheap *heap;                     /* constant */
} ph_thread;

typedef struct ph_shard {
    pthread_mutex_t mu;
    pagealloc *pa;                      /* under mu */
    _Atomic uint64_t inflight;          /* bytes taken for scavenging, changed under mu */
    _Atomic uint64_t meta;              /* pa's metadata bytes, changed under mu */
    unsigned nthreads;                  /* threads bound here, under reg_mu */
} __attribute__((aligned(64))) ph_shard;

/* A reservation (freed at delete) or a grown range (walked by the check). */
typedef struct ph_range {
    uintptr_t base;
    size_t size;
    unsigned shard;
    struct ph_range *next;
} ph_range;

struct pageheap {
    /* Constant after pageheap_new (PH_MAGIC; 0 once deleted). First, so
     * that checking a foreign pointer reads as little as possible. */
    uint64_t magic;
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

    pthread_mutex_t grow_mu;            /* growth */
    uintptr_t arena_cur, arena_end;     /* unused part of the current arena; grow_mu */
    ph_range *regions;                  /* reservations; grow_mu */
    ph_range *grown;                    /* grown ranges, newest first; grow_mu */

    pthread_mutex_t goal_mu;            /* scavenger goal state */
    uint64_t peak_in_use, peak_time;    /* decaying peak of in-use; goal_mu */

    pa_scavenger scav;                  /* if scav_on */
    _Atomic(uint8_t *) map[PH_MAP_L2];  /* chunk map level 1; entries set under grow_mu */
    ph_shard shards[PH_MAX_SHARDS];
};

/* ---- Small helpers --------------------------------------------------------- */

static void ctr_own_add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}
static void ctr_add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}
static void ctr_sub(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_sub_explicit(c, v, memory_order_relaxed);
}
static uint64_t ld(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Whether h is a live heap (see "Handles" in pageheap.h). */
static int heap_live(const pageheap *h)
{
    return h && h->magic == PH_MAGIC;
}

/* Report call(addr, npages) on a handle that is not a live heap; 1 if so. */
static int heap_bad(const pageheap *h, const char *call, uintptr_t addr, size_t npages)
{
    if (heap_live(h))
        return 0;
    char rule[128];
    snprintf(rule, sizeof rule, "handle %#lx is not a live pageheap (NULL, deleted or foreign)",
             (unsigned long)(uintptr_t)h);
    pa_report(call, addr, npages, rule);
    return 1;
}

static uint64_t now_ns(const pageheap *h)
{
    return h->clock.now_ns(h->clock.arg);
}

static uint64_t monotonic_ns(void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void busy_lock(ph_thread *t)
{
    while (atomic_exchange_explicit(&t->busy, 1, memory_order_acquire))
        sched_yield();
}
static void busy_unlock(ph_thread *t)
{
    atomic_store_explicit(&t->busy, 0, memory_order_release);
}

/* Publish the cache's size for readers; busy held. */
static void cache_publish(ph_thread *t)
{
    atomic_store_explicit(&t->cache_bytes,
                          (uint64_t)pa_popcount64(t->cache.cache) * PH_PAGE,
                          memory_order_relaxed);
    atomic_store_explicit(&t->cache_released,
                          (uint64_t)pa_popcount64(t->cache.scav & t->cache.cache) * PH_PAGE,
                          memory_order_relaxed);
}

/* Metadata bytes: the heap's own plus every allocator's. */
static uint64_t meta_total(pageheap *h)
{
    uint64_t m = sysmem_stat_load(&h->meta_stat);
    for (unsigned i = 0; i < h->nshards; i++)
        m += ld(&h->shards[i].meta);
    return m;
}

/* ---- Chunk map ---------------------------------------------------------------- */

/* Shard + 1 owning the chunk of addr, 0 if not the heap's. Any thread. */
static unsigned map_get(pageheap *h, uintptr_t a)
{
    if (a >= ((uintptr_t)1 << 48))
        return 0;
    size_t ci = a >> 22;
    uint8_t *l2 = atomic_load_explicit(&h->map[ci >> PH_MAP_BITS], memory_order_acquire);
    if (!l2)
        return 0;
    return __atomic_load_n(&l2[ci & (PH_MAP_L2 - 1)], __ATOMIC_ACQUIRE);
}

/* Set the chunks of [base, base+size) to v. grow_mu held. */
static int map_set(pageheap *h, uintptr_t base, size_t size, uint8_t v)
{
    for (uintptr_t a = base; a < base + size; a += PH_CHUNK) {
        size_t ci = a >> 22;
        uint8_t *l2 = atomic_load_explicit(&h->map[ci >> PH_MAP_BITS], memory_order_relaxed);
        if (!l2) {
            void *mem;
            int err = sysmem_alloc(PH_MAP_L2, &h->meta_stat, &mem);
            if (err)
                return err;
            l2 = mem;
            atomic_store_explicit(&h->map[ci >> PH_MAP_BITS], l2, memory_order_release);
        }
        __atomic_store_n(&l2[ci & (PH_MAP_L2 - 1)], v, __ATOMIC_RELEASE);
    }
    return 0;
}

/* ---- Threads ------------------------------------------------------------------- */

static void cache_flush_locked(ph_shard *s, pagealloc_cache *c)
{
    /* A flushed cache does not mark the scavenge index (Go's flush does
     * not): mark the block when it returns resident pages, so that release
     * finds them. */
    uintptr_t base = c->base;
    int resident = (c->cache & ~c->scav) != 0;
    pagealloc_cache_flush(c, s->pa);
    if (resident)
        pagealloc_scavenge_mark(s->pa, base, PAGEALLOC_CACHE_PAGES);
    PA_DEBUG_AFTER(s->pa, "pagealloc_cache_flush", base, PAGEALLOC_CACHE_PAGES);
}

/* Return t's cache to its shard. t's busy flag held. */
static void thread_flush(pageheap *h, ph_thread *t)
{
    if (t->cache.cache == 0)
        return;
    ph_shard *s = &h->shards[t->shard];
    pthread_mutex_lock(&s->mu);
    cache_flush_locked(s, &t->cache);
    pthread_mutex_unlock(&s->mu);
    cache_publish(t);
}

static void fold_counters(ph_counters *dst, ph_counters *src)
{
    ctr_add(&dst->allocs, ld(&src->allocs));
    ctr_add(&dst->alloc_bytes, ld(&src->alloc_bytes));
    ctr_add(&dst->cache_allocs, ld(&src->cache_allocs));
    ctr_add(&dst->frees, ld(&src->frees));
    ctr_add(&dst->freed_bytes, ld(&src->freed_bytes));
}

/* The key destructor: the thread is exiting. */
static void thread_exit(void *arg)
{
    ph_thread *t = arg;
    pageheap *h = t->heap;
    pthread_mutex_lock(&h->reg_mu);
    busy_lock(t);
    thread_flush(h, t);
    busy_unlock(t);
    fold_counters(&h->dead, &t->c);
    if (t->prev)
        t->prev->next = t->next;
    else
        h->threads = t->next;
    if (t->next)
        t->next->prev = t->prev;
    h->shards[t->shard].nthreads--;
    h->nthreads--;
    pthread_mutex_unlock(&h->reg_mu);
    free(t);
}

/* The calling thread's state, created on first use; NULL if it cannot be
 * (the caller then goes without a cache). */
static ph_thread *thread_get(pageheap *h)
{
    ph_thread *t = pthread_getspecific(h->key);
    if (t)
        return t;
    t = aligned_alloc(64, (sizeof(ph_thread) + 63) & ~(size_t)63);
    if (!t)
        return NULL;
    memset(t, 0, sizeof(*t));
    t->heap = h;
    pthread_mutex_lock(&h->reg_mu);
    unsigned best = 0;
    for (unsigned i = 1; i < h->nshards; i++)
        if (h->shards[i].nthreads < h->shards[best].nthreads)
            best = i;
    t->shard = best;
    h->shards[best].nthreads++;
    h->nthreads++;
    t->next = h->threads;
    if (h->threads)
        h->threads->prev = t;
    h->threads = t;
    pthread_mutex_unlock(&h->reg_mu);
    if (pthread_setspecific(h->key, t) != 0) {
        thread_exit(t);
        return NULL;
    }
    return t;
}

PA_API void pageheap_flush_caches(pageheap *h)
{
    if (heap_bad(h, "pageheap_flush_caches", 0, 0))
        return;
    pthread_mutex_lock(&h->reg_mu);
    for (ph_thread *t = h->threads; t; t = t->next) {
        busy_lock(t);
        thread_flush(h, t);
        busy_unlock(t);
    }
    pthread_mutex_unlock(&h->reg_mu);
}

/* ---- Growth -------------------------------------------------------------------- */

/* Process-wide arena hint, shared by all heaps (Go's arena hints). */
static _Atomic uintptr_t g_hint = (uintptr_t)0x00c000000000;

/* Reserve size bytes (a chunk multiple), chunk aligned. grow_mu held. */
static int reserve_arena(pageheap *h, size_t size, uintptr_t *out)
{
    ph_range *r = malloc(sizeof(*r));
    if (!r)
        return ENOMEM;
    for (int i = 0; i < 16; i++) {
        uintptr_t hint = atomic_fetch_add(&g_hint, size);
        if (hint >= PH_ADDR_LIMIT || size > PH_ADDR_LIMIT - hint)
            break;
        void *p;
        if (sysmem_reserve((void *)hint, size, &p) != 0)
            break;
        if ((uintptr_t)p == hint) {
            r->base = hint;
            r->size = size;
            goto done;
        }
        /* Somewhere else: give it back and try the next hint. If it
         * cannot be given back now, keep it (freed at delete). */
        if (sysmem_free(p, size, NULL) != 0) {
            ph_range *k = malloc(sizeof(*k));
            if (k) {
                *k = (ph_range){ .base = (uintptr_t)p, .size = size, .next = h->regions };
                h->regions = k;
                ctr_add(&h->reserved_total, size);
            }
        }
    }
    /* Anywhere, with room to align to a chunk. */
    void *p;
    int err = sysmem_reserve(NULL, size + PH_CHUNK, &p);
    if (err) {
        free(r);
        return err;
    }
    r->base = (uintptr_t)p;
    r->size = size + PH_CHUNK;
done:
    r->next = h->regions;
    h->regions = r;
    ctr_add(&h->reserved_total, r->size);
    *out = (r->base + PH_CHUNK - 1) & ~(uintptr_t)(PH_CHUNK - 1);
    return 0;
}

/* Give shard s at least npages more pages: map the next chunks of the
 * arena and grow s's allocator with them. No lock held. */
static int heap_grow(pageheap *h, unsigned si, size_t npages)
{
    ph_shard *s = &h->shards[si];
    size_t bytes = (npages * PH_PAGE + PH_CHUNK - 1) & ~(PH_CHUNK - 1);
    ph_range *g = malloc(sizeof(*g));
    if (!g)
        return ENOMEM;

    pthread_mutex_lock(&h->grow_mu);
    if (h->arena_end - h->arena_cur < bytes) {
        size_t rsz = (bytes + h->arena_bytes - 1) / h->arena_bytes * h->arena_bytes;
        uintptr_t p;
        int err = reserve_arena(h, rsz, &p);
        if (err) {
            pthread_mutex_unlock(&h->grow_mu);
            free(g);
            return ENOMEM;
        }
        if (p == h->arena_end && h->arena_end != 0) {
            h->arena_end += rsz;          /* contiguous with the current arena */
        } else {
            h->arena_cur = p;
            h->arena_end = p + rsz;
        }
    }
    uintptr_t base = h->arena_cur;
    int err = sysmem_map((void *)base, bytes, &h->heap_stat);
    if (!err) {
        err = map_set(h, base, bytes, (uint8_t)(si + 1));
        if (err) {
            (void)map_set(h, base, bytes, 0);
            (void)sysmem_fault((void *)base, bytes, &h->heap_stat);
        }
    }
    if (err) {
        pthread_mutex_unlock(&h->grow_mu);
        free(g);
        return ENOMEM;
    }
    h->arena_cur += bytes;
    if (h->huge == PAGEHEAP_HUGE_ALWAYS)
        (void)sysmem_huge_page((void *)base, bytes);
    g->base = base;
    g->size = bytes;
    g->shard = si;
    g->next = h->grown;
    h->grown = g;
    pthread_mutex_unlock(&h->grow_mu);

    pthread_mutex_lock(&s->mu);
    err = pagealloc_grow(s->pa, base, bytes);
    /* Even a failed grow may have committed metadata (it stays). */
    pagealloc_stats st;
    pagealloc_get_stats(s->pa, &st);
    atomic_store_explicit(&s->meta, st.metadata_bytes, memory_order_relaxed);
    pthread_mutex_unlock(&s->mu);
    if (err) {
        /* Never happens short of metadata exhaustion: drop the range. */
        pthread_mutex_lock(&h->grow_mu);
        (void)map_set(h, base, bytes, 0);
        (void)sysmem_fault((void *)base, bytes, &h->heap_stat);
        for (ph_range **pp = &h->grown; *pp; pp = &(*pp)->next)
            if (*pp == g) {
                *pp = g->next;
                break;
            }
        pthread_mutex_unlock(&h->grow_mu);
        free(g);
        return ENOMEM;
    }
    ctr_add(&h->grows, 1);
    ctr_add(&h->grow_bytes, bytes);
    return 0;
}

/* ---- Scavenging ------------------------------------------------------------------ */

/* Release at least want bytes of free resident memory (two-phase, no lock
 * across the system call); returns the bytes released. No lock held. */
static size_t heap_scavenge(pageheap *h, size_t want)
{
    size_t done = 0;
    for (unsigned k = 0; k < h->nshards && done < want; k++) {
        ph_shard *s = &h->shards[h->nshards - 1 - k];
        while (done < want) {
            size_t np;
            pthread_mutex_lock(&s->mu);
            uintptr_t base = pagealloc_scavenge_take(s->pa, want - done, &np);
            if (base)
                ctr_add(&s->inflight, np * PH_PAGE);
            PA_DEBUG_AFTER(s->pa, "pagealloc_scavenge_take", base, np);
            pthread_mutex_unlock(&s->mu);
            if (!base)
                break;
            size_t bytes = np * PH_PAGE;
            int err = sysmem_unused((void *)base, bytes);
            if (!err)
                ctr_sub(&h->ready, bytes);
            pthread_mutex_lock(&s->mu);
            pagealloc_scavenge_done(s->pa, base, np, err == 0);
            PA_DEBUG_AFTER(s->pa, "pagealloc_scavenge_done", base, np);
            ctr_sub(&s->inflight, bytes);
            pthread_mutex_unlock(&s->mu);
            if (err)
                break;
            ctr_add(&h->scavenges, 1);
            ctr_add(&h->scavenged_bytes, bytes);
            done += bytes;
        }
    }
    return done;
}

/* Flush the caches and scavenge want bytes, timed as an assist. */
static size_t heap_assist(pageheap *h, size_t want)
{
    uint64_t t0 = now_ns(h);
    pageheap_flush_caches(h);
    size_t r = heap_scavenge(h, want);
    uint64_t t1 = now_ns(h);
    ctr_add(&h->assist_ns, t1 > t0 ? t1 - t0 : 0);
    return r;
}

PA_API size_t pageheap_release(pageheap *h, size_t nbytes)
{
    if (heap_bad(h, "pageheap_release", 0, nbytes / PH_PAGE))
        return 0;
    return heap_assist(h, nbytes);
}

/* Bytes by which Ready memory + metadata + extra exceeds the limit. */
static uint64_t over_limit(pageheap *h, uint64_t extra)
{
    uint64_t lim = ld(&h->limit);
    if (!lim)
        return 0;
    uint64_t total = ld(&h->ready) + meta_total(h) + extra;
    return total > lim ? total - lim : 0;
}

PA_API size_t pageheap_set_limit(pageheap *h, uint64_t limit)
{
    if (heap_bad(h, "pageheap_set_limit", 0, (size_t)(limit / PH_PAGE)))
        return 0;
    atomic_store_explicit(&h->limit, limit, memory_order_relaxed);
    size_t r = 0;
    uint64_t over = over_limit(h, 0);
    if (over)
        r = heap_assist(h, over);
    if (h->scav_on)
        pa_scavenger_kick(&h->scav);
    return r;
}

PA_API uint64_t pageheap_get_limit(const pageheap *h)
{
    if (heap_bad(h, "pageheap_get_limit", 0, 0))
        return 0;
    return atomic_load_explicit(&((pageheap *)h)->limit, memory_order_relaxed);
}

/* ---- Allocation ------------------------------------------------------------------ */

/* Add bytes to ready if the limit allows (always without a limit). */
static int admit(pageheap *h, uint64_t bytes)
{
    uint64_t cur = ld(&h->ready);
    for (;;) {
        uint64_t lim = ld(&h->limit);
        if (lim && cur + bytes + meta_total(h) > lim)
            return 0;
        if (atomic_compare_exchange_weak_explicit(&h->ready, &cur, cur + bytes,
                                                  memory_order_relaxed, memory_order_relaxed))
            return 1;
    }
}

/*
 * Make the released pages of t's freshly refilled cache Ready at once: one
 * sysmem_used per run of them instead of one per allocation, so that the
 * cache's allocations make no system call and take no OS-layer lock
 * (which all threads share). Only when the limit admits the whole lot;
 * otherwise, and for any run the OS refuses, the pages stay released and
 * the allocations that get them make them Ready one by one as before.
 * t's busy flag held; no shard lock.
 */
static void cache_make_ready(pageheap *h, ph_thread *t)
{
    uint64_t scav = t->cache.scav & t->cache.cache;
    if (scav == 0)
        return;
    uint64_t bytes = (uint64_t)pa_popcount64(scav) * PH_PAGE;
    if (!admit(h, bytes))
        return;
    unsigned flags = h->huge == PAGEHEAP_HUGE_OFF ? SYSMEM_USED_NO_HUGE : 0;
    uint64_t done = 0;
    while (scav) {
        unsigned lo = (unsigned)__builtin_ctzll(scav);
        uint64_t run = scav >> lo;
        unsigned len = ~run == 0 ? 64 - lo : (unsigned)__builtin_ctzll(~run);
        uint64_t mask = (len == 64 ? ~(uint64_t)0 : (((uint64_t)1 << len) - 1)) << lo;
        if (sysmem_used_ex((void *)(t->cache.base + lo * PH_PAGE), len * PH_PAGE, flags) != 0)
            break;
        t->cache.scav &= ~mask;
        scav &= ~mask;
        done += len * PH_PAGE;
    }
    if (done < bytes)
        ctr_sub(&h->ready, bytes - done);
}

/* Give back an allocation that will not be used, each page in the state
 * it is in: Ready pages free and resident, Prepared ones scavenged. */
static void heap_undo(pageheap *h, ph_shard *s, uintptr_t base, size_t npages)
{
    (void)h;
    uintptr_t end = base + npages * PH_PAGE;
    for (uintptr_t a = base; a < end;) {
        int ready = sysmem_state_of((void *)a) == SYSMEM_READY;
        uintptr_t b = a + PH_PAGE;
        /* A scavenged run stays within its chunk (pagealloc_scavenge_done). */
        uintptr_t stop = ready ? end : ((a | (PH_CHUNK - 1)) + 1 < end ? (a | (PH_CHUNK - 1)) + 1 : end);
        while (b < stop && (sysmem_state_of((void *)b) == SYSMEM_READY) == ready)
            b += PH_PAGE;
        pthread_mutex_lock(&s->mu);
        if (ready)
            pagealloc_free(s->pa, a, (b - a) / PH_PAGE);
        else
            pagealloc_scavenge_done(s->pa, a, (b - a) / PH_PAGE, 1);
        PA_DEBUG_AFTER(s->pa, "pagealloc_scavenge_done", a, (b - a) / PH_PAGE);
        pthread_mutex_unlock(&s->mu);
        a = b;
    }
}

/* Zero the pages of [base, base+npages) that are Ready (before sysmem_used:
 * the others are released and read zero). */
static void zero_resident(uintptr_t base, size_t npages)
{
    for (size_t i = 0; i < npages; i++) {
        uintptr_t a = base + i * PH_PAGE;
        if (sysmem_state_of((void *)a) == SYSMEM_READY)
            memset((void *)a, 0, PH_PAGE);
    }
}

/* Guard mode: map the guarded (Reserved) pages of a run just allocated,
 * making them Prepared again. 0 or an errno value; the pages mapped before
 * a failure stay Prepared (heap_undo returns them as scavenged). */
static int guard_unprotect(pageheap *h, uintptr_t base, size_t npages)
{
    uintptr_t end = base + npages * PH_PAGE;
    for (uintptr_t a = base; a < end;) {
        if (sysmem_state_of((void *)a) != SYSMEM_RESERVED) {
            a += PH_PAGE;
            continue;
        }
        uintptr_t b = a + PH_PAGE;
        while (b < end && sysmem_state_of((void *)b) == SYSMEM_RESERVED)
            b += PH_PAGE;
        int err = sysmem_map((void *)a, b - a, &h->heap_stat);
        if (err)
            return err;
        ctr_sub(&h->guarded, b - a);
        a = b;
    }
    return 0;
}

/* Make a run just taken from shard s Ready; 0 and errno on failure (the
 * run is then given back). */
static int heap_finish(pageheap *h, ph_shard *s, uintptr_t base, size_t npages, size_t scav,
                       int zero)
{
    size_t bytes = npages * PH_PAGE;
    if (scav == 0) {
        /* Nothing becomes Ready; but a heap over its limit (lowered, or
         * soft) gives back what it can, as Go's allocation-time assist. */
        uint64_t over = ld(&h->limit) ? over_limit(h, 0) : 0;
        if (over) {
            uint64_t t0 = now_ns(h);
            heap_scavenge(h, over);
            uint64_t t1 = now_ns(h);
            ctr_add(&h->assist_ns, t1 > t0 ? t1 - t0 : 0);
        }
        if (zero)
            memset((void *)base, 0, bytes);
        return 1;
    }
    if (!admit(h, scav)) {
        ctr_add(&h->limit_hits, 1);
        heap_assist(h, over_limit(h, scav));
        if (!admit(h, scav)) {
            if (h->hard) {
                ctr_add(&h->limit_failures, 1);
                heap_undo(h, s, base, npages);
                errno = ENOMEM;
                return 0;
            }
            ctr_add(&h->ready, scav);
        }
    }
    if (h->guard && guard_unprotect(h, base, npages) != 0) {
        ctr_sub(&h->ready, scav);
        heap_undo(h, s, base, npages);
        errno = ENOMEM;
        return 0;
    }
    int zero_all = zero && !h->reads_zero;
    if (zero && !zero_all && scav < bytes)
        zero_resident(base, npages);
    if (sysmem_used_ex((void *)base, bytes,
                       h->huge == PAGEHEAP_HUGE_OFF ? SYSMEM_USED_NO_HUGE : 0) != 0) {
        ctr_sub(&h->ready, scav);
        heap_undo(h, s, base, npages);
        errno = ENOMEM;
        return 0;
    }
    if (zero_all)
        memset((void *)base, 0, bytes);
    return 1;
}

/* The locked path: first fit in shard si, growing it when full. */
static uintptr_t shard_alloc(pageheap *h, unsigned si, size_t npages, size_t *scav)
{
    ph_shard *s = &h->shards[si];
    for (;;) {
        pthread_mutex_lock(&s->mu);
        uintptr_t base = pagealloc_alloc(s->pa, npages, scav);
        pthread_mutex_unlock(&s->mu);
        if (base)
            return base;
        int err = heap_grow(h, si, npages);
        if (err) {
            errno = err;
            return 0;
        }
    }
}

static void *heap_alloc(pageheap *h, size_t npages, int zero)
{
    if (npages == 0) {
        errno = EINVAL;
        return NULL;
    }
    if (npages > PH_MAX_PAGES) {
        errno = ENOMEM;
        return NULL;
    }
    ph_thread *t = thread_get(h);
    unsigned si = t ? t->shard : 0;
    uintptr_t base = 0;
    size_t scav = 0;
    int cached = 0;
    if (t && npages < PH_SMALL_PAGES && !h->guard) {
        busy_lock(t);
        if (t->cache.cache == 0) {
            ph_shard *s = &h->shards[si];
            pthread_mutex_lock(&s->mu);
            t->cache = pagealloc_alloc_to_cache(s->pa);
            PA_DEBUG_AFTER(s->pa, "pagealloc_alloc_to_cache", t->cache.base, PAGEALLOC_CACHE_PAGES);
            pthread_mutex_unlock(&s->mu);
            cache_make_ready(h, t);
        }
        base = pagealloc_cache_alloc(&t->cache, npages, &scav);
        cache_publish(t);
        busy_unlock(t);
        cached = base != 0;
    }
    if (!base) {
        base = shard_alloc(h, si, npages, &scav);
        if (!base)
            return NULL;
    }
    if (!heap_finish(h, &h->shards[si], base, npages, scav, zero))
        return NULL;
    ph_counters *c = t ? &t->c : &h->dead;
    void (*add)(_Atomic uint64_t *, uint64_t) = t ? ctr_own_add : ctr_add;
    add(&c->allocs, 1);
    add(&c->alloc_bytes, npages * PH_PAGE);
    if (cached)
        add(&c->cache_allocs, 1);
    return (void *)base;
}

PA_API void *pageheap_alloc(pageheap *h, size_t npages)
{
    if (!heap_live(h)) {
        errno = EINVAL;
        return NULL;
    }
    return heap_alloc(h, npages, 0);
}

PA_API void *pageheap_alloc_zeroed(pageheap *h, size_t npages)
{
    if (!heap_live(h)) {
        errno = EINVAL;
        return NULL;
    }
    return heap_alloc(h, npages, 1);
}

/* Level 1: whether a page of [a, a + npages) is owned by a page cache of
 * shard si (never handed out: the allocator sees it as allocated). */
static int held_by_cache(pageheap *h, unsigned si, uintptr_t a, size_t npages)
{
    if (npages == 0 || npages > PH_MAX_PAGES || a % PH_PAGE || a >= PH_ADDR_LIMIT)
        return 0;             /* the allocator's validation reports these */
    uintptr_t end = a + npages * PH_PAGE;
    int found = 0;
    pthread_mutex_lock(&h->reg_mu);
    for (ph_thread *t = h->threads; t && !found; t = t->next) {
        if (t->shard != si)
            continue;
        busy_lock(t);
        uintptr_t cb = t->cache.base, ce = cb + PAGEALLOC_CACHE_PAGES * PH_PAGE;
        if (t->cache.cache && a < ce && cb < end) {
            unsigned lo = a > cb ? (unsigned)((a - cb) / PH_PAGE) : 0;
            unsigned hi = end < ce ? (unsigned)((end - cb) / PH_PAGE) : PAGEALLOC_CACHE_PAGES;
            uint64_t mask = (hi - lo == 64 ? ~(uint64_t)0 : (((uint64_t)1 << (hi - lo)) - 1)) << lo;
            found = (t->cache.cache & mask) != 0;
        }
        busy_unlock(t);
    }
    pthread_mutex_unlock(&h->reg_mu);
    return found;
}

/* Guard mode's free: validate, make the pages inaccessible (no lock held),
 * then give them to the allocator as free and scavenged. 1 if done, 0 if
 * the pages could not be protected (the caller frees them normally). */
static int guard_free(pageheap *h, ph_shard *s, uintptr_t a, size_t npages)
{
    size_t bytes = npages * PH_PAGE;
    int err = sysmem_fault((void *)a, bytes, &h->heap_stat);
    if (err == EINVAL) {
        /* Not all Ready: another thread freed (some of) them meanwhile. */
        pa_report("pageheap_free", a, npages, "pages freed concurrently (double free?)");
        return 1;
    }
    if (err)
        return 0;
    ctr_sub(&h->ready, bytes);
    ctr_add(&h->guarded, bytes);
    pthread_mutex_lock(&s->mu);
    /* scavenge_done takes runs within one chunk. */
    for (uintptr_t p = a, end = a + bytes; p < end;) {
        uintptr_t stop = (p | (PH_CHUNK - 1)) + 1;
        if (stop > end)
            stop = end;
        pagealloc_scavenge_done(s->pa, p, (stop - p) / PH_PAGE, 1);
        PA_DEBUG_AFTER(s->pa, "pagealloc_scavenge_done", p, (stop - p) / PH_PAGE);
        p = stop;
    }
    pthread_mutex_unlock(&s->mu);
    return 1;
}

PA_API void pageheap_free(pageheap *h, void *p, size_t npages)
{
    if (!p && npages == 0)
        return;
    uintptr_t a = (uintptr_t)p;
    if (heap_bad(h, "pageheap_free", a, npages))
        return;
    unsigned owner = map_get(h, a);
    ph_shard *s = &h->shards[owner ? owner - 1 : 0];
    if (owner && pa_check_level() >= PA_CHECK_INTERNAL && held_by_cache(h, owner - 1, a, npages)) {
        pa_report("pageheap_free", a, npages,
                  "some pages are owned by a page cache (never allocated)");
        return;
    }
    /* The allocator validates the free; a bad one is reported, and
     * changes nothing (not even the statistics). */
    int err;
    const char *rule;
    if (h->guard) {
        pthread_mutex_lock(&s->mu);
        rule = pa_free_violation(s->pa, a, npages);
        pthread_mutex_unlock(&s->mu);
        err = rule ? EINVAL : 0;
        if (!err && !guard_free(h, s, a, npages))
            err = EAGAIN;     /* not protected: free it as usual */
    } else {
        err = EAGAIN;
    }
    if (err == EAGAIN) {
        pthread_mutex_lock(&s->mu);
        err = pagealloc_try_free(s->pa, a, npages);
        rule = err ? pa_free_violation(s->pa, a, npages) : NULL;
        pthread_mutex_unlock(&s->mu);
    }
    if (err) {
        pa_report("pageheap_free", a, npages, rule ? rule : "invalid free");
        return;
    }
    ph_thread *t = thread_get(h);
    if (t) {
        ctr_own_add(&t->c.frees, 1);
        ctr_own_add(&t->c.freed_bytes, npages * PH_PAGE);
    } else {
        ctr_add(&h->dead.frees, 1);
        ctr_add(&h->dead.freed_bytes, npages * PH_PAGE);
    }
}

/* ---- Statistics -------------------------------------------------------------------- */

/* reg_mu held iff reg_held. */
static void stats_fill(pageheap *h, pageheap_stats *out, int reg_held)
{
    memset(out, 0, sizeof(*out));
    out->version = PAGEHEAP_STATS_VERSION;
    out->shards = h->nshards;
    uint64_t cache = 0, cache_rel = 0;
    if (!reg_held)
        pthread_mutex_lock(&h->reg_mu);
    out->allocs = ld(&h->dead.allocs);
    out->alloc_bytes = ld(&h->dead.alloc_bytes);
    out->cache_allocs = ld(&h->dead.cache_allocs);
    out->frees = ld(&h->dead.frees);
    out->freed_bytes = ld(&h->dead.freed_bytes);
    for (ph_thread *t = h->threads; t; t = t->next) {
        out->allocs += ld(&t->c.allocs);
        out->alloc_bytes += ld(&t->c.alloc_bytes);
        out->cache_allocs += ld(&t->c.cache_allocs);
        out->frees += ld(&t->c.frees);
        out->freed_bytes += ld(&t->c.freed_bytes);
        cache += ld(&t->cache_bytes);
        cache_rel += ld(&t->cache_released);
    }
    out->threads = h->nthreads;
    if (!reg_held)
        pthread_mutex_unlock(&h->reg_mu);

    uint64_t mapped = sysmem_stat_load(&h->heap_stat);
    uint64_t ready = ld(&h->ready);
    if (ready > mapped)
        ready = mapped;
    uint64_t reserved = ld(&h->reserved_total);
    uint64_t inflight = 0;
    for (unsigned i = 0; i < h->nshards; i++)
        inflight += ld(&h->shards[i].inflight);
    out->ready_bytes = ready;
    out->prepared_bytes = mapped - ready;
    out->reserved_bytes = reserved > mapped ? reserved - mapped : 0;
    out->metadata_bytes = meta_total(h);
    out->in_use_bytes = out->alloc_bytes >= out->freed_bytes ? out->alloc_bytes - out->freed_bytes : 0;
    out->cache_bytes = cache;
    out->cache_released_bytes = cache_rel;
    out->released_bytes = out->prepared_bytes > cache_rel ? out->prepared_bytes - cache_rel : 0;
    uint64_t taken = out->in_use_bytes + cache + out->released_bytes + inflight;
    out->free_bytes = mapped > taken ? mapped - taken : 0;
    out->limit_bytes = ld(&h->limit);
    out->hard_limit = (uint32_t)h->hard;
    out->grows = ld(&h->grows);
    out->grow_bytes = ld(&h->grow_bytes);
    out->scavenges = ld(&h->scavenges);
    out->scavenged_bytes = ld(&h->scavenged_bytes);
    out->scavenger_cpu_ns = h->scav_on ? ld(&h->scav.worked_ns) : 0;
    out->assist_cpu_ns = ld(&h->assist_ns);
    out->limit_hits = ld(&h->limit_hits);
    out->limit_failures = ld(&h->limit_failures);
}

PA_API void pageheap_get_stats(pageheap *h, pageheap_stats *out)
{
    if (heap_bad(h, "pageheap_get_stats", (uintptr_t)out, 0)) {
        memset(out, 0, sizeof(*out));
        return;
    }
    stats_fill(h, out, 0);
}

/* ---- The background scavenger's view of the heap ------------------------------------ */

static uint64_t hook_now(void *arg)
{
    return now_ns(arg);
}

/* Bytes above the scavenger's goal (see the file header). */
static size_t heap_excess(void *arg, uint64_t now)
{
    pageheap *h = arg;
    pageheap_stats st;
    stats_fill(h, &st, 0);
    pthread_mutex_lock(&h->goal_mu);
    if (st.in_use_bytes >= h->peak_in_use) {
        h->peak_in_use = st.in_use_bytes;
    } else {
        uint64_t dt = now > h->peak_time ? now - h->peak_time : 0;
        uint64_t gap = h->peak_in_use - st.in_use_bytes;
        if (dt >= PH_PEAK_DECAY_NS)
            h->peak_in_use = st.in_use_bytes;
        else
            h->peak_in_use -= (uint64_t)((double)gap * (double)dt / PH_PEAK_DECAY_NS);
    }
    h->peak_time = now;
    uint64_t peak = h->peak_in_use;
    pthread_mutex_unlock(&h->goal_mu);

    uint64_t goal = peak + peak / 10;
    goal = (goal + h->phys_page - 1) & ~(uint64_t)(h->phys_page - 1);
    uint64_t ex = st.ready_bytes > goal + h->phys_page ? st.ready_bytes - goal : 0;
    if (st.limit_bytes) {
        uint64_t g2 = st.limit_bytes / 100 * 95;
        uint64_t total = st.ready_bytes + st.metadata_bytes;
        if (total > g2 && total - g2 > ex)
            ex = total - g2;
    }
    return ex > SIZE_MAX ? SIZE_MAX : (size_t)ex;
}

static size_t hook_release(void *arg, size_t max)
{
    return heap_scavenge(arg, max);
}

/* ---- Life cycle --------------------------------------------------------------------- */

PA_API pageheap *pageheap_new(const pageheap_options *opts)
{
    pageheap_options o = { 0 };
    if (opts)
        o = *opts;
    if (o.scavenger_cpu_fraction < 0 || o.scavenger_cpu_fraction > 1 ||
        (unsigned)o.huge_pages > PAGEHEAP_HUGE_ALWAYS || o.shards > PH_MAX_SHARDS ||
        (o.clock && !o.clock->now_ns)) {
        errno = EINVAL;
        return NULL;
    }
    unsigned nshards = o.shards;
    if (nshards == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nshards = n < 1 ? 1 : n > (long)PH_MAX_SHARDS ? PH_MAX_SHARDS : (unsigned)n;
    }
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    sysmem_stat stat = { 0 };
    size_t self = (sizeof(pageheap) + caps.page_size - 1) & ~(caps.page_size - 1);
    void *mem;
    int err = sysmem_alloc(self, &stat, &mem);
    if (err) {
        errno = err;
        return NULL;
    }
    pageheap *h = mem;               /* zero-filled */
    h->magic = PH_MAGIC;
    h->guard = o.guard != 0;
    h->meta_stat = stat;
    h->self_bytes = self;
    h->nshards = nshards;
    h->hard = o.hard_limit != 0;
    h->reads_zero = caps.released_reads_zero;
    h->phys_page = caps.page_size;
    h->huge = o.huge_pages;
    h->arena_bytes = o.arena_bytes ? (o.arena_bytes + PH_CHUNK - 1) & ~(PH_CHUNK - 1)
                                   : PH_DEFAULT_ARENA;
    h->clock = o.clock ? *o.clock : (pageheap_clock){ .now_ns = monotonic_ns };
    atomic_store(&h->limit, o.limit);
    pthread_mutex_init(&h->reg_mu, NULL);
    pthread_mutex_init(&h->grow_mu, NULL);
    pthread_mutex_init(&h->goal_mu, NULL);
    pagealloc_options po = {
        .unbacked = 1,
        .dense_pages = o.huge_pages == PAGEHEAP_HUGE_OFF ? 0 : PH_DENSE_PAGES,
    };
    unsigned made = 0;
    for (; made < nshards; made++) {
        pthread_mutex_init(&h->shards[made].mu, NULL);
        h->shards[made].pa = pagealloc_new(&po);
        if (!h->shards[made].pa) {
            err = errno;
            break;
        }
        pagealloc_stats st;
        pagealloc_get_stats(h->shards[made].pa, &st);
        atomic_store(&h->shards[made].meta, st.metadata_bytes);
    }
    if (made == nshards && (err = pthread_key_create(&h->key, thread_exit)) == 0) {
        pa_scav_hooks hooks = {
            .arg = h, .now = hook_now, .excess = heap_excess, .release = hook_release,
        };
        pa_scavenger_init(&h->scav, &hooks,
                          o.scavenger_cpu_fraction > 0 ? o.scavenger_cpu_fraction : 0.01,
                          o.scavenger_poll_ns);
        h->peak_time = now_ns(h);
        if (!o.background_scavenger)
            return h;
        h->scav_on = 1;                    /* before the thread reads it */
        err = pa_scavenger_start(&h->scav);
        if (err == 0)
            return h;
        h->scav_on = 0;
        pa_scavenger_destroy(&h->scav);
        pthread_key_delete(h->key);
    }
    for (unsigned i = 0; i <= made && i < nshards; i++) {
        pagealloc_delete(h->shards[i].pa);
        pthread_mutex_destroy(&h->shards[i].mu);
    }
    h->magic = 0;
    sysmem_stat last = h->meta_stat;
    sysmem_free(h, self, &last);
    errno = err ? err : ENOMEM;
    return NULL;
}

PA_API void pageheap_delete(pageheap *h)
{
    if (!h || heap_bad(h, "pageheap_delete", (uintptr_t)h, 0))
        return;
    pa_scavenger_destroy(&h->scav);        /* its thread uses the heap until stopped */
    h->magic = 0;
    if (pthread_getspecific(h->key))
        pthread_setspecific(h->key, NULL);
    pthread_key_delete(h->key);
    for (ph_thread *t = h->threads, *n; t; t = n) {
        n = t->next;
        free(t);
    }
    for (unsigned i = 0; i < h->nshards; i++) {
        pagealloc_delete(h->shards[i].pa);
        pthread_mutex_destroy(&h->shards[i].mu);
    }
    for (ph_range *g = h->grown, *n; g; g = n) {
        n = g->next;
        free(g);
    }
    for (ph_range *r = h->regions, *n; r; r = n) {
        n = r->next;
        (void)sysmem_free((void *)r->base, r->size, &h->heap_stat);
        free(r);
    }
    for (size_t i = 0; i < PH_MAP_L2; i++) {
        uint8_t *l2 = atomic_load(&h->map[i]);
        if (l2)
            (void)sysmem_free(l2, PH_MAP_L2, &h->meta_stat);
    }
    pthread_mutex_destroy(&h->reg_mu);
    pthread_mutex_destroy(&h->grow_mu);
    pthread_mutex_destroy(&h->goal_mu);
    sysmem_stat last = h->meta_stat;
    sysmem_free(h, h->self_bytes, &last);
}

/* ---- Checker ----------------------------------------------------------------------- */

static int check_fail(char *msg, size_t size, const char *fmt, ...)
{
    if (size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, size, fmt, ap);
        va_end(ap);
    }
    return EFAULT;
}

/* The cache (if any) holding page a of shard si: its scav bit in *scav. */
static int in_cache(pageheap *h, unsigned si, uintptr_t a, int *scav)
{
    for (ph_thread *t = h->threads; t; t = t->next) {
        if (t->shard != si || t->cache.cache == 0 || a < t->cache.base ||
            a >= t->cache.base + PAGEALLOC_CACHE_PAGES * PH_PAGE)
            continue;
        unsigned i = (unsigned)((a - t->cache.base) / PH_PAGE);
        if (t->cache.cache >> i & 1) {
            *scav = (int)(t->cache.scav >> i & 1);
            return 1;
        }
    }
    return 0;
}

static int check_locked(pageheap *h, char *msg, size_t size)
{
    char sub[256];
    uint64_t heap = 0, freeb = 0, scav = 0, cache = 0, cache_rel = 0, inflight = 0;
    for (unsigned i = 0; i < h->nshards; i++) {
        if (pagealloc_check(h->shards[i].pa, sub, sizeof sub) != 0)
            return check_fail(msg, size, "pageheap_check: shard %u: %s", i, sub);
        pagealloc_stats st;
        pagealloc_get_stats(h->shards[i].pa, &st);
        if (st.metadata_bytes != ld(&h->shards[i].meta))
            return check_fail(msg, size, "pageheap_check: shard %u: metadata %llu, heap says %llu",
                              i, (unsigned long long)st.metadata_bytes,
                              (unsigned long long)ld(&h->shards[i].meta));
        heap += st.heap_bytes;
        freeb += st.free_bytes;
        scav += st.scavenged_bytes;
        inflight += ld(&h->shards[i].inflight);
    }
    for (ph_thread *t = h->threads; t; t = t->next) {
        if (t->cache.scav & ~t->cache.cache)
            return check_fail(msg, size, "pageheap_check: cache at %#lx: scavenged pages it does not hold",
                              (unsigned long)t->cache.base);
        cache += (uint64_t)pa_popcount64(t->cache.cache) * PH_PAGE;
        cache_rel += (uint64_t)pa_popcount64(t->cache.scav) * PH_PAGE;
        if (ld(&t->cache_bytes) != (uint64_t)pa_popcount64(t->cache.cache) * PH_PAGE)
            return check_fail(msg, size, "pageheap_check: cache at %#lx: published size is stale",
                              (unsigned long)t->cache.base);
    }
    pageheap_stats st;
    stats_fill(h, &st, 1);
    uint64_t mapped = sysmem_stat_load(&h->heap_stat);
    uint64_t guarded = ld(&h->guarded);
    if (guarded && !h->guard)
        return check_fail(msg, size, "pageheap_check: %llu guarded bytes outside guard mode",
                          (unsigned long long)guarded);
    if (heap != mapped + guarded)
        return check_fail(msg, size, "pageheap_check: allocators hold %llu bytes, heap mapped %llu + guarded %llu",
                          (unsigned long long)heap, (unsigned long long)mapped,
                          (unsigned long long)guarded);
    if (st.in_use_bytes + cache + inflight != heap - freeb)
        return check_fail(msg, size,
                          "pageheap_check: in use %llu + cached %llu + scavenging %llu != allocated %llu",
                          (unsigned long long)st.in_use_bytes, (unsigned long long)cache,
                          (unsigned long long)inflight, (unsigned long long)(heap - freeb));
    if (inflight)
        return 0;       /* the scavenger is mid-run: page states are in flux */
    if (ld(&h->ready) + scav + cache_rel != mapped + guarded)
        return check_fail(msg, size, "pageheap_check: ready %llu + scavenged %llu + cached released %llu != mapped %llu + guarded %llu",
                          (unsigned long long)ld(&h->ready), (unsigned long long)scav,
                          (unsigned long long)cache_rel, (unsigned long long)mapped,
                          (unsigned long long)guarded);
    if (st.free_bytes + st.released_bytes + guarded != freeb || st.released_bytes + guarded != scav)
        return check_fail(msg, size, "pageheap_check: stats free %llu released %llu, allocators %llu %llu",
                          (unsigned long long)st.free_bytes, (unsigned long long)st.released_bytes,
                          (unsigned long long)(freeb - scav), (unsigned long long)scav);
    /* Every page's OS state against the books. */
    uint64_t ready_pages = 0, guarded_pages = 0;
    for (ph_range *g = h->grown; g; g = g->next) {
        pagealloc *pa = h->shards[g->shard].pa;
        for (uintptr_t c = g->base; c < g->base + g->size; c += PH_CHUNK) {
            if (map_get(h, c) != g->shard + 1)
                return check_fail(msg, size, "pageheap_check: chunk %#lx: map says shard %u, grown by %u",
                                  (unsigned long)c, map_get(h, c), g->shard + 1);
            uint64_t ab[8], sb[8];
            if (!pagealloc_test_chunk_bits(pa, c, ab, sb))
                return check_fail(msg, size, "pageheap_check: chunk %#lx: not in its allocator",
                                  (unsigned long)c);
            for (unsigned p = 0; p < PAGEALLOC_CHUNK_PAGES; p++) {
                uintptr_t a = c + (uintptr_t)p * PH_PAGE;
                int al = (int)(ab[p / 64] >> (p % 64) & 1), sc = (int)(sb[p / 64] >> (p % 64) & 1);
                int cs = 0;
                if (al && in_cache(h, g->shard, a, &cs))
                    sc = cs;
                sysmem_state want = sc ? SYSMEM_PREPARED : SYSMEM_READY;
                sysmem_state got = sysmem_state_of((void *)a);
                if (h->guard && sc && !al && got == SYSMEM_RESERVED) {
                    guarded_pages++;       /* freed and guarded */
                    continue;
                }
                if (got != want)
                    return check_fail(msg, size, "pageheap_check: page %#lx: sysmem state %d, expected %d (%s)",
                                      (unsigned long)a, (int)got, (int)want,
                                      al ? "allocated" : sc ? "scavenged" : "free");
                ready_pages += !sc;
            }
        }
    }
    if (ready_pages * PH_PAGE != ld(&h->ready))
        return check_fail(msg, size, "pageheap_check: %llu pages Ready, heap counts %llu bytes",
                          (unsigned long long)ready_pages, (unsigned long long)ld(&h->ready));
    if (guarded_pages * PH_PAGE != guarded)
        return check_fail(msg, size, "pageheap_check: %llu pages guarded, heap counts %llu bytes",
                          (unsigned long long)guarded_pages, (unsigned long long)guarded);
    return 0;
}

PA_API int pageheap_check(pageheap *h, char *msg, size_t msg_size)
{
    if (!heap_live(h)) {
        if (msg_size)
            snprintf(msg, msg_size, "pageheap_check: handle %#lx is not a live pageheap",
                     (unsigned long)(uintptr_t)h);
        return EINVAL;
    }
    pthread_mutex_lock(&h->reg_mu);
    for (ph_thread *t = h->threads; t; t = t->next)
        busy_lock(t);
    pthread_mutex_lock(&h->grow_mu);
    for (unsigned i = 0; i < h->nshards; i++)
        pthread_mutex_lock(&h->shards[i].mu);
    int err = check_locked(h, msg, msg_size);
    for (unsigned i = h->nshards; i-- > 0;)
        pthread_mutex_unlock(&h->shards[i].mu);
    pthread_mutex_unlock(&h->grow_mu);
    for (ph_thread *t = h->threads; t; t = t->next)
        busy_unlock(t);
    pthread_mutex_unlock(&h->reg_mu);
    if (err == 0 && msg_size)
        msg[0] = 0;
    return err;
}

/* ---- Visiting every page (heap maps) ----------------------------------------------- */

/* The states of shard si's chunk c into st; 0 if the chunk is not (yet) in
 * the allocator (a grow in progress or undone). reg_mu, the busy flags of
 * si's threads, grow_mu and si's mu held. */
static int visit_chunk(pageheap *h, unsigned si, uintptr_t c, uint8_t st[PAGEALLOC_CHUNK_PAGES])
{
    uint64_t ab[8], sb[8];
    if (!pagealloc_test_chunk_bits(h->shards[si].pa, c, ab, sb))
        return 0;
    for (unsigned p = 0; p < PAGEALLOC_CHUNK_PAGES; p++) {
        int al = (int)(ab[p / 64] >> (p % 64) & 1), sc = (int)(sb[p / 64] >> (p % 64) & 1);
        st[p] = (uint8_t)(al ? PAGEHEAP_PAGE_IN_USE
                             : sc ? PAGEHEAP_PAGE_RELEASED : PAGEHEAP_PAGE_FREE);
    }
    /* Page caches own pages the allocator sees as allocated. A cache's
     * block is 64-page aligned, so it lies within one chunk. */
    for (ph_thread *t = h->threads; t; t = t->next) {
        if (t->shard != si || t->cache.cache == 0 || t->cache.base < c ||
            t->cache.base >= c + PH_CHUNK)
            continue;
        unsigned first = (unsigned)((t->cache.base - c) / PH_PAGE);
        for (unsigned i = 0; i < PAGEALLOC_CACHE_PAGES; i++)
            if (t->cache.cache >> i & 1)
                st[first + i] = PAGEHEAP_PAGE_CACHED;
    }
    return 1;
}

PA_API int pageheap_visit(pageheap *h, pageheap_visit_fn fn, void *arg)
{
    if (!heap_live(h) || !fn)
        return EINVAL;
    uint8_t st[PAGEALLOC_CHUNK_PAGES];
    for (unsigned si = 0; si < h->nshards; si++) {
        /* The heap's lock order: reg_mu -> busy flags -> grow_mu -> shard mu. */
        pthread_mutex_lock(&h->reg_mu);
        for (ph_thread *t = h->threads; t; t = t->next)
            if (t->shard == si)
                busy_lock(t);
        pthread_mutex_lock(&h->grow_mu);
        pthread_mutex_lock(&h->shards[si].mu);
        for (ph_range *g = h->grown; g; g = g->next) {
            if (g->shard != si)
                continue;
            for (uintptr_t c = g->base; c < g->base + g->size; c += PH_CHUNK)
                if (visit_chunk(h, si, c, st))
                    fn(arg, si, c, st);
        }
        pthread_mutex_unlock(&h->shards[si].mu);
        pthread_mutex_unlock(&h->grow_mu);
        for (ph_thread *t = h->threads; t; t = t->next)
            if (t->shard == si)
                busy_unlock(t);
        pthread_mutex_unlock(&h->reg_mu);
    }
    return 0;
}
