/*
 * runcache.c - the heap's run caches and the run map (docs/heap.md, "Run
 * caches").
 *
 * A run cache belongs to one thread and holds runs that thread freed,
 * still allocated in the allocator, to hand them out again without the
 * shard lock or a search: bins for 1..64 pages (LIFO) and one list for
 * longer runs. A request takes a run of exactly its length; failing that,
 * a request of PH_RC_SPLIT_MIN pages or more takes the shortest longer
 * run, keeps its head and gives the tail to the allocator (one
 * pagealloc_free under the shard lock, no search). Shorter requests never
 * split: single pages and short runs cut from freed long runs scattered
 * over the heap and grew W5's peak RSS by a quarter (docs/heap.md); nor
 * does a tail stay cached (it crowded out the runs that are reused). The
 * cache is bounded (PH_RC_ENTRIES runs, PH_RC_PAGES pages); a free that
 * does not fit goes to the allocator. Apart from the bins, a big slot
 * holds one run of PH_RC_PAGES+1..PH_RC_BIG_PAGES pages, the longer of the
 * one it holds and one freed (alloc.c, free_big); a request of more than
 * PH_RC_PAGES takes it if it is long enough, tail to the allocator. Flushing returns every run to the
 * allocator under the shard lock, one pagealloc_free each. With a merge
 * policy (h->rc_merge, the default), a freed run whose neighbour looks
 * free in the run map goes to the allocator instead, where it merges
 * (free.c; runmap.h, ph_rm_free_neighbour): kept, it would pin a hole
 * (W5 touched 1.18x its live peak with every run kept, 1.155x so).
 *
 * The run map says, for the first page of every live allocation, its page
 * count, and marks the runs a cache holds. A free is checked against it
 * with one atomic load and one compare-and-swap, so a free that the
 * allocator could no longer see as bad (a run that is cached is still
 * allocated there) is caught: a double free, a wrong page count, or a free
 * of the inside of a run. Every free reads it at a random place, so it is
 * small: one byte per page (a 4-byte entry cost W2 a cache miss per free,
 * twice the last-level misses without run caches). Lengths up to 62 pages
 * fit in the byte; a longer run's byte says "long" and the exact count
 * sits in the entries of its next pages (two up to 4095 pages), where no run
 * can start, tagged so that a free pointing at them is "inside a run".
 * The entries are one block per reservation (an arena), made with it,
 * charged as metadata and resident only where the heap has grown (a
 * block per grown range, rounded to OS pages, cost three times the RSS),
 * reached through two levels of pointers indexed like the chunk map; each
 * chunk pointer carries the chunk's shard + 1 in its low bits, so a free
 * reads the run map alone, not the chunk map as well.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/color.h"
#include "pagealloc/debug.h"
#include "pagealloc/heapapi.h"
#include "pageheap/heap.h"
#include "pageheap/runcache.h"
#include "pageheap/runmap.h"

/* ---- The run map -------------------------------------------------------------- */

#define RM_L2_BYTES (PH_MAP_L2 * sizeof(void *))
/* A level-2 block of chunk pointers starts PA_COLOR_BYTES into its mapping
 * (base/color.h): a heap at Go's hint has its first chunk at index 0, and
 * every free reads that chunk's pointer, which at a page start the users'
 * page-aligned runs would keep evicting from the level-1 cache. */
#define RM_L2_MAP (RM_L2_BYTES + PA_COLOR_BYTES)

/* A chunk's entries start at a multiple of PAGEALLOC_CHUNK_PAGES bytes of
 * a page-aligned block, so the low bits of its pointer carry the shard
 * (runmap.h, ph_rm_chunk). */
_Static_assert(PH_MAX_SHARDS + 1 <= PH_RM_OWNER &&
                   PAGEALLOC_CHUNK_PAGES * sizeof(ph_rm_entry) > PH_RM_OWNER,
               "the run map's chunk pointers have no room for the owner tag");

static size_t round_phys(pageheap *h, size_t n)
{
    return (n + h->phys_page - 1) & ~(h->phys_page - 1);
}

int ph_rm_init(pageheap *h)
{
    void *mem;
    int err = sysmem_alloc(RM_L2_BYTES, &h->meta_stat, &mem);
    if (err)
        return err;
    h->runmap = mem;
    return 0;
}

/* The first chunk of reservation r (reservations made anywhere are not
 * chunk aligned) and how many whole chunks it holds. */
