/*
 * cli.h - what the pagealloc tool's commands share: exit codes, option
 * parsing, the heap options every command accepts, number formatting.
 *
 * Each command lives in its own file (cmd_run.c, cmd_trace.c, cmd_map.c)
 * and is called with argv[0] naming the command. A command parses its own
 * options with cli_option / cli_heap_option, prints usage errors through
 * cli_usage (exit code 2) and returns its exit code.
 */
#ifndef PAGEALLOC_TOOL_CLI_H
#define PAGEALLOC_TOOL_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <pagealloc/pageheap.h>

/* Exit codes, documented in --help and tools/README.md. */
enum {
    CLI_OK = 0,        /* success */
    CLI_FAIL = 1,      /* runtime failure, heap check failure, or a bad trace file */
    CLI_USAGE = 2      /* bad command line */
};

/* The default heap-map file of run and map. */
#define CLI_DEFAULT_MAP "pagealloc-map.png"

int cmd_run(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_map(int argc, char **argv);

/* "pagealloc CMD: <message>" and a pointer to --help on stderr; returns
 * CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "unknown option" or "unexpected argument" for arg; returns CLI_USAGE. */
int cli_unknown(const char *cmd, const char *arg);

/* Option with a value, as "--name VALUE" or "--name=VALUE", at argv[*i].
 * 1: matched, *val set, *i advanced past a separate value; 0: argv[*i] is
 * not this option; -1: the value is missing (reported as a usage error). */
int cli_option(const char *cmd, int argc, char **argv, int *i, const char *name,
               const char **val);

/* Numbers. 0, or -1 after reporting a usage error naming opt. */
int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
                  uint64_t *out);
int cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
                     double *out);
/* Bytes with an optional binary suffix: K, M, G, T (also KB/KiB, ...,
 * any case): "512M" = 512 MiB. */
int cli_parse_bytes(const char *cmd, const char *opt, const char *s, uint64_t *out);
/* The same without reporting: 0 or -1. */
int cli_bytes_value(const char *s, uint64_t *out);

/* The heap and replay options every command that runs a heap accepts. */
typedef struct cli_heap_opts {
    pageheap_options heap;   /* limit, hard_limit, background_scavenger, shards, ... */
    int touch;               /* write every OS page of each allocation;
                              * -1: the job decides (job.h) */
} cli_heap_opts;

/* Defaults: no limit, background scavenger on, shards per CPU, touching
 * left to the job. */
void cli_heap_defaults(cli_heap_opts *o);
/* Parse one heap option at argv[*i] (--limit, --hard-limit, --shards,
 * --no-scavenger, --scavenger-cpu, --touch, --no-touch). 1 matched, 0 not
 * one, -1 usage error (reported). */
int cli_heap_option(const char *cmd, int argc, char **argv, int *i, cli_heap_opts *o);
/* The --help text of those options. */
extern const char cli_heap_help[];

/* "12.3 MiB"-style text of a byte count into buf (at least 32 bytes). */
const char *cli_bytes(char *buf, uint64_t bytes);

/* Whether stdout is a terminal (progress bars, text maps, colour). */
int cli_stdout_tty(void);

#endif /* PAGEALLOC_TOOL_CLI_H */
