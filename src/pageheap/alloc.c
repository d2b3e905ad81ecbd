/*
 * alloc.c - the heap's allocation paths (heap.h, "How an allocation
 * goes"); the free paths are in free.c.
 *
 * The allocator tells the heap what it did: each allocation comes with a
 * bitmap of which of its pages were scavenged (pagealloc/heapapi.h, or
 * the page cache's scav word), so the heap makes them Ready with one
 * sysmem_used over the span they occupy, zeroes exactly the pages that may hold
 * old contents, and gives a failed allocation back exactly as it found
 * it, without asking the OS layer about single pages.
 */
#include <errno.h>
#include <string.h>

#include "pagealloc/debug.h"
#include "pagealloc/heapapi.h"
#include "pageheap/fresh.h"
#include "pageheap/heap.h"
#include "pageheap/runcache.h"
#include "pageheap/runmap.h"

/* ---- Which pages of a run were scavenged ------------------------------------ */

/* Runs up to this many pages carry their scavenged-page bitmap on the
 * stack; longer ones (32 MiB and up) in a block from the OS layer, taken
 * before the allocator is asked and returned when the allocation is done. */
#define PH_INLINE_PAGES 4096u

typedef struct ph_scavmap {
    uint64_t *bits;                     /* bit i: page i was scavenged */
    size_t bytes;                       /* of the OS block; 0: inline */
    uint64_t inline_bits[PH_INLINE_PAGES / 64];
} ph_scavmap;

static int scavmap_init(pageheap *h, ph_scavmap *m, size_t npages)
{
    m->bytes = 0;
    m->bits = m->inline_bits;
    if (npages <= PH_INLINE_PAGES)
        return 0;
    size_t bytes = (pa_scav_words(npages) * sizeof(uint64_t) + h->phys_page - 1) &
                   ~(h->phys_page - 1);
    void *mem;
    int err = sysmem_alloc(bytes, &h->meta_stat, &mem);
    if (err)
        return err;
    m->bits = mem;
    m->bytes = bytes;
    return 0;
}

static void scavmap_done(pageheap *h, ph_scavmap *m)
{
    if (m->bytes)
        (void)sysmem_free(m->bits, m->bytes, &h->meta_stat);
}

/* Give back an allocation that will not be used, each page in the state
 * it is in: the pages not scavenged (Ready) free and resident, the others
 * (Prepared, or Reserved in guard mode) free and scavenged. No system
 * call: the bitmap says which is which. */
static void heap_undo(ph_shard *s, uintptr_t base, size_t npages, const uint64_t *scav)
{
    ph_lock_take(&s->mu);
    for (size_t i = 0; i < npages;) {
        int sc = (int)(scav[i / 64] >> (i % 64) & 1);
        size_t j = pa_bits_next(scav, i, npages, !sc);
        uintptr_t a = base + i * PH_PAGE;
        if (!sc) {
            pagealloc_free(s->pa, a, j - i);
            PA_DEBUG_AFTER(s->pa, "pageheap undo", a, j - i);
        } else {
            ph_give_back_scavenged(s, a, j - i, "pageheap undo");
        }
        i = j;
    }
    ph_lock_give(&s->mu);
}

/* Make the scavenged pages of a run Ready: one sysmem_used over the span
 * from the first scavenged page to the last (the resident pages between
 * are Ready already, and making a Ready page Ready changes nothing), so a
 * run whose released pages are scattered costs one OS-layer call, not one
 * per piece. 0 or an errno value (then nothing changed). */
static int make_ready(pageheap *h, uintptr_t base, size_t npages, const uint64_t *scav)
{
    size_t first = pa_bits_next(scav, 0, npages, 1);
    if (first == npages)
        return 0;
    size_t last = first;
    for (size_t w = pa_scav_words(npages); w-- > first / 64;) {
        if (scav[w]) {
            last = w * 64 + 63 - (size_t)__builtin_clzll(scav[w]);
            break;
        }
    }
    unsigned flags = h->huge == PAGEHEAP_HUGE_OFF ? SYSMEM_USED_NO_HUGE : 0;
    return sysmem_used_ex((void *)(base + first * PH_PAGE), (last + 1 - first) * PH_PAGE, flags);
}

