/*
 * wlgen.c - the table of the core workloads and W2's permutations, the two
 * parts of wlgen.h that are data or too long to be inline.
 *
 * The table is what the benchmarks print and the conformance test asserts:
 * per workload its name, unit, heap size, timed units and the checksum Go
 * 1.19 computes for it (bench/go/core_bench_test.go holds the same
 * figures on the Go side). The permutations are drawn before W2's timed
 * part, so a call here costs the benchmark nothing.
 */
#include "wlgen.h"

#include <stddef.h>
#include <strings.h>

const wlgen_info wlgen_table[WLGEN_COUNT] = {
    [WLGEN_W1] = {"W1", "churn",
                  "churn: 4096 slots, 1,000,000 free+alloc pairs of 1-512 pages",
                  "pair", 1024, WLGEN_W1_STEPS, 0x22d484c38fec00c0ull},
    [WLGEN_W2] = {"W2", "single pages",
                  "single pages: 5 rounds of 200,000 allocations, freed shuffled",
                  "op", 1024, 2ull * WLGEN_W2_ROUNDS * WLGEN_W2_PAGES, 0x5b1496976f15d0e5ull},
    [WLGEN_W3] = {"W3", "large",
                  "large: 64 slots, 100,000 free+alloc pairs of 512-4096 pages",
                  "pair", 2048, WLGEN_W3_STEPS, 0x31f058bcd029b8b0ull},
    [WLGEN_W4] = {"W4", "page cache",
                  "page cache: 1,000,000 one-page allocations, freed in batches of 8192",
                  "alloc", 1024, WLGEN_W4_TOTAL, 0xcf63cb6ae055f4e5ull},
};

enum wlgen_id wlgen_lookup(const char *name)
{
    for (int w = 0; w < WLGEN_COUNT; w++)
        if (strcasecmp(name, wlgen_table[w].name) == 0)
            return (enum wlgen_id)w;
    return WLGEN_COUNT;
}

void wlgen_w2_permutations(rng_xorshift *r, uint32_t *perm, uint64_t *digest)
{
    for (unsigned round = 0; round < WLGEN_W2_ROUNDS; round++) {
        uint32_t *p = perm + (size_t)round * WLGEN_W2_PAGES;
        for (uint32_t i = 0; i < WLGEN_W2_PAGES; i++)
            p[i] = i;
        for (uint32_t j = WLGEN_W2_PAGES - 1; j >= 1; j--) {
            uint32_t k = (uint32_t)rng_xorshift_below(r, (uint64_t)j + 1);
            uint32_t t = p[j];
            p[j] = p[k];
            p[k] = t;
            if (digest)
                *digest = wlgen_fold(*digest, k);
        }
    }
}
