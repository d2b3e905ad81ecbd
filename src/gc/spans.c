/*
 * spans.c - the collector's spans on its own page heap and the page ->
 * span map (Go's mheap.allocSpan, freeSpan and spanOf; gcint.h has the
 * invariants): making a span for a class, returning one, and finding and
 * locking the span of an address.
 *
 * The allocation from span classes (alloc.c) works as follows (a
 * registered thread's small collectable objects come from its cache,
 * tcache.c, which refills the same way). Allocation of a small object
 * takes its class lock, finds a free bit in
 * the class's current span from its cursor (freeindex), and else takes a
 * swept span with room (the class's nonfull list), else sweeps unswept
 * spans of the class until one has room (lazy sweeping, sweep.c), else a
 * new span from the page heap. Large objects (> 32 KiB) are spans of
 * their own. Scanned objects are zeroed after the lock is dropped (the
 * bits say allocated, so a collection meanwhile only scans stale words,
 * which is conservative and harmless).
 *
 * Giving memory back (gc_heap_pace, Go's gcPaceScavenger). Spans freed by
 * sweeping go back to the page heap, whose background scavenger returns
 * free pages to the OS at 1% of a CPU toward its own goal (resident at
 * most 10% above recent in-use). After a collection has been swept the
 * collector sets its own, sooner goal: the heap needs no more resident
 * memory before the next cycle than the heap goal, so it keeps at most
 * 110% of it and releases the rest at once. When an explicit collection
 * finds the heap holding more than that (the live set dropped), it keeps
 * only 1/64 above the pages its spans hold: the program asked for a
 * collection at a quiet moment, and the pages above are free memory it
 * may not need again (bdwgc never unmaps by default; Go waits for its
 * slow scavenger). A release flushes the page caches and waits for the
 * system calls, so it runs on the sweeper thread after a paced cycle,
 * and on the collecting thread only after an explicit one. The pages of
 * span records go back at the same moment (trim_records): the record
 * pools keep spare records for as many spans as the retained pages could
 * become and return the other pages whose records are all free.
 */
#include <errno.h>
#include <string.h>

#include "gc/gcint.h"

/* The page map's second level gives its pages back too: an L2 block is
 * GC_MAP_L2_COUNT entries followed by a bitmap of its OS pages returned
 * (1 = Prepared; on a page of its own, never returned). A page goes back
 * (release_map_pages, with every class lock held) only when all its
 * entries are NULL; map_set makes a returned page Ready again before it
 * stores a span there (it holds a class lock, so no return runs
 * meanwhile). A lock-free reader of a returned page reads NULL, which is
 * what its entries held (with MADV_FREE, the old NULLs). */
#define GC_MAP_L2_BYTES (GC_MAP_L2_COUNT * sizeof(gc_span *))
static size_t map_page;                            /* OS page size */
static unsigned map_shift;                 /* log2 of the entries per OS page */

static _Atomic uint64_t *map_rel(void *l2)
{
    return (_Atomic uint64_t *)((char *)l2 + GC_MAP_L2_BYTES);
}

/* The L2 pages holding the entries of [a, e) (one region) Ready again. */
static int map_ready(void *l2, uintptr_t a, uintptr_t e)
{
    size_t p0 = ((a >> GC_PAGE_SHIFT) & (GC_MAP_L2_COUNT - 1)) >> map_shift;
    size_t p1 = (((e - 1) >> GC_PAGE_SHIFT) & (GC_MAP_L2_COUNT - 1)) >> map_shift;
    _Atomic uint64_t *rel = map_rel(l2);
    for (size_t p = p0; p <= p1; p++) {
        uint64_t bit = 1ull << (p & 63);
        if (!(atomic_load_explicit(&rel[p >> 6], memory_order_relaxed) & bit))
            continue;
        int err = sysmem_used_ex((char *)l2 + p * map_page, map_page, SYSMEM_USED_NO_HUGE);
        if (err)
            return err;
        if (atomic_fetch_and_explicit(&rel[p >> 6], ~bit, memory_order_relaxed) & bit)
            gc_sub(&gc_g.map_released, map_page);
    }
    return 0;
}

/* Return the L2 pages whose entries are all NULL, in the part of the map
 * the heap ever covered; takes every class lock. Bytes returned. */
