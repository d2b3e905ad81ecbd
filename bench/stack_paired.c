/*
 * stack_paired.c - the reference loop, the quiet test and the paired
 * figures of bench/stack.c (the protocol is in stack_paired.h's comment).
 *
 * The reference loop is bench/backed_probe.h's, the loop that
 * pagealloc-bench-probe runs for the malloc and collector drivers, here in
 * the benchmark's own process (a run of ours is 3-15 ms, too short to
 * frame with a process start on either side) and with 8 of its rounds
 * instead of 12 (about 6 ms): about as long as the runs it frames. With 4
 * (3 ms) a reference right after another process's time slice often read
 * 0.7-0.8 of the best (cold caches), and dropped rounds whose ratios did
 * not move. Each probe thread keeps its memory between calls (set up on its
 * first call, untimed), so a reference after the first costs only its
 * timed part.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stack_paired.h"
#include "wlgen.h"

#define PAGE         ((size_t)8192)
#define W2_N         ((unsigned)WLGEN_W2_PAGES)
#define PROBE_ROUNDS 8u

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("pagealloc-bench-stack: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* The reference loop's clock (backed_probe.h times itself with now_ns):
 * the thread's own time, wall time less its run delay, as the runs it
 * frames are measured. The reference is there for the host's slow mode,
 * which slows the code on the CPU; time spent waiting for the CPU is the
 * run delay's to judge (stack_paired.h), and would otherwise fail a
 * two-thread reference whenever another process shares one of the CPUs,
 * although the runs' own times and ratios do not move (64 KiB, two
 * threads, load 12: ours / glibc 0.63-0.65 in all 12 rounds, 3 of them
 * quiet by wall-time references). */
static _Thread_local int probe_clock_end;   /* probe_run calls now_ns twice */

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The two readings in the order that leaves a wait between them (a
 * preemption on the way back from the read of /proc is common under load)
 * inside the interval: wall then delay at the start, delay then wall at
 * the end. The other order once read 2.6x the best reference. */
static uint64_t now_ns(void)
{
    uint64_t wall, delay;
    if (!probe_clock_end) {
        wall = wall_ns();
        delay = (uint64_t)sp_run_delay();
    } else {
        delay = (uint64_t)sp_run_delay();
        wall = wall_ns();
    }
    probe_clock_end = !probe_clock_end;
    return wall - delay;
}

#include "backed_probe.h"

double sp_probe_quiet = 0.85, sp_delay_quiet = 0.5;
static double sp_best[SP_MAX_THREADS + 1];   /* the best reference per width */

void sp_init(void)
{
    const char *q = getenv("PROBE_QUIET"), *d = getenv("RUN_DELAY_QUIET");
    if (q && atof(q) > 0)
        sp_probe_quiet = atof(q);
    if (d && atof(d) > 0)
        sp_delay_quiet = atof(d);
    g_probe = 1;
}

int sp_cpu(unsigned k)
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

void sp_pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    (void)pthread_setaffinity_np(pthread_self(), sizeof one, &one);
}

double sp_run_delay(void)
{
    char buf[96];
    int fd = open("/proc/thread-self/schedstat", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *end;
    (void)strtoull(buf, &end, 10);              /* time on a CPU */
    return (double)strtoull(end, NULL, 10);     /* time waiting on a run queue */
}

typedef struct probe_slot {
    pthread_t tid;
    unsigned idx;
    int cpu, ready;
    probe_mem mem;
    pthread_barrier_t *start, *done;
    double ops;
} probe_slot;

static probe_slot slots[SP_MAX_THREADS];

static void *probe_thread(void *arg)
{
    probe_slot *s = arg;
    sp_pin(s->cpu);
    if (!s->ready) {
        probe_setup(&s->mem, s->idx);
        s->ready = 1;
    }
    s->ops = probe_run(&s->mem, s->start, s->done);
    return NULL;
}

double sp_probe(int threads, const int *cpus)
{
    if (threads < 1 || threads > SP_MAX_THREADS)
        return 0;
    pthread_barrier_t start, done;
    if (pthread_barrier_init(&start, NULL, (unsigned)threads) != 0)
        return 0;
    if (pthread_barrier_init(&done, NULL, (unsigned)threads) != 0) {
        pthread_barrier_destroy(&start);
        return 0;
    }
    int made = 0;
    for (; made < threads; made++) {
        probe_slot *s = &slots[made];
        s->idx = (unsigned)made;
        s->cpu = cpus[made];
        s->start = &start;
        s->done = &done;
        if (pthread_create(&s->tid, NULL, probe_thread, s) != 0)
            die("pthread_create failed");      /* the others wait at the barrier */
    }
    double slowest = -1;
    for (int k = 0; k < made; k++) {
        pthread_join(slots[k].tid, NULL);
        if (slowest < 0 || slots[k].ops < slowest)
            slowest = slots[k].ops;
    }
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&done);
    if (slowest > sp_best[threads])
        sp_best[threads] = slowest;
    return slowest > 0 ? slowest : 0;
}

