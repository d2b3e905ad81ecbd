/*
 * cmd_map.c - `pagealloc map`: a picture of the heap after a short
 * workload (or a trace), as PNG and, on a terminal, as text.
 */
#include <string.h>

#include "cli.h"
#include "job.h"

#define MAP_DEFAULT_STEPS 200000u

static void map_help(FILE *f)
{
    fprintf(f,
            "usage: pagealloc map [--png FILE] [--workload NAME | --trace FILE] [--text]\n"
            "                     [--steps N | --seconds S] [--json] [heap options]\n"
            "\n"
            "Runs a short workload (default: churn, %u events) or replays a trace on a\n"
            "real heap, then draws the heap as it is at the end, live allocations held:\n"
            "a PNG 512 pixels wide, one pixel per 8 KiB page, one row per 4 MiB chunk in\n"
            "address order; and, when stdout is a terminal (or with --text), a coarse\n"
            "text map, one character per 64 pages. Page states and their colours:\n"
            "  in use           blue        #   handed out, not freed\n"
            "  page-cached      green       c   owned by a thread's page cache\n"
            "  free & resident  orange      o   free, still backed by memory (RSS)\n"
            "  released         light grey  .   free and returned to the OS\n"
            "\n"
            "map options:\n"
            "  --png FILE           where to write the PNG (default %s)\n"
            "  --no-map             no PNG\n"
            "  --scale K            magnify the PNG K times, 1..16 (default 1)\n"
            "  --text               print the text map even when stdout is not a terminal\n"
            "  --trace FILE         replay a trace file instead of a workload\n"
            "  --json               counts and fragmentation as JSON (the run summary's form)\n"
            "\n"
            "%s"
            "\n"
            "%s"
            "\n"
            "exit codes: 0 success; 1 runtime failure or a bad trace; 2 bad usage\n",
            MAP_DEFAULT_STEPS, CLI_DEFAULT_MAP, job_workload_help, cli_heap_help);
}

int cmd_map(int argc, char **argv)
{
    job_opts o;
    job_defaults(&o);
    o.map_path = CLI_DEFAULT_MAP;
    const char *trace_path = NULL;
    int workload_set = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            map_help(stdout);
            return CLI_OK;
        }
        if (!strcmp(argv[i], "--text")) {
            o.text_map = 1;
            continue;
        }
        workload_set |= !strncmp(argv[i], "--workload", 10);
        int r = cli_option("map", argc, argv, &i, "--trace", &v);
        if (r > 0)
            trace_path = v;
        if (r == 0)
            r = job_option("map", argc, argv, &i, &o, 1);
        if (r == 0)
            r = job_output_option("map", argc, argv, &i, &o, "--png");
        if (r < 0)
            return CLI_USAGE;
        if (r == 0)
            return cli_unknown("map", argv[i]);
    }
    if (o.steps_set && o.seconds_set)
        return cli_usage("map", "--seconds and --steps exclude each other");
    if (trace_path && workload_set)
        return cli_usage("map", "--trace and --workload exclude each other");
    if (!o.steps_set && !o.seconds_set && !trace_path)
        o.steps = MAP_DEFAULT_STEPS;
    trace t;
    if (trace_path) {
        if (trace_read(&t, trace_path) != 0)
            return CLI_FAIL;
        o.trace = &t;
        o.trace_name = trace_path;
    }
    int rc = job_run("map", &o, JOB_PRINT_MAP);
    if (trace_path)
        trace_free(&t);
    return rc;
}
