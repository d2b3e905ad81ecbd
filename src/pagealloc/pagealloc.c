/*
 * pagealloc.c - the page allocator: life cycle, growth, allocation and
 * freeing. The data structures are described in internal.h (geometry.h for
 * the sizes); the
 * summary tree and the search are in tree.c, allocation and free of a
 * run over two chunks or more in multichunk.c, the page cache in
 * pagecache.c, scavenging in scavenge.c, growth in growth.c, the invariant
 * checker in check.c.
 *
 * Every function here requires that the caller serialises calls on the
 * allocator (the heap lock, in a heap).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/color.h"
#include "pagealloc/internal.h"
#include "pagealloc/tree.h"
#include "pagealloc/debug.h"
#include "pagealloc/heapapi.h"
#include "pagealloc/multichunk.h"
#include "pagealloc/testing.h"

/* ---- Allocation and freeing -------------------------------------------- */

/* Visit the chunk-sized pieces of the page range [base, base+npages). */
#define FOR_EACH_CHUNK_PIECE(pa, base, npages, ci, page, n, body)              \
    do {                                                                       \
        uintptr_t a_ = (base), end_ = (base) + (npages) * PA_PAGE_SIZE;        \
        while (a_ < end_) {                                                    \
            uint32_t ci = pa_chunk_index(a_);                                  \
            unsigned page = pa_chunk_page(a_);                                 \
            uintptr_t left_ = (end_ - a_) >> PA_PAGE_SHIFT;                    \
            unsigned n = PA_CHUNK_PAGES - page < left_ ?                       \
                         PA_CHUNK_PAGES - page : (unsigned)left_;              \
            body                                                               \
            a_ += (uintptr_t)n * PA_PAGE_SIZE;                                 \
        }                                                                      \
    } while (0)

/* pa_alloc_range of a run inside one chunk that does not fit in one
 * bitmap word (a run over two chunks or more is multichunk.c's). */
static size_t alloc_range_words(pagealloc *pa, uintptr_t base, size_t npages,
                                uint64_t *scav_bits)
{
    size_t scav = 0;
    if (scav_bits)
        memset(scav_bits, 0, pa_scav_words(npages) * sizeof(uint64_t));
    unsigned first = pa_chunk_page(base);
    pa_chunk *c = pa_chunk_of(pa, pa_chunk_index(base));
    if (pa_bits_set_test(c->alloc, c->scav, first, (unsigned)npages))
        scav += pa_bits_take(c->scav, first, (unsigned)npages, scav_bits, 0);
    pa_update_run(pa, base, npages, 1, 0, 0);
    return scav * PA_PAGE_SIZE;
}

/* pa_alloc_range, inline where an allocation calls it. */
static inline __attribute__((always_inline))
size_t alloc_range(pagealloc *pa, uintptr_t base, size_t npages, uint64_t *scav_bits)
{
    size_t scav = 0;
    unsigned lo = pa_chunk_page(base) % 64;
    if (__builtin_expect(npages <= 64 - lo, 1)) {
        /* The common case, a run inside one bitmap word: one pass. */
        pa_chunk *c = pa_chunk_of(pa, pa_chunk_index(base));
        unsigned w = pa_chunk_page(base) / 64;
        uint64_t m = (npages == 64 ? ~(uint64_t)0 : (((uint64_t)1 << npages) - 1)) << lo;
        uint64_t sv = c->scav[w] & m;
        c->alloc[w] |= m;
        if (sv) {
            c->scav[w] &= ~m;
            scav = pa_popcount64(sv);
        }
        if (scav_bits)
            scav_bits[0] = sv >> lo;
        pa_update_run(pa, base, npages, 1, 0, 0);
        return scav * PA_PAGE_SIZE;
    }
    if (pa_chunk_index(base) != pa_chunk_index(base + (npages - 1) * PA_PAGE_SIZE))
        return pa_alloc_chunks(pa, base, npages, scav_bits);
    return alloc_range_words(pa, base, npages, scav_bits);
}

size_t pa_alloc_range(pagealloc *pa, uintptr_t base, size_t npages, uint64_t *scav_bits)
{
    return alloc_range(pa, base, npages, scav_bits);
}