static uintptr_t rm_first_chunk(const ph_range *r, size_t *nchunks)
{
    uintptr_t c = (r->base + PH_CHUNK - 1) & ~(uintptr_t)(PH_CHUNK - 1);
    *nchunks = c < r->base + r->size ? (r->base + r->size - c) / PH_CHUNK : 0;
    return c;
}

int ph_rm_reserve(pageheap *h, ph_range *r)
{
    size_t nchunks;
    (void)rm_first_chunk(r, &nchunks);
    if (nchunks == 0)
        return 0;
    size_t bytes = round_phys(h, nchunks * PAGEALLOC_CHUNK_PAGES * sizeof(ph_rm_entry));
    void *mem;
    int err = sysmem_alloc(bytes, &h->meta_stat, &mem);
    if (err)
        return err;
    r->rm = mem;
    r->rm_bytes = bytes;
    return 0;
}

/* The entries of chunk c in its reservation's block, or NULL. grow_mu held. */
static ph_rm_entry *rm_chunk_entries(pageheap *h, uintptr_t c)
{
    for (ph_range *r = h->regions; r; r = r->next) {
        size_t nchunks;
        uintptr_t first = rm_first_chunk(r, &nchunks);
        if (r->rm && c >= first && (c - first) / PH_CHUNK < nchunks)
            return (ph_rm_entry *)r->rm + (c - first) / PH_PAGE;
    }
    return NULL;
}

int ph_rm_grow(pageheap *h, ph_range *g)
{
    /* The level-2 blocks first, so that a failure leaves only them. */
    for (uintptr_t c = g->base; c < g->base + g->size; c += PH_CHUNK) {
        size_t i1 = (c >> 22) >> PH_MAP_BITS;
        if (atomic_load_explicit(&h->runmap[i1], memory_order_relaxed))
            continue;
        void *mem;
        int err = sysmem_alloc(round_phys(h, RM_L2_MAP), &h->meta_stat, &mem);
        if (err)
            return err;
        atomic_store_explicit(&h->runmap[i1], pa_color_in(mem), memory_order_release);
    }
    for (uintptr_t c = g->base; c < g->base + g->size; c += PH_CHUNK)
        if (!rm_chunk_entries(h, c))
            return EFAULT;              /* never: every grown chunk is reserved */
    for (uintptr_t c = g->base; c < g->base + g->size; c += PH_CHUNK) {
        size_t ci = c >> 22;
        ph_rm_entry *_Atomic *l2 = atomic_load_explicit(&h->runmap[ci >> PH_MAP_BITS],
                                                        memory_order_relaxed);
        ph_rm_entry *ce = rm_chunk_entries(h, c);   /* 512-byte aligned: room for the tag */
        atomic_store_explicit(&l2[ci & (PH_MAP_L2 - 1)],
                              (ph_rm_entry *)((uintptr_t)ce + g->shard + 1),
                              memory_order_release);
    }
    return 0;
}

void ph_rm_drop(pageheap *h, ph_range *g)
{
    if (!h->runmap)
        return;
    for (uintptr_t c = g->base; c < g->base + g->size; c += PH_CHUNK) {
        size_t ci = c >> 22;
        ph_rm_entry *_Atomic *l2 = atomic_load_explicit(&h->runmap[ci >> PH_MAP_BITS],
                                                        memory_order_relaxed);
        if (l2)
            atomic_store_explicit(&l2[ci & (PH_MAP_L2 - 1)], NULL, memory_order_release);
    }
}

/* Whether chunk c's run map entries are all zero and stay so while the
 * shards' locks are held: not grown (growth needs a shard lock to finish),
 * or grown and wholly free in its allocator. Every shard's lock held. */
static int rm_chunk_idle(pageheap *h, uintptr_t c)
{
    unsigned o = ph_map_get(h, c);
    if (!o)
        return 1;
    uint64_t ab[PAGEALLOC_CHUNK_PAGES / 64];
    if (!pa_chunk_bits(h->shards[o - 1].pa, c, ab, NULL))
        return 0;                       /* mapped, its grow not done yet */
    for (unsigned i = 0; i < PAGEALLOC_CHUNK_PAGES / 64; i++)
        if (ab[i])
            return 0;
    return 1;
}

