/*
 * wlcore.h - the core workloads W1-W4 (wlgen.h) replayed on a bare page
 * allocator, with the checksum Go must agree with.
 *
 * Used by bench/core.c (timed, raw and locked variants) and by the
 * conformance test test_bench_checksums (once, untimed, asserting the
 * checksums). Each run builds its own unbacked pagealloc: nchunks 4 MiB
 * chunks grown at WLCORE_BASE, every page free and not scavenged, the
 * state of Go's NewPageAlloc(chunks, scav=nil). Every allocation result,
 * untimed fills included, is folded in program order into the checksum
 * (wlgen_fold of the page offset from WLCORE_BASE, all ones for a failed
 * allocation); a correct port yields wlgen_table[w].go_checksum.
 *
 * The draws come from wlgen.h; the loops here only add what a bare
 * allocator needs (the slots' sizes for frees, the page cache of W4, an
 * optional lock around each allocator call, the clock around the timed
 * part, an optional trace of every allocation).
 */
#ifndef PAGEALLOC_WORKLOADS_WLCORE_H
#define PAGEALLOC_WORKLOADS_WLCORE_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <pagealloc/pagealloc.h>

#include "wlgen.h"

/* 0xc000 chunks of 4 MiB: the base address Go's page allocator tests use. */
#define WLCORE_BASE ((uintptr_t)0xc000 * PAGEALLOC_CHUNK_SIZE)

typedef struct wlcore_options {
    /* NULL: raw. Otherwise taken and released around every allocator call
     * (alloc, free, alloc_to_cache; not the page cache's own alloc). */
    pthread_mutex_t *lock;
    int   timed;             /* nonzero: measure the timed part */
    FILE *trace;             /* non-NULL: one "index npages offset" line per
                                allocation (offset -1 when it failed) */
    /* Nonzero: run `steps` units of the timed part instead of the
     * workload's own count (W1/W3 steps, W2 rounds, W4 allocations; 0 is
     * the set-up alone). The checksum is then not Go's table's; the point
     * is bench/profile.sh, which subtracts a run of 0 steps from a full
     * one to count the instructions of the timed part alone. W2 still
     * draws all five permutations, so its first rounds are the full run's. */
    int      steps_set;
    uint64_t steps;
} wlcore_options;

typedef struct wlcore_result {
    uint64_t checksum;
    uint64_t ns;             /* nanoseconds in the timed part (0 untimed) */
    uint64_t units;          /* metric units done (wlgen_table[w].units) */
} wlcore_result;

/* Run workload w once (opts may be NULL: raw, untimed, no trace). Returns
 * 0, or an errno value when the heap cannot be built (allocator or malloc
 * failure); *out is filled on success. */
int wlcore_run(enum wlgen_id w, const wlcore_options *opts, wlcore_result *out);

#endif /* PAGEALLOC_WORKLOADS_WLCORE_H */
