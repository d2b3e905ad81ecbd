/*
 * wlgen.h - the benchmark workloads W1-W6: their parameters, their random
 * draws and the checksums Go gives for them, defined once for the
 * conformance tests, the benchmarks (bench/) and the command-line tool
 * (tools/).
 *
 * A workload is a fixed sequence of page allocations and frees. Its sizes
 * and slots come from xorshift64* (rng.h) seeded with WLGEN_SEED (42); the
 * helpers below make every draw, so that each consumer draws the same
 * numbers in the same order, and bench/go/core_bench_test.go draws them
 * identically in Go. "below(n)" is rng_xorshift_below: next() % n.
 *
 * Sizes, in 8 KiB pages:
 *   churn size  p = below(100); p < 50: 1; p < 85: 2 + below(7);
 *               p < 98: 9 + below(56); else 65 + below(448).
 *               (1 | 2-8 | 9-64 | 65-512 pages, 50/35/13/2 %.)
 *   large size  512 + below(3585)  (512-4096 pages).
 *
 * The core workloads W1-W4 run on a bare page allocator (wlcore.h): an
 * unbacked pagealloc whose heap is nchunks 4 MiB chunks grown at
 * 0xc000 x 4 MiB (Go's BaseChunkIdx), every page free and not scavenged.
 *
 *   W1 churn        1024 chunks. Fill 4096 slots in order with churn
 *                   sizes; then 1,000,000 steps: slot i = below(4096),
 *                   size s = churn size (in that order: wlgen_churn_step),
 *                   free slot i, allocate s pages into it. Metric: ns per
 *                   free+alloc pair. Go checksum 0x22d484c38fec00c0.
 *   W2 single pages 1024 chunks. First draw five permutations of
 *                   [0, 200000), each a Fisher-Yates shuffle of the
 *                   identity (j from n-1 down to 1, swap p[j] with
 *                   p[below(j+1)]), all from one generator; then five
 *                   rounds of: allocate 200,000 single pages into slots
 *                   0..199999, free them in the round's permutation
 *                   order. Metric: ns per operation (2,000,000 ops).
 *                   Go checksum 0x5b1496976f15d0e5.
 *   W3 large        2048 chunks. W1's shape with 64 slots, large sizes
 *                   and 100,000 steps. Metric: ns per pair.
 *                   Go checksum 0x31f058bcd029b8b0.
 *   W4 page cache   1024 chunks. 1,000,000 one-page allocations from a
 *                   64-page cache (alloc_to_cache when it is empty); after
 *                   every 8192 allocations the batch is freed one page at a
 *                   time in allocation order; the last, partial batch
 *                   stays. No random draws. Metric: ns per allocation,
 *                   refills included. Go checksum 0xcf63cb6ae055f4e5.
 *
 * The checksum folds every allocation's result in program order, untimed
 * fills included, into FNV-1a (wlgen_fold): the page offset from the heap
 * base, or all ones for a failed allocation. Address-ordered first fit is
 * deterministic, so equal checksums mean pagealloc returned exactly the
 * addresses Go 1.19's page allocator returned.
 *
 * The backed workloads run on real memory (bench/backed.c), for our heap
 * and for other allocators alike; they reuse W1 and W2's draws:
 *   W5 touch        W1's sequence (seed 42), writing one byte into every
 *                   8 KiB page of each new allocation, fill included.
 *                   Measures ns per pair and the resident set.
 *   W6 threads      W1 or W2 run by T threads at once on one shared
 *                   allocator, thread k seeded wlgen_thread_seed(k) = 42+k.
 *                   Measures total operations per second.
 * Their addresses differ per allocator, so instead of a checksum of
 * results they fold the draws themselves (slots and sizes, or W2's
 * swap indices) into a sequence digest, equal for every allocator.
 *
 * The tool's workloads (tools/workload.c) replay W1-W4 as event streams
 * with the same draws, on the real heap.
 */
