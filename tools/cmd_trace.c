/*
 * cmd_trace.c - `pagealloc trace`: replay a trace file on a real heap, or
 * write a standard workload as a trace.
 */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "job.h"
#include "trace.h"

#define TRACE_CHURN_STEPS 100000u

static void trace_help(FILE *f)
{
    fprintf(f,
            "usage: pagealloc trace [options] FILE\n"
            "       pagealloc trace --generate NAME [--steps N] [--seed N] > FILE\n"
            "\n"
            "Replays the trace FILE ('-': standard input) on a real heap, as run does a\n"
            "workload, and prints the same summary. The whole file is checked first.\n"
            "With --generate, writes workload NAME as a trace on stdout instead: churn\n"
            "(%u events unless --steps) or docs/workloads.md's W1, W2, W3, W4 (complete\n"
            "unless --steps; W4's page-cache allocations are one-page allocations).\n"
            "\n"
            "%s"
            "\n"
            "options:\n"
            "  --json               the summary as one JSON object\n"
            "  --map FILE.png       write the heap map at the end (default: none)\n"
            "  --scale K            magnify the map K times, 1..16 (default 1)\n"
            "  --steps N            replay (or generate) only the first N events\n"
            "  --seconds S          stop replaying after S seconds\n"
            "  --generate NAME      write workload NAME as a trace (see above)\n"
            "  --seed N             the generator's seed for --generate (default 42)\n"
            "\n"
            "%s"
            "\n"
            "exit codes: 0 success; 1 a bad trace (FILE:LINE: reason on stderr), an\n"
            "unreadable file or another runtime failure; 2 bad usage\n",
            TRACE_CHURN_STEPS, trace_format_help, cli_heap_help);
}

int cmd_trace(int argc, char **argv)
{
    job_opts o;
    job_defaults(&o);
    const char *file = NULL, *gen = NULL, *v;
    uint64_t seed = 42;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            trace_help(stdout);
            return CLI_OK;
        }
        int r = cli_option("trace", argc, argv, &i, "--generate", &v);
        if (r > 0)
            gen = v;
        if (r == 0 && (r = cli_option("trace", argc, argv, &i, "--seed", &v)) > 0 &&
            cli_parse_u64("trace", "--seed", v, 1, UINT64_MAX, &seed))
            r = -1;
        if (r == 0)
            r = job_option("trace", argc, argv, &i, &o, 0);
        if (r == 0)
            r = job_output_option("trace", argc, argv, &i, &o, "--map");
        if (r < 0)
            return CLI_USAGE;
        if (r == 0) {
            if (file || (argv[i][0] == '-' && argv[i][1]))
                return cli_unknown("trace", argv[i]);
            file = argv[i];
        }
    }
    if (o.steps_set && o.seconds_set)
        return cli_usage("trace", "--seconds and --steps exclude each other");
    if (gen) {
        if (file)
            return cli_usage("trace", "--generate writes to stdout: no FILE argument");
        wl_kind k = wl_lookup(gen);
        if (k == WL_KIND_COUNT)
            return cli_usage("trace", "unknown workload '%s' (churn, W1, W2, W3, W4)", gen);
        if (wl_is_stacks(k))
            return cli_usage("trace", "workload '%s' runs coroutines on pa_stack stacks and has "
                                      "no trace form", gen);
        if (wl_is_objects(k))
            return cli_usage("trace", "workload '%s' runs on the object allocator and has no "
                                      "trace form (traces count pages)", gen);
        if (o.seconds_set)
            return cli_usage("trace", "--generate takes --steps, not --seconds");
        uint64_t steps = o.steps ? o.steps : k == WL_CHURN ? TRACE_CHURN_STEPS : 0;
        int err = trace_write_workload(stdout, k, seed, steps);
        if (err) {
            fprintf(stderr, "pagealloc trace: writing the trace: %s\n", strerror(err));
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    if (!file)
        return cli_usage("trace", "no trace file given");
    trace t;
    if (trace_read(&t, file) != 0)
        return CLI_FAIL;
    o.trace = &t;
    o.trace_name = file;
    int rc = job_run("trace", &o, JOB_PRINT_SUMMARY);
    trace_free(&t);
    return rc;
}
