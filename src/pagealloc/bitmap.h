/*
 * bitmap.h - one chunk's page bitmaps and their summaries (Go's
 * runtime/mpallocbits.go and the bitmap half of mgcscavenge.go).
 *
 * A chunk is 512 pages. Its bitmaps are 8 words of 64 bits; page i is bit
 * i%64 of word i/64. In an allocation bitmap 1 means in use; in a scavenged
 * bitmap 1 means released to the OS (and, as an invariant kept by the
 * allocator, free).
 *
 * A summary (pa_sum) describes the free pages of a run of pages in three
 * 21-bit fields packed into one word:
 *   start  free pages at the low end      bits  0..20
 *   max    longest run of free pages       bits 21..41
 *   end    free pages at the high end      bits 42..62
 * The largest value, 2^21 (every page of a level-0 entry free), does not
 * fit in 21 bits: a summary whose max is 2^21 is stored as exactly 1<<63,
 * and all three fields then decode as 2^21. A summary of 0 means "no free
 * page" (fully allocated, or never grown).
 */
#ifndef PAGEALLOC_BITMAP_H
#define PAGEALLOC_BITMAP_H

#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "base/bits.h"
#include "pagealloc/geometry.h"
#include "pagealloc/runcount.h"

#define PA_SUM_BITS    21u
#define PA_SUM_MAXV    (1u << PA_SUM_BITS)
#define PA_SUM_MASK    ((uint64_t)PA_SUM_MAXV - 1)
#define PA_NOT_FOUND   (~0u)

typedef uint64_t pa_sum;

static inline pa_sum pa_sum_pack(unsigned start, unsigned max, unsigned end)
{
    if (max == PA_SUM_MAXV)
        return (pa_sum)1 << 63;
    return ((uint64_t)start & PA_SUM_MASK) |
           (((uint64_t)max & PA_SUM_MASK) << PA_SUM_BITS) |
           (((uint64_t)end & PA_SUM_MASK) << (2 * PA_SUM_BITS));
}
static inline unsigned pa_sum_start(pa_sum s)
{
    return (s >> 63) ? PA_SUM_MAXV : (unsigned)(s & PA_SUM_MASK);
}
static inline unsigned pa_sum_max(pa_sum s)
{
    return (s >> 63) ? PA_SUM_MAXV : (unsigned)((s >> PA_SUM_BITS) & PA_SUM_MASK);
}
static inline unsigned pa_sum_end(pa_sum s)
{
    return (s >> 63) ? PA_SUM_MAXV : (unsigned)((s >> (2 * PA_SUM_BITS)) & PA_SUM_MASK);
}

/* The fields of a leaf (a summary of one chunk, at most 512 pages: never
 * the 2^21 encoding), decoded without testing for it. */
static inline unsigned pa_leaf_start(pa_sum s) { return (unsigned)(s & PA_SUM_MASK); }
static inline unsigned pa_leaf_max(pa_sum s) { return (unsigned)((s >> PA_SUM_BITS) & PA_SUM_MASK); }
static inline unsigned pa_leaf_end(pa_sum s) { return (unsigned)(s >> (2 * PA_SUM_BITS)); }

/* Summary of a chunk with every page free. */
#define PA_SUM_FREE_CHUNK (pa_sum_pack(512, 512, 512))

/* Index of the first run of n consecutive 1 bits in c (n in 1..64), or a
 * value >= 64 if there is none. */
unsigned pa_find_bit_range64(uint64_t c, unsigned n);

/* Set / clear bits [i, i+n) of a chunk bitmap (n >= 1, i+n <= 512). */
void     pa_bits_set_range(uint64_t *b, unsigned i, unsigned n);
void     pa_bits_clear_range(uint64_t *b, unsigned i, unsigned n);
/* Whole-chunk forms: set, clear, whether every bit / any bit is 1. */
static inline void pa_bits_set_all(uint64_t *b)
{
    for (unsigned w = 0; w < PA_CHUNK_WORDS; w++)
        b[w] = ~(uint64_t)0;
}
static inline void pa_bits_clear_all(uint64_t *b)
{
    for (unsigned w = 0; w < PA_CHUNK_WORDS; w++)
        b[w] = 0;
}
static inline int pa_bits_all_set(const uint64_t *b)
{
    uint64_t acc = ~(uint64_t)0;
    for (unsigned w = 0; w < PA_CHUNK_WORDS; w++)
        acc &= b[w];
    return acc == ~(uint64_t)0;
}
static inline int pa_bits_any_set(const uint64_t *b)
{
    uint64_t acc = 0;
    for (unsigned w = 0; w < PA_CHUNK_WORDS; w++)
        acc |= b[w];
    return acc != 0;
}
/* Set bits [i, i+n) of set (n >= 1, i+n <= 512) and say whether any bit
 * of test there is 1, in one pass: an allocation's pages and their
 * scavenged bits. */
