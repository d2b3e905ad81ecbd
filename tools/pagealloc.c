/*
 * pagealloc - the command-line tool: shows what the allocator does.
 *
 *   pagealloc run    a workload on a real heap; summary and heap map
 *   pagealloc trace  replay a trace file (or write a workload as one)
 *   pagealloc map    a picture of the heap after a short workload
 *
 * Each command is in its own file (cmd_*.c); `pagealloc CMD --help`
 * describes it. tools/README.md documents the tool, the trace format
 * and the exit codes (0 success, 1 runtime failure or bad trace, 2 bad
 * usage).
 */
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: pagealloc COMMAND [options]\n"
            "\n"
            "The Go runtime's page heap, rebuilt in C, at work on a real heap.\n"
            "\n"
            "commands:\n"
            "  run      run a workload (default: a few seconds of mixed churn, background\n"
            "           scavenger on) with a progress bar; print operations per second,\n"
            "           latency percentiles, RSS, bytes released, fragmentation; write\n"
            "           the heap map (%s)\n"
            "  trace    replay a trace file of allocations, frees and releases and print\n"
            "           the same summary; --generate NAME writes a workload as a trace\n"
            "  map      draw the heap after a short workload: PNG, one pixel per page and\n"
            "           one row per chunk, and a text map on a terminal\n"
            "\n"
            "Every command takes --help and --json.\n"
            "\n"
            "exit codes: 0 success; 1 runtime failure or a bad trace; 2 bad usage\n",
            CLI_DEFAULT_MAP);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr), CLI_USAGE;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "trace"))
        return cmd_trace(argc - 1, argv + 1);
    if (!strcmp(cmd, "map"))
        return cmd_map(argc - 1, argv + 1);
    if (cmd[0] == '-')
        return cli_usage(NULL, "unknown option '%s' (commands: run, trace, map)", cmd);
    return cli_usage(NULL, "unknown command '%s' (commands: run, trace, map)", cmd);
}
