/*
 * runcount.c - counting a chunk's maximal free runs by length bucket
 * (runcount.h): a whole recount for re-summarisations and the invariant
 * checker, and the change when one bitmap word becomes wholly allocated
 * (a page cache taking its block). Both walk runs with ctz/clz a word at a
 * time; a run may continue across word boundaries, never across chunks.
 */
#include "pagealloc/runcount.h"
#include "pagealloc/geometry.h"

static inline unsigned ctz64(uint64_t x) { return x ? (unsigned)__builtin_ctzll(x) : 64; }
static inline unsigned clz64(uint64_t x) { return x ? (unsigned)__builtin_clzll(x) : 64; }

/* Add delta (1, or 0xffff for -1) to the count of every hole of x (x != 0)
 * strictly between its lowest and its highest 1; the longest hole (0 if
 * none). */
static unsigned add_holes(pa_runcount *c, uint64_t x, uint16_t delta)
{
    unsigned p = ctz64(x), top = 63 - clz64(x), longest = 0;
    while (p < top) {
        p += ctz64(~(x >> p));            /* past the 1s */
        if (p > top)
            break;
        unsigned len = ctz64(x >> p);     /* the hole up to the next 1 */
        c->n[pa_run_bucket(len)] = (uint16_t)(c->n[pa_run_bucket(len)] + delta);
        longest = len > longest ? len : longest;
        p += len;
    }
    return longest;
}

void pa_run_counts(const uint64_t *b, pa_runcount *c)
{
    pa_run_counts_full(c);
    unsigned run = 0;                       /* free pages ending the previous word */
    for (unsigned w = 0; w < PA_CHUNK_WORDS; w++) {
        uint64_t x = b[w];
        if (x == 0) {
            run += 64;
            continue;
        }
        run += ctz64(x);                    /* the run ending at x's lowest 1 */
        if (run)
            c->n[pa_run_bucket(run)]++;
        add_holes(c, x, 1);
        run = clz64(x);
    }
    if (run)
        c->n[pa_run_bucket(run)]++;
}

unsigned pa_run_counts_take_word(pa_runcount *c, const uint64_t *b, unsigned w)
{
    uint64_t x = b[w];
    if (~x == 0)
        return 0;
    /* Free pages just below and just above the word, in other words. */
    unsigned below = 0, above = 0;
    for (unsigned v = w; v-- > 0;) {
        below += clz64(b[v]);
        if (b[v])
            break;
    }
    for (unsigned v = w + 1; v < PA_CHUNK_WORDS; v++) {
        above += ctz64(b[v]);
        if (b[v])
            break;
    }
    unsigned cut;
    if (x == 0) {                            /* one run through the word */
        cut = below + 64 + above;
        c->n[pa_run_bucket(cut)]--;
    } else {
        unsigned lo = below + ctz64(x), hi = clz64(x) + above;
        c->n[pa_run_bucket(lo)]--;
        c->n[pa_run_bucket(hi)]--;
        unsigned hole = add_holes(c, x, 0xffff);
        cut = lo > hi ? lo : hi;
        cut = hole > cut ? hole : cut;
    }
    c->n[pa_run_bucket(below)]++;
    c->n[pa_run_bucket(above)]++;
    c->n[0] = 0;                             /* scratch, kept clean here */
    return cut;
}