static inline int pa_bits_set_test(uint64_t *set, const uint64_t *test, unsigned i, unsigned n)
{
    unsigned w = i / 64, left = i % 64 + n;    /* bits left from word w's bit 0 */
    uint64_t m = ~(uint64_t)0 << (i % 64), acc = 0;
    for (;;) {
        if (left < 64)
            m &= ((uint64_t)1 << left) - 1;
        set[w] |= m;
        acc |= test[w] & m;
        if (left <= 64)
            return acc != 0;
        left -= 64;
        w++;
        m = ~(uint64_t)0;
    }
}
/* Whether any / every bit of [i, i+n) is 1 (n >= 1). */
int      pa_bits_any_in_range(const uint64_t *b, unsigned i, unsigned n);
int      pa_bits_all_in_range(const uint64_t *b, unsigned i, unsigned n);
/* If every bit of [i, i+n) is 1 (n >= 1, i+n <= 512), clear them and
 * return 1; otherwise change nothing and return 0. One pass for the
 * common one-word range: a free validated and applied together. */
int      pa_bits_clear_range_slow(uint64_t *b, unsigned i, unsigned n);
static inline int pa_bits_clear_if_set(uint64_t *b, unsigned i, unsigned n)
{
    unsigned w = i / 64, lo = i % 64;
    if (lo + n <= 64) {
        uint64_t m = (n >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1)) << lo;
        if ((b[w] & m) != m)
            return 0;
        b[w] &= ~m;
        return 1;
    }
    return pa_bits_clear_range_slow(b, i, n);
}
/* pa_bits_clear_if_set of the pages [i, 512) (tail, 0 < i < 512) or
 * [0, j) (head, 0 < j < 512) of a chunk, and pa_bits_set_test of the
 * same pieces: the ends of a free or an allocation over several chunks
 * (multichunk.c), without the general loops, inline there.
 *
 * Branch-light by design (docs/pagealloc.md, "One walk per multi-chunk
 * operation"). The piece's first (last) word w is random in W3, so code
 * that branches on w mispredicts about once a call: a switch that falls
 * through was a jump table (an indirect branch), a loop from w has a
 * data-dependent exit. Instead all 8 words are read and written in
 * straight-line code with a mask per word, which the compiler keeps in
 * vector registers: the words wholly inside the piece get ~0, the others
 * 0 (or the reverse, for the words to keep), eight words of
 * pa_edge_masks read at an offset set by w; word w's partial mask m is
 * then applied on its own. A word outside the piece is rewritten with
 * its own value. The extra loads and stores cost less than one
 * mispredict. (Masks built in an array with m stored at index w made the
 * vector loads after it wait for a store that could not be forwarded.) */
/* 8 x ~0, 8 x 0, 8 x ~0 (bitmap.c). Eight words from offset
 *   7 - w: ~0 at k <= w    8 - w: ~0 at k < w
 *  15 - w: ~0 at k > w    16 - w: ~0 at k >= w */
extern const uint64_t pa_edge_masks[3 * PA_CHUNK_WORDS];
/* The shared bodies: word w holds the piece's partial word, under mask
 * m; keep (or put) selects the eight words by the offsets above. Always
 * inlined: as plain inline calls, W3 took 0.25 % more instructions. */
