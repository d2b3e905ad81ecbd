/*
 * tree.c - the summary tree: keeping it up to date, and first-fit search.
 *
 * Lazy upper levels. Leaf summaries (level 4, one per chunk) are always
 * exact: every change to a chunk's allocation bitmap re-summarises it at
 * once. The levels above are brought up to date only when a search reads
 * them. dirty[l] has one bit per entry of level l (0..3); the rules:
 *
 *   - a clean entry is exact, and so is everything below it;
 *   - so the dirty entries are closed upward: every ancestor of a dirty
 *     entry is dirty.
 *
 * A leaf that changes marks its ancestors dirty from the bottom up and
 * stops at the first one already dirty (its ancestors are, by the rule).
 * Reading an entry through entry() cleans it first: its dirty children
 * are cleaned (recursively), then it is merged from them. Each merge is
 * paid once per time an entry is dirtied, and only if something reads it;
 * a run of operations inside one chunk or one block dirties the path once.
 *
 * Finger search. Every page below the search hint is allocated, so the
 * first fit lies at or after it. The search starts at the hint's chunk and
 * scans the leaves to the end of their block of 8; if nothing fits it
 * climbs to the parent level and scans the parent's following siblings,
 * and so on up to level 0, whose single block is the whole level. A scan
 * carries a run of free pages across entry boundaries (the free end of
 * one entry, whole free entries, the free start of the next), because a
 * fit may straddle entries. At the first entry that holds a fit (its max),
 * the search descends, each level scanning the 8 children in order. The
 * answer is the lowest-addressed fit, as a top-down search would find, but
 * a fit near the hint costs a few leaf reads instead of five levels.
 *
 * Runs of 1023 pages or more are found instead from the free-chunk index
 * (freeidx.h) and the leaves next to its runs of ones, without reading the
 * upper levels (pa_find_large in findlarge.c, proof there;
 * docs/pagealloc.md, "Free-chunk index"). pa_set_leaf (tree.h) keeps the index exact. Runs of 512..1022
 * pages are found by a scan of the leaves alone (find_leaves), which
 * leaves the dirty upper levels unmerged; the tree search is the fallback.
 * A leaf scan carries runs across chunk boundaries as the tree scan does.
 *
 * Every function here requires that the caller serialises calls.
 */
#include "pagealloc/tree.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The summary of 8 consecutive entries of 2^logn pages each. Children are
 * never level-0 entries, so their fields need no 2^21 decoding. */
static pa_sum merge8(const pa_sum *c, unsigned logn)
{
    uint64_t full = (uint64_t)1 << logn;
    uint64_t start = c[0] & PA_SUM_MASK;
    uint64_t max = (c[0] >> PA_SUM_BITS) & PA_SUM_MASK;
    uint64_t end = (c[0] >> (2 * PA_SUM_BITS)) & PA_SUM_MASK;
    int prefix_full = start == full;
    for (unsigned i = 1; i < 8; i++) {
        uint64_t s = c[i] & PA_SUM_MASK;
        uint64_t m = (c[i] >> PA_SUM_BITS) & PA_SUM_MASK;
        uint64_t e = (c[i] >> (2 * PA_SUM_BITS)) & PA_SUM_MASK;
        if (prefix_full) {
            start += s;
            prefix_full = s == full;
        }
        if (end + s > max)
            max = end + s;
        if (m > max)
            max = m;
        end = e == full ? end + full : e;
    }
    return pa_sum_pack((unsigned)start, (unsigned)max, (unsigned)end);
}

static inline int is_dirty(const pagealloc *pa, int l, uintptr_t i)
{
    return pa->dirty[l][i >> 3] >> (i & 7) & 1;
}

