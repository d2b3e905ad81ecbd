/*
 * cmd_run.c - `pagealloc run`: a workload on a real heap, with a summary.
 */
#include <string.h>

#include "cli.h"
#include "job.h"

#define RUN_DEFAULT_SECONDS 2.0

static void run_help(FILE *f)
{
    fprintf(f,
            "usage: pagealloc run [--workload NAME] [--threads T] [--limit BYTES]\n"
            "                     [--seconds S | --steps N] [--json] [--map FILE.png]\n"
            "\n"
            "Runs a workload on a real heap (pageheap: per-thread page caches, shards,\n"
            "the background scavenger on), writing into the pages it allocates, with a\n"
            "progress bar when stdout is a terminal. Then prints a summary: operations\n"
            "per second, alloc and free latency percentiles, RSS at the start, peak and\n"
            "end, the heap's state and the bytes released to the OS, fragmentation (free\n"
            "pages below the highest allocated page), the heap check; and writes the\n"
            "heap map, a PNG with one pixel per page and one row per 4 MiB chunk.\n"
            "The end state is taken before the workload frees what it still holds.\n"
            "\n"
            "%s"
            "By default churn and the object workloads run %.0f seconds and W1..W4 run\n"
            "to their end. The object workloads' summary adds the allocator's figures\n"
            "and its spans by size class, which is also the map's colour key.\n"
            "\n"
            "output options:\n"
            "  --json               the summary as one JSON object (no progress bar)\n"
            "  --map FILE.png       where to write the heap map (default %s)\n"
            "  --no-map             do not write a heap map\n"
            "  --scale K            magnify the map K times, 1..16 (default 1)\n"
            "\n"
            "%s"
            "\n"
            "exit codes: 0 success; 1 runtime failure (heap or thread creation, writing\n"
            "the map, a failed heap check); 2 bad usage\n",
            job_workload_help, RUN_DEFAULT_SECONDS, CLI_DEFAULT_MAP, cli_heap_help);
}

int cmd_run(int argc, char **argv)
{
    job_opts o;
    job_defaults(&o);
    o.map_path = CLI_DEFAULT_MAP;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            run_help(stdout);
            return CLI_OK;
        }
        int r = job_option("run", argc, argv, &i, &o, 1);
        if (r == 0)
            r = job_output_option("run", argc, argv, &i, &o, "--map");
        if (r < 0)
            return CLI_USAGE;
        if (r == 0)
            return cli_unknown("run", argv[i]);
    }
    if (o.steps_set && o.seconds_set)
        return cli_usage("run", "--seconds and --steps exclude each other");
    if ((o.kind == WL_CHURN || wl_is_objects(o.kind)) && !o.steps_set && !o.seconds_set)
        o.seconds = RUN_DEFAULT_SECONDS;
    return job_run("run", &o, JOB_PRINT_SUMMARY);
}
