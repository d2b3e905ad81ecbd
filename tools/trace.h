/*
 * trace.h - the trace file format: reading and writing.
 *
 * A trace is a text file of events, one per line; fields are separated by
 * spaces or tabs; a field starting with '#' starts a comment that runs to
 * the end of the line; blank lines are ignored.
 *
 *   a ID NPAGES   allocate NPAGES pages (1 .. 2^34) and call the
 *                 allocation ID (a decimal number below 2^64); ID must
 *                 not name a live allocation (it may be reused once freed)
 *   f ID          free the allocation ID, which must be live
 *   r BYTES       release at least BYTES of free memory to the OS
 *                 (pageheap_release); suffixes K, M, G, T (binary)
 *   r all         release all free memory
 *
 * Reading checks the whole file before anything runs; the first bad line
 * is reported as "FILE:LINE: reason" (unknown operation, missing or extra
 * fields, bad numbers, an id allocated twice, a free of an id that is not
 * live). Ids are mapped to dense slots (wl_event), reused once freed, so
 * replay needs a table only as large as the most allocations live at once.
 */
#ifndef PAGEALLOC_TOOL_TRACE_H
#define PAGEALLOC_TOOL_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "workload.h"

#define TRACE_MAX_PAGES ((uint64_t)1 << 34)

/* The format's description, for --help. */
extern const char trace_format_help[];

typedef struct trace {
    wl_event *ev;            /* the events, in file order */
    size_t    n, cap;
    uint32_t  slots;         /* the most allocations live at once */
    uint64_t  allocs, frees, releases;
} trace;

/* Read and check the trace at path ("-": standard input; named "<stdin>"
 * in messages). 0, or -1 after printing the reason to stderr. */
int  trace_read(trace *t, const char *path);
void trace_free(trace *t);

/* Write a workload as a trace: at most max_events events (0: all; an
 * endless workload needs a cap). 0, or an errno value (a write error). */
int  trace_write_workload(FILE *out, wl_kind k, uint64_t seed, uint64_t max_events);

#endif /* PAGEALLOC_TOOL_TRACE_H */
