/*
 * free.c - the heap's free paths (heap.h, docs/heap.md "Run caches" and
 * "Fast paths"): the fast free of a run the run map vouches for, into the
 * thread's run cache, its big slot or the allocator, and heap_free, which
 * checks everything (the check level's page-cache scan, the run map or,
 * without run caches, the allocator's validation) and handles guard mode.
 * Split from alloc.c (allocation), one job per file.
 */
#include <errno.h>
#include <string.h>

#include "pagealloc/debug.h"
#include "pagealloc/heapapi.h"
#include "pageheap/heap.h"
#include "pageheap/runcache.h"
#include "pageheap/runmap.h"

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

/* Count a free on t, or on the heap's record when there is none. */
static inline void count_free(pageheap *h, ph_thread *t, size_t npages)
{
    if (t) {
        ctr_stat_add(&t->c.frees, 1);
        ctr_stat_add(&t->c.freed_bytes, npages * PH_PAGE);
    } else {
        ctr_add(&h->dead.frees, 1);
        ctr_add(&h->dead.freed_bytes, npages * PH_PAGE);
    }
}

/* Keep a run the run map has validated in the owner's own cache: mark its
 * entry cached (a concurrent free of the same run loses the exchange and
 * is reported) and link it, under the busy flag. */
static inline void keep_cached(pageheap *h, ph_shard *s, ph_thread *t, ph_rm_entry *e,
                               uint8_t v, uintptr_t a, size_t npages)
{
    busy_lock(t);
    if (!atomic_compare_exchange_strong_explicit(e, &v, (uint8_t)(v | PH_RM_CACHED),
                                                 memory_order_acq_rel, memory_order_acquire)) {
        busy_unlock(t);
        ph_rc_bad_free(h, s, a, npages, v);
        return;
    }
    rc_insert(&t->rc, a, npages, e);
    busy_unlock(t);
    count_free(h, t, npages);
}

/* A free the run map vouched for (entry e reads the code of npages)
 * that goes to shard s's allocator: clear the entry with a
 * compare-and-swap (the racing free that loses is reported), and a long
 * run's count entries, then the allocator's one-pass free (its check
 * cannot fail: the run is a live allocation and the entry is now ours),
 * with no validation pass before it (W3: 230 instructions a step). Six
 * arguments, all in registers, so that the fast free's call is a jump. */
