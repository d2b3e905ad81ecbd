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
 * upper levels (find_large, proof there; docs/pagealloc.md, "Free-chunk
 * index"). pa_set_leaf (tree.h) keeps the index exact. Runs of 512..1022
 * pages are found by a scan of the leaves alone (find_leaves), which
 * leaves the dirty upper levels unmerged; the tree search is the fallback.
 * A leaf scan carries runs across chunk boundaries as the tree scan does.
 *
 * Every function here requires that the caller serialises calls.
 */
#include "pagealloc/tree.h"

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
        pa_runcount r = pa_run_counts_whole(!alloc);
        pa_runcount *rc = pa_runs_of(pa, sc + 1);
        for (uint32_t c = sc + 1; c < ec; c++, rc++) {
            leaf[c] = s;
            if ((c & (PA_L2_CHUNKS - 1)) == 0)
                rc = pa_runs_of(pa, c);           /* the next block of chunks */
            *rc = r;
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

/* First free page of chunk ci at or after page from (the chunk has one). */
static uintptr_t first_free_page(const pagealloc *pa, uint32_t ci, unsigned from)
{
    unsigned ns = pa_bits_find_one(pa_chunk_of(pa, ci)->alloc, from, NULL);
    return pa_chunk_base(ci) + (uintptr_t)ns * PA_PAGE_SIZE;
}

/* ---- Long runs: the free-chunk index ------------------------------------ */

/*
 * Runs of at least PA_LARGE_PAGES = 1023 pages (docs/pagealloc.md,
 * "Free-chunk index"). Why the index finds exactly the first fit at or
 * after from, which is what the tree search below returns:
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

/* Leaf c, where c is next to a grown chunk (same_block: in its block of 8). */
static inline pa_sum leaf_near(const pagealloc *pa, uint32_t c, int same_block)
{
    if (!same_block) {
        uintptr_t p = (uintptr_t)c * sizeof(pa_sum) >> __builtin_ctzl(pa->os_page);
        /* Atomic: a grow's prepare may set bits now (growth.c). */
        if (!(__atomic_load_n(&pa->committed[PA_LEVELS - 1][p / 64], __ATOMIC_ACQUIRE) >>
              (p % 64) & 1))
            return 0;
    }
    return pa->sum[PA_LEVELS - 1][c];
}

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
            s -= (uintptr_t)pa_leaf_end(leaf_near(pa, c0 - 1, one_range || (c0 & 7) != 0))
                 << PA_PAGE_SHIFT;
        if (s < from)
            s = from;
        uintptr_t e = pa_chunk_base(c1);
        if (c1 < end)
            e += (uintptr_t)pa_leaf_start(leaf_near(pa, c1, one_range || (c1 & 7) != 0))
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
            s -= (uintptr_t)pa_sum_end(leaf_near(pa, b - 1, (b & 7) != 0)) << PA_PAGE_SHIFT;
    }
    uintptr_t e = limit + (uintptr_t)above * PA_PAGE_SIZE;
    if ((e & (PA_CHUNK_SIZE - 1)) == 0) {        /* reaches its chunk's end */
        uint32_t c = pa_free_index_next(x, pa_chunk_index(e), pa->end, 0);
        e = pa_chunk_base(c);
        if (c < pa->end)
            e += (uintptr_t)pa_sum_start(leaf_near(pa, c, (c & 7) != 0)) << PA_PAGE_SHIFT;
    }
    *start = s;
    *len = (e - s) >> PA_PAGE_SHIFT;
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
 * keeps a far fit in a large heap at a few hundred instructions of leaf
 * reads before the tree takes over.
 */
#define PA_FIND_LEAF_SCAN 64

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
        found = j >= stop ? 0 : l == leaf ? scan(pa, leaf, j, stop, n, &r, &at, &first, at_search)
                                          : scan(pa, l, j, stop, n, &r, &at, &first, at_search);
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
        found = l == leaf ? scan(pa, leaf, child, child + 8, n, &r, &at, &first, at_search)
                          : scan(pa, l, child, child + 8, n, &r, &at, &first, at_search);
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
