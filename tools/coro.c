/*
 * coro.c - the coroutines workload (coro.h): workers, their coroutines,
 * and the summary, as text or JSON.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "coro.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <pagealloc/stack.h>

#include "engine.h"
#include "hist.h"
#include "summary.h"

#define DEFAULT_SECONDS 2.0
#define KiB ((size_t)1 << 10)

typedef struct coro {
    ucontext_t ctx;
    pa_stack s;
    size_t depth;            /* bytes below s.hi it touches */
    int live;                /* created, waiting to be resumed to its end */
} coro;

typedef struct shared {
    const job_opts *o;
    pa_stack_allocator *a;
    pthread_barrier_t stopped, go;   /* workers + the main thread */
    uint64_t start_ns;
} shared;

typedef struct worker {
    shared *sh;
    unsigned index;
    uint64_t rng;
    ucontext_t sched;        /* the worker's own context while a coroutine runs */
    coro *slots;             /* [CORO_SLOTS] */
    coro *cur;               /* the coroutine running */
    uint64_t steps, pairs, creates, alloc_failures, switches, releases;
    uint64_t stop_ns;
    hist hw;                 /* sampled high-water marks, bytes */
    pthread_t th;
    int started;
} worker;

static __thread worker *self;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t next_rand(worker *w)
{
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 0x2545f4914f6cdd1dull;
}

/* One byte per OS page from just below this frame down to hi - depth.
 * Below the stack pointer on purpose (only written, never read back);
 * not instrumented, as the sanitizers' stack bookkeeping is not ours. */
#if defined(__clang__) || defined(__GNUC__)
__attribute__((noinline, no_sanitize_address))
#endif
static void touch(const coro *c, size_t os_page)
{
    uintptr_t top = (uintptr_t)__builtin_frame_address(0) - 512;
    uintptr_t low = (uintptr_t)c->s.hi - c->depth;
    for (uintptr_t p = top; p >= low && p > os_page; p -= os_page)
        *(volatile char *)p = 1;
}

static void coro_main(void)
{
    worker *w = self;
    coro *c = w->cur;
    touch(c, (size_t)sysconf(_SC_PAGESIZE));
    swapcontext(&c->ctx, &w->sched);   /* wait to be resumed */
    /* Returning goes to uc_link, the worker's context. */
}

static size_t pick_size(worker *w)
{
    unsigned r = (unsigned)(next_rand(w) % 100);
    return r < 45 ? 16 * KiB : r < 80 ? 64 * KiB : r < 95 ? 256 * KiB : 1024 * KiB;
}

static size_t pick_depth(worker *w, size_t size)
{
    unsigned r = (unsigned)(next_rand(w) % 100);
    uint64_t x = next_rand(w);
    if (r < 60)
        return 1 * KiB + x % (3 * KiB);
    if (r < 90)
        return 1 * KiB + x % (size / 4);
    return 1 * KiB + x % (size - 3 * KiB);
}

static void create(worker *w, coro *c)
{
    size_t size = pick_size(w);
    if (pa_stack_alloc(w->sh->a, size, &c->s) != 0) {
        w->alloc_failures++;
        return;
    }
    c->depth = pick_depth(w, size);
    getcontext(&c->ctx);
    c->ctx.uc_stack.ss_sp = c->s.lo;
    c->ctx.uc_stack.ss_size = c->s.size;
    c->ctx.uc_link = &w->sched;
    makecontext(&c->ctx, coro_main, 0);
    w->cur = c;
    swapcontext(&w->sched, &c->ctx);
    w->switches += 2;
    w->creates++;
    c->live = 1;
}

static void destroy(worker *w, coro *c, int sample)
{
    w->cur = c;
    swapcontext(&w->sched, &c->ctx);   /* runs to its end */
    w->switches += 2;
    size_t hw;
    if (sample && pa_stack_high_water(w->sh->a, &c->s, &hw) == 0)
        hist_add(&w->hw, hw);
    pa_stack_free(w->sh->a, &c->s);
    c->live = 0;
    w->pairs++;
}

static void *work(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    const job_opts *o = sh->o;
    self = w;
    uint64_t deadline = o->seconds > 0 ? sh->start_ns + (uint64_t)(o->seconds * 1e9) : 0;
    for (;;) {
        if (o->steps && w->steps >= o->steps)
            break;
        if (deadline && (w->steps & 255) == 0 && now_ns() >= deadline)
            break;
        coro *c = &w->slots[next_rand(w) % CORO_SLOTS];
        if (c->live)
            destroy(w, c, w->pairs % CORO_HW_EVERY == 0);
        else
            create(w, c);
        w->steps++;
        if (w->index == 0 && w->steps % CORO_RELEASE_EVERY == 0) {
            pa_stack_release(sh->a);
            w->releases++;
        }
    }
    w->stop_ns = now_ns();
    pthread_barrier_wait(&sh->stopped);
    pthread_barrier_wait(&sh->go);
    for (unsigned i = 0; i < CORO_SLOTS; i++)
        if (w->slots[i].live)
            destroy(w, &w->slots[i], 0);
    return NULL;
}