void ph_rm_trim(pageheap *h)
{
    if (!h->runcache)
        return;
    size_t per = h->phys_page / (PAGEALLOC_CHUNK_PAGES * sizeof(ph_rm_entry));
    if (per == 0)
        return;
    pthread_mutex_lock(&h->grow_mu);
    for (unsigned i = 0; i < h->nshards; i++)
        ph_lock_take(&h->shards[i].mu);
    for (ph_range *r = h->regions; r; r = r->next) {
        size_t nchunks;
        uintptr_t first = rm_first_chunk(r, &nchunks);
        for (size_t k = 0; r->rm && k < nchunks; k += per) {
            int idle = 1;
            for (size_t j = k; j < k + per && j < nchunks && idle; j++)
                idle = rm_chunk_idle(h, first + j * PH_CHUNK);
            char *pg = (char *)r->rm + k * PAGEALLOC_CHUNK_PAGES * sizeof(ph_rm_entry);
            if (idle && sysmem_unused(pg, h->phys_page) == 0)
                (void)sysmem_used_ex(pg, h->phys_page, SYSMEM_USED_NO_HUGE);
        }
    }
    for (unsigned i = h->nshards; i-- > 0;)
        ph_lock_give(&h->shards[i].mu);
    pthread_mutex_unlock(&h->grow_mu);
}

void ph_rm_destroy(pageheap *h)
{
    if (!h->runmap)
        return;
    for (size_t i = 0; i < PH_MAP_L2; i++) {
        void *l2 = atomic_load(&h->runmap[i]);
        if (l2)
            (void)sysmem_free(pa_color_out(l2), round_phys(h, RM_L2_MAP), &h->meta_stat);
    }
    (void)sysmem_free((void *)h->runmap, RM_L2_BYTES, &h->meta_stat);
    h->runmap = NULL;
}

/* ---- A thread's run cache ----------------------------------------------------- */

/* The entry (index + 1) of the shortest cached run of at least npages
 * pages, in *bin and after *prev (0: the bin's head); 0 if none. Exact
 * lengths first; a longer run only for requests of PH_RC_SPLIT_MIN pages
 * or more. */
static unsigned rc_find(ph_runcache *rc, size_t npages, unsigned *bin, unsigned *prev)
{
    unsigned b = rc_bin_of(npages);
    *prev = 0;
    if (b && rc->head[b]) {
        *bin = b;
        return rc->head[b];
    }
    if (npages < PH_RC_SPLIT_MIN)
        return 0;
    if (b && b < PH_RC_BINS) {
        uint64_t above = rc->nonempty & ~(((uint64_t)1 << b) - 1);  /* bins b+1..64 */
        if (above) {
            *bin = (unsigned)__builtin_ctzll(above) + 1;
            return rc->head[*bin];
        }
    }
    unsigned best = 0, best_prev = 0;
    uint32_t best_len = UINT32_MAX;
    for (unsigned p = 0, i = rc->head[0]; i; p = i, i = rc->e[i - 1].next) {
        uint32_t len = rc->e[i - 1].npages;
        if (len >= npages && len < best_len) {
            best = i;
            best_prev = p;
            best_len = len;
            if (len == npages)
                break;
        }
    }
    *bin = 0;
    *prev = best_prev;
    return best;
}

/* Hand out the run [base, len pages), just taken from t's cache, for a
 * request of npages <= len: recorded in the run map as a live allocation
 * of npages; a longer run's tail goes to the allocator. t's busy flag
 * held (the caller releases it after): the run leaves the cache and its
 * tail reaches the allocator in one step for anyone who takes every flag
 * (the checker, a flush), so none of them sees the tail allocated in the
 * allocator yet neither cached nor handed out (busy -> shard lock, the
 * order a flush takes). */
static uintptr_t rc_hand_out(pageheap *h, ph_thread *t, uintptr_t base, size_t len, size_t npages)
{
    ph_rm_entry *e = ph_rm_at(h, base);
    if (len == npages) {
        atomic_store_explicit(e, ph_rm_code(npages), memory_order_release);
        return base;
    }
    /* A longer run: keep its head, give the tail to the allocator. */
    if (len >= PH_RM_LONG)
        ph_rm_set_count(h, e, base, len, 1);
    ph_rm_record(h, base, npages);
    ph_shard *s = &h->shards[t->shard];
    uintptr_t tail = base + npages * PH_PAGE;
    ph_lock_take(&s->mu);
    pagealloc_free(s->pa, tail, len - npages);
    PA_DEBUG_AFTER(s->pa, "pageheap run cache split", tail, len - npages);
    ph_lock_give(&s->mu);
    return base;
}

uintptr_t ph_rc_alloc_locked(pageheap *h, ph_thread *t, size_t npages)
{
    ph_runcache *rc = &t->rc;
    unsigned b, prev, i = npages <= PH_RC_PAGES ? rc_find(rc, npages, &b, &prev) : 0;
    if (!i)
        return 0;                       /* the flag stays: the caller's next step needs it */
    rc_unlink(rc, b, prev, i);
    size_t len = rc->e[i - 1].npages;
    uintptr_t base = rc_release_entry(rc, i);
    base = rc_hand_out(h, t, base, len, npages);
    busy_unlock(t);
    return base;
}

