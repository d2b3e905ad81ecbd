/*
 * pagealloc - the command-line tool: shows what the allocator does.
 *
 *   pagealloc run [--chunks N] [--steps N] [--seed N] [--json]
 *       Grows a real (backed) heap through the OS-memory layer, runs a
 *       churn of allocations that write into every page they get, frees
 *       everything, returns the free memory to the OS, and reports at each
 *       stage what the allocator holds and what the kernel sees (RSS).
 *
 * Exit codes: 0 success; 1 a stage failed (the message says which);
 * 2 bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pagealloc/pagealloc.h>
#include <pagealloc/sysmem.h>

typedef struct run_opts {
    unsigned chunks;
    unsigned long steps;
    uint64_t seed;
    int json;
} run_opts;

static uint64_t rng_state;
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Sizes of BENCHMARKS.md's churn: 1 | U[2,8] | U[9,64] | U[65,512] pages. */
static size_t churn_size(void)
{
    uint64_t p = rng_next() % 100;
    if (p < 50) return 1;
    if (p < 85) return 2 + rng_next() % 7;
    if (p < 98) return 9 + rng_next() % 56;
    return 65 + rng_next() % 448;
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    return (uint64_t)resident * caps.page_size;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int stage_count;

static void report(const run_opts *o, pagealloc *pa, const char *stage)
{
    pagealloc_stats st = { .version = PAGEALLOC_STATS_VERSION };
    pagealloc_get_stats(pa, &st);
    sysmem_totals t;
    sysmem_get_totals(&t);
    uint64_t used = st.heap_bytes - st.free_bytes;
    if (o->json) {
        printf("%s{\"stage\":\"%s\",\"heap\":%" PRIu64 ",\"in_use\":%" PRIu64
               ",\"free\":%" PRIu64 ",\"released\":%" PRIu64 ",\"metadata\":%" PRIu64
               ",\"os_reserved\":%" PRIu64 ",\"os_prepared\":%" PRIu64 ",\"os_ready\":%" PRIu64
               ",\"rss\":%" PRIu64 "}",
               stage_count++ ? ",\n " : "[", stage, st.heap_bytes, used, st.free_bytes,
               st.scavenged_bytes, st.metadata_bytes, t.reserved, t.prepared, t.ready,
               rss_bytes());
        return;
    }
    printf("%-22s %9.1f %9.1f %9.1f %9.1f | %9.1f %9.1f %9.1f | %9.1f\n", stage,
           used / 1048576.0, st.free_bytes / 1048576.0, st.scavenged_bytes / 1048576.0,
           st.metadata_bytes / 1048576.0, t.reserved / 1048576.0, t.prepared / 1048576.0,
           t.ready / 1048576.0, rss_bytes() / 1048576.0);
}

static int fail(const char *what, int err)
{
    fprintf(stderr, "pagealloc run: %s: %s\n", what, strerror(err));
    return 1;
}

static int cmd_run(const run_opts *o)
{
    size_t heap = (size_t)o->chunks * PAGEALLOC_CHUNK_SIZE;
    void *base;
    int err = sysmem_reserve(NULL, heap + PAGEALLOC_CHUNK_SIZE, &base);
    if (err)
        return fail("reserve address space", err);
    /* Chunk-align the heap inside the reservation; give back the rest. */
    uintptr_t b = ((uintptr_t)base + PAGEALLOC_CHUNK_SIZE - 1) & ~(uintptr_t)(PAGEALLOC_CHUNK_SIZE - 1);
    sysmem_stat heap_stat = { 0 };
    if (b > (uintptr_t)base)
        sysmem_free(base, b - (uintptr_t)base, &heap_stat);
    if ((uintptr_t)base + heap + PAGEALLOC_CHUNK_SIZE > b + heap)
        sysmem_free((void *)(b + heap), (uintptr_t)base + PAGEALLOC_CHUNK_SIZE - b, &heap_stat);
    if ((err = sysmem_map((void *)b, heap, &heap_stat)) != 0)
        return fail("map the heap", err);

    pagealloc *pa = pagealloc_new(NULL);
    if (!pa)
        return fail("create the allocator", errno);
    if (!o->json)
        printf("%-22s %9s %9s %9s %9s | %9s %9s %9s | %9s\n", "stage (MiB)", "in use",
               "free", "released", "metadata", "reserved", "prepared", "ready", "rss");
    if ((err = pagealloc_grow(pa, b, heap)) != 0)
        return fail("grow the allocator", err);
    report(o, pa, "grown");

    enum { LIVE = 1024 };
    uintptr_t live[LIVE] = { 0 };
    size_t live_n[LIVE] = { 0 };
    rng_state = o->seed;
    unsigned long fails = 0;
    double t0 = now_s();
    for (unsigned long step = 0; step < o->steps; step++) {
        unsigned i = (unsigned)(rng_next() % LIVE);
        if (live[i])
            pagealloc_free(pa, live[i], live_n[i]);
        size_t n = churn_size(), scav;
        uintptr_t p = pagealloc_alloc(pa, n, &scav);
        live[i] = p;
        live_n[i] = n;
        if (!p) {
            fails++;
            continue;
        }
        /* Released pages must be made Ready before they are touched. */
        if (scav && (err = sysmem_used((void *)p, n * PAGEALLOC_PAGE_SIZE)) != 0)
            return fail("make pages ready", err);
        for (size_t k = 0; k < n; k++)
            ((volatile char *)p)[k * PAGEALLOC_PAGE_SIZE] = (char)step;
    }
    double dt = now_s() - t0;
    report(o, pa, "after churn");

    for (unsigned i = 0; i < LIVE; i++)
        if (live[i])
            pagealloc_free(pa, live[i], live_n[i]);
    report(o, pa, "all freed");
    size_t released = pagealloc_scavenge(pa, SIZE_MAX);
    report(o, pa, "scavenged");

    char msg[256];
    int bad = pagealloc_check(pa, msg, sizeof(msg));
    if (o->json)
        printf("]\n");
    else
        printf("\n%lu steps in %.3f s (%.0f ns per free+alloc pair, writes included), "
               "%lu failed allocations, %.1f MiB released, checker: %s\n",
               o->steps, dt, dt * 1e9 / (double)o->steps, fails, released / 1048576.0,
               bad ? msg : "ok");
    pagealloc_delete(pa);
    sysmem_free((void *)b, heap, &heap_stat);
    return bad ? 1 : 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: pagealloc run [--chunks N] [--steps N] [--seed N] [--json]\n"
            "\n"
            "  run     grow a real heap, churn allocations that touch their pages,\n"
            "          free everything, release free memory to the OS, and show at\n"
            "          each stage the allocator's and the kernel's view of memory.\n"
            "          --chunks N  heap size in 4 MiB chunks (default 64)\n"
            "          --steps N   free+alloc pairs (default 200000)\n"
            "          --seed N    random seed (default 42)\n"
            "          --json      machine-readable output\n"
            "\n"
            "exit codes: 0 success, 1 a stage failed, 2 bad usage\n");
}

