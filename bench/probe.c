/*
 * pagealloc-bench-probe - the reference loop of the paired protocol of
 * bench/run_malloc.sh and bench/run_gc.sh, as a program of its own.
 *
 *   pagealloc-bench-probe [THREADS [SAMPLES]]     (default 1 3)
 *
 * Runs THREADS threads, thread k pinned to the k-th CPU the process may
 * run on (so `taskset -c 1 pagealloc-bench-probe 1` measures CPU 1 and
 * `taskset -c 0,1 pagealloc-bench-probe 2` both), each the loop of
 * bench/backed_probe.h SAMPLES times (W2's access pattern over a bitmap,
 * per-page counters and a pointer array; no allocator call in the timed
 * part; the threads start each sample together), and prints one line
 *   probe threads=T ops=N
 * N the median over the samples of the slowest thread's operations per
 * second.
 *
 * Why a median of samples (since 2026-12-05; one sample before): the
 * paired protocol judges a round by whether the references around its two
 * runs agree (bench/pairs.py), so one reference slowed by a blip of a few
 * milliseconds (a kernel thread, the previous run's exit) would drop the
 * rounds on both sides of it although no run was slowed; a spell of the
 * host's (seconds to minutes, backed_probe.h) slows every sample and still
 * shows.
 *
 * Why a program and not a loop inside each benchmark: the malloc suite's
 * and the collector's programs are the peers' programs too (the same
 * source under another allocator or collector), and must stay as they
 * are. The drivers run this program on the same CPUs just before and just
 * after every measured run; a run whose reference was slow ran while the
 * host was slowing that vCPU (bench/backed_probe.h says how that looks),
 * and the driver's pair selection (bench/pairs.py) drops it. Its own
 * process start and set-up (faulting in ~5 MB) are outside the timed part;
 * the whole program took 10-20 ms with one sample and takes about 40 ms
 * with three (the first sample also faults in the counter array, and runs
 * ~10 % slower than the next: the median reads a warm one).
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
#define MAX_SAMPLES 15

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
    unsigned samples;
    pthread_barrier_t *start, *done;
    double ops[MAX_SAMPLES];    /* this thread's speed in each sample */
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
    for (unsigned k = 0; k < t->samples; k++)  /* probe_run waits on both barriers */
        t->ops[k] = probe_run(&m, t->start, t->done);
    probe_free(&m);
    return NULL;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    long samples = argc > 2 ? strtol(argv[2], NULL, 10) : 3;
    if (argc > 3 || n < 1 || n > MAX_THREADS || samples < 1 || samples > MAX_SAMPLES)
        die("usage: pagealloc-bench-probe [THREADS [SAMPLES]]   (1-%d, 1-%d)", MAX_THREADS, MAX_SAMPLES);
    g_probe = 1;                /* backed_probe.h's switch; always on here */
    probe_thread ts[MAX_THREADS];
    pthread_barrier_t start, done;
    if (pthread_barrier_init(&start, NULL, (unsigned)n) != 0 ||
        pthread_barrier_init(&done, NULL, (unsigned)n) != 0)
        die("pthread_barrier_init failed");
    for (long k = 0; k < n; k++) {
        ts[k] = (probe_thread){.idx = (unsigned)k, .cpu = kth_cpu((unsigned)k),
                               .samples = (unsigned)samples, .start = &start, .done = &done};
        if (pthread_create(&ts[k].tid, NULL, probe_main, &ts[k]) != 0)
            die("pthread_create failed");
    }
    for (long k = 0; k < n; k++)
        pthread_join(ts[k].tid, NULL);
    /* each sample's slowest thread, sorted (insertion: at most 15) */
    double slowest[MAX_SAMPLES];
    for (long j = 0; j < samples; j++) {
        double v = ts[0].ops[j];
        for (long k = 1; k < n; k++)
            if (ts[k].ops[j] < v)
                v = ts[k].ops[j];
        long i = j;
        for (; i > 0 && slowest[i - 1] > v; i--)
            slowest[i] = slowest[i - 1];
        slowest[i] = v;
    }
    double med = samples % 2 ? slowest[samples / 2]
                             : (slowest[samples / 2 - 1] + slowest[samples / 2]) / 2;
    printf("probe threads=%ld ops=%.0f\n", n, med);
    return 0;
}
