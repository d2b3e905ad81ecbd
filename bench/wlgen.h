/*
 * wlgen.h - the random numbers and sizes of BENCHMARKS.md, in one place for
 * everything that replays those workloads: the core and backed benchmarks,
 * the tests' workload replays (tests/support/pa_workloads.c) and the
 * pagealloc tool's workloads.
 *
 * xorshift64* with the state seeded by the caller (42 for a workload; 42 +
 * thread index for W6); below(n) = next() % n.
 */
#ifndef PAGEALLOC_WLGEN_H
#define PAGEALLOC_WLGEN_H

#include <stdint.h>

typedef struct wlgen_rng { uint64_t x; } wlgen_rng;

static inline uint64_t wlgen_next(wlgen_rng *r)
{
    uint64_t x = r->x;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->x = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static inline uint64_t wlgen_below(wlgen_rng *r, uint64_t n)
{
    return wlgen_next(r) % n;
}

/* churn_size: 1 | U[2,8] | U[9,64] | U[65,512] pages, 50/35/13/2 %. */
static inline uint64_t wlgen_churn_size(wlgen_rng *r)
{
    uint64_t p = wlgen_below(r, 100);
    if (p < 50) return 1;
    if (p < 85) return 2 + wlgen_below(r, 7);
    if (p < 98) return 9 + wlgen_below(r, 56);
    return 65 + wlgen_below(r, 448);
}

/* large_size: U[512,4096] pages. */
static inline uint64_t wlgen_large_size(wlgen_rng *r)
{
    return 512 + wlgen_below(r, 3585);
}

#endif /* PAGEALLOC_WLGEN_H */