/* Zero a run just made Ready: every page, except scavenged ones when
 * released pages read back zero. */
static void zero_run(pageheap *h, uintptr_t base, size_t npages, const uint64_t *scav)
{
    if (!h->reads_zero) {
        memset((void *)base, 0, npages * PH_PAGE);
        return;
    }
    for (size_t i = pa_bits_next(scav, 0, npages, 0); i < npages;
         i = pa_bits_next(scav, i, npages, 0)) {
        size_t j = pa_bits_next(scav, i, npages, 1);
        memset((void *)(base + i * PH_PAGE), 0, (j - i) * PH_PAGE);
        i = j;
    }
}

/* Make a run just taken from shard s Ready (scav: which of its pages were
 * scavenged, scav_bytes of them); 1, or 0 and errno on failure (the run
 * is then given back as it was). */
static inline __attribute__((always_inline)) int heap_finish(pageheap *h, ph_shard *s,
                                                             uintptr_t base, size_t npages,
                                                             size_t scav_bytes,
                                                             uint64_t *scav, int zero)
{
    size_t bytes = npages * PH_PAGE;
    if (scav_bytes == 0) {
        /* Nothing becomes Ready; but a heap over its limit (lowered, or
         * soft) gives back what it can, as Go's allocation-time assist. */
        uint64_t over = ld(&h->limit) ? ph_over_limit(h, 0) : 0;
        if (over) {
            uint64_t t0 = now_ns(h);
            ph_scavenge(h, over);
            uint64_t t1 = now_ns(h);
            ctr_add(&h->assist_ns, t1 > t0 ? t1 - t0 : 0);
        }
        if (zero)
            memset((void *)base, 0, bytes);
        return 1;
    }
    if (!ph_admit(h, scav_bytes)) {
        ctr_add(&h->limit_hits, 1);
        ph_assist(h, ph_over_limit(h, scav_bytes));
        if (!ph_admit(h, scav_bytes)) {
            if (h->hard) {
                ctr_add(&h->limit_failures, 1);
                heap_undo(s, base, npages, scav);
                errno = ENOMEM;
                return 0;
            }
            ctr_add(&h->ready, scav_bytes);
        }
    }
    if (h->guard && ph_guard_unprotect(h, base, npages, scav) != 0) {
        ctr_sub(&h->ready, scav_bytes);
        heap_undo(s, base, npages, scav);
        errno = ENOMEM;
        return 0;
    }
    if (make_ready(h, base, npages, scav) != 0) {
        ctr_sub(&h->ready, scav_bytes);
        heap_undo(s, base, npages, scav);
        errno = ENOMEM;
        return 0;
    }
    if (h->ceil_pm)
        ph_ceiling(h);
    if (zero)
        zero_run(h, base, npages, scav);
    return 1;
}

/* The locked path: first fit in shard si, growing it when full. */
static inline __attribute__((always_inline)) uintptr_t shard_alloc(pageheap *h, unsigned si,
                                                                   size_t npages,
                                                                   size_t *scav_bytes,
                                                                   uint64_t *scav)
{
    ph_shard *s = &h->shards[si];
    for (;;) {
        ph_lock_take(&s->mu);
        uintptr_t base = pa_alloc_bits(s->pa, npages, scav_bytes, scav);
        PA_DEBUG_AFTER(s->pa, "pagealloc_alloc", base, npages);
        ph_fresh_cut(h, s, base, npages * PH_PAGE);    /* handed out: not untouched */
        ph_lock_give(&s->mu);
        if (base)
            return base;
        int err = ph_grow(h, si, npages);
        if (err) {
            errno = err;
            return 0;
        }
    }
}