static inline __attribute__((always_inline))
int pa_bits_clear_if_set_edge(uint64_t *b, unsigned w, const uint64_t *keep, uint64_t m)
{
    uint64_t acc = b[w] | ~m;
    for (unsigned k = 0; k < PA_CHUNK_WORDS; k++)
        acc &= b[k] | keep[k];
    if (acc != ~(uint64_t)0)
        return 0;
    for (unsigned k = 0; k < PA_CHUNK_WORDS; k++)
        b[k] &= keep[k];
    b[w] &= ~m;
    return 1;
}
static inline __attribute__((always_inline))
int pa_bits_set_test_edge(uint64_t *set, const uint64_t *test, unsigned w, const uint64_t *put,
                          uint64_t m)
{
    uint64_t acc = test[w] & m;
    for (unsigned k = 0; k < PA_CHUNK_WORDS; k++) {
        acc |= test[k] & put[k];
        set[k] |= put[k];
    }
    set[w] |= m;
    return acc != 0;
}
static inline int pa_bits_clear_if_set_tail(uint64_t *b, unsigned i)
{
    unsigned w = i / 64;                              /* keep: words not wholly in it */
    return pa_bits_clear_if_set_edge(b, w, pa_edge_masks + 7 - w, ~(uint64_t)0 << (i % 64));
}
static inline int pa_bits_clear_if_set_head(uint64_t *b, unsigned j)
{
    unsigned w = (j - 1) / 64;
    return pa_bits_clear_if_set_edge(b, w, pa_edge_masks + 16 - w,
                                     ~(uint64_t)0 >> (63 - (j - 1) % 64));
}
/* The same pieces set without a test: a chunk with no scavenged page
 * (scavchunks.h) needs no look at its scavenged bitmap. */
static inline __attribute__((always_inline))
void pa_bits_set_edge(uint64_t *set, unsigned w, const uint64_t *put, uint64_t m)
{
    for (unsigned k = 0; k < PA_CHUNK_WORDS; k++)
        set[k] |= put[k];
    set[w] |= m;
}
static inline void pa_bits_set_tail(uint64_t *set, unsigned i)
{
    unsigned w = i / 64;
    pa_bits_set_edge(set, w, pa_edge_masks + 15 - w, ~(uint64_t)0 << (i % 64));
}
static inline void pa_bits_set_head(uint64_t *set, unsigned j)
{
    unsigned w = (j - 1) / 64;
    pa_bits_set_edge(set, w, pa_edge_masks + 8 - w, ~(uint64_t)0 >> (63 - (j - 1) % 64));
}
static inline int pa_bits_set_test_tail(uint64_t *set, const uint64_t *test, unsigned i)
{
    unsigned w = i / 64;                              /* put: words wholly in it */
    return pa_bits_set_test_edge(set, test, w, pa_edge_masks + 15 - w, ~(uint64_t)0 << (i % 64));
}
static inline int pa_bits_set_test_head(uint64_t *set, const uint64_t *test, unsigned j)
{
    unsigned w = (j - 1) / 64;
    return pa_bits_set_test_edge(set, test, w, pa_edge_masks + 8 - w,
                                 ~(uint64_t)0 >> (63 - (j - 1) % 64));
}

/* Free (0) pages immediately below page i / from page i upward. */
unsigned pa_bits_free_below(const uint64_t *b, unsigned i);
unsigned pa_bits_free_above(const uint64_t *b, unsigned i);
/* Take the 1 bits of [i, i+n) (n >= 1): count them, OR them into out at
 * bit off when out is not NULL (its bits there are 0), clear them. An
 * allocation's scavenged pages, the rare case. */
unsigned pa_bits_take(uint64_t *b, unsigned i, unsigned n, uint64_t *out, size_t off);
/* Number of 1 bits in [i, i+n). */
unsigned pa_bits_popcnt_range(const uint64_t *b, unsigned i, unsigned n);

/* Summary of the free (0) pages of an allocation bitmap. */
pa_sum   pa_bits_summarize(const uint64_t *b);

/* The summary of b after pages [i, i+n) (inside the chunk) changed state,
 * given old, b's exact summary before; *rc, b's run counts (runcount.h),
 * are updated too. after_free: they were allocated and b now has them
 * free (below, above: the free pages adjoining them, which the caller has
 * counted with pa_bits_free_below/above); after_alloc: they were free and
 * are now allocated.
 * Cheaper than pa_bits_summarize: a free joins its neighbouring runs; an
 * allocation looks for the new max only when it cut into a longest run:
 * from the run counts when no other long run is left, else with a scan
 * that knows the larger remaining piece as a floor and the old max as a
 * ceiling. */