/* ---- The summary ---------------------------------------------------------------- */

typedef struct totals {
    unsigned threads;
    double seconds;
    uint64_t steps, pairs, creates, alloc_failures, switches, releases;
    hist hw;
    uint64_t rss_start, rss_peak, rss_end, rss_released;
    pa_stack_stats end, after;   /* workers stopped; after their teardown and a release */
    size_t released;             /* by that last pa_stack_release */
    char stats_json[16384];      /* the heap's JSON (stacks inside) at the end */
    int check_err;
    char check_msg[256];
} totals;

static double per_second(const totals *t)
{
    return t->seconds > 0 ? (double)t->pairs / t->seconds : 0.0;
}

static void print_text(const char *cmd, const job_opts *o, const totals *t)
{
    char a[32], b[32], c[32], d[32];
    printf("pagealloc %s: coroutines (%s)\n", cmd, wl_title(WL_COROUTINES));
    printf("  %u thread%s on pa_stack, %.2f s, %" PRIu64 " steps, seed %" PRIu64 "\n\n",
           t->threads, t->threads == 1 ? "" : "s", t->seconds, t->steps, o->seed);
    printf("  pairs        %" PRIu64 " create+destroy pairs, %.0f per second (%" PRIu64
           " context switches)\n", t->pairs, per_second(t), t->switches);
    if (t->alloc_failures)
        printf("  failures     %" PRIu64 " pa_stack_alloc calls failed\n", t->alloc_failures);
    printf("  high water   p50 %s, p90 %s, p99 %s, max %s (%" PRIu64 " sampled destroys)\n",
           cli_bytes(a, hist_quantile(&t->hw, 0.5)), cli_bytes(b, hist_quantile(&t->hw, 0.9)),
           cli_bytes(c, hist_quantile(&t->hw, 0.99)), cli_bytes(d, t->hw.max), t->hw.count);
    printf("  stacks       at the end: %" PRIu64 " live (%s), %" PRIu64 " cached (%s), %" PRIu64
           " pooled (%s)\n", t->end.live, cli_bytes(a, t->end.live_bytes), t->end.cached,
           cli_bytes(b, t->end.cached_bytes), t->end.pooled, cli_bytes(c, t->end.pooled_bytes));
    printf("  resident     %s of stacks held, guards %s; %" PRIu64 " releases during the run\n",
           cli_bytes(a, t->end.resident_bytes), cli_bytes(b, t->end.guard_bytes), t->releases);
    printf("  RSS          start %s, peak %s, end %s\n", cli_bytes(a, t->rss_start),
           cli_bytes(b, t->rss_peak), cli_bytes(c, t->rss_end));
    printf("  release      after the coroutines ended: %s released, stacks resident %s, RSS %s\n",
           cli_bytes(a, t->released), cli_bytes(b, t->after.resident_bytes),
           cli_bytes(c, t->rss_released));
    printf("  heap check   %s\n", t->check_err ? t->check_msg : "ok");
}

static void print_json(const char *cmd, const job_opts *o, const totals *t)
{
    printf("{\n  \"command\": ");
    summary_json_string(stdout, cmd);
    printf(",\n  \"workload\": \"coroutines\",\n  \"title\": ");
    summary_json_string(stdout, wl_title(WL_COROUTINES));
    printf(",\n  \"allocator\": \"pa_stack\",\n  \"threads\": %u,\n  \"seed\": %" PRIu64
           ",\n  \"seconds\": %.6f,\n  \"steps\": %" PRIu64 ",\n  \"pairs\": %" PRIu64
           ",\n  \"pairs_per_second\": %.1f,\n  \"creates\": %" PRIu64
           ",\n  \"alloc_failures\": %" PRIu64 ",\n  \"switches\": %" PRIu64
           ",\n  \"releases\": %" PRIu64 ",\n",
           t->threads, o->seed, t->seconds, t->steps, t->pairs, per_second(t), t->creates,
           t->alloc_failures, t->switches, t->releases);
    printf("  \"high_water\": {\"samples\": %" PRIu64 ", \"mean\": %" PRIu64 ", \"p50\": %" PRIu64
           ", \"p90\": %" PRIu64 ", \"p99\": %" PRIu64 ", \"max\": %" PRIu64 "},\n",
           t->hw.count, t->hw.count ? t->hw.sum / t->hw.count : 0, hist_quantile(&t->hw, 0.5),
           hist_quantile(&t->hw, 0.9), hist_quantile(&t->hw, 0.99), t->hw.max);
    const pa_stack_stats *e = &t->end;
    printf("  \"end\": {\"live\": %" PRIu64 ", \"live_bytes\": %" PRIu64 ", \"cached\": %" PRIu64
           ", \"cached_bytes\": %" PRIu64 ", \"pooled\": %" PRIu64 ", \"pooled_bytes\": %" PRIu64
           ", \"resident_bytes\": %" PRIu64 ", \"guard_bytes\": %" PRIu64 "},\n",
           e->live, e->live_bytes, e->cached, e->cached_bytes, e->pooled, e->pooled_bytes,
           e->resident_bytes, e->guard_bytes);
    printf("  \"rss\": {\"start\": %" PRIu64 ", \"peak\": %" PRIu64 ", \"end\": %" PRIu64
           ", \"after_release\": %" PRIu64 "},\n",
           t->rss_start, t->rss_peak, t->rss_end, t->rss_released);
    printf("  \"after_release\": {\"released_bytes\": %zu, \"resident_bytes\": %" PRIu64
           ", \"held\": %" PRIu64 "},\n",
           t->released, t->after.resident_bytes, t->after.live + t->after.cached + t->after.pooled);
    printf("  \"check\": ");
    summary_json_string(stdout, t->check_err ? t->check_msg : "ok");
    size_t n = strlen(t->stats_json);
    while (n && t->stats_json[n - 1] == '\n')
        n--;
    printf(",\n  \"heap\": %.*s\n}\n", (int)n, t->stats_json);
}