static __attribute__((noinline)) void free_mapped(pageheap *h, ph_shard *s, ph_thread *t,
                                                  ph_rm_entry *e, uintptr_t a, size_t npages)
{
    uint8_t v = ph_rm_code(npages);
    if (!atomic_compare_exchange_strong_explicit(e, &v, 0, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        ph_rc_bad_free(h, s, a, npages, v);
        return;
    }
    if (v == PH_RM_LONG)
        ph_rm_set_count(h, e, a, npages, 1);
    ph_lock_take(&s->mu);
    pagealloc_free(s->pa, a, npages);
    ph_lock_give(&s->mu);
    count_free(h, t, npages);
}

/* A free of a run of at most PH_RC_PAGES pages, by its shard's thread t
 * whose bins have room, that the run map vouched for (entry e reads its
 * code), with a merge policy on: to the allocator if the run seems to
 * have a free neighbour there (next_checked: the fast path found page
 * a + npages not free), else into t's bins (docs/heap.md "Merging
 * frees"). Out of line, so that the previous neighbour's reading costs
 * the fast path no registers. */
static __attribute__((noinline)) void free_merge(pageheap *h, ph_thread *t, ph_rm_entry *e,
                                                 uintptr_t a, size_t npages, int next_checked)
{
    ph_shard *s = &h->shards[t->shard];
    if ((!next_checked && ph_rm_next_free(e, a, npages)) ||
        (h->rc_merge == PAGEHEAP_MERGE_BOTH && ph_rm_prev_free(e, a)))
        free_mapped(h, s, t, e, a, npages);
    else
        keep_cached(h, s, t, e, ph_rm_code(npages), a, npages);
}

/* A free of a run longer than PH_RC_PAGES, at most PH_RC_BIG_PAGES, by
 * its shard's thread t, that the run map vouched for (entry e reads its
 * code, PH_RM_LONG):
 * t's big slot keeps the longer of it and the run it holds, the other
 * goes to the allocator (keeping the longer one serves more of the
 * requests that follow, each of which takes the run if it is long
 * enough and gives its tail back). */
static __attribute__((noinline)) void free_big(pageheap *h, ph_thread *t, ph_rm_entry *e,
                                               uintptr_t a, size_t npages)
{
    uint8_t v = PH_RM_LONG;
    ph_shard *s = &h->shards[t->shard];
    ph_runcache *rc = &t->rc;
    busy_lock(t);
    if (rc->big_pages >= npages) {
        busy_unlock(t);
        free_mapped(h, s, t, e, a, npages);
        return;
    }
    if (!atomic_compare_exchange_strong_explicit(e, &v, (uint8_t)(v | PH_RM_CACHED),
                                                 memory_order_acq_rel, memory_order_acquire)) {
        busy_unlock(t);
        ph_rc_bad_free(h, s, a, npages, v);
        return;
    }
    uintptr_t old = rc->big;
    size_t old_pages = rc->big_pages;
    rc->big = a;
    rc->big_pages = npages;
    rc_publish_big(t);
    /* The run it replaces goes back before the flag does (busy -> shard
     * lock, as a flush), so that the checker, which takes every flag,
     * never sees it out of the cache yet allocated. */
    if (old)
        ph_rc_release(h, s, ph_rm_at(h, old), old, old_pages);
    busy_unlock(t);
    count_free(h, t, npages);
}

/* The whole free path: every check, the run map, the run cache or the
 * allocator. pageheap_free's fast path sends here what it does not
 * handle itself. */
static __attribute__((noinline)) void heap_free(pageheap *h, void *p, size_t npages)
{
    if (!p && npages == 0)
        return;
    uintptr_t a = (uintptr_t)p;
    if (ph_heap_bad(h, "pageheap_free", a, npages))
        return;
    unsigned owner = ph_map_get(h, a);
    ph_shard *s = &h->shards[owner ? owner - 1 : 0];
    if (owner && pa_check_level() >= PA_CHECK_INTERNAL && held_by_cache(h, owner - 1, a, npages)) {
        pa_report("pageheap_free", a, npages,
                  "some pages are owned by a page cache (never allocated)");
        return;
    }
    if (h->runcache && owner) {
        /* The run map validates the free without a lock: it must be a
         * live allocation's first page and page count. Then the run goes
         * to the thread's run cache, or (not this thread's shard, or no
         * room) to the allocator. */
        ph_rm_entry *e = a % PH_PAGE ? NULL : ph_rm_at(h, a);
        uint8_t v = e ? atomic_load_explicit(e, memory_order_acquire) : 0;
        uint8_t want = ph_rm_code(npages);
        if (v != want || npages == 0 || (want == PH_RM_LONG && ph_rm_count(h, e, a) != npages)) {
            ph_rc_bad_free(h, s, a, npages, v);
            return;
        }
        ph_thread *t = ph_thread_get(h);
        if (!t || t->shard != owner - 1 || !rc_may_keep(t, npages) ||
            (h->rc_merge && ph_rm_free_neighbour(e, a, npages, h->rc_merge))) {
            free_mapped(h, s, t, e, a, npages);
            return;
        }
        /* It fits: only the owner adds runs, a flusher only takes. */
        keep_cached(h, s, t, e, v, a, npages);
        return;
    }
    /* The allocator validates the free; a bad one is reported, and
     * changes nothing (not even the statistics). */
    int err;
    const char *rule;
    if (h->guard) {
        ph_lock_take(&s->mu);
        rule = pa_free_violation(s->pa, a, npages);
        ph_lock_give(&s->mu);
        err = rule ? EINVAL : 0;
        if (!err && !ph_guard_free(h, s, a, npages))
            err = EAGAIN;     /* not protected: free it as usual */
    } else {
        err = EAGAIN;
    }
    if (err == EAGAIN) {
        ph_lock_take(&s->mu);
        err = pagealloc_try_free(s->pa, a, npages);
        rule = err ? pa_free_violation(s->pa, a, npages) : NULL;
        ph_lock_give(&s->mu);
    }
    if (err) {
        pa_report("pageheap_free", a, npages, rule ? rule : "invalid free");
        return;
    }
    count_free(h, ph_thread_get(h), npages);
}

/* free_long's run of at most PH_RC_PAGES pages: t's bins if they have
 * room (and, with a merge policy, it has no free neighbour), else the
 * allocator. */
static __attribute__((noinline)) void free_long_short(pageheap *h, ph_thread *t, ph_rm_entry *e,
                                                      uintptr_t a, size_t npages)
{
    if (!rc_may_keep(t, npages))
        free_mapped(h, &h->shards[t->shard], t, e, a, npages);
    else if (h->rc_merge)
        free_merge(h, t, e, a, npages, 0);
    else
        keep_cached(h, &h->shards[t->shard], t, e, PH_RM_LONG, a, npages);
}

/* The fast path's free of a run of PH_RM_LONG pages or more (entry e
 * reads PH_RM_LONG): its exact count checked against the run map, then
 * where it goes (t's bins, its big slot or the allocator). Out of line,
 * so that the count's reading costs the short runs' path no registers;
 * only tail calls, so that it costs none itself. npages is 0 or any count
 * of 63 and up (not range-tested): the run map's count is a live run's,
 * 63 to PH_MAX_PAGES, so any other goes to heap_free. */
static __attribute__((noinline)) void free_long(pageheap *h, ph_thread *t, ph_rm_entry *e,
                                                uintptr_t a, size_t npages)
{
    if (ph_rm_count(h, e, a) != npages)
        heap_free(h, (void *)a, npages);
    else if (npages <= PH_RC_PAGES)
        free_long_short(h, t, e, a, npages);
    else if (npages <= PH_RC_BIG_PAGES)
        free_big(h, t, e, a, npages);
    else
        free_mapped(h, &h->shards[t->shard], t, e, a, npages);
}

/* The fast path's address test in one mask: page-aligned and below 2^48
 * (the run map's reach, ph_rm_chunk_below's bound). */
#define PH_FAST_FREE_BAD (~(((uintptr_t)1 << 48) - 1) | (uintptr_t)(PH_PAGE - 1))

/* The fast path: a free by the thread that used the heap last, of a run
 * of its own shard that the run map says is a live allocation of exactly
 * npages pages. At check level 0 only (level 1 first asks whether a page
 * cache holds the pages). If the thread's run cache has room, the run
 * goes there with one compare-and-swap on its run-map entry (the racing
 * free that loses is reported) under the busy flag; else to the allocator
 * (free_mapped). Anything else, bad frees included, takes heap_free,
 * which checks it all again. */
PA_API void pageheap_free(pageheap *h, void *p, size_t npages)
{
    uintptr_t a = (uintptr_t)p;
    /* Every call below is a tail call, so this path needs no callee-saved
     * registers (six pushes and pops a free before): the check level is
     * read raw (not yet read from the environment: heap_free reads it),
     * and a busy flag a flusher holds sends the free to heap_free rather
     * than waiting here. h is not tested for NULL or its magic word:
     * ph_last.h never is NULL and names only a heap this thread used
     * (threads.c, ph_last_none); anything else reaches heap_free. rc_id
     * matches only a heap with run caches (heap.h, ph_last_rec). */
    if (ph_last.h == h && ph_last.rc_id == h->id && (a & PH_FAST_FREE_BAD) == 0 &&
        __atomic_load_n(&pa_check_level_v, __ATOMIC_RELAXED) == PA_CHECK_CHEAP) {
        ph_thread *t = ph_last.t;
        unsigned owner = t->rm_owner;
        uintptr_t c = ph_rm_chunk_below(h, a);           /* a below 2^48 */
        if ((c & PH_RM_OWNER) == owner) {               /* grown, in t's shard */
            ph_rm_entry *e = ph_rm_entry_owned(c, owner, a);
            /* npages is not range-tested first: 0 (whose code would match
             * a free page's 0) and a count above PH_MAX_PAGES take the
             * long branch and fail free_long's exact count (a live long
             * run's: 63 to PH_MAX_PAGES). */
            uint8_t v = atomic_load_explicit(e, memory_order_acquire);
            if (npages - 1 >= PH_RM_LONG - 1) { /* 0, or the code is PH_RM_LONG */
                if (v == PH_RM_LONG) {
                    free_long(h, t, e, a, npages);
                    return;
                }
            } else if (v == (uint8_t)npages) {  /* the code is npages itself */
                /* The default merge policy (next) first: one test of it,
                 * not one for "any policy" and one for "both". */
                if (!rc_may_keep(t, npages)) {
                    free_mapped(h, &h->shards[t->shard], t, e, a, npages);
                    return;
                }
                if (__builtin_expect(h->rc_merge == PAGEHEAP_MERGE_NEXT, 1)) {
                    if (ph_rm_next_free(e, a, npages)) {
                        free_mapped(h, &h->shards[t->shard], t, e, a, npages);
                        return;
                    }
                } else if (h->rc_merge == PAGEHEAP_MERGE_BOTH) {
                    free_merge(h, t, e, a, npages, 0);  /* its next page too */
                    return;
                }
                if (!atomic_exchange_explicit(&t->busy, 1, memory_order_acquire)) {
                    /* keep_cached, with the flag taken. */
                    if (!atomic_compare_exchange_strong_explicit(
                            e, &v, (uint8_t)(v | PH_RM_CACHED), memory_order_acq_rel,
                            memory_order_acquire)) {
                        busy_unlock(t);
                        ph_rc_bad_free(h, &h->shards[t->shard], a, npages, v);
                        return;
                    }
                    rc_insert(&t->rc, a, npages, e);
                    busy_unlock(t);
                    ctr_stat_add(&t->c.frees, 1);
                    ctr_stat_add(&t->c.freed_bytes, npages * PH_PAGE);
                    return;
                }
            }
        }
    }
    heap_free(h, p, npages);
}
