/*
 * summary.h - the report of a replay, as text or JSON (run, trace, map).
 *
 * Text: what ran, operations per second, latency percentiles of alloc and
 * free, RSS (at the start, peak, final), the heap's state and releases,
 * fragmentation, the heap check, where the heap map went. JSON: one object
 * with the same figures (bytes and nanoseconds as integers) and the heap's
 * own statistics (pageheap_stats_json) under "heap".
 */
#ifndef PAGEALLOC_TOOL_SUMMARY_H
#define PAGEALLOC_TOOL_SUMMARY_H

#include <stdio.h>

#include "engine.h"

typedef struct summary_info {
    const char *command;     /* "run", "trace", "map" */
    const char *workload;    /* workload name or trace file */
    const char *title;       /* one-line description, may be NULL */
    unsigned threads;
    const cli_heap_opts *opts;
    const char *map_path;    /* PNG written, or NULL */
    unsigned map_width, map_height;
} summary_info;

void summary_print_text(FILE *f, const summary_info *si, const eng_result *r);
void summary_print_json(FILE *f, const summary_info *si, const eng_result *r);
/* Part of the map command's output: the page counts per state. */
void summary_print_pages_json(FILE *f, const heapmap *m);

/* A string as a JSON string literal. */
void summary_json_string(FILE *f, const char *s);

#endif /* PAGEALLOC_TOOL_SUMMARY_H */