/* Bring entry i of level l (0..3) up to date. */
static void clean(pagealloc *pa, int l, uintptr_t i)
{
    if (l < PA_LEVELS - 2) {
        /* The dirty bits of i's 8 children are exactly byte i. */
        unsigned d = pa->dirty[l + 1][i];
        while (d) {
            clean(pa, l + 1, i * 8 + (unsigned)__builtin_ctz(d));
            d &= d - 1;
        }
    }
    pa->sum[l][i] = merge8(&pa->sum[l + 1][i * 8], pa_level_log_pages(l + 1));
    pa->dirty[l][i >> 3] &= (uint8_t)~(1u << (i & 7));
}

/* The exact summary of entry i at level l. */
static inline pa_sum entry(pagealloc *pa, int l, uintptr_t i)
{
    if (l < PA_LEVELS - 1 && is_dirty(pa, l, i))
        clean(pa, l, i);
    return pa->sum[l][i];
}

void pa_update(pagealloc *pa, uintptr_t base, size_t npages, int contig, int alloc)
{
    uint32_t sc = pa_chunk_index(base);
    uint32_t ec = pa_chunk_index(base + npages * PA_PAGE_SIZE - 1);
    for (uint32_t c = sc; c <= ec; c++) {
        if (contig && c != sc && c != ec) {           /* wholly covered */
            pa_set_leaf(pa, c, alloc ? 0 : PA_SUM_FREE_CHUNK);
            if (alloc)
                pa_run_counts_full(pa_runs_of(pa, c));
            else
                pa_run_counts_free(pa_runs_of(pa, c));
        } else {
            const uint64_t *b = pa_chunk_of(pa, c)->alloc;
            pa_set_leaf(pa, c, pa_bits_summarize(b));
            pa_run_counts(b, pa_runs_of(pa, c));
        }
    }
}

void pa_resummarize(pagealloc *pa, uint32_t ci)
{
    pa_set_leaf(pa, ci, pa_bits_summarize(pa_chunk_of(pa, ci)->alloc));
}

/* The leaf of chunk c after a run over several chunks took its pages
 * [page, 512) (tail) or [0, page) (head), a part but not all of it. */
static inline pa_sum end_leaf_after_alloc(pagealloc *pa, uint32_t c, unsigned page, int tail)
{
    const uint64_t *b = pa_chunk_of(pa, c)->alloc;
    pa_sum old = pa->sum[PA_LEVELS - 1][c];
    pa_runcount *rc = pa_runs_of(pa, c);
    return tail ? pa_sum_after_alloc_tail(b, old, rc, page)
                : pa_sum_after_alloc_head(b, old, rc, page);
}

void pa_update_run_chunks(pagealloc *pa, uintptr_t base, size_t npages, int alloc,
                          unsigned below, unsigned above)
{
    pa_sum *leaf = pa->sum[PA_LEVELS - 1];
    uint32_t sc = pa_chunk_index(base);
    uint32_t ec = pa_chunk_index(base + npages * PA_PAGE_SIZE - 1);
    unsigned first = pa_chunk_page(base);
    unsigned last = pa_chunk_page(base + (npages - 1) * PA_PAGE_SIZE) + 1;
    int changed = pa_put_leaf(pa, sc, alloc && first ? end_leaf_after_alloc(pa, sc, first, 1)
                                      : pa_run_leaf(pa, sc, first, PA_CHUNK_PAGES, alloc, below, 0));
    /* Interior chunks were wholly free (alloc) or wholly allocated (free),
     * and all change: one index update for all of them. */
    if (sc + 1 < ec) {
        pa_sum s = alloc ? 0 : PA_SUM_FREE_CHUNK;
        pa_runcount *rc = pa_runs_of(pa, sc + 1);
        for (uint32_t c = sc + 1; c < ec; c++, rc++) {
            leaf[c] = s;
            if ((c & (PA_L2_CHUNKS - 1)) == 0)
                rc = pa_runs_of(pa, c);           /* the next block of chunks */
            pa_run_counts_flip(rc, !alloc);
        }
        pa_free_index_set_range(&pa->free_idx, sc + 1, ec, !alloc);
        changed = 1;
    }
    changed |= pa_put_leaf(pa, ec, alloc && last < PA_CHUNK_PAGES
                                   ? end_leaf_after_alloc(pa, ec, last, 0)
                                   : pa_run_leaf(pa, ec, 0, last, alloc, 0, above));
    /* Ancestors marked once per block of 8 leaves touched (a leaf has no
     * dirty bit of its own); marking one whose leaves kept their values
     * costs a merge later, never a wrong answer. */
    if (changed)
        for (uint32_t b = sc >> PA_LEVEL_BITS; b <= ec >> PA_LEVEL_BITS; b++)
            pa_mark_ancestors(pa, (uintptr_t)b << PA_LEVEL_BITS);
}

