/*
 * rng.h - the project's pseudo-random number generators, each defined once,
 * for the tests, the benchmarks and the command-line tool.
 *
 * None of these is for cryptography; they are small, fast and, above all,
 * reproducible: a seed names a sequence forever. Changing any line here
 * changes every seeded test sequence and, for xorshift64*, breaks the
 * benchmark workloads' agreement with Go (their checksums, wlgen.h). The
 * functions are static inline so that the benchmarks' timed loops pay no
 * call for a draw.
 *
 * splitmix64 (Steele, Lea and Flood's SplitMix, 64-bit variant)
 *   State: one uint64_t, any value. Each call adds the golden-ratio
 *   increment 0x9e3779b97f4a7c15 to the state and returns a mix of the new
 *   state (two xor-shift-multiply rounds and a final xor-shift). Passes
 *   through every 64-bit state, so it is also the usual way to spread one
 *   seed over a larger state (xoshiro below). Users: the table tests'
 *   pa_rng and the OS-layer tests' sysmem_tu_rand (tests/support), the
 *   test seed derived from the clock.
 *
 * xorshift64* (Marsaglia's xorshift with Vigna's multiplicative output)
 *   State: one nonzero uint64_t (zero stays zero forever). Each call
 *   applies the shifts 12 right, 25 left, 27 right and returns the new
 *   state times 0x2545F4914F6CDD1D. This is the generator of the
 *   benchmark workloads W1-W6 (wlgen.h): bench/go/core_bench_test.go
 *   draws the very same numbers on the Go side, so the sequences of
 *   allocation sizes and slots are identical in both languages.
 *   rng_xorshift_below(n) is next() % n, slightly biased for n that do
 *   not divide 2^64, and that bias is part of the workloads' definition:
 *   keep it.
 *
 * xoshiro256** (Blackman and Vigna)
 *   State: four uint64_t, not all zero; rng_xoshiro_seed fills them with
 *   four splitmix64 outputs of the seed, so any seed is fine. The random
 *   model tests draw from it (tests/support/pa_gen.c). rng_xoshiro_below
 *   is unbiased (rejection of the top partial interval), as is
 *   rng_splitmix64_below.
 */
#ifndef PAGEALLOC_WORKLOADS_RNG_H
#define PAGEALLOC_WORKLOADS_RNG_H

#include <stdint.h>

/* ---- splitmix64 ------------------------------------------------------- */

/* The next output; advances *state. */
static inline uint64_t rng_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The largest multiple of n that fits in 64 bits, less one step: a draw
 * x < rng_reject_limit(n) makes x % n uniform on [0, n). n > 0. */
static inline uint64_t rng_reject_limit(uint64_t n)
{
    return UINT64_MAX - UINT64_MAX % n;
}

/* Uniform in [0, n), n > 0, by rejection. */
static inline uint64_t rng_splitmix64_below(uint64_t *state, uint64_t n)
{
    uint64_t lim = rng_reject_limit(n), x;
    do
        x = rng_splitmix64(state);
    while (x >= lim);
    return x % n;
}

/* ---- xorshift64* ------------------------------------------------------ */

typedef struct rng_xorshift {
    uint64_t x;             /* the state: the seed at first, never 0 */
} rng_xorshift;

static inline uint64_t rng_xorshift_next(rng_xorshift *r)
{
    uint64_t x = r->x;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->x = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* next() % n, n > 0: the workloads' (and Go's) reduction, bias included. */
static inline uint64_t rng_xorshift_below(rng_xorshift *r, uint64_t n)
{
    return rng_xorshift_next(r) % n;
}

/* ---- xoshiro256** ----------------------------------------------------- */

typedef struct rng_xoshiro {
    uint64_t s[4];          /* never all zero once seeded */
} rng_xoshiro;

static inline void rng_xoshiro_seed(rng_xoshiro *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = rng_splitmix64(&seed);
}

static inline uint64_t rng_rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_xoshiro_next(rng_xoshiro *r)
{
    uint64_t *s = r->s;
    uint64_t res = rng_rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl64(s[3], 45);
    return res;
}

/* Uniform in [0, n), n > 0, by rejection. */
static inline uint64_t rng_xoshiro_below(rng_xoshiro *r, uint64_t n)
{
    uint64_t lim = rng_reject_limit(n), x;
    do
        x = rng_xoshiro_next(r);
    while (x >= lim);
    return x % n;
}

/* Uniform in [lo, hi], lo <= hi; the whole 64-bit range included. */
static inline uint64_t rng_xoshiro_range(rng_xoshiro *r, uint64_t lo, uint64_t hi)
{
    if (hi - lo == UINT64_MAX)
        return rng_xoshiro_next(r);
    return lo + rng_xoshiro_below(r, hi - lo + 1);
}

#endif /* PAGEALLOC_WORKLOADS_RNG_H */
