/*
 * bitmap.c - chunk bitmaps: range updates, counting, summaries and
 * scavenge candidates. See bitmap.h for the representation; the first-fit
 * search is in bitfind.c.
 *
 * The summaries work a word at a time; interior runs are measured with
 * the shift-and trick of bitfind.c (c &= c >> k leaves bit i set only if
 * bits i..i+k were all set).
 */
#include "pagealloc/bitmap.h"

static inline unsigned ctz64(uint64_t x) { return x ? (unsigned)__builtin_ctzll(x) : 64; }
static inline unsigned clz64(uint64_t x) { return x ? (unsigned)__builtin_clzll(x) : 64; }

/* Mask of bits [lo, lo+n) within one word; 1 <= n, lo + n <= 64. */
static inline uint64_t word_mask(unsigned lo, unsigned n)
{
    return (n >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1)) << lo;
}

void pa_bits_set_range(uint64_t *b, unsigned i, unsigned n)
{
    unsigned w = i / 64, lo = i % 64;
    if (lo + n <= 64) {
        b[w] |= word_mask(lo, n);
        return;
    }
    b[w++] |= ~(uint64_t)0 << lo;
    n -= 64 - lo;
    for (; n >= 64; n -= 64)
        b[w++] = ~(uint64_t)0;
    if (n)
        b[w] |= word_mask(0, n);
}

void pa_bits_clear_range(uint64_t *b, unsigned i, unsigned n)
{
    unsigned w = i / 64, lo = i % 64;
    if (lo + n <= 64) {
        b[w] &= ~word_mask(lo, n);
        return;
    }
    b[w++] &= ~(~(uint64_t)0 << lo);
    n -= 64 - lo;
    for (; n >= 64; n -= 64)
        b[w++] = 0;
    if (n)
        b[w] &= ~word_mask(0, n);
}

int pa_bits_clear_range_slow(uint64_t *b, unsigned i, unsigned n)
{
    /* Two passes over the same word masks: test every bit, then clear. */
    unsigned w0 = i / 64, last = (i + n - 1) / 64;
    uint64_t first_m = ~(uint64_t)0 << (i % 64);
    uint64_t last_m = ~(uint64_t)0 >> (63 - (i + n - 1) % 64);
    if (w0 == last) {                            /* one word after all */
        uint64_t m = first_m & last_m;
        if ((b[w0] & m) != m)
            return 0;
        b[w0] &= ~m;
        return 1;
    }
    uint64_t acc = (b[w0] | ~first_m) & (b[last] | ~last_m);
    for (unsigned w = w0 + 1; w < last; w++)
        acc &= b[w];
    if (acc != ~(uint64_t)0)
        return 0;
    b[w0] &= ~first_m;
    for (unsigned w = w0 + 1; w < last; w++)
        b[w] = 0;
    b[last] &= ~last_m;
    return 1;
}

/* OR bits [from, from+n) of src into dst at bit offset to (n <= 512);
 * dst's bits there are zero. */
static void copy_bits(uint64_t *dst, size_t to, const uint64_t *src, unsigned from, unsigned n)
{
    while (n) {
        unsigned k = n < 64 ? n : 64;
        unsigned s = from % 64;
        uint64_t v = src[from / 64] >> s;
        if (s && s + k > 64)
            v |= src[from / 64 + 1] << (64 - s);
        if (k < 64)
            v &= ((uint64_t)1 << k) - 1;
        unsigned d = (unsigned)(to % 64);
        dst[to / 64] |= v << d;
        if (d && d + k > 64)
            dst[to / 64 + 1] |= v >> (64 - d);
        from += k;
        to += k;
        n -= k;
    }
}

unsigned pa_bits_take(uint64_t *b, unsigned i, unsigned n, uint64_t *out, size_t off)
{
    unsigned k = pa_bits_popcnt_range(b, i, n);
    if (out)
        copy_bits(out, off, b, i, n);
    if (n == PA_CHUNK_PAGES)
        pa_bits_clear_all(b);
    else
        pa_bits_clear_range(b, i, n);
    return k;
}

int pa_bits_any_in_range(const uint64_t *b, unsigned i, unsigned n)
{
    unsigned w = i / 64, lo = i % 64;
    if (lo + n <= 64)
        return (b[w] & word_mask(lo, n)) != 0;
    /* OR the words together, the bits outside the range masked off. */
    uint64_t acc = b[w++] >> lo;
    n -= 64 - lo;
    for (; n >= 64; n -= 64)
        acc |= b[w++];
    if (n)
        acc |= b[w] & word_mask(0, n);
    return acc != 0;
}