/* ---- Search ------------------------------------------------------------ */

/* A run of free pages carried across the entries of a scan: the free
 * pages ending at the current entry boundary. The run ends exactly where
 * the next entry scanned begins (a climb continues at the parent of the
 * block boundary where the scan stopped), so its start needs no field. */
typedef struct scan_run {
    uintptr_t len;
} scan_run;

/*
 * Scan entries [j, stop) of level l, after the run *r. Returns:
 *   1 with *at = first page of a fit that straddles entries (or starts
 *     with an entry's free start), or
 *   2 with *at = the entry whose max fits (to descend into), or
 *   0 if neither; *r is then the run at stop.
 * If track, *first receives the first entry with a free page, if it is
 * still unset (the new search hint; track is a constant where inlined).
 * Inlined at each call with the leaf level as its own constant case: leaves
 * have no dirty bits and never the 2^21 encoding, so their reads and field
 * decoding skip both tests. An entry with no free page needs no test of
 * its own (its fields are 0: the run drops to 0), and the carried run is
 * updated without a branch: a wholly free entry (start = full) extends it,
 * any other restarts it at the entry's free end.
 */
static inline __attribute__((always_inline))
int scan(pagealloc *pa, int l, uintptr_t j, uintptr_t stop, uintptr_t n,
         scan_run *r, uintptr_t *at, uintptr_t *first, const int track)
{
    const int leaf = l == PA_LEVELS - 1;      /* a constant where it is inlined */
    unsigned logp = pa_level_log_pages(l);
    uintptr_t full = (uintptr_t)1 << logp;
    for (; j < stop; j++) {
        pa_sum s = leaf ? pa->sum[PA_LEVELS - 1][j] : entry(pa, l, j);
        if (track) {
            /* *first = j if unset and s has a free page, by masks: both
             * tests depend on the data, and as branches they mispredicted
             * often. */
            uintptr_t take = (uintptr_t)0 - (uintptr_t)((*first == UINTPTR_MAX) & (s != 0));
            *first = (*first & ~take) | (j & take);
        }
        uintptr_t st = leaf ? pa_leaf_start(s) : pa_sum_start(s);
        if (r->len + st >= n) {
            *at = (j << logp) - r->len;
            return 1;
        }
        if ((leaf ? pa_leaf_max(s) : pa_sum_max(s)) >= n) {
            *at = j;
            return 2;
        }
        uintptr_t e = leaf ? pa_leaf_end(s) : pa_sum_end(s);
        r->len = st == full ? r->len + full : e;
    }
    return 0;
}

#if defined(__SSE2__)
/*
 * Pass over leaves j, j+1, ... two at a time (one 128-bit vector) while
 * neither holds a fit of n <= 512 pages: its max reaches n, or the free end
 * of the leaf before it plus its free start does (a wholly free leaf has
 * max 512). Returns the first pair that may hold one, or where fewer than
 * two leaves are left. Reads leaf[j - 1]: the caller has scanned it. The
 * fields are below 2^21, so the compares are of 32-bit lanes (SSE2 has no
 * 64-bit one) and only the low lane of each leaf is tested.
 */
