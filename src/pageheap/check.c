/*
 * check.c - pageheap_check (every invariant of the heap, down to each
 * page's OS state) and pageheap_visit (every grown page's state, for heap
 * maps). Both read the allocators' bitmaps through the page allocator's
 * internal interface (pagealloc/heapapi.h), not the test hooks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "pagealloc/heapapi.h"
#include "pageheap/fresh.h"
#include "pageheap/heap.h"
#include "pageheap/runcache.h"
#include "pageheap/runmap.h"


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
        if (ph_rc_check(h, t, msg, size) != 0)
            return EFAULT;
        cache += (rc_fill_pages(ld(&t->rc.fill)) + t->rc.big_pages) * PH_PAGE;
    }
    pageheap_stats st;
    ph_stats_fill(h, &st, 1);
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
            if (ph_map_get(h, c) != g->shard + 1)
                return check_fail(msg, size, "pageheap_check: chunk %#lx: map says shard %u, grown by %u",
                                  (unsigned long)c, ph_map_get(h, c), g->shard + 1);
            uint64_t ab[8], sb[8];
            if (!pa_chunk_bits(pa, c, ab, sb))
                return check_fail(msg, size, "pageheap_check: chunk %#lx: not in its allocator",
                                  (unsigned long)c);
            uintptr_t span_end = c;          /* pages [.., span_end) share span_st */
            sysmem_state span_st = SYSMEM_NONE;
            for (unsigned p = 0; p < PAGEALLOC_CHUNK_PAGES; p++) {
                uintptr_t a = c + (uintptr_t)p * PH_PAGE;
                int al = (int)(ab[p / 64] >> (p % 64) & 1), sc = (int)(sb[p / 64] >> (p % 64) & 1);
                ph_rm_entry *re = h->runcache && !al ? ph_rm_at(h, a) : NULL;
                if (re && atomic_load_explicit(re, memory_order_relaxed))
                    return check_fail(msg, size, "pageheap_check: page %#lx: free, run map entry %#x",
                                      (unsigned long)a, (unsigned)atomic_load(re));
                if ((al || sc) && ph_fresh_has(h, &h->shards[g->shard], a))
                    return check_fail(msg, size, "pageheap_check: page %#lx: untouched in a fresh window, yet %s",
                                      (unsigned long)a, al ? "allocated" : "scavenged");
                int cs = 0;
                if (al && in_cache(h, g->shard, a, &cs))
                    sc = cs;
                sysmem_state want = sc ? SYSMEM_PREPARED : SYSMEM_READY;
                if (a >= span_end)              /* one OS-layer lookup per run */
                    span_end = a + sysmem_state_span((void *)a, c + PH_CHUNK - a, &span_st);
                sysmem_state got = span_st;
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
        ph_lock_take(&h->shards[i].mu);
    int err = check_locked(h, msg, msg_size);
    for (unsigned i = h->nshards; i-- > 0;)
        ph_lock_give(&h->shards[i].mu);
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
    if (!pa_chunk_bits(h->shards[si].pa, c, ab, sb))
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
    for (ph_thread *t = h->threads; t; t = t->next)
        if (t->shard == si)
            ph_rc_visit(t, c, st);
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
        ph_lock_take(&h->shards[si].mu);
        for (ph_range *g = h->grown; g; g = g->next) {
            if (g->shard != si)
                continue;
            for (uintptr_t c = g->base; c < g->base + g->size; c += PH_CHUNK)
                if (visit_chunk(h, si, c, st))
                    fn(arg, si, c, st);
        }
        ph_lock_give(&h->shards[si].mu);
        pthread_mutex_unlock(&h->grow_mu);
        for (ph_thread *t = h->threads; t; t = t->next)
            if (t->shard == si)
                busy_unlock(t);
        pthread_mutex_unlock(&h->reg_mu);
    }
    return 0;
}