void sp_done(void)
{
    for (int k = 0; k < SP_MAX_THREADS; k++)
        if (slots[k].ready) {
            probe_free(&slots[k].mem);
            slots[k].ready = 0;
        }
}

int sp_quiet(const sp_run *r)
{
    if (r->ns < 0 || r->width < 1 || r->width > SP_MAX_THREADS || sp_best[r->width] <= 0)
        return 0;
    double p = r->probe0 < r->probe1 ? r->probe0 : r->probe1;
    return p >= sp_probe_quiet * sp_best[r->width] &&
           (r->width < 2 || r->sleeper || r->delay <= sp_delay_quiet);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Python's statistics.quantiles(method="inclusive") on sorted v, and the
 * median: the same figures as bench/pairs.py's. */
static double quantile(const double *v, int n, double p)
{
    double pos = p * (double)(n - 1);
    int i = (int)pos;
    return i + 1 < n ? v[i] + (pos - (double)i) * (v[i + 1] - v[i]) : v[n - 1];
}

double sp_median(const double *v, int n)
{
    double s[SP_MAX_ROUNDS];
    int k = 0;
    for (int i = 0; i < n && k < SP_MAX_ROUNDS; i++)
        if (v[i] >= 0)
            s[k++] = v[i];
    if (k == 0)
        return NAN;
    qsort(s, (size_t)k, sizeof s[0], cmp_double);
    return quantile(s, k, 0.5);
}

int sp_quiet_pairs(const sp_run *ours, const sp_run *peer, int n)
{
    int q = 0;
    for (int r = 0; r < n; r++)
        q += ours[r].ns > 0 && peer[r].ns > 0 && sp_quiet(&ours[r]) && sp_quiet(&peer[r]);
    return q;
}

sp_fig sp_figure(const sp_run *ours, const sp_run *peer, int n, int min_quiet)
{
    sp_fig f = { .min_quiet = min_quiet, .value = NAN, .q1 = NAN, .q3 = NAN, .min = NAN,
                 .max = NAN, .all_median = NAN, .ratio_of_medians = NAN };
    double all[SP_MAX_ROUNDS], quiet[SP_MAX_ROUNDS], o[SP_MAX_ROUNDS] = { 0 },
           p[SP_MAX_ROUNDS] = { 0 };
    if (n > SP_MAX_ROUNDS)
        n = SP_MAX_ROUNDS;
    for (int r = 0; r < n; r++) {
        o[r] = ours[r].ns;
        p[r] = peer[r].ns;
        if (ours[r].ns <= 0 || peer[r].ns <= 0)
            continue;
        double ratio = ours[r].ns / peer[r].ns;
        all[f.rounds++] = ratio;
        int qo = sp_quiet(&ours[r]), qp = sp_quiet(&peer[r]);
        if (qo && qp)
            quiet[f.quiet++] = ratio;
        else if (!qo && !qp)
            f.both_slow++;
        else if (!qo)
            f.ours_slow++;
        else
            f.peer_slow++;
    }
    if (f.rounds)
        f.all_median = sp_median(all, f.rounds);
    f.ratio_of_medians = sp_median(o, n) / sp_median(p, n);
    if (f.quiet >= min_quiet && f.quiet > 0) {
        qsort(quiet, (size_t)f.quiet, sizeof quiet[0], cmp_double);
        f.value = quantile(quiet, f.quiet, 0.5);
        f.q1 = quantile(quiet, f.quiet, 0.25);
        f.q3 = quantile(quiet, f.quiet, 0.75);
        f.min = quiet[0];
        f.max = quiet[f.quiet - 1];
    }
    return f;
}
