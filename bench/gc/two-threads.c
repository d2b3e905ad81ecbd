/*
 * two-threads.c - two threads building trees at once. Each thread keeps a
 * long-lived tree of depth max and, for every depth d = 4, 6, ..., max,
 * builds, walks and drops 2^(max-d+4) short-lived trees of depth d (the
 * binary-trees loop without its stretch tree), so the collector sees two
 * mutators allocating concurrently and has two stacks to scan. In the
 * collector build GC_THREADS is defined before <gc.h>, whose redirection
 * turns pthread_create into the collector's wrapper, which registers the
 * thread. Each thread's counts are folded in thread order into the check;
 * the Go version (go/two-threads.go) runs two goroutines.
 *
 * Usage: gcb-two-threads [MAX_DEPTH]   (default 19)
 */
#ifndef MB_MALLOC
#define GC_THREADS 1
#endif
#include "tree.h"

#include <pthread.h>

enum { MIN_DEPTH = 4, THREADS = 2 };

typedef struct {
    int max;                 /* in: the depth of the long-lived tree */
    long sums[32];           /* out: nodes walked per depth step */
    long long_lived;         /* out: nodes of the long-lived tree at the end */
} tt_work;

static void *tt_thread(void *arg)
{
    tt_work *w = arg;
    tree_node *long_lived = tree_build(w->max);
    for (int d = MIN_DEPTH, k = 0; d <= w->max; d += 2, k++) {
        w->sums[k] = tree_pass(d, 1L << (w->max - d + MIN_DEPTH));
    }
    w->long_lived = tree_check(long_lived);
    tree_drop(long_lived);
    return NULL;
}

int main(int argc, char **argv)
{
    int max = (int)gcb_arg(argc, argv, 1, 19);
    if (max < MIN_DEPTH + 2)
        max = MIN_DEPTH + 2;
    if (max > 60)
        max = 60;
    GCB_INIT();
    gcb_run run;
    gcb_begin(&run, "two-threads", max, THREADS);
    static tt_work work[THREADS];
    pthread_t tid[THREADS];
    for (int i = 0; i < THREADS; i++) {
        work[i].max = max;
        int err = pthread_create(&tid[i], NULL, tt_thread, &work[i]);
        if (err) {
            fprintf(stderr, "two-threads: pthread_create: %s\n", strerror(err));
            return 2;
        }
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(tid[i], NULL);
    gcb_end(&run);

    uint64_t h = MB_FNV_INIT;
    int ok = 1;
    for (int i = 0; i < THREADS; i++) {
        for (int d = MIN_DEPTH, k = 0; d <= max; d += 2, k++) {
            printf("thread %d: %ld\t trees of depth %d\t check: %ld\n", i,
                   1L << (max - d + MIN_DEPTH), d, work[i].sums[k]);
            h = mb_fold(h, (uint64_t)work[i].sums[k]);
            ok &= work[i].sums[k] == (1L << (max - d + MIN_DEPTH)) * ((2L << d) - 1);
        }
        printf("thread %d: long lived tree of depth %d\t check: %ld\n", i, max, work[i].long_lived);
        h = mb_fold(h, (uint64_t)work[i].long_lived);
        ok &= work[i].long_lived == (2L << max) - 1;
    }
    run.check = h;
    run.ok = ok;
    gcb_report(&run);
    return ok ? 0 : 1;
}