static int parse_num(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 0);
    return errno || *end || end == s ? -1 : 0;
}

int main(int argc, char **argv)
{
    run_opts o = { .chunks = 64, .steps = 200000, .seed = 42, .json = 0 };
    int i = 1;
    if (i < argc && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (i < argc && !strcmp(argv[i], "run"))
        i++;
    else if (i < argc) {
        fprintf(stderr, "pagealloc: unknown command '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    for (; i < argc; i++) {
        unsigned long long v;
        if (!strcmp(argv[i], "--json")) {
            o.json = 1;
        } else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (i + 1 < argc && !parse_num(argv[i + 1], &v) &&
                   (!strcmp(argv[i], "--chunks") || !strcmp(argv[i], "--steps") ||
                    !strcmp(argv[i], "--seed"))) {
            if (!strcmp(argv[i], "--chunks")) {
                if (v == 0 || v > 65536) {
                    fprintf(stderr, "pagealloc run: --chunks must be 1..65536\n");
                    return 2;
                }
                o.chunks = (unsigned)v;
            } else if (!strcmp(argv[i], "--steps")) {
                o.steps = (unsigned long)v;
            } else {
                o.seed = v ? v : 42;
            }
            i++;
        } else {
            fprintf(stderr, "pagealloc run: bad option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    return cmd_run(&o);
}