/*
 * A refill whose scavenged pages run to the end of its block (fresh memory
 * of a grow: the whole block, or all of it above a grow's first
 * allocation): make them and the wholly free, wholly scavenged blocks
 * after them in their chunk Ready in one sysmem_used, and mark those
 * blocks not scavenged in the allocator, so that the chunk's next refills
 * (up to seven) find resident pages and make no OS-layer call (docs/heap.md
 * "Page caches"; issue 11: W6 W2's first round took the OS layer's one
 * lock every 64 pages in each thread). Under the shard lock s, so that no
 * other user of the shard sees the allocator's bits and the page states
 * disagree; SYSMEM_USED_NO_HUGE makes sysmem_used_ex a registry update
 * with no system call (order: shard lock, then the OS layer's), and keeps
 * huge-page advice off as for a lone block, which holds no whole huge
 * page. Only if the limit and the resident ceiling admit the whole
 * window; otherwise, or if the OS layer refuses, nothing changes and
 * cache_make_ready makes the block alone Ready after the lock. t's busy
 * flag and s's lock held (the refill's hold).
 */
static __attribute__((noinline)) void cache_ready_chunk(pageheap *h, ph_shard *s, ph_thread *t)
{
    uint64_t sc = t->cache.scav;
    if (sc != t->cache.cache || (sc | (sc - 1)) != ~(uint64_t)0)
        return;                             /* not all scavenged up to the end */
    unsigned lo = (unsigned)__builtin_ctzll(sc);
    uintptr_t base = t->cache.base + lo * PH_PAGE;
    uintptr_t end = t->cache.base + PAGEALLOC_CACHE_PAGES * PH_PAGE;
    size_t more = pa_fresh_after(s->pa, end);
    uint64_t bytes = end - base + more * PH_PAGE;
    if (!more || !ph_ceiling_admits(h, bytes) || !ph_admit(h, bytes))
        return;
    if (sysmem_used_ex((void *)base, bytes, SYSMEM_USED_NO_HUGE) != 0) {
        ctr_sub(&h->ready, bytes);
        return;
    }
    pa_unscavenge_fresh(s->pa, end, more);
    ph_fresh_add(h, s, end, end + more * PH_PAGE);     /* untouched until handed out */
    t->cache.scav = 0;
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
static __attribute__((noinline)) void cache_make_ready_slow(pageheap *h, ph_thread *t,
                                                           uint64_t scav)
{
    uint64_t bytes = (uint64_t)pa_popcount64(scav) * PH_PAGE;
    if (!ph_ceiling_admits(h, bytes) || !ph_admit(h, bytes))
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

/* cache_make_ready_slow if the refilled block has released pages: the
 * test inline, so that a refill of resident pages (the usual one after
 * the first round) makes no call. */
static inline void cache_make_ready(pageheap *h, ph_thread *t)
{
    uint64_t scav = t->cache.scav & t->cache.cache;
    if (scav)
        cache_make_ready_slow(h, t, scav);
}

/* The cache path: n < 16 pages from t's page cache, refilled when empty.
 * *scav receives which of them were scavenged. 0 if the cache cannot fit
 * n. t's busy flag held (busy -> shard lock for a refill), no shard lock. */
static inline __attribute__((always_inline)) uintptr_t cache_alloc_held(pageheap *h, ph_thread *t,
                                                                        size_t npages,
                                                                        size_t *scav_bytes,
                                                                        uint64_t *scav)
{
    int refilled = 0;
    if (t->cache.cache == 0) {
        ph_shard *s = &h->shards[t->shard];
        ph_lock_take(&s->mu);
        t->cache = pagealloc_alloc_to_cache(s->pa);
        PA_DEBUG_AFTER(s->pa, "pagealloc_alloc_to_cache", t->cache.base, PAGEALLOC_CACHE_PAGES);
        ph_fresh_cut(h, s, t->cache.base, PAGEALLOC_CACHE_PAGES * PH_PAGE);
        if ((int64_t)t->cache.scav < 0)     /* the block's last page scavenged */
            cache_ready_chunk(h, s, t);
        ph_lock_give(&s->mu);
        cache_make_ready(h, t);
        refilled = 1;
    }
    uint64_t before = t->cache.scav;
    uintptr_t base = pagealloc_cache_alloc(&t->cache, npages, scav_bytes);
    if (refilled) {
        cache_publish(t);
    } else if (base) {
        /* The published figures drop by what was taken (cache_publish's
         * two population counts, 24 instructions without -mpopcnt, for
         * a subtraction each): npages cache pages, *scav_bytes of them
         * released (pagealloc_cache_alloc clears both bits of each). */
        ctr_own_sub(&t->cache_bytes, npages * PH_PAGE);
        ctr_own_sub(&t->cache_released, *scav_bytes);
    }
    if (base) {
        unsigned i = (unsigned)((base - t->cache.base) / PH_PAGE);
        scav[0] = (before >> i) & (((uint64_t)1 << npages) - 1);
    }
    return base;
}

/* cache_alloc_held, taking and releasing t's busy flag. */
static uintptr_t cache_alloc(pageheap *h, ph_thread *t, size_t npages, size_t *scav_bytes,
                             uint64_t *scav)
{
    busy_lock(t);
    uintptr_t base = cache_alloc_held(h, t, npages, scav_bytes, scav);
    busy_unlock(t);
    return base;
}

/* The exact bin's hit, t's busy flag held: a cached run of exactly npages
 * (npages <= PH_RC_BINS), live again in the run map before the flag goes
 * (whoever takes every flag sees the run cached or handed out, never
 * between), the bins' figures published and the flag released; or 0 with
 * the flag still held. */
static inline __attribute__((always_inline)) uintptr_t rc_take_hit(ph_thread *t, size_t npages)
{
    ph_rm_entry *rm;
    uintptr_t base = rc_take_exact(&t->rc, (unsigned)npages, &rm);
    if (base) {
        atomic_store_explicit(rm, ph_rm_code(npages), memory_order_release);
        busy_unlock(t);
    }
    return base;
}

/* A run for npages from t's run cache (run caches on, t's cache seen not
 * empty), or 0: the exact bin inline, anything else (a longer length's
 * list, the shortest longer run to split) in ph_rc_alloc_locked. Takes
 * and releases t's busy flag once. */
static inline __attribute__((always_inline)) uintptr_t rc_alloc(pageheap *h, ph_thread *t,
                                                                size_t npages)
{
    busy_lock(t);
    if (npages <= PH_RC_BINS) {
        uintptr_t base = rc_take_hit(t, npages);
        if (base)
            return base;
        if (npages < PH_RC_SPLIT_MIN) {
            busy_unlock(t);
            return 0;
        }
    }
    uintptr_t base = ph_rc_alloc_locked(h, t, npages);
    if (!base)
        busy_unlock(t);
    return base;
}

/* Count an allocation served by t's run cache (its owner: plain
 * load-and-store counters). */
static inline void count_rc_alloc(ph_thread *t, size_t npages)
{
    ctr_stat_add(&t->c.allocs, 1);
    ctr_stat_add(&t->c.alloc_bytes, npages * PH_PAGE);
}

/* Count an allocation on t (its owner: plain load-and-store counters),
 * or on the heap's record (atomic adds) when there is none. */
static inline void count_alloc(pageheap *h, ph_thread *t, size_t npages, int cached)
{
    if (t) {
        ctr_stat_add(&t->c.allocs, 1);
        ctr_stat_add(&t->c.alloc_bytes, npages * PH_PAGE);
        if (!cached)
            ctr_stat_add(&t->c.uncached, 1);
    } else {
        ctr_add(&h->dead.allocs, 1);
        ctr_add(&h->dead.alloc_bytes, npages * PH_PAGE);
        if (!cached)
            ctr_add(&h->dead.uncached, 1);
    }
}

/* The whole allocation path; rc_tried: the caller already asked the
 * thread's run cache (pageheap_alloc's fast path). */
static __attribute__((noinline)) void *heap_alloc(pageheap *h, size_t npages, int zero,
                                                  int rc_tried)
{
    if (!heap_live(h)) {                /* the fast path left it to here */
        errno = EINVAL;
        return NULL;
    }
    if (npages == 0) {
        errno = EINVAL;
        return NULL;
    }
    if (npages > PH_MAX_PAGES) {
        errno = ENOMEM;
        return NULL;
    }
    ph_thread *t = ph_thread_get(h);
    unsigned si = t ? t->shard : 0;
    if (!t && h->threadless && h->nshards > 1) {
        int here;                       /* threads' stacks lie megabytes apart */
        uint64_t mix = ((uint64_t)(uintptr_t)&here >> 20) * 0x9e3779b97f4a7c15ull;
        si = (unsigned)((mix >> 32) % h->nshards);
    }
    uintptr_t base = 0;
    if (!rc_tried && t && h->runcache && npages <= PH_RC_PAGES &&
        atomic_load_explicit(&t->rc.fill, memory_order_relaxed) &&
        (base = rc_alloc(h, t, npages)) != 0) {
        if (zero)
            memset((void *)base, 0, npages * PH_PAGE);
        count_rc_alloc(t, npages);
        return (void *)base;
    }
    if (t && h->runcache && npages > PH_RC_PAGES && npages <= PH_RC_BIG_PAGES &&
        atomic_load_explicit(&t->rc_big, memory_order_relaxed) >= npages * PH_PAGE &&
        (base = ph_rc_big_alloc(h, t, npages)) != 0) {
        if (zero)
            memset((void *)base, 0, npages * PH_PAGE);
        count_rc_alloc(t, npages);
        return (void *)base;
    }
    size_t scav_bytes = 0;
    ph_scavmap m;
    int err = scavmap_init(h, &m, npages);
    if (err) {
        errno = err;
        return NULL;
    }
    int cached = 0;
    if (t && npages < PH_SMALL_PAGES && !h->guard) {
        base = cache_alloc(h, t, npages, &scav_bytes, m.bits);
        cached = base != 0;
    }
    if (!base)
        base = shard_alloc(h, si, npages, &scav_bytes, m.bits);
    int ok = base && heap_finish(h, &h->shards[si], base, npages, scav_bytes, m.bits, zero);
    err = errno;
    scavmap_done(h, &m);
    if (!ok) {
        errno = err;
        return NULL;
    }
    if (h->runcache)
        ph_rm_record(h, base, npages);
    count_alloc(h, t, npages, cached);
    return (void *)base;
}

/* The fast path's miss: t (the caller's thread, run caches on) has no
 * cached run for npages (1..PH_RC_PAGES); t's busy flag held on entry.
 * heap_alloc's path with what the fast path already knows left out, and
 * the flag kept for the page cache (one exchange a small miss, not two):
 * the page cache below PH_SMALL_PAGES, then the shard. */
static __attribute__((noinline)) void *alloc_miss(pageheap *h, ph_thread *t, size_t npages,
                                                  int zero)
{
    size_t scav_bytes = 0;
    uint64_t scav[PH_RC_PAGES / 64];    /* which pages were scavenged */
    uintptr_t base = 0;
    int cached = 0;
    if (npages < PH_SMALL_PAGES && !h->guard) {
        base = cache_alloc_held(h, t, npages, &scav_bytes, scav);
        cached = base != 0;
    }
    busy_unlock(t);
    if (!base)
        base = shard_alloc(h, t->shard, npages, &scav_bytes, scav);
    if (!base || !heap_finish(h, &h->shards[t->shard], base, npages, scav_bytes, scav, zero))
        return NULL;                    /* errno set */
    ph_rm_record(h, base, npages);
    count_alloc(h, t, npages, cached);
    return (void *)base;
}

/* The rest of the fast path's run-cache attempt (t's busy flag held, no
 * run of exactly npages in a bin): ph_rc_alloc_locked, else alloc_miss. */
static __attribute__((noinline)) void *rc_alloc_rest(pageheap *h, ph_thread *t, size_t npages,
                                                     int zero)
{
    uintptr_t base = ph_rc_alloc_locked(h, t, npages);
    if (!base)
        return alloc_miss(h, t, npages, zero);
    if (zero)
        memset((void *)base, 0, npages * PH_PAGE);
    count_rc_alloc(t, npages);
    return (void *)base;
}

/* A request of more than PH_RC_PAGES pages (or of 0). If the calling
 * thread t used the heap last and the request is at most PH_RC_BIG_PAGES:
 * t's big slot's run if it is published at least that long
 * (ph_rc_big_alloc), else t's shard; heap_alloc's path without its
 * thread lookup and checks (about 25 instructions a heap W3 step). The
 * rest, or a slot a flusher took meanwhile, goes to heap_alloc. */
static __attribute__((noinline)) void *big_alloc(pageheap *h, size_t npages, int zero)
{
    if (ph_last.h != h || ph_last.id != h->id || npages - 1 >= PH_RC_BIG_PAGES)
        return heap_alloc(h, npages, zero, 0);
    ph_thread *t = ph_last.t;
    uintptr_t base;
    if (atomic_load_explicit(&t->rc_big, memory_order_relaxed) >= npages * PH_PAGE) {
        base = ph_rc_big_alloc(h, t, npages);    /* rc_big is 0 without run caches */
        if (!base)
            return heap_alloc(h, npages, zero, 0);
        if (zero)
            memset((void *)base, 0, npages * PH_PAGE);
        count_rc_alloc(t, npages);
        return (void *)base;
    }
    size_t scav_bytes = 0;
    uint64_t scav[PH_RC_BIG_PAGES / 64];     /* which pages were scavenged */
    base = shard_alloc(h, t->shard, npages, &scav_bytes, scav);
    if (!base || !heap_finish(h, &h->shards[t->shard], base, npages, scav_bytes, scav, zero))
        return NULL;                    /* errno set */
    if (h->runcache)
        ph_rm_record(h, base, npages);
    count_alloc(h, t, npages, 0);
    return (void *)base;
}

/* The fast path's request of PH_RC_BINS + 1 to PH_RC_PAGES pages by the
 * thread that used the heap last (ph_last matched): the run cache's
 * longer lengths, then the miss paths (rc_alloc_rest), with the busy
 * flag taken as alloc_fast takes it. Apart, so that the exact bins' path
 * tests the length once (issue 11). Only tail calls. */
static __attribute__((noinline)) void *alloc_long(pageheap *h, size_t npages, int zero)
{
    ph_thread *t = ph_last.t;
    if (atomic_exchange_explicit(&t->busy, 1, memory_order_acquire))
        return heap_alloc(h, npages, zero, 0);
    return rc_alloc_rest(h, t, npages, zero);
}

/* The fast path: the calling thread's record is the one it used last
 * (no key lookup) and its run cache holds a run for npages, or its big
 * slot one long enough (big_alloc). Everything else goes through
 * heap_alloc, told whether the run cache was tried. */
static inline __attribute__((always_inline)) void *alloc_fast(pageheap *h, size_t npages,
                                                              int zero)
{
    /* ph_last.h is never NULL, and matches only a heap this thread used:
     * a NULL, deleted or foreign handle goes to heap_alloc (through
     * big_alloc for 0 or many pages), which checks it (threads.c,
     * ph_last_none); so does a heap without run caches (rc_id 0). An
     * empty run cache is not tested for here: its bins are empty, and
     * the miss paths below serve the request (issue 11: three
     * instructions every allocation). */
    if (ph_last.h != h || ph_last.rc_id != h->id)
        return npages - 1 < PH_RC_PAGES ? heap_alloc(h, npages, zero, 0)
                                        : big_alloc(h, npages, zero);   /* 0 pages too */
    if (npages - 1 >= PH_RC_BINS)
        return npages - 1 < PH_RC_PAGES ? alloc_long(h, npages, zero)
                                        : big_alloc(h, npages, zero);   /* 0 pages too */
    /* rc_alloc's exact bin, with every call a tail call (no callee-saved
     * registers in pageheap_alloc): a busy flag a flusher holds sends the
     * request to heap_alloc, which waits for it. */
    ph_thread *t = ph_last.t;
    if (atomic_exchange_explicit(&t->busy, 1, memory_order_acquire))
        return heap_alloc(h, npages, zero, 0);
    uintptr_t base = rc_take_hit(t, npages);
    if (base) {
        if (zero)
            memset((void *)base, 0, npages * PH_PAGE);
        count_rc_alloc(t, npages);
        return (void *)base;
    }
    if (npages < PH_RC_SPLIT_MIN)
        return alloc_miss(h, t, npages, zero);
    return rc_alloc_rest(h, t, npages, zero);
}

PA_API void *pageheap_alloc(pageheap *h, size_t npages)
{
    return alloc_fast(h, npages, 0);
}

PA_API void *pageheap_alloc_zeroed(pageheap *h, size_t npages)
{
    return alloc_fast(h, npages, 1);
}
