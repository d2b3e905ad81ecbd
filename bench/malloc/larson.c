/*
 * larson.c - a server-like mix in the manner of Larson and Krishnan's
 * benchmark: T worker threads each own a table of SLOTS live objects;
 * in each round a fresh set of T threads is started and thread k works on
 * table (k + round) mod T, replacing random objects (free the old one,
 * allocate a new one of a random size in [8, 1024], write it). So every
 * object allocated in one round is freed in a later round by another
 * thread, the threads that allocated it having exited: the remote-free and
 * thread-exit paths of a server whose requests migrate between workers.
 * The tables start filled by the main thread and are freed by it at the end.
 *
 * Work: ROUNDS x T x STEPS replacements (STEPS scaled by MB_SCALE).
 * Metric: elapsed wall time of the rounds.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "mb.h"

enum { SLOTS = 4000, ROUNDS = 40, MINSZ = 8, MAXSZ = 1024 };

typedef struct {
    unsigned char *p[SLOTS];
    uint32_t n[SLOTS];
    uint64_t tag[SLOTS];
} table;

typedef struct {
    table *t;
    mb_rng rng;
    uint64_t steps;
    uint64_t check;
    int bad;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    table *t = w->t;
    uint64_t h = w->check;
    for (uint64_t i = 0; i < w->steps; i++) {
        uint64_t r = mb_next(&w->rng);
        unsigned s = (unsigned)(r % SLOTS);
        size_t n = MINSZ + (size_t)((r >> 32) % (MAXSZ - MINSZ + 1));
        if (!mb_check(t->p[s], t->n[s], t->tag[s]))
            w->bad = 1;
        free(t->p[s]);
        unsigned char *p = malloc(n);
        if (!p) {
            w->bad = 1;
            break;
        }
        uint64_t tag = r ^ i;
        mb_fill(p, n, tag);
        t->p[s] = p;
        t->n[s] = (uint32_t)n;
        t->tag[s] = tag;
        h = mb_fold(h, r);
    }
    w->check = h;
    return NULL;
}

int main(void)
{
    int T = mb_threads(0);
    uint64_t steps = mb_scaled(100000);
    mb_run run;
    mb_begin(&run, "larson", T);
    table *tabs = calloc((size_t)T, sizeof(table));
    worker *ws = calloc((size_t)T, sizeof(worker));
    pthread_t *tids = calloc((size_t)T, sizeof(pthread_t));
    if (!tabs || !ws || !tids)
        return 1;
    mb_rng init = { 1 };
    for (int k = 0; k < T; k++)
        for (int s = 0; s < SLOTS; s++) {
            size_t n = (size_t)mb_range(&init, MINSZ, MAXSZ);
            tabs[k].p[s] = malloc(n);
            if (!tabs[k].p[s])
                return 1;
            tabs[k].n[s] = (uint32_t)n;
            tabs[k].tag[s] = (uint64_t)k * SLOTS + (uint64_t)s;
            mb_fill(tabs[k].p[s], n, tabs[k].tag[s]);
        }
    int bad = 0;
    uint64_t check = MB_FNV_INIT;
    for (int round = 0; round < ROUNDS; round++) {
        for (int k = 0; k < T; k++) {
            ws[k].t = &tabs[(k + round) % T];
            ws[k].rng.s = (uint64_t)round * 1000003u + (uint64_t)k;
            ws[k].steps = steps;
            ws[k].check = MB_FNV_INIT;
            if (pthread_create(&tids[k], NULL, work, &ws[k]) != 0)
                return 1;
        }
        for (int k = 0; k < T; k++) {
            pthread_join(tids[k], NULL);
            bad |= ws[k].bad;
            check = mb_fold(check, ws[k].check);
        }
    }
    double el = mb_stop(&run);
    for (int k = 0; k < T; k++)
        for (int s = 0; s < SLOTS; s++) {
            if (!mb_check(tabs[k].p[s], tabs[k].n[s], tabs[k].tag[s]))
                bad = 1;
            free(tabs[k].p[s]);
        }
    free(tabs);
    free(ws);
    free(tids);
    mb_report(&run, el, (uint64_t)ROUNDS * (uint64_t)T * steps, check, !bad);
    return bad;
}
