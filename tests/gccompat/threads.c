/*
 * threads.c - GC_THREADS: threads created through the redirected
 * pthread_create keep objects alive from their stacks while other
 * threads collect; detached threads come and go during collections;
 * a joined thread hands back an object that survived; several threads
 * collect at once.
 */
#define GC_THREADS
#include <gc.h>
#include <pthread.h>

#include "compat.h"

#define WORKERS 4
#define DETACHED 16
#define LEN 500

struct cell {
    struct cell *next;
    long value;
};

static int done_detached;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* Builds a list on this thread's stack, collects and churns, checks it. */
static void *worker(void *arg)
{
    long seed = (long)arg;
    struct cell *head = NULL;
    for (long i = 0; i < LEN; i++) {
        struct cell *c = GC_NEW(struct cell);
        c->value = seed * 1000 + i;
        c->next = head;
        head = c;
    }
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 2000; i++)
            (void)GC_MALLOC(64);
        if (round % 5 == 0)
            GC_gcollect();
    }
    long expect = seed * 1000 + LEN - 1, ok = 1;
    for (struct cell *c = head; c; c = c->next, expect--)
        ok &= c->value == expect;
    ok &= expect == seed * 1000 - 1;
    return ok ? head : NULL;       /* the list outlives the thread */
}

static void *short_lived(void *arg)
{
    (void)arg;
    for (int i = 0; i < 500; i++)
        (void)GC_MALLOC(128);
    pthread_mutex_lock(&mu);
    done_detached++;
    pthread_mutex_unlock(&mu);
    return NULL;
}

int main(void)
{
    GC_INIT();
    pthread_t t[WORKERS];
    for (long i = 0; i < WORKERS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(i + 1)) != 0) {
            printf("pthread_create failed\n");
            return 1;
        }
    int detached_ok = 1;
    for (int i = 0; i < DETACHED; i++) {
        pthread_t d;
        detached_ok &= pthread_create(&d, NULL, short_lived, NULL) == 0;
        detached_ok &= pthread_detach(d) == 0;
        GC_gcollect();
    }
    struct cell *lists[WORKERS];
    int joined_ok = 1;
    for (int i = 0; i < WORKERS; i++) {
        void *ret = NULL;
        joined_ok &= pthread_join(t[i], &ret) == 0;
        lists[i] = ret;
        joined_ok &= ret != NULL;
    }
    compat_check("workers' lists intact under concurrent collections", joined_ok);
    compat_check("detached threads created and detached", detached_ok);
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&mu);
        int n = done_detached;
        pthread_mutex_unlock(&mu);
        if (n == DETACHED)
            break;
        GC_gcollect();
    }
    for (int i = 0; i < 8; i++)
        GC_gcollect();
    int lists_ok = 1;
    for (int i = 0; i < WORKERS; i++) {
        long expect = (i + 1) * 1000L + LEN - 1;
        for (struct cell *c = lists[i]; c; c = c->next, expect--)
            lists_ok &= c->value == expect;
        lists_ok &= expect == (i + 1) * 1000L - 1;
    }
    compat_check("returned lists survive after their threads exited", lists_ok);
    compat_check("main thread registered", GC_thread_is_registered());
    return compat_done();
}
