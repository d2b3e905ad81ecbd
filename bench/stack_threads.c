/*
 * stack_threads.c - create+destroy pairs of one stack size on T threads at
 * once, reporting for each thread both the wall time and the thread's own
 * CPU time per pair, and the CPU it ran on at its start, middle and end:
 *
 *   pagealloc-bench-stack-threads THREADS KIB N [ROUNDS]
 *
 * One line per round: "[wall cpu c0>c1>c2]" per thread, ns per pair.
 *
 * Why: on a shared machine the wall time of a two-thread run mostly says
 * whether the two threads got a CPU each (with both on one CPU, each pair
 * takes twice as long on the clock), which no change of the library
 * moves. The thread CPU time does not count the time a thread waited for
 * a CPU, so it shows what the threads cost each other *when they did run
 * on two CPUs at once* (rows whose c0 differ): cache lines written by one
 * and read or written by the other. That is how the false sharing of two
 * threads' stack records was found (docs/stack.md, "Two threads").
 * Each pair touches the top 64 bytes, as stack.c's pairs do. A new
 * allocator per process; every round makes new threads (as stack.c does),
 * whose first stack comes from the pools after the first round.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pagealloc/stack.h"

#define MAX_THREADS 8

static pa_stack_allocator *A;
static size_t size;
static long pairs;

struct job {
    double wall, cpu;           /* ns per pair */
    int cpus[3];                /* at the start, the middle, the end */
    int failed;
};

static double clock_ns(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void *run(void *arg)
{
    struct job *j = arg;
    pa_stack s;
    j->cpus[0] = sched_getcpu();
    double w0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    for (long i = 0; i < pairs; i++) {
        if (i == pairs / 2)
            j->cpus[1] = sched_getcpu();
        if (pa_stack_alloc(A, size, &s)) {
            j->failed = 1;
            break;
        }
        memset((char *)s.hi - 64, 1, 64);
        pa_stack_free(A, &s);
    }
    j->wall = (clock_ns(CLOCK_MONOTONIC) - w0) / (double)pairs;
    j->cpu = (clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)pairs;
    j->cpus[2] = sched_getcpu();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s THREADS KIB N [ROUNDS]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]), rounds = argc == 5 ? atoi(argv[4]) : 1;
    size = (size_t)atol(argv[2]) << 10;
    pairs = atol(argv[3]);
    A = pa_stack_allocator_new(NULL);
    if (!A || threads < 1 || threads > MAX_THREADS || size == 0 || pairs < 1 || rounds < 1) {
        fprintf(stderr, "%s: bad arguments or no allocator\n", argv[0]);
        return 1;
    }
    for (int r = 0; r < rounds; r++) {
        struct job j[MAX_THREADS];
        pthread_t t[MAX_THREADS];
        memset(j, 0, sizeof j);
        for (int i = 0; i < threads; i++)
            if (pthread_create(&t[i], NULL, run, &j[i]))
                return 1;
        for (int i = 0; i < threads; i++)
            pthread_join(t[i], NULL);
        for (int i = 0; i < threads; i++) {
            if (j[i].failed)
                return 1;
            printf("[%.1f cpu %.1f %d>%d>%d] ", j[i].wall, j[i].cpu, j[i].cpus[0], j[i].cpus[1],
                   j[i].cpus[2]);
        }
        printf("\n");
    }
    pa_stack_allocator_delete(A);
    return 0;
}