static inline uintptr_t skip_leaf_pairs(const pa_sum *leaf, uintptr_t j, uintptr_t stop,
                                        uintptr_t n)
{
    const __m128i mask = _mm_set1_epi64x((long long)PA_SUM_MASK);
    const __m128i lim = _mm_set1_epi32((int)n - 1);
    for (; j + 2 <= stop; j += 2) {
        __m128i v = _mm_loadu_si128((const __m128i *)(leaf + j));
        __m128i p = _mm_loadu_si128((const __m128i *)(leaf + j - 1));
        __m128i mx = _mm_and_si128(_mm_srli_epi64(v, PA_SUM_BITS), mask);
        __m128i join = _mm_add_epi64(_mm_and_si128(v, mask), _mm_srli_epi64(p, 2 * PA_SUM_BITS));
        __m128i hit = _mm_or_si128(_mm_cmpgt_epi32(mx, lim), _mm_cmpgt_epi32(join, lim));
        if (_mm_movemask_epi8(hit) & 0x0f0f)
            break;
    }
    return j;
}
#endif

/*
 * scan() at the leaf level for n <= 512 pages (every request of the tree
 * search below a chunk, the 65..512-page ones of heap W1 foremost), with
 * the same answers. A wholly free leaf then always holds a fit (the carried
 * run plus its 512 free pages), so the carried run is just the previous
 * leaf's free end, never a sum; and the first leaf with a free page (the
 * new search hint, if track) is the first non-zero one, found by a loop of
 * its own before the main loop, which then tracks nothing. Each leaf costs
 * one load, three field decodes and one branch taken only at a fit, where
 * scan() spent about twice that on the masks of its first-entry tracking
 * and the select of its carried run (docs/pagealloc.md, "Fast path and
 * finger search").
 */
static inline __attribute__((always_inline))
int scan_leaves_short(pagealloc *pa, uintptr_t j, uintptr_t stop, uintptr_t n, scan_run *r,
                      uintptr_t *at, uintptr_t *first, const int track)
{
    const pa_sum *leaf = pa->sum[PA_LEVELS - 1];
    uintptr_t run = r->len;
    if (track && *first == UINTPTR_MAX) {
        /* A wholly allocated leaf (0) holds no fit and ends no run. */
        for (; j < stop && leaf[j] == 0; j++)
            run = 0;
        if (j == stop) {
            r->len = run;
            return 0;
        }
        *first = j;
    }
    while (j < stop) {
        pa_sum s = leaf[j];
        uintptr_t st = pa_leaf_start(s), mx = pa_leaf_max(s);
        if ((run + st >= n) | (mx >= n)) {
            if (run + st >= n) {
                *at = (j << pa_level_log_pages(PA_LEVELS - 1)) - run;
                return 1;
            }
            *at = j;
            return 2;
        }
        run = pa_leaf_end(s);
        j++;
#if defined(__SSE2__)
        uintptr_t k = skip_leaf_pairs(leaf, j, stop, n);
        if (k != j) {
            run = pa_leaf_end(leaf[k - 1]);
            j = k;
        }
#endif
    }
    r->len = run;
    return 0;
}

/* First free page of chunk ci at or after page from (the chunk has one). */
static uintptr_t first_free_page(const pagealloc *pa, uint32_t ci, unsigned from)
{
    unsigned ns = pa_bits_find_one(pa_chunk_of(pa, ci)->alloc, from, NULL);
    return pa_chunk_base(ci) + (uintptr_t)ns * PA_PAGE_SIZE;
}

/*
 * Runs of 512..1022 pages, found from the leaves alone (docs/pagealloc.md,
 * "Runs of a chunk or more"). A free run of n >= 512 pages never lies
 * inside one chunk unless it is the whole chunk, so the first fit at or
 * after from is the start of the first maximal free run (clipped at from)
 * whose length reaches n, and a scan of the leaves that carries a run
 * across chunk boundaries (a leaf's end, whole free leaves, the next
 * leaf's start) meets the runs in address order. Reading only leaves, it
 * leaves the upper levels dirty, which the tree search would merge first.
 * Returns 1 with the answer (0: none); it gives up and returns 0 after
 * BUDGET leaves, or when the heap is more than one range (leaves of gaps
 * are not committed), and the caller then searches the tree.
 */