#ifndef PAGEALLOC_WORKLOADS_WLGEN_H
#define PAGEALLOC_WORKLOADS_WLGEN_H

#include <stdint.h>

#include "rng.h"

#define WLGEN_SEED 42u

/* The workloads' sizes. */
enum {
    WLGEN_W1_SLOTS = 4096,    WLGEN_W1_STEPS = 1000000,
    WLGEN_W2_PAGES = 200000,  WLGEN_W2_ROUNDS = 5,
    WLGEN_W3_SLOTS = 64,      WLGEN_W3_STEPS = 100000,
    WLGEN_W4_TOTAL = 1000000, WLGEN_W4_BATCH = 8192,
};

/* The core workloads, indices of wlgen_table. */
enum wlgen_id { WLGEN_W1, WLGEN_W2, WLGEN_W3, WLGEN_W4, WLGEN_COUNT };

typedef struct wlgen_info {
    const char *name;        /* "W1".."W4" */
    const char *title;       /* "churn", "single pages", ... */
    const char *summary;     /* one line of what it does, for listings */
    const char *unit;        /* metric unit: "pair", "op", "alloc" */
    unsigned    nchunks;     /* heap size in 4 MiB chunks */
    uint64_t    units;       /* metric units in the timed part */
    uint64_t    go_checksum; /* Go 1.19's checksum */
} wlgen_info;

extern const wlgen_info wlgen_table[WLGEN_COUNT];

/* Workload by name ("W1", any case); WLGEN_COUNT if unknown. */
enum wlgen_id wlgen_lookup(const char *name);

/* Thread k's seed in W6 (thread 0 draws exactly what W1/W2 draw). */
static inline uint64_t wlgen_thread_seed(unsigned k)
{
    return (uint64_t)WLGEN_SEED + k;
}

/* ---- draws ------------------------------------------------------------- */

static inline uint64_t wlgen_churn_size(rng_xorshift *r)
{
    uint64_t p = rng_xorshift_below(r, 100);
    if (p < 50) return 1;
    if (p < 85) return 2 + rng_xorshift_below(r, 7);
    if (p < 98) return 9 + rng_xorshift_below(r, 56);
    return 65 + rng_xorshift_below(r, 448);
}

static inline uint64_t wlgen_large_size(rng_xorshift *r)
{
    return 512 + rng_xorshift_below(r, 3585);
}

/* W1's (large = 0) or W3's (large = 1) size: a fill's, or a step's. */
static inline uint64_t wlgen_size(rng_xorshift *r, int large)
{
    return large ? wlgen_large_size(r) : wlgen_churn_size(r);
}

/* One W1/W3 step: the slot to replace (returned), then its new size. */
static inline uint32_t wlgen_churn_step(rng_xorshift *r, uint32_t slots, int large,
                                        uint64_t *npages)
{
    uint32_t i = (uint32_t)rng_xorshift_below(r, slots);
    *npages = wlgen_size(r, large);
    return i;
}

/* W2's permutations: WLGEN_W2_ROUNDS shuffles of [0, WLGEN_W2_PAGES) into
 * perm (WLGEN_W2_ROUNDS * WLGEN_W2_PAGES entries), round after round.
 * When digest is not NULL, every swap index drawn is folded into it
 * (wlgen_fold), as the backed benchmarks' sequence digest does. */
void wlgen_w2_permutations(rng_xorshift *r, uint32_t *perm, uint64_t *digest);

/* ---- the checksum ------------------------------------------------------ */

#define WLGEN_FNV_OFFSET 0xcbf29ce484222325ull
#define WLGEN_FNV_PRIME  0x100000001b3ull

/* One value folded into an FNV-1a style checksum (a whole 64-bit word at
 * a time, as Go's side does). */
static inline uint64_t wlgen_fold(uint64_t h, uint64_t v)
{
    return (h ^ v) * WLGEN_FNV_PRIME;
}

#endif /* PAGEALLOC_WORKLOADS_WLGEN_H */