uintptr_t ph_rc_big_alloc(pageheap *h, ph_thread *t, size_t npages)
{
    ph_runcache *rc = &t->rc;
    busy_lock(t);
    if (!rc->big || rc->big_pages < npages) {
        busy_unlock(t);
        return 0;
    }
    uintptr_t base = rc->big;
    size_t len = rc->big_pages;
    rc->big = 0;
    rc->big_pages = 0;
    rc_publish_big(t);
    base = rc_hand_out(h, t, base, len, npages);
    busy_unlock(t);
    return base;
}

void ph_rc_release(pageheap *h, ph_shard *s, ph_rm_entry *e, uintptr_t a, size_t npages)
{
    atomic_store_explicit(e, 0, memory_order_relaxed);
    if (npages >= PH_RM_LONG)
        ph_rm_set_count(h, e, a, npages, 1);
    ph_lock_take(&s->mu);
    pagealloc_free(s->pa, a, npages);
    PA_DEBUG_AFTER(s->pa, "pageheap run cache release", a, npages);
    ph_lock_give(&s->mu);
}

uint64_t ph_rc_flush(pageheap *h, ph_thread *t)
{
    ph_runcache *rc = &t->rc;
    if (ld(&rc->fill) == 0 && !rc->big)
        return 0;
    uint64_t pages = rc_fill_pages(ld(&rc->fill)) + rc->big_pages;
    ph_shard *s = &h->shards[t->shard];
    ph_lock_take(&s->mu);
    if (rc->big) {
        ph_rm_entry *e = ph_rm_at(h, rc->big);
        atomic_store_explicit(e, 0, memory_order_relaxed);
        ph_rm_set_count(h, e, rc->big, rc->big_pages, 1);
        pagealloc_free(s->pa, rc->big, rc->big_pages);
        PA_DEBUG_AFTER(s->pa, "pageheap run cache flush", rc->big, rc->big_pages);
    }
    for (unsigned b = 0; b <= PH_RC_BINS; b++) {
        for (unsigned i = rc->head[b]; i; i = rc->e[i - 1].next) {
            ph_run *r = &rc->e[i - 1];
            ph_rm_entry *e = r->rm;
            atomic_store_explicit(e, 0, memory_order_relaxed);
            if (r->npages >= PH_RM_LONG)
                ph_rm_set_count(h, e, r->base, r->npages, 1);
            pagealloc_free(s->pa, r->base, r->npages);
            PA_DEBUG_AFTER(s->pa, "pageheap run cache flush", r->base, r->npages);
        }
    }
    ph_lock_give(&s->mu);
    /* Empty: the private fields cleared, the fill other threads read
     * stored (atomically: a reader may be loading it). */
    memset(&rc->nonempty, 0, sizeof *rc - offsetof(ph_runcache, nonempty));
    atomic_store_explicit(&rc->fill, 0, memory_order_relaxed);
    rc_publish_big(t);
    return pages * PH_PAGE;
}

uint64_t ph_rc_flush_all(pageheap *h)
{
    uint64_t n = 0;
    if (!h->runcache)
        return 0;
    pthread_mutex_lock(&h->reg_mu);
    for (ph_thread *t = h->threads; t; t = t->next) {
        busy_lock(t);
        n += ph_rc_flush(h, t);
        busy_unlock(t);
    }
    pthread_mutex_unlock(&h->reg_mu);
    return n;
}

void ph_rc_bad_free(pageheap *h, ph_shard *s, uintptr_t a, size_t npages, uint8_t v)
{
    ph_lock_take(&s->mu);
    const char *rule = pa_free_violation(s->pa, a, npages);
    ph_lock_give(&s->mu);
    char buf[128];
    if (!rule) {
        if (v & PH_RM_CONT) {
            rule = "not allocated as a run starting here (inside a run)";
        } else if (v & PH_RM_CACHED) {
            rule = "not allocated: already freed (double free; the run is in a run cache)";
        } else if (v) {
            size_t n = v;
            if (v == PH_RM_LONG)
                n = ph_rm_count(h, ph_rm_at(h, a), a);
            snprintf(buf, sizeof buf, "page count differs from the allocation's (%zu pages)", n);
            rule = buf;
        } else {
            rule = "not allocated as a run starting here (inside a run, or never handed out)";
        }
    }
    pa_report("pageheap_free", a, npages, rule);
}