static int find_leaves(pagealloc *pa, uintptr_t from, uintptr_t n, uintptr_t *addr,
                       uintptr_t *new_search)
{
    enum { BUDGET = 256 };
    if (pa->in_use.n != 1)
        return 0;
    const pa_sum *leaf = pa->sum[PA_LEVELS - 1];
    uint32_t c = pa_chunk_index(from), end = pa->end;
    uint32_t stop = end - c > BUDGET ? c + BUDGET : end;
    unsigned room = PA_CHUNK_PAGES - pa_chunk_page(from);
    uintptr_t run = pa_leaf_end(leaf[c]);         /* free pages ending at c's top */
    if (run > room)
        run = room;                               /* not below from */
    if (run >= n) {
        *addr = from;                             /* n = 512 at a free chunk's base */
    } else {
        for (c++;; c++) {
            if (c >= stop) {
                if (stop < end)
                    return 0;                     /* out of budget */
                *addr = 0;                        /* no fit below the heap's end */
                *new_search = PA_SEARCH_NONE;
                return 1;
            }
            pa_sum s = leaf[c];
            if (run + pa_leaf_start(s) >= n) {
                *addr = pa_chunk_base(c) - run * PA_PAGE_SIZE;
                break;
            }
            run = s == PA_SUM_FREE_CHUNK ? run + PA_CHUNK_PAGES : pa_leaf_end(s);
        }
    }
    *new_search = from != pa->search || *addr != from ? pa->search :
                  pa_ranges_addr_ge(&pa->in_use, *addr + n * PA_PAGE_SIZE, PA_SEARCH_NONE);
    return 1;
}

/* ---- The tree search ----------------------------------------------------- */

/*
 * How far the climb's first scan reads leaves: to the end of the block of 8
 * that holds the leaf PA_FIND_LEAF_SCAN past the start, when the heap is
 * one range (every leaf below pa->end is committed), instead of to the end
 * of the start's own block. Leaves are exact, so reading them needs no
 * merge of dirty upper levels, and in a churned heap the fit is usually a
 * few blocks away: core W1 took 4.7 % fewer instructions than when it
 * climbed after one block (docs/pagealloc.md, "Finger search"). The bound
 * keeps a far fit in a large heap at about a thousand instructions of leaf
 * reads before the tree takes over. 64 until scan_leaves_short made a
 * leaf cheaper; 128 then took heap W1 from 521.7 to 519.5 instructions a
 * step and core W1 from 923.6 to 922.8 a pair (256: no better).
 */
#define PA_FIND_LEAF_SCAN 128

/* The finger search below 1023 pages. at_search (a constant where it is
 * inlined): from is the search hint, and a new one is wanted; from a class
 * hint the search hint stays as it is, and the scans track no first free
 * entry. */