int pa_bits_all_in_range(const uint64_t *b, unsigned i, unsigned n)
{
    unsigned w = i / 64, lo = i % 64;
    if (lo + n <= 64) {
        uint64_t m = word_mask(lo, n);
        return (b[w] & m) == m;
    }
    /* AND the words together, with the bits outside the range forced on. */
    uint64_t acc = b[w++] | ~(~(uint64_t)0 << lo);
    n -= 64 - lo;
    for (; n >= 64; n -= 64)
        acc &= b[w++];
    if (n)
        acc &= b[w] | ~word_mask(0, n);
    return acc == ~(uint64_t)0;
}

unsigned pa_bits_popcnt_range(const uint64_t *b, unsigned i, unsigned n)
{
    unsigned w = i / 64, lo = i % 64;
    if (lo + n <= 64)
        return pa_popcount64(b[w] & word_mask(lo, n));
    unsigned count = pa_popcount64(b[w++] >> lo);
    n -= 64 - lo;
    for (; n >= 64; n -= 64)
        count += pa_popcount64(b[w++]);
    if (n)
        count += pa_popcount64(b[w] & word_mask(0, n));
    return count;
}

/*
 * Longest run of 0 bits in w strictly between its lowest and highest 1 bit,
 * or best if none is longer. First the shift-and trick asks, in O(log best)
 * steps, whether any run exceeds best at all (usually not); only then is
 * the run measured, one step per page it exceeds best by.
 */
static unsigned interior_free_run(uint64_t w, unsigned best)
{
    unsigned lo = ctz64(w), span = 63 - clz64(w) - lo;   /* top 1 - lowest 1 */
    /* 1s: the free pages between the lowest and the top 1, shifted down. */
    uint64_t runs = ~(w >> lo) & (((uint64_t)1 << span) - 1);
    unsigned len = 1;              /* runs marks starts of runs >= len */
    while (runs && len <= best) {
        unsigned s = len <= best + 1 - len ? len : best + 1 - len;
        runs &= runs >> s;
        len += s;
    }
    if (!runs)
        return best;
    while (runs) {
        runs &= runs >> 1;
        len++;
    }
    return len - 1;
}

pa_sum pa_bits_summarize(const uint64_t *b)
{
    unsigned start = 0, w = 0;
    for (; w < PA_CHUNK_WORDS && b[w] == 0; w++)
        start += 64;
    if (w == PA_CHUNK_WORDS)
        return PA_SUM_FREE_CHUNK;
    start += ctz64(b[w]);

    unsigned max = 0, run = w * 64;     /* free words before w */
    for (; w < PA_CHUNK_WORDS; w++) {
        uint64_t x = b[w];
        if (x == 0) {
            run += 64;
            continue;
        }
        run += ctz64(x);
        if (run > max)
            max = run;
        if (max < 62 && (x & (x + (x & -x))) != 0)   /* x has an interior hole */
            max = interior_free_run(x, max);
        run = clz64(x);
    }
    if (run > max)
        max = run;
    return pa_sum_pack(start, max, run);
}

/* Free (0) pages immediately below page i. */
unsigned pa_bits_free_below(const uint64_t *b, unsigned i)
{
    unsigned w = i / 64, o = i % 64, count = 0;
    if (o) {
        uint64_t x = b[w] << (64 - o);
        if (x)
            return clz64(x);
        count = o;
    }
    while (w-- > 0) {
        if (b[w])
            return count + clz64(b[w]);
        count += 64;
    }
    return count;
}

/* Free (0) pages from page i upward. */
unsigned pa_bits_free_above(const uint64_t *b, unsigned i)
{
    if (i >= PA_CHUNK_PAGES)
        return 0;
    unsigned w = i / 64, o = i % 64;
    uint64_t x = b[w] >> o;
    if (x)
        return ctz64(x);
    unsigned count = 64 - o;
    for (w++; w < PA_CHUNK_WORDS; w++) {
        if (b[w])
            return count + ctz64(b[w]);
        count += 64;
    }
    return count;
}


/*
 * The longest free run of b in words [w, w_end), given a floor best (a
 * run that long exists, or 0) and a ceiling limit (no run is longer), when
 * the words outside hold no longer run and none that continues into the
 * range: the scan passes over
 * wholly allocated words quickly, skips the interior of words that cannot
 * beat best and stops as soon as it meets a run of limit pages.
 */
