/*
 * pagecache.c - page caches (Go's pageCache, mpagecache.go).
 *
 * A cache owns the free pages of one 64-page aligned block: they are
 * marked allocated in the allocator (so nobody else takes them), and the
 * cache hands them out with bit operations alone. cache has a 1 for each
 * page the cache still owns; scav has a 1 for each of those that is
 * scavenged (its bit was cleared in the chunk when the cache took it).
 * Invariant: scav is a subset of cache; base == 0 iff cache == 0 before
 * the first allocation (an empty cache).
 */
#include "pagealloc/internal.h"
#include "pagealloc/tree.h"
#include "pagealloc/debug.h"
#include "pagealloc/heapapi.h"

/* The general case: a run of 2..64 pages, or nothing to hand out. */
__attribute__((noinline))
static uintptr_t cache_alloc_n(pagealloc_cache *c, size_t npages, size_t *scav_bytes)
{
    size_t scav = 0;
    uintptr_t addr = 0;
    if (c->cache != 0 && npages != 0 && npages <= PAGEALLOC_CACHE_PAGES) {
        unsigned i = pa_find_bit_range64(c->cache, (unsigned)npages);
        if (i < 64) {
            uint64_t mask = (npages == 64 ? ~(uint64_t)0 : (((uint64_t)1 << npages) - 1)) << i;
            scav = (size_t)pa_popcount64(c->scav & mask) * PA_PAGE_SIZE;
            c->cache &= ~mask;
            c->scav &= ~mask;
            addr = c->base + (uintptr_t)i * PA_PAGE_SIZE;
        }
    }
    if (scav_bytes)
        *scav_bytes = scav;
    return addr;
}

/* The exported definition; the public header inlines the same one-page
 * path (pagealloc_cache_alloc_inline), so the parentheses keep its macro
 * out of this name. */
PA_API uintptr_t (pagealloc_cache_alloc)(pagealloc_cache *c, size_t npages, size_t *scav_bytes)
{
    uint64_t cache = c->cache;
    if (npages != 1 || cache == 0)
        return cache_alloc_n(c, npages, scav_bytes);
    /* The same steps as the header's inline copy. Only the taken page's
     * scav bit is read and cleared, as in Go (whose tests hand in caches
     * with scav bits outside cache). */
    uint64_t rest = cache & (cache - 1);
    uint64_t bit = cache ^ rest;
    uint64_t scav = c->scav;
    if (scav_bytes)
        *scav_bytes = (scav & bit) ? PA_PAGE_SIZE : 0;
    c->cache = rest;
    c->scav = scav & ~bit;
    return c->base + (uintptr_t)(unsigned)__builtin_ctzll(cache) * PA_PAGE_SIZE;
}

PA_API pagealloc_cache pagealloc_alloc_to_cache(pagealloc *pa)
{
    pagealloc_cache c = { 0 };
    if (!pa_live(pa, "pagealloc_alloc_to_cache"))
        return c;
    uint32_t ci = pa_chunk_index(pa->search);
    if (ci >= pa->end)
        return c;

    unsigned page;
    if (pa_leaf_sum(pa, ci) != 0) {
        /* The hint's chunk has a free page at or above the hint. */
        unsigned ns;
        page = pa_bits_find(pa_chunk_of(pa, ci)->alloc, 1, pa_chunk_page(pa->search), &ns);
        if (page == PA_NOT_FOUND) {
            pa_report("pagealloc_alloc_to_cache", pa_chunk_base(ci), 1,
                      "chunk summary says a page is free but the bitmap has none");
            return c;
        }
    } else {
        uintptr_t ns;
        uintptr_t addr = pa_find(pa, pa->search, 1, &ns);
        if (addr == 0) {
            pa->search = PA_SEARCH_NONE;
            return c;
        }
        ci = pa_chunk_index(addr);
        page = pa_chunk_page(addr);
    }

    pa_chunk *ch = pa_chunk_of(pa, ci);
    unsigned w = page / 64;
    c.base = pa_chunk_base(ci) + (uintptr_t)w * 64 * PA_PAGE_SIZE;
    c.cache = ~ch->alloc[w];
    c.scav = ch->scav[w] & c.cache;
    ch->scav[w] &= ~c.cache;
    if (c.cache == ~(uint64_t)0) {
        /* A wholly free word (the usual refill): taking it is allocating
         * the 64-page run [64w, 64w+64), so the leaf and run counts follow
         * from the old leaf as after pagealloc_alloc (docs/pagealloc.md,
         * "Leaf summaries updated from the previous one"). */
        ch->alloc[w] = ~(uint64_t)0;
        pa_set_leaf(pa, ci, pa_sum_after_alloc(ch->alloc, pa_leaf_sum(pa, ci),
                                               pa_runs_of(pa, ci), w * 64, 64));
    } else {
        /* The leaf from the old one too: the word's pages cut the start
         * and end at its edges; the longest run stays unless the word cut
         * one at least that long, and then the run counts give it when no
         * run of PA_RUN_LONG pages or more is left. Only else is the
         * bitmap summarised again (heap W1: 8.2 instructions a step for
         * the summaries of the 2,400 refills of 100,000 steps before). */
        pa_runcount *rc = pa_runs_of(pa, ci);
        unsigned cut = pa_run_counts_take_word(rc, ch->alloc, w);
        ch->alloc[w] = ~(uint64_t)0;
        pa_sum old = pa_leaf_sum(pa, ci);
        unsigned max = pa_leaf_max(old), lo = w * 64, hi = PA_CHUNK_PAGES - lo - 64;
        if (cut >= max && rc->n[PA_RUN_LONG] == 0)
            max = pa_run_longest_short(rc);
        if (cut < max || rc->n[PA_RUN_LONG] == 0) {
            unsigned start = pa_leaf_start(old), end = pa_leaf_end(old);
            pa_set_leaf(pa, ci, pa_sum_pack(start < lo ? start : lo, max, end < hi ? end : hi));
        } else {
            pa_resummarize(pa, ci);
        }
    }
    /* Every page of the block is now taken, by the heap or the cache. */
    pa->search = c.base + (PAGEALLOC_CACHE_PAGES - 1) * PA_PAGE_SIZE;
    PA_DEBUG_AFTER(pa, "pagealloc_alloc_to_cache", c.base, PAGEALLOC_CACHE_PAGES);
    return c;
}