/* free_hints' case of a free under a chunk whose joined run reaches an
 * edge of its chunk: the run goes on into the neighbouring chunk by that
 * chunk's free end (below) or start (above), read from its leaf; past a
 * wholly free neighbour (the run may go on for chunks) the free-chunk
 * index gives the extent (pa_free_run_extent, as for a free of a chunk or
 * more). Out of line: the hot path of a free is the case without an
 * edge. (Until 2026-12-05 such a free dropped every hint to search, and
 * the allocations after it raised them again: docs/pagealloc.md,
 * "Size-class hints".) */
static __attribute__((noinline))
void free_hints_edge(pagealloc *pa, uintptr_t base, size_t npages, unsigned below,
                     unsigned above)
{
    uintptr_t run = base - (uintptr_t)below * PA_PAGE_SIZE, len = npages + below + above;
    int at_base = below == pa_chunk_page(base);
    int at_top = pa_chunk_page(base + (npages + above - 1) * PA_PAGE_SIZE) == PA_CHUNK_PAGES - 1;
    uint32_t fc = pa_chunk_index(run), lc = pa_chunk_index(run + (len - 1) * PA_PAGE_SIZE);
    int one = pa->in_use.n == 1;          /* then every leaf of [start, end) is committed */
    pa_sum lo = at_base && fc > pa->start ? pa_leaf_near(pa, fc - 1, one || (fc & 7)) : 0;
    pa_sum hi = at_top && lc + 1 < pa->end ? pa_leaf_near(pa, lc + 1, one || ((lc + 1) & 7)) : 0;
    if (lo == PA_SUM_FREE_CHUNK || hi == PA_SUM_FREE_CHUNK) {
        pa_free_run_extent(pa, base, npages, below, above, &run, &len);
    } else {
        run -= (uintptr_t)pa_leaf_end(lo) * PA_PAGE_SIZE;
        len += pa_leaf_end(lo) + pa_leaf_start(hi);
    }
    pa_hints_lower(pa, pa_hint_floor(len), run);
}

/* What a free does after its leaves are updated: the size-class hints.
 * first and last are the range's first page in its first chunk and one
 * past its last page in its last chunk; below and above the free pages
 * just below and just above it there. */
static inline __attribute__((always_inline))
void free_hints(pagealloc *pa, uintptr_t base, size_t npages, unsigned first, unsigned last,
                unsigned below, unsigned above)
{
    /* Lower the hints of the classes the joined run reaches to its start.
     * At a chunk edge, out of line, unless every hint is at the search
     * hint already (then none can go lower: no free page lies below it),
     * as in a heap whose allocations are of one page (core W2, W4). */
    uintptr_t run = base - (uintptr_t)below * PA_PAGE_SIZE, len = npages + below + above;
    if (below == first || last + above == PA_CHUNK_PAGES) {
        if (npages < PA_CHUNK_PAGES) {
            if (pa->hint[PA_HINT_MAX] > pa->search)
                free_hints_edge(pa, base, npages, below, above);
            return;
        }
        pa_free_run_extent(pa, base, npages, below, above, &run, &len);
    }
    pa_hints_lower(pa, pa_hint_floor(len), run);
}

/* Everything a free does after clearing the pages' allocated bits. */
static inline __attribute__((always_inline))
void free_cleared(pagealloc *pa, uintptr_t base, size_t npages, int scavenged)
{
    /* A select: whether a free lands below the search hint is a coin flip
     * in core W1. */
    pa->search = base < pa->search ? base : pa->search;
    if (!scavenged)
        pa_scav_index_mark(&pa->scav, base, base + npages * PA_PAGE_SIZE);

    /* The run the freed pages join: its neighbours in the first and last
     * chunk. It may go on into another chunk when it reaches either end. */
    uintptr_t limit = base + npages * PA_PAGE_SIZE;
    unsigned first = pa_chunk_page(base);
    unsigned last = pa_chunk_page(limit - PA_PAGE_SIZE) + 1;
    /* Usually an allocated page in the same bitmap word bounds the run;
     * otherwise the leaves, not yet updated and exact outside the range,
     * may say that every page below it is free (a start reaching it), or
     * above it (an end); only then are the bitmaps counted. */
    uint32_t fc = pa_chunk_index(base), lc = pa_chunk_index(limit - PA_PAGE_SIZE);
    const uint64_t *fb = pa_chunk_of(pa, fc)->alloc, *lb = pa_chunk_of(pa, lc)->alloc;
    uint64_t xb = first % 64 ? fb[first / 64] << (64 - first % 64) : 0;
    uint64_t xa = last < PA_CHUNK_PAGES ? lb[last / 64] >> (last % 64) : 0;
    unsigned below = xb ? (unsigned)__builtin_clzll(xb)
                   : pa_leaf_start(pa_leaf_sum(pa, fc)) >= first ? first
                   : pa_bits_free_below(fb, first);
    unsigned above = xa ? (unsigned)__builtin_ctzll(xa)
                   : pa_leaf_end(pa_leaf_sum(pa, lc)) >= PA_CHUNK_PAGES - last ? PA_CHUNK_PAGES - last
                   : pa_bits_free_above(lb, last);
    pa_update_run(pa, base, npages, 0, below, above);
    free_hints(pa, base, npages, first, last, below, above);
}