static inline unsigned max_free_run(const uint64_t *b, unsigned w, unsigned w_end, unsigned best,
                                    unsigned limit)
{
    unsigned run = 0;                   /* free pages ending the previous word */
    for (; w < w_end; w++) {
        uint64_t x = b[w];
        if (x == 0) {
            run += 64;
            continue;
        }
        if (~x == 0) {
            if (run > best) {
                best = run;
                if (best >= limit)
                    return best;
            }
            run = 0;
            continue;
        }
        run += ctz64(x);
        if (run > best) {
            best = run;
            if (best >= limit)
                return best;
        }
        if (best < 62 && (x & (x + (x & -x))) != 0) {   /* x has an interior hole */
            best = interior_free_run(x, best);
            if (best >= limit)
                return best;
        }
        run = clz64(x);
    }
    return run > best ? run : best;
}

unsigned pa_sum_rescan(const uint64_t *b, unsigned a, unsigned q, unsigned floor, unsigned max)
{
    /* When the cut run reaches an end of the chunk, only the words on the
     * other side can hold another run. */
    if (q == PA_CHUNK_PAGES)
        return max_free_run(b, 0, (a + 63) / 64, floor, max);
    if (a == 0)
        return max_free_run(b, q / 64, PA_CHUNK_WORDS, floor, max);
    return max_free_run(b, 0, PA_CHUNK_WORDS, floor, max);
}

uint64_t pa_fill_aligned(uint64_t x, unsigned m)
{
    if (m <= 1)
        return x;
    if (m >= 64)
        return x ? ~(uint64_t)0 : 0;
    /* After folding, bit p holds the OR of bits p .. p+m-1. */
    uint64_t any = x;
    for (unsigned s = 1; s < m; s <<= 1)
        any |= any >> s;
    /* Keep it at each group's lowest bit, then widen each to m bits. */
    uint64_t lows = ~(uint64_t)0 / (((uint64_t)1 << m) - 1);
    return (any & lows) * (((uint64_t)1 << m) - 1);
}

int pa_find_scavenge_candidate(const uint64_t *alloc, const uint64_t *scav,
                               unsigned search, unsigned min, unsigned max,
                               unsigned huge_pages,
                               unsigned *start, unsigned *size)
{
    *start = 0;
    *size = 0;
    if (min == 0 || (min & (min - 1)) != 0 || min > 64)
        return 0;
    max = max == 0 ? min : (max + min - 1) / min * min;

    /* 0 bits of "busy" are free, unscavenged pages, in whole min-groups. */
    int w = (int)(search / 64);
    uint64_t busy = 0;
    for (; w >= 0; w--) {
        busy = pa_fill_aligned(scav[w] | alloc[w], min);
        if (busy != ~(uint64_t)0)
            break;
    }
    if (w < 0)
        return 0;

    /* The highest free run ends at the top of the highest 0 bit. */
    unsigned top = clz64(~busy);
    unsigned end = (unsigned)w * 64 + 64 - top;
    unsigned run;
    if (busy << top != 0) {
        run = clz64(busy << top);
    } else {
        run = 64 - top;
        for (int v = w - 1; v >= 0; v--) {
            uint64_t y = pa_fill_aligned(scav[v] | alloc[v], min);
            run += clz64(y);
            if (y != 0)
                break;
        }
    }

    unsigned sz = run < max ? run : max;
    unsigned st = end - sz;
    /* Do not break up a huge page the free run covers: if the candidate
     * crosses a huge-page boundary and the run extends down to the huge
     * page below the candidate's start, take that whole huge page too. */
    if (huge_pages > 1) {
        unsigned above = (st + huge_pages - 1) / huge_pages * huge_pages;
        unsigned below = st / huge_pages * huge_pages;
        if (above <= end && below >= end - run) {
            sz += st - below;
            st = below;
        }
    }
    *start = st;
    *size = sz;
    return sz != 0;
}

/* The word masks of bitmap.h's chunk-edge helpers (pa_bits_clear_if_set_
 * tail/head, pa_bits_set_test_tail/head): eight words read from an
 * offset set by the edge's word give ~0 on one side of it, 0 on the
 * other. */
const uint64_t pa_edge_masks[3 * PA_CHUNK_WORDS] = {
    ~(uint64_t)0, ~(uint64_t)0, ~(uint64_t)0, ~(uint64_t)0,
    ~(uint64_t)0, ~(uint64_t)0, ~(uint64_t)0, ~(uint64_t)0,
    0, 0, 0, 0, 0, 0, 0, 0,
    ~(uint64_t)0, ~(uint64_t)0, ~(uint64_t)0, ~(uint64_t)0,
    ~(uint64_t)0, ~(uint64_t)0, ~(uint64_t)0, ~(uint64_t)0,
};
