/*
 * engine.c - the replay engine (engine.h).
 *
 * Workers and the main thread share `eng_shared`: the heap, the config,
 * and a mutex-protected hand-shake (stopped count, the `teardown` flag).
 * Each worker's counters and histograms are its own until it is joined;
 * the main thread reads only `done` (relaxed atomic, for the progress bar)
 * before that. In object workloads a worker's inbox is written by the
 * previous worker only and read by its owner only (an SPSC ring).
 */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

typedef struct eng_shared {
    pageheap *h;
    const eng_config *c;
    size_t os_page;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned stopped;             /* workers done replaying; under mu */
    int teardown;                 /* main: free and exit; under mu */
} eng_shared;

/* An inbox: objects sent to a worker, oldest first. The sender writes
 * buf[tail] and then publishes tail (release); the owner reads tail
 * (acquire), takes buf[head] and publishes head (release), which the
 * sender reads (acquire) before reusing the cell. */
#define INBOX_CELLS ((uint64_t)1 << 17)
typedef struct eng_inbox {
    _Atomic uint64_t head __attribute__((aligned(64)));
    _Atomic uint64_t tail __attribute__((aligned(64)));
    void **buf;
} eng_inbox;

typedef struct eng_worker {
    eng_shared *sh;
    unsigned index;
    pthread_t thread;
    void **ptr;                   /* per slot: the allocation, NULL if none */
    uint64_t *npages;             /* per slot: its pages */
    _Atomic uint64_t done;        /* events so far, for the progress bar */
    uint64_t t_start, t_stop;
    int timed_out, bad_event;
    /* Counters, the worker's own until joined. */
    uint64_t events, allocs, alloc_failures, frees, skipped_frees, releases;
    uint64_t alloc_bytes, release_bytes;
    uint64_t sends, remote_frees, local_frees, empty_recvs;
    hist alloc_ns, free_ns;
    eng_inbox inbox;              /* objects */
    struct eng_worker *next;      /* where sends go: the next worker */
} eng_worker;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- RSS ------------------------------------------------------------------------ */

