/*
 * gcb.h - what the collector benchmarks (the programs of bench/gc/) share: the
 * allocation calls of the build variant, the pause clock and the one JSON
 * line every program prints at its end.
 *
 * One source, two builds:
 *   - the collector build (default): only bdwgc's public API, <gc.h>,
 *     GC_INIT, GC_MALLOC, GC_MALLOC_ATOMIC, GC_gcollect, GC_get_gc_no, and
 *     GC_set_on_collection_event for the pauses. It links Debian's bdwgc
 *     (pkg-config bdw-gc) or our bdwgc-compatible face (pkg-config
 *     pagealloc-gc): the same source, other compiler flags. A face that
 *     lacks the collection events is built with -DGCB_NO_EVENTS: its pauses
 *     read "not measured" (-1), never zero.
 *   - the malloc build (-DMB_MALLOC): plain malloc, and free() where the
 *     collector build drops the last reference; run as is (glibc) or under
 *     LD_PRELOAD (mimalloc). GCB_FREE is a no-op in the collector build.
 *
 * The pause clock (collector build): bdwgc reports the start and the end of
 * every world stop to the collection-event callback; a pause is the time
 * from GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD on the thread
 * that collects, so it covers suspending the threads, marking (bdwgc marks
 * with the world stopped, in parallel with its marker threads) and resuming
 * them. Sweeping is lazy in bdwgc and happens outside the pauses. Events
 * arrive with the allocator's lock held, one collection at a time, so the
 * counters need no lock of their own; they are read after the work threads
 * have been joined.
 *
 * The line (stdout; every other output line is the program's own text):
 *   {"program":"binary-trees","variant":"gc","alloc_from":"libgc.so.1",
 *    "param":20,"threads":1,"elapsed_s":..,"cpu_s":..,"peak_rss_kib":..,
 *    "base_rss_kib":..,"gc_no":..,"pauses":..,"max_pause_ms":..,
 *    "total_pause_ms":..,"live_kib":..,"live_after_kib":..,
 *    "rss_after_drop_kib":..,"rss_settled_kib":..,"check":"0x..","ok":true}
 * elapsed_s/cpu_s cover the timed work only; gc_no, pauses and their times
 * are read at its end (before any drop phase); peak_rss_kib is VmHWM at
 * the end; the live and drop fields are -1 in programs without a drop
 * phase (only alloc-rate has one). alloc_from names the object file that
 * defines the allocation function called (dladdr), so the driver can tell
 * bdwgc from ours and a preload that took from one that did not.
 */
#ifndef PAGEALLOC_BENCH_GCB_H
#define PAGEALLOC_BENCH_GCB_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1   /* dladdr */
#endif

#include "../malloc/mb.h"

#ifdef MB_MALLOC

#define GCB_VARIANT "malloc"
#define GCB_INIT() ((void)0)
#define GCB_NEW(n) gcb_checked(malloc(n))
#define GCB_NEW_ATOMIC(n) gcb_checked(malloc(n))
#define GCB_FREE(p) free(p)
#define GCB_COLLECT() ((void)0)
#define GCB_GC_NO() ((long)-1)
#define GCB_ALLOC_FN ((void *)(void *(*)(size_t))malloc)

#else

#include <gc.h>
#ifndef GC_CALLBACK          /* bdwgc's calling-convention marker, if any */
#define GC_CALLBACK
#endif
#define GCB_VARIANT "gc"
#define GCB_INIT() gcb_gc_init()
#define GCB_NEW(n) gcb_checked(GC_MALLOC(n))
#define GCB_NEW_ATOMIC(n) gcb_checked(GC_MALLOC_ATOMIC(n))
#define GCB_FREE(p) ((void)(p))
#define GCB_COLLECT() GC_gcollect()
#define GCB_GC_NO() ((long)GC_get_gc_no())
#define GCB_ALLOC_FN ((void *)(void *(*)(size_t))GC_malloc)

#endif

/* An allocation that failed ends the run: the driver reports the exit. */
static inline void *gcb_checked(void *p)
{
    if (!p) {
        fputs("gcb: out of memory\n", stderr);
        exit(3);
    }
    return p;
}

/* Pause statistics; see the header comment for who writes them when. */
typedef struct {
    double stop_at;      /* start of the current stop, s (monotonic) */
    long count;          /* completed pauses */
    double max_s;        /* longest completed pause, s */
    double total_s;      /* sum of the completed pauses, s */
    int measured;        /* 1 if the callback is installed */
} gcb_pauses;

static gcb_pauses gcb_pause;