static size_t release_map_pages(void)
{
    uintptr_t lo = atomic_load_explicit(&gc_g.heap_lo, memory_order_relaxed);
    uintptr_t hi = atomic_load_explicit(&gc_g.heap_hi, memory_order_relaxed);
    if (lo >= hi)
        return 0;
    size_t per = (size_t)1 << map_shift, bytes = 0;
    gc_lock_classes();
    for (size_t i = lo >> GC_MAP_L1_SHIFT; i <= (hi - 1) >> GC_MAP_L1_SHIFT; i++) {
        gc_span **l2 = (gc_span **)atomic_load_explicit(&gc_g.map_l1[i], memory_order_acquire);
        if (!l2)
            continue;
        uintptr_t rlo = (uintptr_t)i << GC_MAP_L1_SHIFT, rhi = rlo + ((uintptr_t)1 << GC_MAP_L1_SHIFT);
        uintptr_t a = lo > rlo ? lo : rlo, e = hi < rhi ? hi : rhi;
        size_t p0 = ((a >> GC_PAGE_SHIFT) & (GC_MAP_L2_COUNT - 1)) >> map_shift;
        size_t p1 = (((e - 1) >> GC_PAGE_SHIFT) & (GC_MAP_L2_COUNT - 1)) >> map_shift;
        _Atomic uint64_t *rel = map_rel(l2);
        for (size_t p = p0; p <= p1; p++) {
            uint64_t bit = 1ull << (p & 63);
            if (atomic_load_explicit(&rel[p >> 6], memory_order_relaxed) & bit)
                continue;
            gc_span **ent = l2 + p * per;
            size_t k = 0;
            while (k < per && !ent[k])
                k++;
            if (k < per || sysmem_unused(ent, map_page) != 0)
                continue;
            atomic_fetch_or_explicit(&rel[p >> 6], bit, memory_order_relaxed);
            gc_add(&gc_g.map_released, map_page);
            bytes += map_page;
        }
    }
    gc_unlock_classes();
    return bytes;
}

static int map_set(uintptr_t base, size_t npages, gc_span *s)
{
    uintptr_t end = base + npages * GC_PAGE;
    for (uintptr_t a = base; a < end; a = ((a >> GC_MAP_L1_SHIFT) + 1) << GC_MAP_L1_SHIFT) {
        size_t i = a >> GC_MAP_L1_SHIFT;
        if (i >= GC_MAP_L1_COUNT)
            return EINVAL;
        if (!s)
            continue;
        void *l2 = atomic_load_explicit(&gc_g.map_l1[i], memory_order_acquire);
        if (!l2) {
            gc_lock(&gc_g.map_mu);
            l2 = atomic_load_explicit(&gc_g.map_l1[i], memory_order_relaxed);
            if (!l2) {
                int err = sysmem_alloc(GC_MAP_L2_BYTES + map_page, &gc_g.meta, &l2);
                if (err) {
                    pthread_mutex_unlock(&gc_g.map_mu);
                    return err;
                }
                atomic_store_explicit(&gc_g.map_l1[i], (gc_span **)l2, memory_order_release);
            }
            pthread_mutex_unlock(&gc_g.map_mu);
        }
        uintptr_t rend = (uintptr_t)(i + 1) << GC_MAP_L1_SHIFT;
        int err = map_ready(l2, a, end < rend ? end : rend);
        if (err)
            return err;
    }
    for (size_t k = 0; k < npages; k++) {
        uintptr_t a = base + k * GC_PAGE;
        _Atomic(gc_span *) *l2 = (_Atomic(gc_span *) *)atomic_load_explicit(
            &gc_g.map_l1[a >> GC_MAP_L1_SHIFT], memory_order_acquire);
        if (l2)
            atomic_store_explicit(&l2[(a >> GC_PAGE_SHIFT) & (GC_MAP_L2_COUNT - 1)], s,
                                  memory_order_release);
    }
    if (s) {
        gc_lock(&gc_g.map_mu);
        uintptr_t lo = atomic_load_explicit(&gc_g.heap_lo, memory_order_relaxed);
        uintptr_t hi = atomic_load_explicit(&gc_g.heap_hi, memory_order_relaxed);
        if (lo == 0 || base < lo)
            atomic_store_explicit(&gc_g.heap_lo, base, memory_order_relaxed);
        if (base + npages * GC_PAGE > hi)
            atomic_store_explicit(&gc_g.heap_hi, base + npages * GC_PAGE, memory_order_relaxed);
        pthread_mutex_unlock(&gc_g.map_mu);
    }
    return 0;
}

/* Span records (gcint.h): a pool per cap on the bit words, so that a span
 * of at most 64 objects (every class from 128 bytes, and large objects)
 * has a record of 128 bytes, not 256; 64-byte aligned, so that parallel
 * markers setting mark bits of neighbouring records share no line more
 * than the bits themselves do. */