static inline pa_sum pa_sum_after_free(pa_sum old, pa_runcount *rc, unsigned i, unsigned n,
                                       unsigned below, unsigned above)
{
    unsigned run = below + n + above;          /* the joined run */
    rc->n[pa_run_bucket(below)]--;             /* bucket 0: no run, scratch */
    rc->n[pa_run_bucket(above)]--;
    rc->n[pa_run_bucket(run)]++;
    unsigned start = i == below ? run : pa_leaf_start(old);
    unsigned end = i + n + above == PA_CHUNK_PAGES ? run : pa_leaf_end(old);
    unsigned max = pa_leaf_max(old) > run ? pa_leaf_max(old) : run;
    return pa_sum_pack(start, max, end);
}
/* The longest free run of b when the run [a, q) was cut, no run is longer
 * than max and one of floor pages exists outside the cut part (the slow
 * case of pa_sum_after_alloc: a bounded scan). */
unsigned pa_sum_rescan(const uint64_t *b, unsigned a, unsigned q, unsigned floor, unsigned max);
/* The common part of the pa_sum_after_alloc forms (below): [i, i+n) was
 * cut out of a free run, leaving below pages free under it and above over
 * it. */
static inline pa_sum pa_sum_cut(const uint64_t *b, pa_sum old, pa_runcount *rc, unsigned i,
                                unsigned n, unsigned below, unsigned above)
{
    unsigned j = i + n;
    unsigned start = i == below ? below : pa_leaf_start(old);
    unsigned end = j + above == PA_CHUNK_PAGES ? above : pa_leaf_end(old);
    unsigned max = pa_leaf_max(old);
    /* The cut run leaves its count; its pieces (bucket 0 if empty) join. */
    unsigned cut = below + n + above;
    rc->n[pa_run_bucket(cut)]--;
    rc->n[pa_run_bucket(below)]++;
    rc->n[pa_run_bucket(above)]++;
    if (cut >= max) {
        /* A longest run [a, q) was cut. The new longest is one of its two
         * pieces or another run, none longer than the old max. Short runs
         * are counted by length: with no long run left but the pieces, the
         * counts answer. Otherwise (another long run) the longest is found
         * by a scan from the larger piece (or a long run's length, which
         * some run has), stopping at a second run of the old max. */
        unsigned big = below > above ? below : above;
        unsigned small = below > above ? above : below;
        unsigned pieces = (big >= PA_RUN_LONG) + (small >= PA_RUN_LONG);
        if (rc->n[PA_RUN_LONG] != pieces)
            big = pa_sum_rescan(b, i - below, j + above,
                                big > PA_RUN_LONG ? big : PA_RUN_LONG, max);
        else if (!pieces)
            big = pa_run_longest_short(rc);
        max = big;
    }
    return pa_sum_pack(start, max, end);
}
static inline pa_sum pa_sum_after_alloc(const uint64_t *b, pa_sum old, pa_runcount *rc,
                                        unsigned i, unsigned n)
{
    /* The free pages next to [i, i+n): from the bitmap word at hand when
     * it has an allocated page there; else old's start (end) says whether
     * every page below (above) is free; else counted. */
    unsigned j = i + n;
    uint64_t xb = i % 64 ? b[i / 64] << (64 - i % 64) : 0;
    uint64_t xa = j < PA_CHUNK_PAGES ? b[j / 64] >> (j % 64) : 0;
    unsigned below = xb ? (unsigned)__builtin_clzll(xb)
                   : pa_leaf_start(old) >= j ? i : pa_bits_free_below(b, i);
    unsigned above = xa ? (unsigned)__builtin_ctzll(xa)
                   : pa_leaf_end(old) >= PA_CHUNK_PAGES - i ? PA_CHUNK_PAGES - j
                   : pa_bits_free_above(b, j);
    return pa_sum_cut(b, old, rc, i, n, below, above);
}
/* pa_sum_after_alloc of the pages [i, 512) or [0, j) of a chunk (the
 * ends of a run over several chunks): the cut run reaches the chunk's
 * edge, so the old leaf's end (start) is its length, which gives the
 * piece left below (above) without reading the bitmap. */