void pa_free_range(pagealloc *pa, uintptr_t base, size_t npages, int scavenged)
{
    FOR_EACH_CHUNK_PIECE(pa, base, npages, ci, page, n, {
        pa_chunk *c = pa_chunk_of(pa, ci);
        if (n == PA_CHUNK_PAGES)
            pa_bits_clear_all(c->alloc);
        else
            pa_bits_clear_range(c->alloc, page, n);
    });
    free_cleared(pa, base, npages, scavenged);
}

uintptr_t pa_alloc_bits(pagealloc *pa, size_t npages, size_t *scav_bytes, uint64_t *scav_bits)
{
    if (scav_bytes)
        *scav_bytes = 0;
    if (!pa_live(pa, "pagealloc_alloc") || npages == 0 || npages > (PA_MAX_ADDR >> PA_PAGE_SHIFT))
        return 0;
    /* Start at the search hint, or past it at the hint of n's size class. */
    unsigned k = pa_hint_floor(npages);
    uintptr_t from = pa->search;
    if (pa->hint[k] > from)                 /* hint[0] is 0: n = 1 has no class */
        from = pa->hint[k];
    uint32_t ci = pa_chunk_index(from);
    if (ci >= pa->end)
        return 0;

    uintptr_t addr, new_search;
    unsigned page = pa_chunk_page(from);
    if (PA_CHUNK_PAGES - page >= npages && pa_leaf_max(pa_leaf_sum(pa, ci)) >= npages) {
        /* Fast path: the hint's chunk has a fitting run above the hint. */
        /* The new search hint is wanted only when the search starts at it. */
        int at_search = from == pa->search;
        unsigned ns;
        unsigned p = pa_bits_find(pa_chunk_of(pa, ci)->alloc, (unsigned)npages, page,
                                  at_search ? &ns : NULL);
        if (p == PA_NOT_FOUND) {
            pa_report("pagealloc_alloc", pa_chunk_base(ci), npages,
                      "chunk summary says a run fits but the bitmap has none");
            return 0;
        }
        addr = pa_chunk_base(ci) + (uintptr_t)p * PA_PAGE_SIZE;
        new_search = at_search ? pa_chunk_base(ci) + (uintptr_t)ns * PA_PAGE_SIZE : pa->search;
    } else {
        addr = __builtin_expect(npages >= PA_LARGE_PAGES, 0)
               ? pa_find_large(pa, from, npages, &new_search)
               : pa_find(pa, from, npages, &new_search);
        if (addr == 0) {
            if (npages == 1)
                pa->search = PA_SEARCH_NONE;   /* not one page is free */
            pa_hints_raise(pa, pa_hint_ceil(npages), PA_SEARCH_NONE);
            return 0;
        }
    }
    size_t scav = alloc_range(pa, addr, npages, scav_bits);
    pa->search = new_search > pa->search ? new_search : pa->search;   /* a select */
    /* No run of npages starts below addr: nor does any longer one. A
     * search starts at max(search, hint), so a raise to at most the
     * search hint would change nothing now; it is skipped. */
    if (addr > pa->search)
        pa_hints_raise(pa, pa_hint_ceil(npages), addr);
    if (scav_bytes)
        *scav_bytes = scav;
    PA_DEBUG_AFTER(pa, "pagealloc_alloc", addr, npages);
    return addr;
}

PA_API uintptr_t pagealloc_alloc(pagealloc *pa, size_t npages, size_t *scav_bytes)
{
    return pa_alloc_bits(pa, npages, scav_bytes, NULL);
}

