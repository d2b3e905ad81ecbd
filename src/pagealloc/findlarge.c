/*
 * findlarge.c - the searches that read the free-chunk index (freeidx.h)
 * instead of the summary tree: the first fit of a run of 1023 pages or
 * more (pa_find_large, which pa_find calls), and the extent of the free
 * run a free joins (pa_free_run_extent, for the size-class hints). Split
 * from tree.c, which keeps the tree and its search (docs/pagealloc.md,
 * "Free-chunk index").
 *
 * Every function here requires that the caller serialises calls.
 */
#include "pagealloc/tree.h"

/* ---- Long runs ----------------------------------------------------------- */

/*
 * Runs of at least PA_LARGE_PAGES = 1023 pages (docs/pagealloc.md,
 * "Free-chunk index"). Why the index finds exactly the first fit at or
 * after from, which is what the tree search (tree.c) returns:
 *
 *  1. Any n >= 1023 consecutive pages [x, x+n) contain a whole chunk: the
 *     first chunk boundary b >= x is at most x+511, and b+512 <= x+1023.
 *     So every fit lies in a maximal free run R holding a wholly free
 *     chunk, and if the fit starts at or after from, R's wholly free chunks
 *     inside [from, ...) are not empty, so R has one with index >= cf
 *     (from's chunk).
 *  2. The wholly free chunks of one maximal run R are consecutive, and
 *     their bits (exact, freeidx.h) form one maximal run of ones [c0, c1).
 *     R starts end(c0-1) pages below chunk c0 and ends start(c1) pages
 *     into chunk c1 (leaf fields; c0-1 and c1 are not wholly free, so
 *     these are their free tail and head, 0 for an ungrown chunk). Runs
 *     of ones in increasing chunk order are maximal runs R in address
 *     order.
 *  3. The part of R at or after from is [max(R.start, from), R.end). The
 *     first fit at or after from is the start of that part for the first R
 *     (in address order) whose part holds n pages: in a run that holds n
 *     pages from its start, the start is the lowest fit it offers, and a
 *     run whose part is shorter holds none. If c0 = cf the run starts at
 *     or below chunk cf's base, so its part starts at from; scanning the
 *     ones from cf therefore visits, in order, every R that can hold a fit.
 *
 * Every read is of committed metadata: the index words cover every chunk
 * below pa->end; a leaf next to a grown chunk is committed when it is in
 * the same block of 8 (committed whole), and is otherwise looked up in
 * committed[] (an ungrown chunk's committed leaf is 0).
 */

/*
 * What a successful index search learnt: every maximal run that starts in
 * [from, s) is at most `longest` pages (every run of 1023 pages or more
 * holds a wholly free chunk, so the scan saw all of them). from was at or
 * above the search hint and the hint of n's class k, so no run of
 * pa_hint_size(k) pages or more starts below from either; hence for every
 * class j >= k with pa_hint_size(j) >= 1023 and > longest, no run of that
 * size starts below s, the start of the run being allocated: hint[j] may
 * rise to s (docs/pagealloc.md, "Size-class hints"). Not in Go; moves no
 * answer.
 */
static inline void raise_passed_classes(pagealloc *pa, uintptr_t n, uintptr_t longest,
                                        uintptr_t s)
{
    unsigned j = pa_hint_floor(n);                            /* n's class */
    unsigned l = pa_hint_ceil(longest + 1);                   /* size > longest */
    unsigned big = pa_hint_ceil(PA_LARGE_PAGES);              /* size >= 1023 */
    if (j < l)
        j = l;
    if (j < big)
        j = big;
    pa_hints_raise(pa, j, s);
}