static inline pa_sum pa_sum_after_alloc_tail(const uint64_t *b, pa_sum old, pa_runcount *rc,
                                             unsigned i)
{
    unsigned n = PA_CHUNK_PAGES - i;
    return pa_sum_cut(b, old, rc, i, n, pa_leaf_end(old) - n, 0);
}
static inline pa_sum pa_sum_after_alloc_head(const uint64_t *b, pa_sum old, pa_runcount *rc,
                                             unsigned j)
{
    return pa_sum_cut(b, old, rc, 0, j, 0, pa_leaf_start(old) - j);
}
/* First fit of npages free pages at or after page search (hint: every page
 * below search is known to be in use). Returns the first page of the run or
 * PA_NOT_FOUND; *new_search, unless new_search is NULL, receives the index
 * of the first free page at or after search (a new hint), or PA_NOT_FOUND
 * when there is none (bitfind.c). */
unsigned pa_bits_find_run(const uint64_t *b, unsigned npages, unsigned search,
                          unsigned *new_search);                    /* npages >= 2 */
/* Bit 2w set for each word w of the chunk bitmap b that has a free page
 * (a 0 bit), the odd bits clear: a mask built without a branch. With
 * SSE2 (x86-64's baseline) the eight words are compared in four 128-bit
 * halves as 32-bit lanes, packed to one byte per lane; a word is full
 * when both of its lanes are. */
static inline unsigned pa_bits_words_free2(const uint64_t *b)
{
#if defined(__SSE2__)
    const __m128i ones = _mm_set1_epi32(-1);
    __m128i e0 = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)b), ones);
    __m128i e1 = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)b + 1), ones);
    __m128i e2 = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)b + 2), ones);
    __m128i e3 = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)b + 3), ones);
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_packs_epi16(_mm_packs_epi32(e0, e1),
                                                             _mm_packs_epi32(e2, e3)));
    return ~(m & m >> 1) & 0x5555u;
#else
    unsigned has = 0;
    for (unsigned w = 0; w < PA_CHUNK_WORDS; w++)
        has |= (unsigned)(~b[w] != 0) << 2 * w;
    return has;
#endif
}
/* pa_bits_find of one page, inline: the first free page of the words from
 * search / 64 on. The first word is tested by a branch (core W2's
 * one-page allocations nearly always stop there); past it, the words with
 * a free page come as a mask, without a branch: a loop that went on to
 * the first such word mispredicted its exit about once per call in core
 * W1, whose one-page allocations read 3.9 words on average
 * (docs/pagealloc.md, "Branch-free search hint, leaf marks and word
 * masks"). */
static inline unsigned pa_bits_find_one(const uint64_t *b, unsigned search, unsigned *new_search)
{
    unsigned w = search / 64, i;
    if (~b[w] != 0) {
        i = w * 64 + (unsigned)__builtin_ctzll(~b[w]);
    } else {
        unsigned has = pa_bits_words_free2(b) & ~0u << (w * 2);
        i = PA_NOT_FOUND;
        if (__builtin_expect(has != 0, 1)) {
            w = (unsigned)__builtin_ctz(has) / 2;
            i = w * 64 + (unsigned)__builtin_ctzll(~b[w]);
        }
    }
    if (new_search)
        *new_search = i;
    return i;
}

static inline unsigned pa_bits_find(const uint64_t *b, unsigned npages, unsigned search,
                                    unsigned *new_search)
{
    return npages == 1 ? pa_bits_find_one(b, search, new_search)
                       : pa_bits_find_run(b, npages, search, new_search);
}

/* Every m-aligned group of bits in x (m a power of two, 1..64) that has any
 * 1 bit becomes all 1s. */
uint64_t pa_fill_aligned(uint64_t x, unsigned m);

/* Go's findScavengeCandidate: the highest run of free, unscavenged pages at
 * or below page search, of at least min pages (a power of two <= 64) and
 * at most max (0: min; else rounded up to a multiple of min), aligned to
 * min. huge_pages is the huge page size in pages (0: no huge-page guard).
 * Returns 1 and the run in *start and *size, or 0 if there is none. */
int      pa_find_scavenge_candidate(const uint64_t *alloc, const uint64_t *scav,
                                    unsigned search, unsigned min, unsigned max,
                                    unsigned huge_pages,
                                    unsigned *start, unsigned *size);

#endif /* PAGEALLOC_BITMAP_H */
