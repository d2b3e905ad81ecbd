/*
 * test_model_random.c - millions of random operations on pagealloc, every
 * answer compared with the simple reference model (tests/support/pa_model.c),
 * the sequences made by tests/support/pa_gen.c.
 *
 * Each test runs random sequences (pa_gen_run) on fresh allocators in
 * unbacked mode until its share of the operation budget is used: grows
 * (one chunk, contiguous chunks, ranges far apart grown in random order, a
 * large range, up to 60 small ranges), allocs of 1 page to several chunks
 * (and a few impossible sizes), frees (marking and test frees, whole or
 * partial), page caches (alloc_to_cache, cache allocs, flush), scavenges
 * of random sizes and a few invalid grows. Every answer is compared; every
 * 500 operations so are the bounds, the in-use ranges, both bitmaps of
 * every chunk, the stats and pagealloc_check. The first run of each test
 * runs at check level 2 (pagealloc_check after every call).
 *
 * At scale 1: about 12 million operations, 15-20 s at -O2.
 *
 * Environment:
 *   PAGEALLOC_TEST_SEED=N     seed (printed at start and on failure)
 *   PAGEALLOC_TEST_SCALE=F    multiply the operation budget
 *   PAGEALLOC_UNDER_VALGRIND  (and sanitizer builds) scale it down
 *   PAGEALLOC_TEST_REPLAY=F   instead, run the op file F (written on
 *                             failure) and report the first difference;
 *   PAGEALLOC_TEST_MINIMIZE=1 with REPLAY: shrink F to a minimal failing
 *                             sequence, written to F.min
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pa_gen.h"

/* Operations (over all tests) at scale 1: about 12 million. */
#define TOTAL_OPS 12000000.0

static uint64_t g_seed;
static double   g_scale;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct suite {
    const char *name;
    double      share;          /* of TOTAL_OPS */
    size_t      phys[2];        /* chosen at random per run */
    size_t      huge[2];        /* 0 = none */
    int         geo;            /* -1 = random */
} suite;

static const char *const geo_names[] = {"one-chunk", "contiguous", "split", "big", "many"};

static void run_suite(const suite *s, unsigned idx)
{
    rng_xoshiro rng;
    rng_xoshiro_seed(&rng, g_seed ^ (0x9e3779b97f4a7c15ull * (idx + 1)));
    uint64_t budget = (uint64_t)(TOTAL_OPS * s->share * g_scale);
    if (budget < 2000)
        budget = 2000;
    uint64_t done = 0, runs = 0, counts[PA_OP_SEARCHADDR + 1] = {0}, fails = 0, scav = 0;
    double t0 = now();
    char err[2048];
    while (done < budget) {
        pa_gen_config cfg;
        memset(&cfg, 0, sizeof cfg);
        unsigned pick = (unsigned)rng_xoshiro_below(&rng, 2);
        cfg.phys_page_size = s->phys[pick];
        cfg.huge_page_size = s->huge[pick];
        cfg.geometry = s->geo >= 0 ? s->geo : (int)rng_xoshiro_below(&rng, PA_GEO_COUNT);
        cfg.nops = rng_xoshiro_range(&rng, 2000, 40000);
        if (cfg.nops > budget - done)
            cfg.nops = budget - done < 500 ? 500 : budget - done;
        cfg.check_every = 500;
        cfg.go_compatible = 0;
        /* The first run of each test also has pagealloc check all its
         * invariants after every call (check level 2). */
        int level = pagealloc_get_check_level();
        if (runs == 0) {
            pagealloc_set_check_level(2);
            if (cfg.nops > 3000)
                cfg.nops = 3000;
        }
        pa_gen_result res;
        int rc = pa_gen_run(&rng, &cfg, 0, &res, err, sizeof err);
        pagealloc_set_check_level(level);
        if (rc != 0) {
            char path[256];
            snprintf(path, sizeof path, "model_random_fail_%016" PRIx64 "_%s.ops", g_seed, s->name);
            int w = pa_ops_write(path, res.ops, res.nops);
            fprintf(stderr, "\n[%s] seed 0x%016" PRIx64 " run %" PRIu64
                    " (phys %zu, huge %zu, %s%s): pagealloc and the model disagree at %s\n",
                    s->name, g_seed, runs, cfg.phys_page_size, cfg.huge_page_size,
                    geo_names[cfg.geometry], runs == 0 ? ", check level 2" : "", err);
            size_t from = res.nops > 15 ? res.nops - 15 : 0;
            fprintf(stderr, "last operations:\n");
            for (size_t i = from; i < res.nops; i++) {
                char line[128];
                pa_op_format(&res.ops[i], line, sizeof line);
                fprintf(stderr, "  #%zu %s\n", i, line);
            }
            if (w == 0)
                fprintf(stderr, "sequence written to %s; replay with PAGEALLOC_TEST_REPLAY=%s "
                        "(PAGEALLOC_TEST_MINIMIZE=1 to shrink it); rerun with "
                        "PAGEALLOC_TEST_SEED=0x%016" PRIx64 "\n", path, path, g_seed);
            pa_gen_result_free(&res);
            fail_msg("%s: seed 0x%016" PRIx64 ": %s", s->name, g_seed, err);
        }
        done += cfg.nops;
        runs++;
        for (int k = 0; k <= PA_OP_SEARCHADDR; k++)
            counts[k] += res.counts[k];
        fails += res.alloc_fail;
        scav += res.scav_bytes;
        pa_gen_result_free(&res);
    }
    double dt = now() - t0;
    uint64_t total = 0;
    for (int k = 0; k <= PA_OP_SEARCHADDR; k++)
        total += counts[k];
    printf("[%s] %" PRIu64 " runs, %" PRIu64 " ops in %.2f s: grow %" PRIu64 " alloc %" PRIu64
           " (failed %" PRIu64 ") free %" PRIu64 " tfree %" PRIu64 " cache %" PRIu64 " calloc %" PRIu64
           " flush %" PRIu64 " scav %" PRIu64 " (%.1f GiB released) check %" PRIu64 "\n",
           s->name, runs, total, dt, counts[PA_OP_GROW], counts[PA_OP_ALLOC], fails,
           counts[PA_OP_FREE], counts[PA_OP_TFREE], counts[PA_OP_CACHE], counts[PA_OP_CALLOC],
           counts[PA_OP_FLUSH], counts[PA_OP_SCAV], (double)scav / (1 << 30), counts[PA_OP_CHECK]);
    fflush(stdout);
}

