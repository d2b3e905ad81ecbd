/*
 * job.c - the replay shared by run, trace and map (job.h).
 */
#include "job.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "coro.h"
#include "engine.h"
#include "heapmap.h"
#include "summary.h"

const char job_workload_help[] =
    "workload options:\n"
    "  --workload NAME      churn (default): W1's page-count mix on 1024 slots, the\n"
    "                       live set rising and falling between 10 % and 100 %\n"
    "                       (about 100 MiB per thread) over the run;\n"
    "                       W1, W2, W3, W4: docs/workloads.md's core workloads, exactly,\n"
    "                       on the real heap (W4's page cache is the heap's own);\n"
    "                       objects: small-object churn on pa_malloc (16 B-32 KiB\n"
    "                       skewed small, 0.5 % large), the live set rising and\n"
    "                       falling (about 100 MiB per thread at the top), the\n"
    "                       oldest objects dying first so spans empty;\n"
    "                       objects-xthread: producer/consumer on pa_malloc, each\n"
    "                       thread freeing the messages the previous one sent\n"
    "                       (remote frees); 2 threads unless --threads\n"
    "                       The object workloads use the process's allocator: --limit\n"
    "                       is a hard limit there, --shards and --scavenger-cpu do not\n"
    "                       apply, and the map colours spans by size class.\n"
    "                       coroutines: ucontext coroutines on pa_stack stacks\n"
    "                       (16 KiB-1 MiB), each touching a varying depth, made and\n"
    "                       ended in churn on 256 slots per thread; its summary has\n"
    "                       pairs per second, high-water marks, stacks live, cached\n"
    "                       and pooled, resident bytes; no heap map (run only)\n"
    "  --threads T          threads, 1..64 (default 1), each running its own copy of\n"
    "                       the workload (seeded SEED + thread) on the shared heap\n"
    "  --seconds S          stop each thread after S seconds\n"
    "  --steps N            stop each thread after N events (allocations, frees,\n"
    "                       releases)\n"
    "  --seed N             the generator's seed (default 42, docs/workloads.md's)\n";

void job_defaults(job_opts *o)
{
    memset(o, 0, sizeof *o);
    cli_heap_defaults(&o->heap);
    o->kind = WL_CHURN;
    o->threads = 1;
    o->seed = 42;
    o->scale = 1;
    o->text_map = -1;
}

int job_option(const char *cmd, int argc, char **argv, int *i, job_opts *o, int with_workload)
{
    const char *v;
    uint64_t u;
    int r = cli_heap_option(cmd, argc, argv, i, &o->heap);
    if (r)
        return r;
    if ((r = cli_option(cmd, argc, argv, i, "--steps", &v)) != 0) {
        if (r < 0 || cli_parse_u64(cmd, "--steps", v, 1, UINT64_MAX / 2, &o->steps))
            return -1;
        o->steps_set = 1;
        return 1;
    }
    if ((r = cli_option(cmd, argc, argv, i, "--seconds", &v)) != 0) {
        if (r < 0 || cli_parse_double(cmd, "--seconds", v, 0.001, 86400, &o->seconds))
            return -1;
        o->seconds_set = 1;
        return 1;
    }
    if (!with_workload)
        return 0;
    if ((r = cli_option(cmd, argc, argv, i, "--workload", &v)) != 0) {
        if (r < 0)
            return -1;
        o->kind = wl_lookup(v);
        if (o->kind == WL_KIND_COUNT) {
            cli_usage(cmd, "unknown workload '%s' (churn, W1, W2, W3, W4, objects, "
                           "objects-xthread, coroutines)", v);
            return -1;
        }
        return 1;
    }
    if ((r = cli_option(cmd, argc, argv, i, "--threads", &v)) != 0) {
        if (r < 0 || cli_parse_u64(cmd, "--threads", v, 1, JOB_MAX_THREADS, &u))
            return -1;
        o->threads = (unsigned)u;
        o->threads_set = 1;
        return 1;
    }
    if ((r = cli_option(cmd, argc, argv, i, "--seed", &v)) != 0) {
        if (r < 0 || cli_parse_u64(cmd, "--seed", v, 1, UINT64_MAX - JOB_MAX_THREADS, &o->seed))
            return -1;
        return 1;
    }
    return 0;
}