static inline __attribute__((always_inline))
uintptr_t find_tree(pagealloc *pa, uintptr_t from, size_t npages, uintptr_t *new_search,
                    const int at_search)
{
    const int leaf = PA_LEVELS - 1;
    uintptr_t n = npages;
    uint32_t sc = pa_chunk_index(from);
    unsigned spage = pa_chunk_page(from);
    scan_run r = { 0 };
    uintptr_t at = 0, first = UINTPTR_MAX;
    uintptr_t first_free = PA_SEARCH_NONE;   /* exact, or a lower bound */
    int l = leaf, found = 0;

    /* Climb: scan the rest of each block, from the hint's chunk upward.
     * Only blocks holding grown chunks have committed summaries, so the
     * climb never scans past the end of the block it started in: when the
     * parent is the last of its block, it climbs again. */
    uintptr_t j = sc;
    int first_level = -1;
    for (;;) {
        uintptr_t stop = l == 0 ? (uintptr_t)1 << PA_L0_BITS : (j | 7) + 1;
        if (l == leaf && pa->in_use.n == 1)
            stop = ((j + PA_FIND_LEAF_SCAN) | 7) + 1;   /* leaves committed up to end */
        uintptr_t limit = ((uintptr_t)(pa->end - 1) >> (leaf - l) * PA_LEVEL_BITS) + 1;
        if (stop > limit)
            stop = limit;
        found = j >= stop ? 0
              : l != leaf ? scan(pa, l, j, stop, n, &r, &at, &first, at_search)
              : n <= PA_CHUNK_PAGES ? scan_leaves_short(pa, j, stop, n, &r, &at, &first, at_search)
              : scan(pa, leaf, j, stop, n, &r, &at, &first, at_search);
        if (first != UINTPTR_MAX && first_level < 0) {
            first_level = l;
            if (at_search)
                first_free = l == leaf ? first_free_page(pa, (uint32_t)first,
                                                         first == sc ? spage : 0)
                                       : first << pa_level_shift(l);
        }
        if (found || l == 0 || stop == limit)
            break;
        j = ((stop - 1) >> PA_LEVEL_BITS) + 1;   /* the parent's next sibling */
        l--;
        while (l > 0 && (j & 7) == 0) {  /* the parent was last in its block */
            j >>= PA_LEVEL_BITS;
            l--;
        }
    }
    if (!found) {
        *new_search = PA_SEARCH_NONE;
        return 0;
    }

    /* Descend into the entry holding a fit; refine the first free page
     * while the descent follows the first entry with a free page. */
    int refine = at_search && found == 2 && l < leaf && first_level == l && first == at;
    while (found == 2 && l < leaf) {
        uintptr_t child = at << PA_LEVEL_BITS;
        r = (scan_run){ 0 };
        first = UINTPTR_MAX;
        l++;
        found = l != leaf ? scan(pa, l, child, child + 8, n, &r, &at, &first, at_search)
              : n <= PA_CHUNK_PAGES
                ? scan_leaves_short(pa, child, child + 8, n, &r, &at, &first, at_search)
                : scan(pa, leaf, child, child + 8, n, &r, &at, &first, at_search);
        if (found == 0) {
            pa_report("pagealloc_alloc", child << pa_level_shift(l), npages,
                      "summary says a run fits but the entries below do not hold it");
            *new_search = PA_SEARCH_NONE;
            return 0;
        }
        if (refine) {
            first_free = l == leaf ? first_free_page(pa, (uint32_t)first, 0)
                                   : first << pa_level_shift(l);
            refine = found == 2 && l < leaf && first == at;
        }
    }
    uintptr_t addr;
    if (found == 1) {
        addr = at << PA_PAGE_SHIFT;
    } else {
        uint32_t ci = (uint32_t)at;
        unsigned p = pa_bits_find(pa_chunk_of(pa, ci)->alloc, (unsigned)npages,
                                  ci == sc ? spage : 0, NULL);
        if (p == PA_NOT_FOUND) {
            pa_report("pagealloc_alloc", pa_chunk_base(ci), npages,
                      "chunk summary says a run fits but the bitmap has none");
            *new_search = PA_SEARCH_NONE;
            return 0;
        }
        addr = pa_chunk_base(ci) + (uintptr_t)p * PA_PAGE_SIZE;
    }
    *new_search = at_search ? pa_ranges_addr_ge(&pa->in_use, first_free, PA_SEARCH_NONE)
                            : pa->search;
    return addr;
}

uintptr_t pa_find(pagealloc *pa, uintptr_t from, size_t npages, uintptr_t *new_search)
{
    if (npages >= PA_LARGE_PAGES)
        return pa_find_large(pa, from, npages, new_search);
    uintptr_t found_at;
    if (npages >= PA_CHUNK_PAGES && find_leaves(pa, from, npages, &found_at, new_search))
        return found_at;
    return from == pa->search ? find_tree(pa, from, npages, new_search, 1)
                              : find_tree(pa, from, npages, new_search, 0);
}