/* Cheap validation of a caller's free: NULL if valid, else the broken rule. */
const char *pa_free_violation(pagealloc *pa, uintptr_t base, size_t npages)
{
    if (npages == 0)
        return "page count is zero";
    if (base & (PA_PAGE_SIZE - 1))
        return "address is not page aligned";
    if (base >= PA_MAX_ADDR || npages > (PA_MAX_ADDR - base) >> PA_PAGE_SHIFT)
        return "range overflows the address space";
    /* Every page allocated: then the range is in the heap too, since only
     * grown chunks ever have allocated pages (a chunk's bitmap exists, all
     * zero, from the time its block of 8192 chunks is first used). So the
     * in-use ranges, a search that grows with them, are consulted only to
     * name the rule a bad free breaks. */
    int allocated = 1;
    FOR_EACH_CHUNK_PIECE(pa, base, npages, ci, page, n, {
        const pa_chunk *c = allocated ? pa_try_chunk_of(pa, ci) : NULL;
        if (!c || !(n == PA_CHUNK_PAGES ? pa_bits_all_set(c->alloc)
                                        : pa_bits_all_in_range(c->alloc, page, n)))
            allocated = 0;
    });
    if (allocated)
        return NULL;
    if (!pa_ranges_contains(&pa->in_use, base, base + npages * PA_PAGE_SIZE))
        return "range is not inside the heap";
    return "some pages are not allocated (double free?)";
}

PA_API int pagealloc_try_free(pagealloc *pa, uintptr_t base, size_t npages)
{
    if (!pa || pa->magic != PA_MAGIC || pa_free_violation(pa, base, npages))
        return EINVAL;
    pa_free_range(pa, base, npages, 0);
    PA_DEBUG_AFTER(pa, "pagealloc_try_free", base, npages);
    return 0;
}

/* A valid free over two chunks or more, checked and applied in one walk
 * (multichunk.c), then finished; 0 (nothing changed) if it is not valid. */
static int free_chunks(pagealloc *pa, uintptr_t base, size_t npages, int scavenged)
{
    unsigned below, above;
    if (!pa_free_chunks(pa, base, npages, &below, &above))
        return 0;
    if (base < pa->search)
        pa->search = base;
    if (!scavenged)
        pa_scav_index_mark_chunks(&pa->scav, base, base + npages * PA_PAGE_SIZE);
    free_hints(pa, base, npages, pa_chunk_page(base),
               pa_chunk_page(base + (npages - 1) * PA_PAGE_SIZE) + 1, below, above);
    return 1;
}

/* A free that reports a bad one through the error handler. */
static void checked_free(pagealloc *pa, const char *call, uintptr_t base, size_t npages,
                         int scavenged)
{
    if (!pa_live(pa, call))
        return;
    /* A valid free's pages are checked and cleared in one pass: a run
     * inside one chunk (npages - 1 wraps for 0) inline, a longer one by
     * pa_free_chunks (multichunk.c, leaves included); a bad free takes
     * the general path, which names the broken rule. */
    unsigned page = pa_chunk_page(base);
    if (!(base & (PA_PAGE_SIZE - 1)) && base < PA_MAX_ADDR) {
        /* Expected: without the hint, gcc's registers for the one-chunk
         * path cost core W2 0.5 % more instructions. */
        if (__builtin_expect(npages - 1 < PA_CHUNK_PAGES - page, 1)) {
            pa_chunk *c = pa_try_chunk_of(pa, pa_chunk_index(base));
            if (c && pa_bits_clear_if_set(c->alloc, page, (unsigned)npages)) {
                free_cleared(pa, base, npages, scavenged);
                PA_DEBUG_AFTER(pa, call, base, npages);
                return;
            }
        } else if (npages && npages <= (PA_MAX_ADDR - base) >> PA_PAGE_SHIFT &&
                   free_chunks(pa, base, npages, scavenged)) {
            PA_DEBUG_AFTER(pa, call, base, npages);
            return;
        }
    }
    const char *rule = pa_free_violation(pa, base, npages);
    if (rule)
        pa_report(call, base, npages, rule);
    else
        pa_free_range(pa, base, npages, scavenged);
    PA_DEBUG_AFTER(pa, call, base, npages);
}