int job_output_option(const char *cmd, int argc, char **argv, int *i, job_opts *o,
                      const char *map_opt)
{
    const char *v;
    uint64_t u;
    int r;
    if (!strcmp(argv[*i], "--json")) {
        o->json = 1;
        return 1;
    }
    if (!strcmp(argv[*i], "--no-map")) {
        o->map_path = NULL;
        return 1;
    }
    if ((r = cli_option(cmd, argc, argv, i, map_opt, &v)) != 0) {
        if (r < 0)
            return -1;
        if (!*v) {
            cli_usage(cmd, "%s needs a file name", map_opt);
            return -1;
        }
        o->map_path = v;
        return 1;
    }
    if ((r = cli_option(cmd, argc, argv, i, "--scale", &v)) != 0) {
        if (r < 0 || cli_parse_u64(cmd, "--scale", v, 1, 16, &u))
            return -1;
        o->scale = (unsigned)u;
        return 1;
    }
    return 0;
}

/* ---- Streams ---------------------------------------------------------------------- */

static int gen_next(void *state, double progress, wl_event *ev)
{
    return wl_gen_next(state, progress, ev);
}

typedef struct trace_cursor {
    const trace *t;
    size_t pos;
} trace_cursor;

static int trace_next(void *state, double progress, wl_event *ev)
{
    (void)progress;
    trace_cursor *c = state;
    if (c->pos >= c->t->n)
        return 0;
    *ev = c->t->ev[c->pos++];
    return 1;
}

/* ---- Output ------------------------------------------------------------------------ */

static void print_map(const job_opts *o, const summary_info *si, const eng_result *r)
{
    char a[32], b[32];
    int colour = cli_stdout_tty() && !getenv("NO_COLOR");
    int text = o->text_map >= 0 ? o->text_map : cli_stdout_tty();
    printf("pagealloc map: %s", si->workload);
    if (si->title)
        printf(" (%s)", si->title);
    printf("\n  %llu events in %.3f s, %u thread%s; the heap at the end, live allocations "
           "held\n\n",
           (unsigned long long)r->events, r->seconds, si->threads, si->threads == 1 ? "" : "s");
    if (text) {
        heapmap_print_text(&r->map, stdout, colour);
        printf("\n");
    }
    heapmap_print_legend(stdout, colour);
    printf("\n  %zu chunks of 512 pages (%s):\n", r->map.n,
           cli_bytes(a, (uint64_t)r->map.n * PAGEALLOC_CHUNK_SIZE));
    static const unsigned order[] = { PAGEHEAP_PAGE_IN_USE, PAGEHEAP_PAGE_CACHED,
                                      PAGEHEAP_PAGE_FREE, PAGEHEAP_PAGE_RELEASED };
    for (unsigned k = 0; k < 4; k++)
        printf("    %-16s %9llu pages %12s\n", heapmap_state_name(order[k]),
               (unsigned long long)r->map.pages[order[k]],
               cli_bytes(b, r->map.pages[order[k]] * PAGEALLOC_PAGE_SIZE));
    printf("  fragmentation: %s free below the highest allocated page (%.1f %%)\n",
           cli_bytes(a, r->map.holes * PAGEALLOC_PAGE_SIZE),
           r->map.below ? 100.0 * (double)r->map.holes / (double)r->map.below : 0.0);
    if (r->map.by_class) {
        printf("  %llu spans of the object allocator; the PNG colours them by size class\n"
               "  (its other pages as the key's last line says, not as the legend above):\n",
               (unsigned long long)r->map.spans);
        heapmap_print_class_key(stdout, &r->map, 4);
    }
    if (si->map_path)
        printf("  heap map written to %s (%u x %u px)\n", si->map_path, si->map_width,
               si->map_height);
}

/* ---- The job ----------------------------------------------------------------------- */

/* An object workload's settings: threads, and the heap options passed to
 * the allocator through its environment. CLI_OK or CLI_USAGE (reported). */
static int objects_setup(const char *cmd, job_opts *o, cli_heap_opts *heap)
{
    if (o->kind == WL_OBJECTS_XTHREAD && !o->threads_set)
        o->threads = 2;
    if (o->kind == WL_OBJECTS_XTHREAD && o->threads < 2)
        return cli_usage(cmd, "objects-xthread needs 2 threads or more (frees go to the next "
                              "thread)");
    if (heap->heap.shards || heap->heap.scavenger_cpu_fraction > 0)
        return cli_usage(cmd, "--shards and --scavenger-cpu do not apply to the object "
                              "workloads (the process's allocator has its own page heap)");
    if (pa_malloc_pageheap())
        return CLI_OK;           /* already made: nothing more to pass on */
    char v[32];
    if (heap->heap.limit) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)heap->heap.limit);
        setenv("PAGEALLOC_MALLOC_LIMIT", v, 1);
        heap->heap.hard_limit = 1;           /* the allocator's limit is hard */
    }
    if (!heap->heap.background_scavenger)
        setenv("PAGEALLOC_MALLOC_SCAVENGER", "0", 1);
    return CLI_OK;
}

