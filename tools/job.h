/*
 * job.h - one replay from the command line: the options run, trace and
 * map share, and the steps they share (build the streams, replay them on a
 * heap, write the heap map, print the report).
 *
 * A job replays either a generated workload (one stream per thread, thread
 * t seeded seed + t) or a parsed trace (one thread). The commands differ
 * in their defaults and in what they print (job_print). Object workloads
 * (wl_is_objects) run on the process's object allocator, which is made
 * at its first use from the environment: the job passes --limit (a hard
 * limit there) and --no-scavenger to it through PAGEALLOC_MALLOC_LIMIT and
 * PAGEALLOC_MALLOC_SCAVENGER, and refuses the heap options it cannot
 * honour (--shards, --scavenger-cpu).
 */
#ifndef PAGEALLOC_TOOL_JOB_H
#define PAGEALLOC_TOOL_JOB_H

#include <stdint.h>

#include "cli.h"
#include "trace.h"
#include "workload.h"

#define JOB_MAX_THREADS 64u

typedef enum job_print {
    JOB_PRINT_SUMMARY,       /* run, trace: the summary */
    JOB_PRINT_MAP            /* map: the text map, legend and page counts */
} job_print;

typedef struct job_opts {
    cli_heap_opts heap;
    wl_kind  kind;           /* the workload, if trace is NULL */
    const trace *trace;      /* a parsed trace to replay instead */
    const char *trace_name;  /* its file name, for the report */
    unsigned threads;        /* workload threads (a trace: 1) */
    uint64_t steps;          /* events per thread; 0: no cap */
    double   seconds;        /* per thread; 0: no time limit */
    uint64_t seed;           /* workload seed (thread t: seed + t) */
    int      json;           /* JSON report, no progress bar */
    const char *map_path;    /* PNG to write; NULL: none */
    unsigned scale;          /* PNG magnification */
    int      text_map;       /* map: print the text map (-1: when stdout is a terminal) */
    int      steps_set, seconds_set, threads_set;
} job_opts;

/* Defaults: churn, 1 thread (objects-xthread: 2 unless --threads), seed
 * 42, the heap defaults, map scale 1. */
void job_defaults(job_opts *o);

/* Parse one of --workload, --threads, --steps, --seconds, --seed at
 * argv[*i] (those the command allows: with_workload) or a heap option.
 * 1 matched, 0 not one of them, -1 usage error (reported). */
int  job_option(const char *cmd, int argc, char **argv, int *i, job_opts *o, int with_workload);
/* Parse one of --json, --no-map, map_opt FILE (--map or --png), --scale
 * K at argv[*i]. 1 matched, 0 not one of them, -1 usage error (reported). */
int  job_output_option(const char *cmd, int argc, char **argv, int *i, job_opts *o,
                       const char *map_opt);
/* The --help text of the workload options. */
extern const char job_workload_help[];

/* Replay and report. Returns the exit code. */
int  job_run(const char *cmd, const job_opts *o, job_print print);

#endif /* PAGEALLOC_TOOL_JOB_H */
