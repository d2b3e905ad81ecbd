/*
 * churn.c - small-object churn, one thread: objects of 16-256 bytes in a
 * table of up to SLOTS, in cycles of three phases: grow (allocate until the
 * table is full), churn (STEPS replacements of a random object by one of a
 * new random size), shrink (free random objects until a tenth is left). The
 * fast paths of malloc and free of a thread cache, and what happens to the
 * spans the shrink empties.
 *
 * Work: CYCLES x (grow + STEPS + shrink) (STEPS scaled by MB_SCALE).
 * Metric: elapsed wall time of the cycles.
 */
#define _GNU_SOURCE
#include "mb.h"

enum { SLOTS = 20000, CYCLES = 5, STEPS = 2000000, MINSZ = 16, MAXSZ = 256 };

static unsigned char *p[SLOTS];
static uint16_t len[SLOTS];

int main(void)
{
    uint64_t steps = mb_scaled(STEPS);
    mb_rng rng = { 3 };
    uint64_t h = MB_FNV_INIT, ops = 0;
    int bad = 0;
    mb_run run;
    mb_begin(&run, "churn", 1);
    for (int c = 0; c < CYCLES; c++) {
        for (int s = 0; s < SLOTS; s++) {           /* grow */
            if (p[s])
                continue;
            size_t n = (size_t)mb_range(&rng, MINSZ, MAXSZ);
            p[s] = malloc(n);
            if (!p[s])
                return 1;
            len[s] = (uint16_t)n;
            mb_fill(p[s], n, (uint64_t)s);
            ops++;
        }
        for (uint64_t i = 0; i < steps; i++) {      /* churn */
            uint64_t r = mb_next(&rng);
            unsigned s = (unsigned)(r % SLOTS);
            size_t n = MINSZ + (size_t)((r >> 32) % (MAXSZ - MINSZ + 1));
            if (!mb_check(p[s], len[s], s))
                bad = 1;
            free(p[s]);
            p[s] = malloc(n);
            if (!p[s])
                return 1;
            len[s] = (uint16_t)n;
            mb_fill(p[s], n, (uint64_t)s);
            h = mb_fold(h, r);
        }
        ops += steps;
        for (int s = 0; s < SLOTS; s++) {           /* shrink to a tenth */
            if (mb_next(&rng) % 10 == 0)
                continue;
            if (!mb_check(p[s], len[s], (uint64_t)s))
                bad = 1;
            free(p[s]);
            p[s] = NULL;
            ops++;
        }
    }
    double el = mb_stop(&run);
    for (int s = 0; s < SLOTS; s++)
        free(p[s]);
    mb_report(&run, el, ops, h, !bad);
    return bad;
}
