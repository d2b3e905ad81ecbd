/*
 * realloc.c - growing buffers, one thread: BUFS buffers grow in a random
 * interleaving until each reaches its own target size (1 KiB - 256 KiB,
 * log-uniform), then are checked, freed and started again from 16 bytes.
 * Even buffers grow like strings being appended to (realloc by 1-64 more
 * bytes each time), odd ones like vectors (capacity x 1.5 when full, 8-byte
 * elements pushed one by one: the realloc is rarer, the writes are not).
 * Every appended byte is written; the whole buffer is checked before it is
 * freed, so a realloc that loses contents is caught. What it measures:
 * growing in place where the allocator can, and the cost of the copies
 * where it cannot.
 *
 * Work: STEPS appends (scaled by MB_SCALE). Metric: elapsed wall time.
 */
#define _GNU_SOURCE
#include "mb.h"

enum { BUFS = 512, STEPS = 4000000 };

typedef struct {
    unsigned char *p;
    size_t len, cap, target;
    uint64_t tag;
} buf;

static buf b[BUFS];

static size_t draw_target(mb_rng *r)
{
    /* log-uniform in [1 KiB, 256 KiB] */
    unsigned e = (unsigned)mb_range(r, 10, 17);
    size_t lo = (size_t)1 << e;
    return lo + (size_t)(mb_next(r) % lo);
}

static int check_buf(const buf *x)
{
    for (size_t i = 0; i < x->len; i++)
        if (x->p[i] != mb_pat(x->tag, i))
            return 0;
    return 1;
}

int main(void)
{
    uint64_t steps = mb_scaled(STEPS), reallocs = 0;
    mb_rng rng = { 5 };
    uint64_t h = MB_FNV_INIT;
    int bad = 0;
    mb_run run;
    mb_begin(&run, "realloc", 1);
    for (int i = 0; i < BUFS; i++)
        b[i] = (buf){ .target = draw_target(&rng), .tag = (uint64_t)i };
    for (uint64_t st = 0; st < steps; st++) {
        uint64_t r = mb_next(&rng);
        buf *x = &b[r % BUFS];
        size_t add = (r % BUFS) % 2 == 0 ? 1 + (size_t)((r >> 32) % 64) : 8;
        if (x->len + add > x->cap) {
            size_t cap = (r % BUFS) % 2 == 0 ? x->len + add
                                            : (x->cap ? x->cap + x->cap / 2 : 16);
            if (cap < x->len + add)
                cap = x->len + add;
            unsigned char *q = realloc(x->p, cap);
            if (!q)
                return 1;
            x->p = q;
            x->cap = cap;
            reallocs++;
        }
        for (size_t i = 0; i < add; i++)
            x->p[x->len + i] = mb_pat(x->tag, x->len + i);
        x->len += add;
        h = mb_fold(h, r);
        if (x->len >= x->target) {
            if (!check_buf(x))
                bad = 1;
            free(x->p);
            x->p = NULL;
            x->len = x->cap = 0;
            x->tag = x->tag * 6364136223846793005ull + 1;
            x->target = draw_target(&rng);
        }
    }
    double el = mb_stop(&run);
    for (int i = 0; i < BUFS; i++) {
        if (!check_buf(&b[i]))
            bad = 1;
        free(b[i].p);
    }
    (void)reallocs;
    mb_report(&run, el, steps, h, !bad);
    return bad;
}