PA_API void pagealloc_free(pagealloc *pa, uintptr_t base, size_t npages)
{
    checked_free(pa, "pagealloc_free", base, npages, 0);
}

PA_API void pagealloc_test_free(pagealloc *pa, uintptr_t base, size_t npages)
{
    checked_free(pa, "pagealloc_test_free", base, npages, 1);
}

PA_API void pagealloc_scavenge_mark(pagealloc *pa, uintptr_t base, size_t npages)
{
    if (!pa_live(pa, "pagealloc_scavenge_mark"))
        return;
    if (npages == 0 || base >= PA_MAX_ADDR || npages > (PA_MAX_ADDR - base) >> PA_PAGE_SHIFT ||
        !pa_ranges_contains(&pa->in_use, base, base + npages * PA_PAGE_SIZE)) {
        pa_report("pagealloc_scavenge_mark", base, npages, "range is not inside the heap");
        return;
    }
    pa_scav_index_mark(&pa->scav, base, base + npages * PA_PAGE_SIZE);
}

/* ---- Life cycle -------------------------------------------------------- */

static int is_pow2(size_t x) { return x && !(x & (x - 1)); }

/* Bytes of the bitmap of committed pages of level l's summaries. */
static size_t committed_bytes(const pagealloc *pa, int l)
{
    return (pa->sum_bytes[l] / pa->os_page + 63) / 64 * sizeof(uint64_t);
}

/* One mapping holds the committed-page bitmaps and the dirty bitmaps. */
static size_t bitmaps_bytes(const pagealloc *pa)
{
    size_t n = 0;
    for (int l = 0; l < PA_LEVELS; l++)
        n += committed_bytes(pa, l);
    for (int l = 0; l < PA_LEVELS - 1; l++)
        n += PA_DIRTY_BYTES(l);
    return (n + pa->os_page - 1) & ~(pa->os_page - 1);
}

PA_API pagealloc *pagealloc_new(const pagealloc_options *opts)
{
    pagealloc_options o = { 0 };
    if (opts)
        o = *opts;
    sysmem_caps caps;
    sysmem_get_caps(&caps);

    size_t phys = o.phys_page_size ? o.phys_page_size : caps.page_size;
    size_t huge = o.huge_page_size == SIZE_MAX ? 0 :
                  o.huge_page_size ? o.huge_page_size : caps.huge_page_size;
    if (!is_pow2(phys) || phys < 4096 || phys > (512u << 10) ||
        (huge && (!is_pow2(huge) || huge > PA_CHUNK_SIZE))) {
        errno = EINVAL;
        return NULL;
    }

    sysmem_stat stat = { 0 };
    /* The struct starts PA_COLOR_BYTES into its mapping (base/color.h):
     * its first line (the handle check and the summary roots, read by
     * every call) is then not at a page start, where the heap's users'
     * page-aligned runs keep evicting it from the level-1 cache. */
    size_t self = pa_color_map_bytes(sizeof(struct pagealloc), caps.page_size);
    void *mem;
    int err = sysmem_alloc(self, &stat, &mem);
    if (err) {
        errno = err;
        return NULL;
    }
    pagealloc *pa = pa_color_in(mem);
    pa->magic = PA_MAGIC;
    pa->stat = stat;
    pa->self_bytes = self;
    pa->unbacked = o.unbacked != 0;
    pa->os_page = caps.page_size;
    pa->min_scav_pages = phys > PA_PAGE_SIZE ? (unsigned)(phys / PA_PAGE_SIZE) : 1;
    pa->huge_pages = huge > PA_PAGE_SIZE && huge > phys ? (unsigned)(huge / PA_PAGE_SIZE) : 0;
    pa->dense_pages = o.dense_pages > PA_CHUNK_PAGES ? PA_CHUNK_PAGES : o.dense_pages;
    pa->search = PA_SEARCH_NONE;
    pa->hint[0] = 0;
    for (unsigned k = 1; k <= PA_HINT_MAX; k++)
        pa->hint[k] = PA_SEARCH_NONE;
    pa->hint[PA_HINT_MAX + 1] = UINTPTR_MAX;

    /* Reserve the summary arrays, and the bitmaps of their committed pages. */
    for (int l = 0; l < PA_LEVELS; l++)
        pa->sum_bytes[l] = ((size_t)1 << (PA_L0_BITS + l * PA_LEVEL_BITS)) * sizeof(pa_sum);
    err = sysmem_alloc(bitmaps_bytes(pa), &pa->stat, &mem);
    if (err)
        goto fail;
    for (int l = 0; l < PA_LEVELS; l++) {
        pa->committed[l] = mem;
        mem = (char *)mem + committed_bytes(pa, l);
    }
    for (int l = 0; l < PA_LEVELS - 1; l++) {
        pa->dirty[l] = mem;
        mem = (char *)mem + PA_DIRTY_BYTES(l);
    }
    for (int l = 0; l < PA_LEVELS; l++) {
        err = sysmem_reserve(NULL, pa->sum_bytes[l], &mem);
        if (err)
            goto fail;
        pa->sum[l] = mem;
    }
    err = pa_scav_index_init(&pa->scav);
    if (!err)
        err = pa_free_index_init(&pa->free_idx);
    if (!err)
        err = pa_chunkset_init(&pa->scav_chunks);
    if (err)
        goto fail;
    return pa;
fail:
    pagealloc_delete(pa);
    errno = err;
    return NULL;
}

