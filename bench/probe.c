/*
 * pagealloc-bench-probe - the reference loop of the paired protocol of
 * bench/run_malloc.sh and bench/run_gc.sh, as a program of its own.
 *
 *   pagealloc-bench-probe [THREADS]     (default 1)
 *
 * Runs THREADS threads, thread k pinned to the k-th CPU the process may
 * run on (so `taskset -c 1 pagealloc-bench-probe 1` measures CPU 1 and
 * `taskset -c 0,1 pagealloc-bench-probe 2` both), each the loop of
 * bench/backed_probe.h once (W2's access pattern over a bitmap, per-page
 * counters and a pointer array; no allocator call in the timed part), and
 * prints one line
 *   probe threads=T ops=N
 * N the slowest thread's operations per second.
 *
 * Why a program and not a loop inside each benchmark: the malloc suite's
 * and the collector's programs are the peers' programs too (the same
 * source under another allocator or collector), and must stay as they
 * are. The drivers run this program on the same CPUs just before and just
 * after every measured run; a run whose reference was slow ran while the
 * host was slowing that vCPU (bench/backed_probe.h says how that looks),
 * and the driver's pair selection (bench/pairs.py) drops it. Its own
 * process start and set-up (faulting in ~5 MB) are outside the timed part;
 * the whole program takes about 20-40 ms.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wlgen.h"

#define PAGE        ((size_t)8192)
#define W2_N        ((unsigned)WLGEN_W2_PAGES)
#define MAX_THREADS 64

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("pagealloc-bench-probe: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#include "backed_probe.h"

typedef struct probe_thread {
    pthread_t tid;
    unsigned idx;
    int cpu;                    /* the CPU it is pinned to, -1: not pinned */
    pthread_barrier_t *start, *done;
    double ops;
} probe_thread;

/* The k-th CPU of the process's affinity mask (wrapping), or -1. */
static int kth_cpu(unsigned k)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 1)
        return -1;
    unsigned n = (unsigned)CPU_COUNT(&allowed), seen = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &allowed) && seen++ == k % n)
            return c;
    return -1;
}

static void *probe_main(void *arg)
{
    probe_thread *t = arg;
    if (t->cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(t->cpu, &one);
        (void)pthread_setaffinity_np(pthread_self(), sizeof one, &one);
    }
    probe_mem m;
    probe_setup(&m, t->idx);
    t->ops = probe_run(&m, t->start, t->done);
    probe_free(&m);
    return NULL;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    if (argc > 2 || n < 1 || n > MAX_THREADS)
        die("usage: pagealloc-bench-probe [THREADS]   (1-%d)", MAX_THREADS);
    g_probe = 1;                /* backed_probe.h's switch; always on here */
    probe_thread ts[MAX_THREADS];
    pthread_barrier_t start, done;
    if (pthread_barrier_init(&start, NULL, (unsigned)n) != 0 ||
        pthread_barrier_init(&done, NULL, (unsigned)n) != 0)
        die("pthread_barrier_init failed");
    for (long k = 0; k < n; k++) {
        ts[k] = (probe_thread){.idx = (unsigned)k, .cpu = kth_cpu((unsigned)k),
                               .start = &start, .done = &done};
        if (pthread_create(&ts[k].tid, NULL, probe_main, &ts[k]) != 0)
            die("pthread_create failed");
    }
    double slowest = -1;
    for (long k = 0; k < n; k++) {
        pthread_join(ts[k].tid, NULL);
        if (slowest < 0 || ts[k].ops < slowest)
            slowest = ts[k].ops;
    }
    printf("probe threads=%ld ops=%.0f\n", n, slowest);
    return 0;
}