PA_API void pagealloc_cache_flush(pagealloc_cache *c, pagealloc *pa)
{
    if (c->cache == 0) {
        *c = (pagealloc_cache){ 0 };
        return;
    }
    if (!pa_live(pa, "pagealloc_cache_flush"))
        return;
    uintptr_t block = (uintptr_t)PAGEALLOC_CACHE_PAGES * PA_PAGE_SIZE;
    if ((c->base & (block - 1)) || c->base >= PA_MAX_ADDR ||
        !pa_ranges_contains(&pa->in_use, c->base, c->base + block)) {
        pa_report("pagealloc_cache_flush", c->base, PAGEALLOC_CACHE_PAGES,
                  "cache base is not a 64-page block inside the heap");
        return;
    }
    uint32_t ci = pa_chunk_index(c->base);
    unsigned w = pa_chunk_page(c->base) / 64;
    pa_chunk *ch = pa_chunk_of(pa, ci);
    if ((ch->alloc[w] & c->cache) != c->cache) {
        pa_report("pagealloc_cache_flush", c->base, PAGEALLOC_CACHE_PAGES,
                  "cache holds pages the heap does not have allocated");
        return;
    }
    ch->alloc[w] &= ~c->cache;
    if (c->scav & c->cache) {
        ch->scav[w] |= c->scav & c->cache;
        pa_scav_chunks_set(&pa->scav_chunks, ci);
    }
    if (c->base < pa->search)
        pa->search = c->base;
    pa_hints_lower_all(pa, pa->search);
    pa_update(pa, c->base, PAGEALLOC_CACHE_PAGES, 0, 0);
    PA_DEBUG_AFTER(pa, "pagealloc_cache_flush", c->base, PAGEALLOC_CACHE_PAGES);
    *c = (pagealloc_cache){ 0 };
}

/* ---- The heap's fresh windows (heapapi.h) ---------------------------------- */

size_t pa_fresh_after(const pagealloc *pa, uintptr_t from)
{
    if ((from & ((uintptr_t)PAGEALLOC_CACHE_PAGES * PA_PAGE_SIZE - 1)) || from >= PA_MAX_ADDR)
        return 0;
    unsigned w = pa_chunk_page(from) / 64;
    if (w == 0)
        return 0;                       /* the block ended its chunk */
    const pa_chunk *ch = pa_try_chunk_of(pa, pa_chunk_index(from));
    if (!ch)
        return 0;
    unsigned w0 = w;
    while (w < PA_CHUNK_WORDS && ch->alloc[w] == 0 && ch->scav[w] == ~(uint64_t)0)
        w++;
    return (size_t)(w - w0) * 64;
}

void pa_unscavenge_fresh(pagealloc *pa, uintptr_t base, size_t npages)
{
    pa_chunk *ch = pa_chunk_of(pa, pa_chunk_index(base));
    unsigned w0 = pa_chunk_page(base) / 64;
    for (unsigned w = w0; w < w0 + npages / 64; w++)
        ch->scav[w] = 0;
    /* Free resident pages now: the scavenger must be able to find them.
     * The chunk's bit in scav_chunks may stay (scavchunks.h: one-sided). */
    pa_scav_index_mark(&pa->scav, base, base + npages * PA_PAGE_SIZE);
    PA_DEBUG_AFTER(pa, "pa_unscavenge_fresh", base, npages);
}
