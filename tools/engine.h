/*
 * engine.h - replaying event streams (workload.h) on a real pageheap.
 *
 * eng_run creates a heap with the given options and starts one worker
 * thread per stream. Each worker replays its events: an allocation is
 * pageheap_alloc (timed) and then, with touching on, a write into every OS
 * page of it; a free is pageheap_free (timed); a release is
 * pageheap_release. A worker stops at the end of its stream, after
 * max_events events, or when `seconds` have passed. While they run, the
 * calling thread draws the progress bar. When every worker has stopped,
 * and before any of them frees its live allocations or exits (which would
 * flush its page cache), the engine records the final state: RSS, the
 * heap's statistics, the heap map, and pageheap_check. Then the workers
 * free what they hold and the heap is deleted.
 *
 * An allocation that fails (a hard limit, the OS refusing memory) is
 * counted and leaves its slot empty; a later free of that slot is counted
 * as skipped.
 *
 * Object workloads (config `objects`) run on the process's object
 * allocator instead: an allocation is pa_malloc of arg bytes, a free is
 * pa_free, and the heap in the picture is the allocator's own
 * (pa_malloc_pageheap), which the engine neither creates nor deletes. A
 * send (WL_SEND) moves a slot's object into the next worker's inbox, a
 * lock-free single-producer single-consumer ring; a receive (WL_RECV)
 * frees the oldest object in the worker's own inbox, a remote free. A
 * send to a full inbox frees the object at once instead (counted), a
 * receive from an empty one does nothing (counted). The final picture
 * adds the allocator's statistics and its spans (pa_malloc_visit_spans),
 * painted on the heap map by size class; at teardown each worker frees
 * its slots and what is left in its inbox.
 */
#ifndef PAGEALLOC_TOOL_ENGINE_H
#define PAGEALLOC_TOOL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <pagealloc/malloc.h>

#include "cli.h"
#include "heapmap.h"
#include "hist.h"
#include "workload.h"

/* One worker's stream. */
typedef struct eng_source {
    /* The next event: 1, or 0 at the end. progress: how far the worker is
     * through its run, 0..1. */
    int    (*next)(void *state, double progress, wl_event *ev);
    void    *state;
    uint32_t slots;          /* every event's slot is below this */
    uint64_t total;          /* events in the stream; 0: endless */
} eng_source;

typedef struct eng_config {
    cli_heap_opts opts;
    unsigned threads;        /* workers, >= 1: one source each */
    eng_source *sources;     /* [threads] */
    uint64_t max_events;     /* per worker; 0: no cap */
    double   seconds;        /* per worker; 0: no time limit */
    int      progress;       /* draw the progress bar on stdout */
    int      want_map;       /* collect the heap map */
    int      objects;        /* run on pa_malloc (object workloads) */
} eng_config;

typedef struct eng_result {
    double   seconds;        /* wall time of the replay (first start to last stop) */
    uint64_t events, allocs, alloc_failures, frees, skipped_frees, releases;
    uint64_t alloc_bytes;    /* pages allocated, in bytes (objects: bytes asked for) */
    uint64_t sends, remote_frees, local_frees, empty_recvs;   /* objects: inboxes */
    uint64_t release_bytes;  /* returned by the trace's release events */
    int      timed_out;      /* some worker stopped at the time limit */
    hist     alloc_ns, free_ns;
    uint64_t rss_start, rss_peak, rss_final;   /* process RSS, bytes */
    pageheap_stats stats;    /* at the end, live allocations still held */
    char    *stats_json;     /* pageheap_stats_json of the same moment */
    heapmap  map;            /* if want_map */
    int      objects;        /* an object workload: the fields below are set */
    pa_malloc_stats mstats;  /* pa_malloc_get_stats at the end */
    char    *malloc_json;    /* pa_malloc_stats_json of the same moment */
    int      check_err;      /* pageheap_check's result */
    char     check_msg[256];
} eng_result;

/* 0, or CLI_FAIL with a reason in err (the heap or a thread could not be
 * created). *r is filled on success; release it with eng_result_free. */
int  eng_run(const eng_config *c, eng_result *r, char *err, size_t err_size);
void eng_result_free(eng_result *r);

/* Process RSS now, and its peak since the last eng_rss_reset_peak. */
uint64_t eng_rss_now(void);
uint64_t eng_rss_peak(void);
void     eng_rss_reset_peak(void);

#endif /* PAGEALLOC_TOOL_ENGINE_H */
