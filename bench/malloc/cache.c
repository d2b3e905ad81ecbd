/*
 * cache.c - false sharing of cache lines between threads' objects, in the
 * manner of Hoard's cache-thrash and cache-scratch; built twice:
 *
 *   cache-thrash (active false sharing): T threads at once each allocate an
 *     8-byte object, write every byte of it REPS times (volatile), free it,
 *     ITERS times over. An allocator that hands objects of one cache line
 *     to different threads makes their writes fight over that line.
 *   cache-scratch (passive false sharing, MB_CACHE_SCRATCH): the main
 *     thread allocates T 8-byte objects back to back (likely on one cache
 *     line) and gives one to each thread; each thread frees it first, then
 *     runs the thrash loop. An allocator that hands the freed object (or its
 *     neighbours) back to the freeing thread spreads one line over threads.
 *
 * With no false sharing the time is the write loop's, the same for every
 * allocator; sharing multiplies it. Work: T x ITERS x REPS x 8 byte writes
 * (ITERS scaled by MB_SCALE). Metric: elapsed wall time of the threads.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "mb.h"

enum { OBJSIZE = 8, ITERS = 1000, REPS = 50000 };

#ifdef MB_CACHE_SCRATCH
#define NAME "cache-scratch"
#else
#define NAME "cache-thrash"
#endif

typedef struct {
    unsigned char *given;
    uint64_t iters;
    int bad;
    pthread_barrier_t *bar;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->bar);
    if (w->given)
        free(w->given);
    for (uint64_t i = 0; i < w->iters; i++) {
        volatile unsigned char *p = malloc(OBJSIZE);
        if (!p) {
            w->bad = 1;
            return NULL;
        }
        for (int j = 0; j < REPS; j++)
            for (int k = 0; k < OBJSIZE; k++) {
                p[k] = (unsigned char)(k + j);
                unsigned char c = p[k];
                p[k] = (unsigned char)(c + 1);
            }
        for (int k = 0; k < OBJSIZE; k++)
            if (p[k] != (unsigned char)(k + REPS - 1 + 1))
                w->bad = 1;
        free((void *)p);
    }
    return NULL;
}

int main(void)
{
    int T = mb_threads(0);
    uint64_t iters = mb_scaled(ITERS);
    mb_run run;
    worker *ws = calloc((size_t)T, sizeof(worker));
    pthread_t *tids = calloc((size_t)T, sizeof(pthread_t));
    pthread_barrier_t bar;
    if (!ws || !tids || pthread_barrier_init(&bar, NULL, (unsigned)T + 1) != 0)
        return 1;
    mb_begin(&run, NAME, T);
    for (int k = 0; k < T; k++) {
        ws[k].iters = iters;
        ws[k].bar = &bar;
#ifdef MB_CACHE_SCRATCH
        ws[k].given = malloc(OBJSIZE);
        if (!ws[k].given)
            return 1;
        memset(ws[k].given, k, OBJSIZE);
#endif
        if (pthread_create(&tids[k], NULL, work, &ws[k]) != 0)
            return 1;
    }
    run.t0 = mb_now();
    pthread_barrier_wait(&bar);
    int bad = 0;
    for (int k = 0; k < T; k++) {
        pthread_join(tids[k], NULL);
        bad |= ws[k].bad;
    }
    double el = mb_stop(&run);
    free(ws);
    free(tids);
    uint64_t check = mb_fold(mb_fold(MB_FNV_INIT, (uint64_t)T), iters);
    mb_report(&run, el, (uint64_t)T * iters, check, !bad);
    return bad;
}