/* ---- The checker and the visitor ------------------------------------------------ */

static int rc_fail(char *msg, size_t size, const char *what, uintptr_t a)
{
    if (size)
        snprintf(msg, size, "pageheap_check: run cache run %#lx: %s", (unsigned long)a, what);
    return EFAULT;
}

int ph_rc_check(pageheap *h, ph_thread *t, char *msg, size_t size)
{
    ph_runcache *rc = &t->rc;
    uint64_t pages = 0, count = 0, mask = 0;
    for (unsigned b = 0; b <= PH_RC_BINS; b++) {
        if (rc->head[b] && b)
            mask |= (uint64_t)1 << (b - 1);
        for (unsigned i = rc->head[b]; i; i = rc->e[i - 1].next) {
            ph_run *r = &rc->e[i - 1];
            if (++count > PH_RC_ENTRIES || i > rc->hw)
                return rc_fail(msg, size, "bin list broken", r->base);
            if (rc_bin_of(r->npages) != b || r->npages == 0)
                return rc_fail(msg, size, "in the wrong bin", r->base);
            ph_rm_entry *e = ph_rm_at(h, r->base);
            if (!e || e != r->rm)
                return rc_fail(msg, size, "its run map entry pointer is wrong", r->base);
            if (atomic_load(e) != (PH_RM_CACHED | ph_rm_code(r->npages)) ||
                (r->npages >= PH_RM_LONG && ph_rm_count(h, e, r->base) != r->npages))
                return rc_fail(msg, size, "run map entry is not 'cached'", r->base);
            if (pa_free_violation(h->shards[t->shard].pa, r->base, r->npages))
                return rc_fail(msg, size, "not allocated in its allocator", r->base);
            pages += r->npages;
        }
    }
    uint64_t fill = ld(&rc->fill);
    if (count != rc_fill_runs(fill) || pages != rc_fill_pages(fill) || mask != rc->nonempty)
        return rc_fail(msg, size, "counts or bin mask disagree with the bins", 0);
    if (pages > PH_RC_PAGES)
        return rc_fail(msg, size, "over its page bound", 0);
    if (rc->big) {
        ph_rm_entry *e = ph_rm_at(h, rc->big);
        if (rc->big_pages <= PH_RC_PAGES || rc->big_pages > PH_RC_BIG_PAGES)
            return rc_fail(msg, size, "big slot run of a wrong length", rc->big);
        if (!e || atomic_load(e) != (PH_RM_CACHED | PH_RM_LONG) ||
            ph_rm_count(h, e, rc->big) != rc->big_pages)
            return rc_fail(msg, size, "run map entry is not 'cached'", rc->big);
        if (pa_free_violation(h->shards[t->shard].pa, rc->big, rc->big_pages))
            return rc_fail(msg, size, "not allocated in its allocator", rc->big);
    } else if (rc->big_pages) {
        return rc_fail(msg, size, "empty big slot with pages", 0);
    }
    if (ld(&t->rc_big) != rc->big_pages * PH_PAGE)
        return rc_fail(msg, size, "published big slot size is stale", 0);
    return 0;
}

/* Mark the cached run [base, npages) within chunk c. */
static void rc_visit_run(uintptr_t base, size_t npages, uintptr_t c, uint8_t *st)
{
    uintptr_t lo = base > c ? base : c;
    uintptr_t end = base + npages * PH_PAGE, hi = end < c + PH_CHUNK ? end : c + PH_CHUNK;
    for (uintptr_t a = lo; a < hi; a += PH_PAGE)
        st[(a - c) / PH_PAGE] = PAGEHEAP_PAGE_CACHED;
}

void ph_rc_visit(ph_thread *t, uintptr_t c, uint8_t *st)
{
    ph_runcache *rc = &t->rc;
    if (rc->big)
        rc_visit_run(rc->big, rc->big_pages, c, st);
    for (unsigned b = 0; b <= PH_RC_BINS; b++) {
        for (unsigned i = rc->head[b]; i; i = rc->e[i - 1].next) {
            ph_run *r = &rc->e[i - 1];
            uintptr_t lo = r->base > c ? r->base : c;
            uintptr_t end = r->base + r->npages * PH_PAGE, hi = end < c + PH_CHUNK ? end : c + PH_CHUNK;
            for (uintptr_t a = lo; a < hi; a += PH_PAGE)
                st[(a - c) / PH_PAGE] = PAGEHEAP_PAGE_CACHED;
        }
    }
}
