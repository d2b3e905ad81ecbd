/*
 * pa_workloads.h - the core benchmark workloads W1-W4 of BENCHMARKS.md,
 * replayed on an unbacked pagealloc.
 *
 * Shared by bench/core.c (timed, raw and locked) and the conformance test
 * test_bench_checksums.c (once, untimed). Each run builds its own heap:
 * nchunks 4 MiB chunks grown at PA_WL_BASE (Go's BaseChunkIdx), all pages
 * free and not scavenged, like Go's NewPageAlloc(chunks, scav=nil). Every
 * allocation result, untimed fills included, is folded in program order
 * into FNV-1a over its page offset from PA_WL_BASE (all ones for a failed
 * allocation); a correct port yields exactly Go 1.19's checksums, which
 * pa_wl_table carries.
 */
#ifndef PA_WORKLOADS_H
#define PA_WORKLOADS_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <pagealloc/pagealloc.h>

/* 0xc000 chunks of 4 MiB: the base address Go's page allocator tests use. */
#define PA_WL_BASE ((uintptr_t)0xc000 * PAGEALLOC_CHUNK_SIZE)

enum pa_wl_id { PA_WL_W1, PA_WL_W2, PA_WL_W3, PA_WL_W4, PA_WL_COUNT };

typedef struct pa_wl_info {
    const char *name;        /* "W1".."W4" */
    const char *title;       /* "churn", "single pages", ... */
    const char *unit;        /* metric unit: "pair", "op", "alloc" */
    unsigned    nchunks;     /* heap size in chunks */
    uint64_t    units;       /* metric units in the timed part */
    uint64_t    go_checksum; /* Go 1.19's checksum (BENCHMARKS.md) */
} pa_wl_info;

extern const pa_wl_info pa_wl_table[PA_WL_COUNT];

typedef struct pa_wl_options {
    /* NULL: raw. Otherwise taken and released around every allocator call
     * (alloc, free, alloc_to_cache; not the page cache's own alloc). */
    pthread_mutex_t *lock;
    int   timed;             /* nonzero: measure the timed part */
    FILE *trace;             /* non-NULL: one "index npages offset" line per
                                allocation (offset -1 when it failed) */
} pa_wl_options;

typedef struct pa_wl_result {
    uint64_t checksum;
    uint64_t ns;             /* nanoseconds in the timed part (0 untimed) */
    uint64_t units;          /* metric units done (pa_wl_table[w].units) */
} pa_wl_result;

/* Run workload w once. Returns 0, or an errno value when the heap cannot
 * be built (allocator or malloc failure); *out is filled on success. */
int pa_wl_run(enum pa_wl_id w, const pa_wl_options *opts, pa_wl_result *out);

/* Workload by name ("W1", case-insensitive); PA_WL_COUNT if unknown. */
enum pa_wl_id pa_wl_lookup(const char *name);

#endif /* PA_WORKLOADS_H */