PA_API void pagealloc_delete(pagealloc *pa)
{
    if (!pa || !pa_live(pa, "pagealloc_delete"))
        return;
    pa->magic = 0;
    for (int l = 0; l < PA_LEVELS; l++)
        if (pa->sum[l])
            sysmem_free(pa->sum[l], pa->sum_bytes[l], &pa->stat);
    if (pa->committed[0])
        sysmem_free(pa->committed[0], bitmaps_bytes(pa), &pa->stat);
    for (size_t i = 0; i < (1u << PA_L1_BITS); i++)
        if (pa->chunks[i])
            sysmem_free(pa->chunks[i], PA_CHUNK_BLOCK_BYTES, &pa->stat);
    for (void *b = pa->pending, *n; b; b = n) {     /* left by a failed grow */
        n = *(void **)b;
        sysmem_free(b, PA_CHUNK_BLOCK_BYTES, &pa->stat);
    }
    pa_scav_index_destroy(&pa->scav, &pa->stat);
    pa_free_index_destroy(&pa->free_idx, &pa->stat);
    pa_chunkset_destroy(&pa->scav_chunks, &pa->stat);
    pa_ranges_destroy(&pa->in_use, &pa->stat);
    sysmem_stat last = pa->stat;      /* the counter lives in what is freed */
    sysmem_free(pa_color_out(pa), pa->self_bytes, &last);
}

int pa_chunk_bits(const pagealloc *pa, uintptr_t chunk_base, uint64_t alloc[PA_CHUNK_WORDS],
                  uint64_t scav[PA_CHUNK_WORDS])
{
    uint32_t ci = pa_chunk_index(chunk_base);
    const pa_chunk *c = chunk_base < PA_MAX_ADDR ? pa_try_chunk_of(pa, ci) : NULL;
    if (!c || ci < pa->start || ci >= pa->end ||
        !pa_ranges_contains(&pa->in_use, pa_chunk_base(ci), pa_chunk_base(ci) + 1))
        return 0;
    if (alloc)
        memcpy(alloc, c->alloc, sizeof(c->alloc));
    if (scav)
        memcpy(scav, c->scav, sizeof(c->scav));
    return 1;
}

uint64_t pa_metadata_bytes(const pagealloc *pa) { return sysmem_stat_load(&pa->stat); }

PA_API void pagealloc_get_stats(const pagealloc *pa, pagealloc_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->version = PAGEALLOC_STATS_VERSION;
    out->chunks = pa->chunk_count;
    out->heap_bytes = pa->chunk_count * PA_CHUNK_SIZE;
    out->metadata_bytes = pa_metadata_bytes(pa);
    for (size_t r = 0; r < pa->in_use.n; r++) {
        for (uint32_t ci = pa_chunk_index(pa->in_use.r[r].base);
             ci < pa_chunk_index(pa->in_use.r[r].limit); ci++) {
            const pa_chunk *c = pa_chunk_of(pa, ci);
            for (unsigned w = 0; w < PA_CHUNK_WORDS; w++) {
                out->free_bytes += (uint64_t)(64 - pa_popcount64(c->alloc[w])) * PA_PAGE_SIZE;
                out->scavenged_bytes += (uint64_t)pa_popcount64(c->scav[w]) * PA_PAGE_SIZE;
            }
        }
    }
}