uintptr_t pa_find_large(pagealloc *pa, uintptr_t from, size_t n, uintptr_t *new_search)
{
    const pa_free_index *x = &pa->free_idx;
    const uint64_t *w = x->words;
    uint32_t cf = pa_chunk_index(from), end = pa->end, last = (end - 1) >> 6;
    /* A run of L wholly free chunks lies in a free run of at most
     * L*512 + 2*511 pages: runs of fewer than min_ones ones are passed over
     * without reading the leaves beside them, inside an index word by a
     * ctz per edge; short_max, the longest of them, gives their bound. */
    uint32_t min_ones = (uint32_t)((n - 2 * (PA_CHUNK_PAGES - 1) + PA_CHUNK_PAGES - 1) >>
                                   (PA_CHUNK_SHIFT - PA_PAGE_SHIFT));
    /* One grown range: every chunk in [start, end) is grown, so a leaf
     * beside a run needs no committed[] lookup. */
    int one_range = pa->in_use.n == 1;
    uintptr_t longest = 0;        /* bound on the runs looked at, in pages */
    uint32_t short_max = 0;       /* ones in the longest run passed over */
    for (uint32_t c = cf; c < end;) {
        /* The next run of ones [c0, c1) from c with min_ones ones or more
         * (bits at and above end are 0). */
        uint32_t wi = c >> 6, c0, c1;
        uint64_t v = w[wi] & (~(uint64_t)0 << (c & 63));
        for (;;) {
            while (!v) {
                if (++wi > last)
                    goto none;
                v = w[wi];
            }
            unsigned b0 = (unsigned)__builtin_ctzll(v);
            uint64_t z = ~v & (~(uint64_t)0 << b0);
            if (!z) {                 /* it goes on into the next word */
                c0 = (wi << 6) + b0;
                c1 = pa_free_index_next(x, (wi + 1) << 6, end, 0);
                break;
            }
            unsigned b1 = (unsigned)__builtin_ctzll(z);
            if (b1 - b0 >= min_ones) {
                c0 = (wi << 6) + b0;
                c1 = (wi << 6) + b1;
                break;
            }
            if (b1 - b0 > short_max)
                short_max = b1 - b0;
            v &= ~(uint64_t)0 << b1;
        }
        if (c1 - c0 < min_ones) {
            if (c1 - c0 > short_max)
                short_max = c1 - c0;
            c = c1 + 1;
            continue;
        }
        uintptr_t s = pa_chunk_base(c0);
        if (c0 > cf)
            s -= (uintptr_t)pa_leaf_end(pa_leaf_near(pa, c0 - 1, one_range || (c0 & 7) != 0))
                 << PA_PAGE_SHIFT;
        if (s < from)
            s = from;
        uintptr_t e = pa_chunk_base(c1);
        if (c1 < end)
            e += (uintptr_t)pa_leaf_start(pa_leaf_near(pa, c1, one_range || (c1 & 7) != 0))
                 << PA_PAGE_SHIFT;
        if ((e - s) >> PA_PAGE_SHIFT >= n) {
            /* If the run starts at the search hint, every page below its
             * end will be allocated: a valid, higher hint. */
            *new_search = from != pa->search || s != from ? pa->search :
                          pa_ranges_addr_ge(&pa->in_use, s + n * PA_PAGE_SIZE, PA_SEARCH_NONE);
            uintptr_t bound = short_max ? ((uintptr_t)short_max << (PA_CHUNK_SHIFT - PA_PAGE_SHIFT)) +
                                          2 * (PA_CHUNK_PAGES - 1) : 0;
            raise_passed_classes(pa, n, longest > bound ? longest : bound, s);
            return s;
        }
        if ((e - s) >> PA_PAGE_SHIFT > longest)
            longest = (e - s) >> PA_PAGE_SHIFT;
        c = c1 + 1;
    }
none:
    *new_search = PA_SEARCH_NONE;
    return 0;
}

void pa_free_run_extent(pagealloc *pa, uintptr_t base, size_t npages, unsigned below,
                        unsigned above, uintptr_t *start, uintptr_t *len)
{
    const pa_free_index *x = &pa->free_idx;
    uintptr_t limit = base + npages * PA_PAGE_SIZE;
    uintptr_t s = base - (uintptr_t)below * PA_PAGE_SIZE;
    if (below == pa_chunk_page(base)) {          /* reaches its chunk's base */
        uint32_t b = pa_free_index_run_below(x, pa->start, pa_chunk_index(base));
        s = pa_chunk_base(b);
        if (b > pa->start)
            s -= (uintptr_t)pa_sum_end(pa_leaf_near(pa, b - 1, (b & 7) != 0)) << PA_PAGE_SHIFT;
    }
    uintptr_t e = limit + (uintptr_t)above * PA_PAGE_SIZE;
    if ((e & (PA_CHUNK_SIZE - 1)) == 0) {        /* reaches its chunk's end */
        uint32_t c = pa_free_index_next(x, pa_chunk_index(e), pa->end, 0);
        e = pa_chunk_base(c);
        if (c < pa->end)
            e += (uintptr_t)pa_sum_start(pa_leaf_near(pa, c, (c & 7) != 0)) << PA_PAGE_SHIFT;
    }
    *start = s;
    *len = (e - s) >> PA_PAGE_SHIFT;
}