static const uint32_t rec_words[GC_REC_POOLS] = { 1, 4, GC_SPAN_WORDS };

static size_t rec_bytes(uint32_t words)
{
    return sizeof(gc_span) + 2 * (size_t)words * sizeof(uint64_t);
}

static pa_recpool *rec_pool(uint32_t nelems)
{
    uint32_t words = (nelems + 63) / 64;
    unsigned k = 0;
    while (k + 1 < GC_REC_POOLS && rec_words[k] < words)
        k++;
    return &gc_g.span_recs[k];
}

int gc_heap_init(void)
{
    gc_classes_init();
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    map_page = caps.page_size;
    map_shift = (unsigned)__builtin_ctzll(map_page / sizeof(gc_span *));
    void *mem;
    int err = sysmem_alloc(GC_MAP_L1_COUNT * sizeof(gc_span **), &gc_g.meta, &mem);
    if (err)
        return err;
    gc_g.map_l1 = mem;
    pthread_mutex_init(&gc_g.map_mu, NULL);
    for (unsigned k = 0; k < GC_REC_POOLS; k++) {
        err = pa_recpool_init(&gc_g.span_recs[k], rec_bytes(rec_words[k]), 64, &gc_g.meta);
        if (err)
            return err;
    }
    for (unsigned i = 0; i < GC_NSPC; i++)
        pthread_mutex_init(&gc_g.cls[i].mu, NULL);
    /* The page heap's limit is soft (it scavenges to stay under); a hard
     * limit is the collector's own (span_new). */
    pageheap_options po = { .limit = gc_g.limit, .background_scavenger = 1 };
    gc_g.ph = pageheap_new(&po);
    return gc_g.ph ? 0 : errno;
}

void gc_lock_classes(void)
{
    for (unsigned i = 0; i < GC_NSPC; i++)
        gc_lock(&gc_g.cls[i].mu);
}

void gc_unlock_classes(void)
{
    for (unsigned i = GC_NSPC; i-- > 0;)
        pthread_mutex_unlock(&gc_g.cls[i].mu);
}

/* A new span of npages for class spc, in its class's list, swept; the
 * class lock held. NULL and errno on failure. */
gc_span *gc_span_new(gc_class *c, unsigned spc, size_t npages, uint32_t size,
                         uint32_t nelems, uint32_t divmagic)
{
    uint64_t limit = gc_ld(&gc_g.limit);
    if (gc_g.hard_limit && limit &&
        gc_ld(&gc_g.heap_bytes) + sysmem_stat_load(&gc_g.meta) + npages * GC_PAGE > limit) {
        errno = ENOMEM;
        return NULL;
    }
    int err = 0;
    pa_recpool *pool = rec_pool(nelems);
    gc_span *s = pa_recpool_alloc(pool, &err);
    if (!s) {
        errno = err ? err : ENOMEM;
        return NULL;
    }
    int scanned = !(spc & GC_KIND_NOSCAN);
    void *mem = scanned ? pageheap_alloc_zeroed(gc_g.ph, npages) : pageheap_alloc(gc_g.ph, npages);
    if (!mem) {
        err = errno;
        pa_recpool_free(pool, s);
        errno = err;
        return NULL;
    }
    s->base = (uintptr_t)mem;
    s->npages = (uint32_t)npages;
    s->size = size;
    s->nelems = nelems;
    s->divmagic = divmagic;
    s->mark = s->alloc + gc_span_words(s);         /* the record reads zero */
    s->spc = (uint16_t)spc;
    s->sweepgen = atomic_load_explicit(&gc_g.sweepgen, memory_order_relaxed);
    err = map_set(s->base, npages, s);
    if (err) {
        pageheap_free(gc_g.ph, mem, npages);
        pa_recpool_free(pool, s);
        errno = err;
        return NULL;
    }
    s->next = c->spans;
    if (c->spans)
        c->spans->prev = s;
    c->spans = s;
    c->nspans++;
    gc_add(&gc_g.heap_bytes, npages * GC_PAGE);
    gc_add(&gc_g.free_bytes, (uint64_t)size * nelems);
    return s;
}

