/*
 * xmalloc.c - producer/consumer in the manner of xmalloc-test: P producer
 * threads allocate objects of random sizes in [16, 512] (one in 64 in
 * [513, 4096]), write them and hand them over in batches of BATCH through a
 * bounded shared queue; C consumer threads take the batches, check the
 * objects and free them. Every object is freed by a thread other than the
 * one that allocated it: the allocator's remote-free path under steady
 * load, with the live set bounded by the queue (QCAP batches).
 *
 * Threads: P = C = max(1, MB_THREADS / 2) (default: CPUs / 2).
 * Work: P x OBJS objects (OBJS scaled by MB_SCALE). Metric: elapsed wall
 * time from the start of the producers to the last free.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "mb.h"

enum { BATCH = 256, QCAP = 64, OBJS = 3000000 };

typedef struct {
    unsigned char *p[BATCH];
    uint32_t n[BATCH];
    uint64_t tag[BATCH];
} batch;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t nonempty, nonfull;
    batch *q[QCAP];
    unsigned head, count;
    int producers_left;
} Q = { .mu = PTHREAD_MUTEX_INITIALIZER, .nonempty = PTHREAD_COND_INITIALIZER,
        .nonfull = PTHREAD_COND_INITIALIZER };

typedef struct {
    int id;
    uint64_t objs;
    uint64_t check;
    uint64_t freed;
    int bad;
} role;

static void put(batch *b)
{
    pthread_mutex_lock(&Q.mu);
    while (Q.count == QCAP)
        pthread_cond_wait(&Q.nonfull, &Q.mu);
    Q.q[(Q.head + Q.count) % QCAP] = b;
    Q.count++;
    pthread_cond_signal(&Q.nonempty);
    pthread_mutex_unlock(&Q.mu);
}

/* NULL once the producers are done and the queue is empty. */
static batch *take(void)
{
    pthread_mutex_lock(&Q.mu);
    while (Q.count == 0 && Q.producers_left > 0)
        pthread_cond_wait(&Q.nonempty, &Q.mu);
    batch *b = NULL;
    if (Q.count) {
        b = Q.q[Q.head];
        Q.head = (Q.head + 1) % QCAP;
        Q.count--;
        pthread_cond_signal(&Q.nonfull);
    }
    pthread_mutex_unlock(&Q.mu);
    return b;
}

static void *producer(void *arg)
{
    role *r = arg;
    mb_rng rng = { 7 + (uint64_t)r->id };
    uint64_t h = MB_FNV_INIT;
    for (uint64_t i = 0; i < r->objs; i += BATCH) {
        batch *b = malloc(sizeof *b);
        if (!b) {
            r->bad = 1;
            break;
        }
        for (int j = 0; j < BATCH; j++) {
            uint64_t x = mb_next(&rng);
            size_t n = (x & 63) == 0 ? 513 + (size_t)((x >> 8) % 3584) : 16 + (size_t)((x >> 8) % 497);
            b->p[j] = malloc(n);
            if (!b->p[j]) {
                r->bad = 1;
                n = 0;
            }
            b->n[j] = (uint32_t)n;
            b->tag[j] = x;
            mb_fill(b->p[j], n, x);
            h = mb_fold(h, x);
        }
        put(b);
    }
    pthread_mutex_lock(&Q.mu);
    Q.producers_left--;
    pthread_cond_broadcast(&Q.nonempty);
    pthread_mutex_unlock(&Q.mu);
    r->check = h;
    return NULL;
}

static void *consumer(void *arg)
{
    role *r = arg;
    batch *b;
    while ((b = take()) != NULL) {
        for (int j = 0; j < BATCH; j++) {
            if (!mb_check(b->p[j], b->n[j], b->tag[j]))
                r->bad = 1;
            free(b->p[j]);
        }
        free(b);
        r->freed += BATCH;
    }
    return NULL;
}

int main(void)
{
    int T = mb_threads(0);
    int P = T / 2 > 0 ? T / 2 : 1, C = P;
    uint64_t objs = (mb_scaled(OBJS) + BATCH - 1) / BATCH * BATCH;
    role rs[64];
    pthread_t tids[64];
    if (P > 32)
        P = C = 32;
    mb_run run;
    mb_begin(&run, "xmalloc", P + C);
    Q.producers_left = P;
    for (int k = 0; k < P + C; k++) {
        rs[k] = (role){ .id = k, .objs = objs };
        if (pthread_create(&tids[k], NULL, k < P ? producer : consumer, &rs[k]) != 0)
            return 1;
    }
    int bad = 0;
    uint64_t check = MB_FNV_INIT, freed = 0;
    for (int k = 0; k < P + C; k++) {
        pthread_join(tids[k], NULL);
        bad |= rs[k].bad;
        if (k < P)
            check = mb_fold(check, rs[k].check);
        freed += rs[k].freed;
    }
    double el = mb_stop(&run);
    if (freed != (uint64_t)P * objs)
        bad = 1;
    mb_report(&run, el, (uint64_t)P * objs, check, !bad);
    return bad;
}
