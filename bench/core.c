/*
 * core.c - pagealloc-bench-core: the core benchmarks W1-W4 (workloads/wlgen.h)
 * on an unbacked pagealloc, in two variants:
 *   raw     no lock around allocator calls;
 *   locked  a pthread mutex taken and released around every allocator call
 *           (alloc, free, alloc_to_cache), standing in for the heap lock;
 *           compare with Go's per-call test hooks.
 * One line per (workload, variant, repetition), the same format as the Go
 * side (bench/go/core_bench_test.go):
 *   core W1  pagealloc raw           95.12 ns/pair  0x22d484c38fec00c0 ok
 * --json prints one JSON document instead. Every checksum must equal Go
 * 1.19's (wlgen_table); a mismatch is reported loudly and the exit status
 * is 1. bench/run.sh runs this next to Go and reports the ratios.
 * --steps N replaces the timed part's length (W1/W3 steps, W2 rounds, W4
 * allocations; 0: set-up only) for bench/profile.sh's instruction counts;
 * the checksum is then not checked (status "unchecked").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wlcore.h"

enum { VARIANT_RAW, VARIANT_LOCKED, VARIANT_COUNT };
static const char *const variant_names[VARIANT_COUNT] = {"raw", "locked"};

#define MAX_REPEAT 1000

typedef struct {
    double   ns_per_unit[MAX_REPEAT];
    uint64_t checksum;   /* of the last repetition */
    int      runs;
    int      mismatches;
} cell;

static cell cells[WLGEN_COUNT][VARIANT_COUNT];

static void usage(FILE *f)
{
    fprintf(f,
        "usage: pagealloc-bench-core [--json] [--repeat N] [--only W1,W3] [--variant raw|locked]\n"
        "                            [--steps N]\n"
        "       pagealloc-bench-core --trace DIR [--only W1,...]\n"
        "  W1 churn, W2 single pages, W3 large, W4 page cache (docs/workloads.md), on an\n"
        "  unbacked pagealloc; variants raw (no lock) and locked (mutex per call).\n"
        "  --trace writes DIR/W<n>.trace, one 'index npages offset' line per allocation,\n"
        "  to compare with Go's sequence (bench/README.md).\n"
        "  --steps N: N W1/W3 steps, W2 rounds or W4 allocations instead of the workload's\n"
        "  own (0: set-up only; checksums unchecked), for bench/profile.sh.\n");
}