#if !defined(MB_MALLOC) && !defined(GCB_NO_EVENTS)
static void GC_CALLBACK gcb_on_event(GC_EventType ev)
{
    if (ev == GC_EVENT_PRE_STOP_WORLD) {
        gcb_pause.stop_at = mb_now();
    } else if (ev == GC_EVENT_POST_START_WORLD && gcb_pause.stop_at > 0) {
        double d = mb_now() - gcb_pause.stop_at;
        gcb_pause.stop_at = 0;
        gcb_pause.count++;
        gcb_pause.total_s += d;
        if (d > gcb_pause.max_s)
            gcb_pause.max_s = d;
    }
}
#endif

#ifndef MB_MALLOC
static inline void gcb_gc_init(void)
{
    GC_INIT();
#ifndef GCB_NO_EVENTS
    GC_set_on_collection_event(gcb_on_event);
    gcb_pause.measured = 1;
#endif
}
#endif

/* The object file defining the allocation function this build calls. */
static inline const char *gcb_alloc_from(void)
{
    Dl_info di;
    void *volatile fn = GCB_ALLOC_FN;
    const char *from = "?";
    if (dladdr(fn, &di) && di.dli_fname) {
        from = strrchr(di.dli_fname, '/');
        from = from ? from + 1 : di.dli_fname;
    }
    return from;
}

/* An integer argument (argv[i]) or the default. */
static inline long gcb_arg(int argc, char **argv, int i, long dflt)
{
    if (argc > i && argv[i][0]) {
        char *end;
        long v = strtol(argv[i], &end, 10);
        if (*end == 0 && v > 0)
            return v;
        fprintf(stderr, "gcb: bad argument '%s'\n", argv[i]);
        exit(2);
    }
    return dflt;
}

/* What a program measured; -1 where it does not apply. */
typedef struct {
    const char *program;
    long param;               /* the size argument (depth, MiB) */
    int threads;
    double t0, cpu0;          /* gcb_begin */
    double elapsed_s, cpu_s;  /* gcb_end */
    long base_rss_kib;        /* VmRSS at gcb_begin */
    long gc_no;               /* collections at gcb_end */
    gcb_pauses pauses;        /* copy at gcb_end */
    long live_kib, live_after_kib, rss_after_drop_kib, rss_settled_kib;
    uint64_t check;
    int ok;
} gcb_run;

static inline void gcb_begin(gcb_run *r, const char *program, long param, int threads)
{
    memset(r, 0, sizeof *r);
    r->program = program;
    r->param = param;
    r->threads = threads;
    r->live_kib = r->live_after_kib = r->rss_after_drop_kib = r->rss_settled_kib = -1;
    r->ok = 1;
    r->base_rss_kib = mb_status_kib("VmRSS");
    r->cpu0 = mb_cpu();
    r->t0 = mb_now();
}

/* The end of the timed work: clocks, collections and pauses so far. */
static inline void gcb_end(gcb_run *r)
{
    r->elapsed_s = mb_now() - r->t0;
    r->cpu_s = mb_cpu() - r->cpu0;
    r->gc_no = GCB_GC_NO();
    r->pauses = gcb_pause;
}

static inline void gcb_report(const gcb_run *r)
{
    const gcb_pauses *p = &r->pauses;
    long peak = mb_status_kib("VmHWM");
    printf("{\"program\":\"%s\",\"variant\":\"%s\",\"alloc_from\":\"%s\",\"param\":%ld,"
           "\"threads\":%d,\"elapsed_s\":%.6f,\"cpu_s\":%.6f,\"peak_rss_kib\":%ld,"
           "\"base_rss_kib\":%ld,\"gc_no\":%ld,\"pauses\":%ld,\"max_pause_ms\":%.4f,"
           "\"total_pause_ms\":%.4f,\"live_kib\":%ld,\"live_after_kib\":%ld,"
           "\"rss_after_drop_kib\":%ld,\"rss_settled_kib\":%ld,"
           "\"check\":\"0x%016" PRIx64 "\",\"ok\":%s}\n",
           r->program, GCB_VARIANT, gcb_alloc_from(), r->param, r->threads, r->elapsed_s,
           r->cpu_s, peak, r->base_rss_kib, r->gc_no, p->measured ? p->count : -1,
           p->measured ? p->max_s * 1e3 : -1.0, p->measured ? p->total_s * 1e3 : -1.0,
           r->live_kib, r->live_after_kib, r->rss_after_drop_kib, r->rss_settled_kib,
           r->check, r->ok ? "true" : "false");
    fflush(stdout);
}

#endif