int job_run(const char *cmd, const job_opts *opts, job_print print)
{
    if (!opts->trace && wl_is_stacks(opts->kind)) {
        if (print != JOB_PRINT_SUMMARY)
            return cli_usage(cmd, "workload 'coroutines' runs on pa_stack stacks and has no "
                                  "heap map of its own: use pagealloc run");
        return coro_run(cmd, opts);
    }
    job_opts oo = *opts;
    const job_opts *o = &oo;
    int objects = !o->trace && wl_is_objects(o->kind);
    cli_heap_opts heap = o->heap;
    if (objects) {
        int u = objects_setup(cmd, &oo, &heap);
        if (u != CLI_OK)
            return u;
    }
    unsigned threads = o->trace ? 1 : o->threads;
    wl_gen *gens = calloc(threads, sizeof *gens);
    eng_source *srcs = calloc(threads, sizeof *srcs);
    trace_cursor cur = { .t = o->trace };
    int rc = CLI_OK;
    unsigned made = 0;
    if (!gens || !srcs) {
        fprintf(stderr, "pagealloc %s: out of memory\n", cmd);
        rc = CLI_FAIL;
        goto out;
    }
    if (o->trace) {
        srcs[0] = (eng_source){ .next = trace_next, .state = &cur, .slots = o->trace->slots,
                                .total = o->trace->n };
        made = 0;
    } else {
        for (; made < threads; made++) {
            int e = wl_gen_init(&gens[made], o->kind, o->seed + made);
            if (e) {
                fprintf(stderr, "pagealloc %s: %s\n", cmd, strerror(e));
                rc = CLI_FAIL;
                goto out;
            }
            srcs[made] = (eng_source){ .next = gen_next, .state = &gens[made],
                                       .slots = gens[made].slots, .total = gens[made].total };
        }
    }
    if (heap.touch < 0)          /* docs/workloads.md's core workloads touch no page */
        heap.touch = o->trace || o->kind == WL_CHURN || objects;
    eng_config c = {
        .opts = heap, .threads = threads, .sources = srcs, .max_events = o->steps,
        .seconds = o->seconds, .progress = !o->json && cli_stdout_tty(), .want_map = 1,
        .objects = objects,
    };
    eng_result r;
    char err[256];
    if ((rc = eng_run(&c, &r, err, sizeof err)) != CLI_OK) {
        fprintf(stderr, "pagealloc %s: %s\n", cmd, err);
        goto out;
    }

    summary_info si = {
        .command = cmd, .threads = threads, .opts = &heap,
        .workload = o->trace ? o->trace_name : wl_name(o->kind),
        .title = o->trace ? NULL : wl_title(o->kind),
    };
    char shown[PATH_MAX];
    if (o->map_path) {
        char perr[512];
        if (heapmap_write_png(&r.map, o->map_path, o->scale, perr, sizeof perr) != 0) {
            fprintf(stderr, "pagealloc %s: cannot write the heap map: %s\n", cmd, perr);
            rc = CLI_FAIL;
        } else {
            si.map_path = realpath(o->map_path, shown) ? shown : o->map_path;
            heapmap_png_size(&r.map, o->scale, &si.map_width, &si.map_height);
        }
    }
    if (o->json)
        summary_print_json(stdout, &si, &r);
    else if (print == JOB_PRINT_MAP)
        print_map(o, &si, &r);
    else
        summary_print_text(stdout, &si, &r);
    if (r.check_err) {
        fprintf(stderr, "pagealloc %s: heap check failed: %s\n", cmd, r.check_msg);
        rc = CLI_FAIL;
    }
    if (fflush(stdout) != 0)
        rc = CLI_FAIL;
    eng_result_free(&r);
out:
    for (unsigned t = 0; t < made; t++)
        wl_gen_destroy(&gens[t]);
    free(gens);
    free(srcs);
    return rc;
}