static int parse_only(const char *arg, int selected[WLGEN_COUNT])
{
    char buf[256];
    if (strlen(arg) >= sizeof buf)
        return -1;
    strcpy(buf, arg);
    memset(selected, 0, WLGEN_COUNT * sizeof *selected);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        enum wlgen_id w = wlgen_lookup(tok);
        if (w == WLGEN_COUNT) {
            fprintf(stderr, "pagealloc-bench-core: unknown workload '%s'\n", tok);
            return -1;
        }
        selected[w] = 1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n, double *min, double *max)
{
    double s[MAX_REPEAT];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    *min = s[0];
    *max = s[n - 1];
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void print_json(const int selected[WLGEN_COUNT], const int variants[VARIANT_COUNT], int repeat)
{
    printf("{\n  \"benchmark\": \"core\",\n  \"implementation\": \"pagealloc\",\n"
           "  \"repeat\": %d,\n  \"results\": [", repeat);
    const char *sep = "\n";
    for (int w = 0; w < WLGEN_COUNT; w++) {
        if (!selected[w])
            continue;
        for (int v = 0; v < VARIANT_COUNT; v++) {
            const cell *c = &cells[w][v];
            if (!variants[v] || c->runs == 0)
                continue;
            double lo, hi, med = median(c->ns_per_unit, c->runs, &lo, &hi);
            printf("%s    {\"workload\": \"%s\", \"title\": \"%s\", \"variant\": \"%s\", "
                   "\"unit\": \"%s\", \"units\": %" PRIu64 ", \"ns_per_unit\": [",
                   sep, wlgen_table[w].name, wlgen_table[w].title, variant_names[v],
                   wlgen_table[w].unit, wlgen_table[w].units);
            for (int i = 0; i < c->runs; i++)
                printf("%s%.3f", i ? ", " : "", c->ns_per_unit[i]);
            printf("], \"median\": %.3f, \"min\": %.3f, \"max\": %.3f, "
                   "\"checksum\": \"0x%016" PRIx64 "\", \"expected\": \"0x%016" PRIx64 "\", "
                   "\"ok\": %s}",
                   med, lo, hi, c->checksum, wlgen_table[w].go_checksum,
                   c->mismatches ? "false" : "true");
            sep = ",\n";
        }
    }
    printf("\n  ]\n}\n");
}

static int write_traces(const char *dir, const int selected[WLGEN_COUNT])
{
    int status = 0;
    for (int w = 0; w < WLGEN_COUNT; w++) {
        if (!selected[w])
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.trace", dir, wlgen_table[w].name);
        FILE *f = fopen(path, "w");
        if (!f) {
            fprintf(stderr, "pagealloc-bench-core: %s: %s\n", path, strerror(errno));
            return 2;
        }
        wlcore_options opts = {.trace = f};
        wlcore_result r;
        int rc = wlcore_run((enum wlgen_id)w, &opts, &r);
        fclose(f);
        if (rc) {
            fprintf(stderr, "pagealloc-bench-core: %s: %s\n", wlgen_table[w].name, strerror(rc));
            return 2;
        }
        int ok = r.checksum == wlgen_table[w].go_checksum;
        printf("trace %s: %s, checksum 0x%016" PRIx64 " %s\n", wlgen_table[w].name, path,
               r.checksum, ok ? "ok" : "MISMATCH");
        if (!ok)
            status = 1;
    }
    return status;
}

int main(int argc, char **argv)
{
    int json = 0, repeat = 1;
    int selected[WLGEN_COUNT] = {1, 1, 1, 1};
    int variants[VARIANT_COUNT] = {1, 1};
    const char *trace_dir = NULL;
    int steps_set = 0;
    uint64_t steps = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--repeat") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > MAX_REPEAT) {
                fprintf(stderr, "pagealloc-bench-core: --repeat wants 1..%d\n", MAX_REPEAT);
                return 2;
            }
            repeat = (int)n;
        } else if (strcmp(a, "--only") == 0 && i + 1 < argc) {
            if (parse_only(argv[++i], selected))
                return 2;
        } else if (strcmp(a, "--variant") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            variants[VARIANT_RAW] = strcmp(v, "raw") == 0;
            variants[VARIANT_LOCKED] = strcmp(v, "locked") == 0;
            if (!variants[VARIANT_RAW] && !variants[VARIANT_LOCKED]) {
                fprintf(stderr, "pagealloc-bench-core: --variant raw|locked\n");
                return 2;
            }
        } else if (strcmp(a, "--steps") == 0 && i + 1 < argc) {
            char *end;
            unsigned long long n = strtoull(argv[++i], &end, 10);
            if (*end || argv[i][0] == '-' || argv[i][0] == '\0') {
                fprintf(stderr, "pagealloc-bench-core: --steps wants a count (0: set-up only)\n");
                return 2;
            }
            steps_set = 1;
            steps = n;
        } else if (strcmp(a, "--trace") == 0 && i + 1 < argc) {
            trace_dir = argv[++i];
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (trace_dir)
        return write_traces(trace_dir, selected);

    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    int mismatches = 0;
    /* Repetitions outermost, so machine noise spreads over every cell. */
    for (int rep = 0; rep < repeat; rep++) {
        for (int w = 0; w < WLGEN_COUNT; w++) {
            if (!selected[w])
                continue;
            for (int v = 0; v < VARIANT_COUNT; v++) {
                if (!variants[v])
                    continue;
                wlcore_options opts = {.lock = v == VARIANT_LOCKED ? &lock : NULL, .timed = 1,
                                       .steps_set = steps_set, .steps = steps};
                wlcore_result r;
                int rc = wlcore_run((enum wlgen_id)w, &opts, &r);
                if (rc) {
                    fprintf(stderr, "pagealloc-bench-core: %s %s: %s\n", wlgen_table[w].name,
                            variant_names[v], strerror(rc));
                    return 2;
                }
                cell *c = &cells[w][v];
                double ns = r.units ? (double)r.ns / (double)r.units : 0.0;
                /* Another length draws another sequence: nothing to check. */
                int ok = steps_set || r.checksum == wlgen_table[w].go_checksum;
                c->ns_per_unit[c->runs++] = ns;
                c->checksum = r.checksum;
                if (!ok) {
                    c->mismatches++;
                    mismatches++;
                    fprintf(stderr,
                            "pagealloc-bench-core: *** MISMATCH *** %s (%s) %s: checksum 0x%016" PRIx64
                            ", Go 1.19 gives 0x%016" PRIx64 "\n",
                            wlgen_table[w].name, wlgen_table[w].title, variant_names[v],
                            r.checksum, wlgen_table[w].go_checksum);
                }
                if (!json) {
                    printf("core %-3s %-9s %-9s %10.2f ns/%-5s 0x%016" PRIx64 " %s\n",
                           wlgen_table[w].name, "pagealloc", variant_names[v], ns,
                           wlgen_table[w].unit, r.checksum,
                           steps_set ? "unchecked" : ok ? "ok" : "MISMATCH");
                    fflush(stdout);
                }
            }
        }
    }
    if (json)
        print_json(selected, variants, repeat);
    if (mismatches)
        fprintf(stderr, "pagealloc-bench-core: *** %d checksum MISMATCH(es): our allocator does "
                        "not return Go's addresses ***\n", mismatches);
    return mismatches ? 1 : 0;
}