uint64_t eng_rss_now(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t eng_rss_peak(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

void eng_rss_reset_peak(void)
{
    /* "5" resets the peak RSS to the current RSS (Linux 4.0 and later). */
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

/* ---- Workers -------------------------------------------------------------------- */

static void touch(void *p, size_t bytes, size_t step)
{
    for (size_t off = 0; off < bytes; off += step)
        ((volatile char *)p)[off] = 1;
}

/* ---- Object workloads' inboxes --------------------------------------------------- */

static int inbox_push(eng_inbox *b, void *p)
{
    uint64_t t = atomic_load_explicit(&b->tail, memory_order_relaxed);
    if (t - atomic_load_explicit(&b->head, memory_order_acquire) == INBOX_CELLS)
        return 0;
    b->buf[t & (INBOX_CELLS - 1)] = p;
    atomic_store_explicit(&b->tail, t + 1, memory_order_release);
    return 1;
}

static void *inbox_pop(eng_inbox *b)
{
    uint64_t h = atomic_load_explicit(&b->head, memory_order_relaxed);
    if (h == atomic_load_explicit(&b->tail, memory_order_acquire))
        return NULL;
    void *p = b->buf[h & (INBOX_CELLS - 1)];
    atomic_store_explicit(&b->head, h + 1, memory_order_release);
    return p;
}

/* Free p on this worker, timed. */
static void timed_free(eng_worker *w, void *p, uint64_t npages, uint64_t *tb)
{
    uint64_t ta = now_ns();
    if (w->sh->c->objects)
        pa_free(p);
    else
        pageheap_free(w->sh->h, p, (size_t)npages);
    *tb = now_ns();
    hist_add(&w->free_ns, *tb - ta);
    w->frees++;
}

static void replay(eng_worker *w)
{
    const eng_config *c = w->sh->c;
    eng_source *src = &c->sources[w->index];
    pageheap *h = w->sh->h;
    uint64_t limit = c->max_events;
    if (src->total && (limit == 0 || src->total < limit))
        limit = src->total;
    uint64_t start = now_ns(), last = start;
    uint64_t deadline = c->seconds > 0 ? start + (uint64_t)(c->seconds * 1e9) : 0;
    w->t_start = start;
    uint64_t n = 0;
    wl_event ev;
    for (;;) {
        if (c->max_events && n >= c->max_events)
            break;
        if (deadline && last >= deadline) {
            w->timed_out = 1;
            break;
        }
        double progress = deadline ? (double)(last - start) / (double)(deadline - start)
                        : limit    ? (double)n / (double)limit : 0;
        if (!src->next(src->state, progress, &ev))
            break;
        if (ev.op != WL_RELEASE && ev.op != WL_RECV && ev.slot >= src->slots) {
            w->bad_event = 1;
            break;
        }
        uint64_t ta, tb;
        switch (ev.op) {
        case WL_ALLOC: {
            if (w->ptr[ev.slot]) {
                w->bad_event = 1;
                goto out;
            }
            ta = now_ns();
            void *p = c->objects ? pa_malloc((size_t)ev.arg) : pageheap_alloc(h, (size_t)ev.arg);
            tb = now_ns();
            hist_add(&w->alloc_ns, tb - ta);
            w->allocs++;
            if (!p) {
                w->alloc_failures++;
                break;
            }
            w->ptr[ev.slot] = p;
            w->npages[ev.slot] = ev.arg;
            uint64_t bytes = c->objects ? ev.arg : ev.arg * PAGEALLOC_PAGE_SIZE;
            w->alloc_bytes += bytes;
            if (c->opts.touch)
                touch(p, (size_t)bytes, w->sh->os_page);
            break;
        }
        case WL_FREE: {
            void *p = w->ptr[ev.slot];
            if (!p) {
                w->skipped_frees++;
                tb = last;
                break;
            }
            timed_free(w, p, w->npages[ev.slot], &tb);
            w->ptr[ev.slot] = NULL;
            break;
        }
        case WL_SEND: {
            void *p = w->ptr[ev.slot];
            tb = last;
            if (!c->objects) {
                w->bad_event = 1;
                goto out;
            }
            if (!p) {
                w->skipped_frees++;   /* its allocation failed */
                break;
            }
            w->ptr[ev.slot] = NULL;
            if (inbox_push(&w->next->inbox, p)) {
                w->sends++;
                tb = now_ns();
            } else {
                timed_free(w, p, 0, &tb);
                w->local_frees++;
            }
            break;
        }
        case WL_RECV: {
            tb = last;
            if (!c->objects) {
                w->bad_event = 1;
                goto out;
            }
            void *p = inbox_pop(&w->inbox);
            if (!p) {
                w->empty_recvs++;
                tb = now_ns();
                break;
            }
            timed_free(w, p, 0, &tb);
            w->remote_frees++;
            break;
        }
        case WL_RELEASE:
            if (c->objects) {
                w->bad_event = 1;
                goto out;
            }
            w->release_bytes += pageheap_release(h, ev.arg == WL_RELEASE_ALL ? SIZE_MAX
                                                                             : (size_t)ev.arg);
            w->releases++;
            tb = now_ns();
            break;
        default:
            w->bad_event = 1;
            goto out;
        }
        last = tb;
        n++;
        if ((n & 63) == 0)
            atomic_store_explicit(&w->done, n, memory_order_relaxed);
    }
out:
    w->events = n;
    atomic_store_explicit(&w->done, n, memory_order_relaxed);
    w->t_stop = now_ns();
}

static void *worker_main(void *arg)
{
    eng_worker *w = arg;
    eng_shared *sh = w->sh;
    replay(w);
    /* Stay (holding the live set and the page cache) until the main
     * thread has taken the final picture. */
    pthread_mutex_lock(&sh->mu);
    sh->stopped++;
    pthread_cond_broadcast(&sh->cv);
    while (!sh->teardown)
        pthread_cond_wait(&sh->cv, &sh->mu);
    pthread_mutex_unlock(&sh->mu);
    uint32_t slots = sh->c->sources[w->index].slots;
    for (uint32_t i = 0; i < slots; i++) {
        if (!w->ptr[i])
            continue;
        if (sh->c->objects)
            pa_free(w->ptr[i]);
        else
            pageheap_free(sh->h, w->ptr[i], (size_t)w->npages[i]);
    }
    if (sh->c->objects)
        for (void *p; (p = inbox_pop(&w->inbox)) != NULL;)
            pa_free(p);
    return NULL;
}

/* ---- The main thread ------------------------------------------------------------- */

static void draw(const eng_config *c, eng_worker *ws, pageheap *h, uint64_t t0)
{
    uint64_t done = 0, total = 0;
    int endless = 0;
    for (unsigned t = 0; t < c->threads; t++) {
        done += atomic_load_explicit(&ws[t].done, memory_order_relaxed);
        uint64_t lim = c->sources[t].total;
        if (c->max_events && (lim == 0 || c->max_events < lim))
            lim = c->max_events;
        total += lim;
        endless |= lim == 0;
    }
    double el = (double)(now_ns() - t0) * 1e-9;
    double frac = endless ? (c->seconds > 0 ? el / c->seconds : -1)
                          : (double)done / (double)(total ? total : 1);
    if (!endless && c->seconds > 0 && el / c->seconds > frac)
        frac = el / c->seconds;
    pageheap_stats st = { .version = PAGEHEAP_STATS_VERSION };
    pageheap_get_stats(h, &st);
    char a[32], b[32], d[32], status[256];
    char ops[32];
    if (done >= 1000000)
        snprintf(ops, sizeof ops, "%.2f M", (double)done / 1e6);
    else
        snprintf(ops, sizeof ops, "%llu ", (unsigned long long)done);
    snprintf(status, sizeof status, "%5.1f s  %sops  in use %s  RSS %s  released %s",
             el, ops, cli_bytes(a, st.in_use_bytes),
             cli_bytes(b, eng_rss_now()), cli_bytes(d, st.scavenged_bytes));
    progress_draw(frac, status);
}

int eng_run(const eng_config *c, eng_result *r, char *err, size_t err_size)
{
    memset(r, 0, sizeof *r);
    eng_shared sh = { .c = c, .os_page = (size_t)sysconf(_SC_PAGESIZE) };
    eng_worker *ws = calloc(c->threads, sizeof *ws);
    if (!ws) {
        snprintf(err, err_size, "out of memory");
        return CLI_FAIL;
    }
    for (unsigned t = 0; t < c->threads; t++) {
        ws[t].sh = &sh;
        ws[t].index = t;
        ws[t].ptr = calloc(c->sources[t].slots ? c->sources[t].slots : 1, sizeof(void *));
        ws[t].npages = calloc(c->sources[t].slots ? c->sources[t].slots : 1, sizeof(uint64_t));
        ws[t].next = &ws[(t + 1) % c->threads];
        if (c->objects)
            ws[t].inbox.buf = calloc(INBOX_CELLS, sizeof(void *));
        if (!ws[t].ptr || !ws[t].npages || (c->objects && !ws[t].inbox.buf)) {
            snprintf(err, err_size, "out of memory");
            for (unsigned k = 0; k <= t; k++) {
                free(ws[k].ptr);
                free(ws[k].npages);
                free(ws[k].inbox.buf);
            }
            free(ws);
            return CLI_FAIL;
        }
    }
    pthread_mutex_init(&sh.mu, NULL);
    pthread_cond_init(&sh.cv, NULL);
    if (c->objects)              /* the process's allocator, made at first use */
        pa_free(pa_malloc(1));
    eng_rss_reset_peak();
    r->rss_start = eng_rss_now();

    int rc = CLI_OK;
    unsigned started = 0;
    sh.h = c->objects ? pa_malloc_pageheap() : pageheap_new(&c->opts.heap);
    if (!sh.h) {
        snprintf(err, err_size, "cannot create the heap: %s", strerror(errno));
        rc = CLI_FAIL;
        goto out;
    }
    uint64_t t0 = now_ns();
    for (; started < c->threads; started++) {
        int e = pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]);
        if (e) {
            snprintf(err, err_size, "cannot start a thread: %s", strerror(e));
            rc = CLI_FAIL;
            break;
        }
    }
    /* Wait for the workers to stop, drawing the bar every 100 ms. */
    uint64_t next_draw = 0;
    pthread_mutex_lock(&sh.mu);
    while (sh.stopped < started) {
        pthread_mutex_unlock(&sh.mu);
        if (c->progress && now_ns() >= next_draw) {
            draw(c, ws, sh.h, t0);
            next_draw = now_ns() + 100000000u;
        }
        struct timespec ts = { 0, 10000000 };
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&sh.mu);
    }
    pthread_mutex_unlock(&sh.mu);
    if (c->progress)
        progress_clear();

    /* The final picture, the live sets and page caches still held. */
    if (rc == CLI_OK) {
        r->rss_final = eng_rss_now();
        r->rss_peak = eng_rss_peak();
        if (r->rss_peak < r->rss_final)
            r->rss_peak = r->rss_final;
        r->stats.version = PAGEHEAP_STATS_VERSION;
        pageheap_get_stats(sh.h, &r->stats);
        size_t len = pageheap_stats_json_buf(sh.h, NULL, 0);
        r->stats_json = malloc(len + 1);
        if (r->stats_json)
            pageheap_stats_json_buf(sh.h, r->stats_json, len + 1);
        if (c->objects) {
            r->objects = 1;
            pa_malloc_get_stats(&r->mstats);
            char *buf = NULL;
            size_t mlen = 0;
            FILE *mf = open_memstream(&buf, &mlen);
            if (mf) {
                int e = pa_malloc_stats_json(mf);
                if (fclose(mf) == 0 && e == 0)
                    r->malloc_json = buf;
                else
                    free(buf);
            }
        }
        if (c->want_map) {
            int e = heapmap_collect(&r->map, sh.h);
            if (!e && c->objects)
                e = heapmap_paint_spans(&r->map);
            if (e) {
                snprintf(err, err_size, "cannot collect the heap map: %s", strerror(e));
                rc = CLI_FAIL;
            }
        }
        r->check_err = pageheap_check(sh.h, r->check_msg, sizeof r->check_msg);
    }
    pthread_mutex_lock(&sh.mu);
    sh.teardown = 1;
    pthread_cond_broadcast(&sh.cv);
    pthread_mutex_unlock(&sh.mu);
    uint64_t first = UINT64_MAX, lastt = 0;
    for (unsigned t = 0; t < started; t++) {
        eng_worker *w = &ws[t];
        pthread_join(w->thread, NULL);
        if (w->bad_event && rc == CLI_OK) {
            snprintf(err, err_size, "internal error: worker %u got an invalid event", t);
            rc = CLI_FAIL;
        }
        first = w->t_start < first ? w->t_start : first;
        lastt = w->t_stop > lastt ? w->t_stop : lastt;
        r->events += w->events;
        r->allocs += w->allocs;
        r->alloc_failures += w->alloc_failures;
        r->frees += w->frees;
        r->skipped_frees += w->skipped_frees;
        r->releases += w->releases;
        r->alloc_bytes += w->alloc_bytes;
        r->sends += w->sends;
        r->remote_frees += w->remote_frees;
        r->local_frees += w->local_frees;
        r->empty_recvs += w->empty_recvs;
        r->release_bytes += w->release_bytes;
        r->timed_out |= w->timed_out;
        hist_merge(&r->alloc_ns, &w->alloc_ns);
        hist_merge(&r->free_ns, &w->free_ns);
    }
    r->seconds = lastt > first ? (double)(lastt - first) * 1e-9 : 0;
    if (!c->objects)             /* the allocator's heap lives on */
        pageheap_delete(sh.h);
out:
    for (unsigned t = 0; t < c->threads; t++) {
        free(ws[t].ptr);
        free(ws[t].npages);
        free(ws[t].inbox.buf);
    }
    free(ws);
    pthread_mutex_destroy(&sh.mu);
    pthread_cond_destroy(&sh.cv);
    if (rc != CLI_OK)
        eng_result_free(r);
    return rc;
}

void eng_result_free(eng_result *r)
{
    free(r->stats_json);
    r->stats_json = NULL;
    free(r->malloc_json);
    r->malloc_json = NULL;
    heapmap_free(&r->map);
}
