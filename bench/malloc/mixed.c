/*
 * mixed.c - mixed sizes from 8 bytes to 1 MiB, one thread: a table of SLOTS
 * live objects, each step replacing a random one by a new object whose size
 * is drawn 89 % small (8-512 B), 9 % medium (513 B - 32 KiB), 2 % large
 * (32 KiB - 1 MiB), log-uniform inside each band. Each new object is
 * written at its head, its tail and once per 4 KiB page, so its pages are
 * resident: peak RSS is live data plus what the allocator holds on to
 * (fragmentation, caches, freed large objects it keeps). Every 1/8 of the
 * run, half the table is freed and refilled (a burst), which moves the
 * large objects around.
 *
 * Work: STEPS replacements (scaled by MB_SCALE). Metric: elapsed wall time.
 */
#define _GNU_SOURCE
#include "mb.h"

enum { SLOTS = 8000, STEPS = 1500000 };

static unsigned char *p[SLOTS];
static uint32_t len[SLOTS];
static uint64_t tag[SLOTS];

static size_t draw(mb_rng *r)
{
    uint64_t x = mb_next(r) % 100;
    unsigned lo, hi;                       /* log2 bounds */
    if (x < 89)
        lo = 3, hi = 9;
    else if (x < 98)
        lo = 9, hi = 15;
    else
        lo = 15, hi = 20;
    unsigned e = (unsigned)mb_range(r, lo, hi - 1);
    size_t base = (size_t)1 << e;
    return base + (size_t)(mb_next(r) % base);
}

static int replace(mb_rng *r, unsigned s, uint64_t *h)
{
    int ok = 1;
    if (p[s]) {
        ok = mb_check(p[s], len[s], tag[s]);
        free(p[s]);
    }
    size_t n = draw(r);
    p[s] = malloc(n);
    if (!p[s]) {
        fprintf(stderr, "mixed: malloc(%zu) failed\n", n);
        exit(1);
    }
    len[s] = (uint32_t)n;
    tag[s] = *h;
    mb_fill(p[s], n, tag[s]);
    *h = mb_fold(*h, n);
    return ok;
}

int main(void)
{
    uint64_t steps = mb_scaled(STEPS), ops = 0;
    mb_rng rng = { 11 };
    uint64_t h = MB_FNV_INIT;
    int bad = 0;
    mb_run run;
    mb_begin(&run, "mixed", 1);
    for (unsigned s = 0; s < SLOTS; s++)
        bad |= !replace(&rng, s, &h);
    ops += SLOTS;
    for (uint64_t i = 0; i < steps; i++) {
        bad |= !replace(&rng, (unsigned)(mb_next(&rng) % SLOTS), &h);
        if ((i + 1) % (steps / 8 + 1) == 0) {       /* burst: half out, then back */
            for (unsigned s = 0; s < SLOTS; s += 2) {
                if (!mb_check(p[s], len[s], tag[s]))
                    bad = 1;
                free(p[s]);
                p[s] = NULL;
            }
            for (unsigned s = 0; s < SLOTS; s += 2)
                bad |= !replace(&rng, s, &h);
            ops += SLOTS;
        }
    }
    ops += steps;
    double el = mb_stop(&run);
    for (unsigned s = 0; s < SLOTS; s++) {
        if (!mb_check(p[s], len[s], tag[s]))
            bad = 1;
        free(p[s]);
    }
    mb_report(&run, el, ops, h, !bad);
    return bad;
}