void gc_release_span(gc_class *c, gc_span *s)
{
    gc_nonfull_remove(c, s);
    if (c->cur == s)
        c->cur = NULL;
    if (c->sweep_pos == s)
        c->sweep_pos = s->next;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->spans = s->next;
    if (s->next)
        s->next->prev = s->prev;
    c->nspans--;
    (void)map_set(s->base, s->npages, NULL);
    /* Free bytes leave before the span's bytes, as they came in after
     * them: free_bytes <= heap_bytes at every instant, which is what
     * pa_gc_get_stats's snapshot relies on. */
    gc_sub(&gc_g.free_bytes, (uint64_t)s->size * (s->nelems - s->nalloc));
    gc_sub(&gc_g.heap_bytes, (uint64_t)s->npages * GC_PAGE);
    pageheap_free(gc_g.ph, (void *)s->base, s->npages);
    s->dead = 1;
    pa_recpool_free(rec_pool(s->nelems), s);
}

/* Resident free pages of the page heap (in its allocators and caches):
 * with the pages in spans, everything the collector holds resident. */
uint64_t gc_heap_free_pages(const pageheap_stats *ps)
{
    return ps->free_bytes + (ps->cache_bytes - ps->cache_released_bytes);
}

/* Span records of free pages the heap keeps: in each pool, as many spare
 * records as its spans grow by if the spans' pages grow to retain, at
 * least GC_RECS_KEEP bytes of them. */
#define GC_RECS_KEEP ((uint64_t)64 << 10)
static void trim_records(uint64_t spans, uint64_t retain)
{
    double grow = spans && retain > spans ? (double)(retain - spans) / (double)spans : 0;
    for (unsigned k = 0; k < GC_REC_POOLS; k++) {
        pa_recpool *p = &gc_g.span_recs[k];
        pa_recpool_stats u;
        pa_recpool_usage(p, &u);
        uint64_t keep = GC_RECS_KEEP / p->size;
        if ((double)u.inuse * grow > (double)keep)
            keep = (uint64_t)((double)u.inuse * grow);
        (void)pa_recpool_trim(p, keep);
    }
}

size_t gc_heap_pace(int explicit_gc)
{
    uint64_t goal = gc_ld(&gc_g.goal);
    uint64_t retain = goal + goal / 10;
    uint64_t spans = gc_ld(&gc_g.heap_bytes);
    pageheap_stats ps;
    pageheap_get_stats(gc_g.ph, &ps);
    int shrink = ps.ready_bytes > retain + GC_TRIM_MIN;
    if (shrink && explicit_gc && spans + spans / 64 < retain)
        retain = spans + spans / 64;
    trim_records(spans, retain);
    if (!shrink)
        return 0;
    size_t r = pageheap_release(gc_g.ph, (size_t)(ps.ready_bytes - retain));
    gc_add(&gc_g.released_total, r);
    (void)release_map_pages();           /* the heap shrank: map pages emptied */
    return r;
}

size_t gc_heap_release_all(void)
{
    for (unsigned k = 0; k < GC_REC_POOLS; k++)
        (void)pa_recpool_trim(&gc_g.span_recs[k], 0);
    size_t r = pageheap_release(gc_g.ph, SIZE_MAX);
    gc_add(&gc_g.released_total, r);
    (void)release_map_pages();
    return r;
}

int gc_heap_expand(size_t bytes)
{
    size_t npages = bytes / GC_PAGE + (bytes % GC_PAGE != 0);
    if (npages == 0)
        return 0;
    if (npages > (SIZE_MAX >> GC_PAGE_SHIFT))
        return ENOMEM;
    uint64_t limit = gc_ld(&gc_g.limit);
    if (gc_g.hard_limit && limit) {
        pageheap_stats ps;
        pageheap_get_stats(gc_g.ph, &ps);
        uint64_t held = gc_ld(&gc_g.heap_bytes) + gc_heap_free_pages(&ps) + sysmem_stat_load(&gc_g.meta);
        if (held + npages * GC_PAGE > limit)
            return ENOMEM;
    }
    /* Taking the run makes the page heap grow (or reuse resident free
     * pages); giving it back leaves its pages free and Ready. */
    void *mem = pageheap_alloc(gc_g.ph, npages);
    if (!mem)
        return ENOMEM;
    pageheap_free(gc_g.ph, mem, npages);
    return 0;
}

gc_span *gc_span_lock(uintptr_t a)
{
    for (;;) {
        gc_span *s = gc_span_of(a);
        if (!s)
            return NULL;
        unsigned spc = __atomic_load_n(&s->spc, __ATOMIC_RELAXED);
        if (spc >= GC_NSPC)
            return NULL;
        gc_lock(&gc_g.cls[spc].mu);
        if (gc_span_of(a) == s && s->spc == spc && !s->dead)
            return s;
        pthread_mutex_unlock(&gc_g.cls[spc].mu);
    }
}

void gc_span_unlock(gc_span *s)
{
    pthread_mutex_unlock(&gc_g.cls[s->spc].mu);
}