#define MB2 ((size_t)2 << 20)
static const suite suites[] = {
    {"one_chunk",      0.14, {4096, 4096},   {MB2, MB2}, PA_GEO_ONE},
    {"contiguous",     0.16, {4096, 4096},   {MB2, MB2}, PA_GEO_CONTIG},
    {"discontiguous",  0.16, {4096, 4096},   {MB2, MB2}, PA_GEO_SPLIT},
    {"big",            0.10, {4096, 4096},   {MB2, MB2}, PA_GEO_BIG},
    {"many_ranges",    0.08, {4096, 4096},   {MB2, MB2}, PA_GEO_MANY},
    {"no_huge_pages",  0.12, {4096, 4096},   {0, 0},     -1},
    {"phys_16k",       0.12, {16384, 16384}, {MB2, 0},   -1},
    {"phys_64k",       0.12, {65536, 65536}, {MB2, 0},   -1},
};

static void test_one_chunk(void **st)     { (void)st; run_suite(&suites[0], 0); }
static void test_contiguous(void **st)    { (void)st; run_suite(&suites[1], 1); }
static void test_discontiguous(void **st) { (void)st; run_suite(&suites[2], 2); }
static void test_big(void **st)           { (void)st; run_suite(&suites[3], 3); }
static void test_many_ranges(void **st)   { (void)st; run_suite(&suites[4], 4); }
static void test_no_huge_pages(void **st) { (void)st; run_suite(&suites[5], 5); }
static void test_phys_16k(void **st)      { (void)st; run_suite(&suites[6], 6); }
static void test_phys_64k(void **st)      { (void)st; run_suite(&suites[7], 7); }

/* ---- replay and minimisation (pa_runner.h) ------------------------- */

static void test_replay(void **st)
{
    (void)st;
    const char *path = getenv("PAGEALLOC_TEST_REPLAY");
    pa_op *ops;
    size_t n;
    char msg[2048];
    if (pa_ops_read(path, &ops, &n, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    const char *mz = getenv("PAGEALLOC_TEST_MINIMIZE");
    if (mz && *mz && strcmp(mz, "0") != 0) {
        size_t before = n;
        n = pa_minimize(ops, n);
        char out[4096];
        snprintf(out, sizeof out, "%s.min", path);
        pa_ops_write(out, ops, n);
        printf("minimized %zu -> %zu operations, written to %s\n", before, n, out);
    }
    size_t at = pa_replay(ops, n, msg, sizeof msg, stdout);
    if (at < n) {
        char line[128];
        pa_op_format(&ops[at], line, sizeof line);
        free(ops);
        fail_msg("op #%zu `%s`: %s", at, line, msg);
    }
    free(ops);
    printf("%zu operations: pagealloc and the model agree\n", n);
}

int main(void)
{
    g_seed = pa_test_seed();
    g_scale = pa_test_scale();
    printf("test_model_random: seed 0x%016" PRIx64 " (PAGEALLOC_TEST_SEED), scale %.3g\n",
           g_seed, g_scale);
    fflush(stdout);
    const char *rp = getenv("PAGEALLOC_TEST_REPLAY");
    if (rp && *rp) {
        const struct CMUnitTest t[] = {cmocka_unit_test(test_replay)};
        return cmocka_run_group_tests(t, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_chunk),
        cmocka_unit_test(test_contiguous),
        cmocka_unit_test(test_discontiguous),
        cmocka_unit_test(test_big),
        cmocka_unit_test(test_many_ranges),
        cmocka_unit_test(test_no_huge_pages),
        cmocka_unit_test(test_phys_16k),
        cmocka_unit_test(test_phys_64k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