/* ---- The run ---------------------------------------------------------------------- */

int coro_run(const char *cmd, const job_opts *opts)
{
    job_opts o = *opts;
    if (!o.steps_set && !o.seconds_set)
        o.seconds = DEFAULT_SECONDS;
    static totals t;
    memset(&t, 0, sizeof t);
    t.threads = o.threads;
    int rc = CLI_OK;
    shared sh = { .o = &o };
    worker *ws = calloc(o.threads, sizeof *ws);
    pageheap *h = pageheap_new(&o.heap.heap);
    if (h)
        sh.a = pa_stack_allocator_new(&(pa_stack_options){ .heap = h });
    if (!ws || !h || !sh.a) {
        fprintf(stderr, "pagealloc %s: cannot make the stack allocator: %s\n", cmd,
                strerror(errno ? errno : ENOMEM));
        if (h)
            pageheap_delete(h);
        free(ws);
        return CLI_FAIL;
    }
    pthread_barrier_init(&sh.stopped, NULL, o.threads + 1);
    pthread_barrier_init(&sh.go, NULL, o.threads + 1);
    eng_rss_reset_peak();
    t.rss_start = eng_rss_now();
    sh.start_ns = now_ns();
    unsigned made = 0;
    for (; made < o.threads; made++) {
        worker *w = &ws[made];
        *w = (worker){ .sh = &sh, .index = made, .rng = o.seed + made };
        w->slots = calloc(CORO_SLOTS, sizeof *w->slots);
        if (!w->slots || pthread_create(&w->th, NULL, work, w) != 0) {
            free(w->slots);
            break;
        }
    }
    if (made < o.threads) {
        /* The barriers count every thread: stop here (no worker has one
         * of its own to pass without us). */
        fprintf(stderr, "pagealloc %s: cannot start worker %u\n", cmd, made);
        _exit(CLI_FAIL);
    }
    pthread_barrier_wait(&sh.stopped);
    for (unsigned i = 0; i < o.threads; i++) {
        worker *w = &ws[i];
        double s = (double)(w->stop_ns - sh.start_ns) * 1e-9;
        if (s > t.seconds)
            t.seconds = s;
        t.steps += w->steps;
        t.pairs += w->pairs;
        t.creates += w->creates;
        t.alloc_failures += w->alloc_failures;
        t.switches += w->switches;
        t.releases += w->releases;
        hist_merge(&t.hw, &w->hw);
    }
    pa_stack_get_stats(sh.a, &t.end);
    if (pageheap_stats_json_buf(h, t.stats_json, sizeof t.stats_json) >= sizeof t.stats_json)
        strcpy(t.stats_json, "null");
    t.rss_end = eng_rss_now();
    t.rss_peak = eng_rss_peak();
    pthread_barrier_wait(&sh.go);
    for (unsigned i = 0; i < o.threads; i++) {
        pthread_join(ws[i].th, NULL);
        free(ws[i].slots);
    }
    t.released = pa_stack_release(sh.a);
    pa_stack_get_stats(sh.a, &t.after);
    t.rss_released = eng_rss_now();
    t.check_err = pageheap_check(h, t.check_msg, sizeof t.check_msg);
    if (o.json)
        print_json(cmd, &o, &t);
    else
        print_text(cmd, &o, &t);
    if (t.check_err) {
        fprintf(stderr, "pagealloc %s: heap check failed: %s\n", cmd, t.check_msg);
        rc = CLI_FAIL;
    }
    if (fflush(stdout) != 0)
        rc = CLI_FAIL;
    pthread_barrier_destroy(&sh.stopped);
    pthread_barrier_destroy(&sh.go);
    pa_stack_allocator_delete(sh.a);
    pageheap_delete(h);
    free(ws);
    return rc;
}
