/*
 * sigmask.c - GC_THREADS redirects pthread_sigmask: a thread that blocks
 * every signal it can still be stopped by a collection (the collector's
 * own signals stay out of the mask), and its stack still keeps its list
 * alive; the mask it reads back blocks what it asked for otherwise.
 */
#define _GNU_SOURCE
#define GC_THREADS
#include <gc.h>
#include <pthread.h>
#include <signal.h>

#include "compat.h"

#define LEN 400

struct cell {
    struct cell *next;
    long value;
};

static volatile int stage;            /* 1: the list is built; 2: check it */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int blocked_ok;

static int get_stage(void)
{
    pthread_mutex_lock(&mu);
    int s = stage;
    pthread_mutex_unlock(&mu);
    return s;
}

static void set_stage(int s)
{
    pthread_mutex_lock(&mu);
    stage = s;
    pthread_mutex_unlock(&mu);
}

static void *blocker(void *arg)
{
    (void)arg;
    sigset_t all, now;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    blocked_ok = sigismember(&now, SIGUSR1) && sigismember(&now, SIGTERM);
    struct cell *head = NULL;
    for (long i = 0; i < LEN; i++) {
        struct cell *c = GC_NEW(struct cell);
        c->value = i;
        c->next = head;
        head = c;
    }
    set_stage(1);
    while (get_stage() != 2)
        ;                             /* running, every other signal blocked */
    long expect = LEN - 1;
    int ok = 1;
    for (struct cell *c = head; c; c = c->next, expect--)
        ok &= c->value == expect;
    return ok && expect == -1 ? (void *)1 : NULL;
}

int main(void)
{
    GC_INIT();
    pthread_t t;
    if (pthread_create(&t, NULL, blocker, NULL) != 0) {
        printf("pthread_create failed\n");
        return 1;
    }
    while (get_stage() != 1)
        ;
    compat_clear_stack();
    for (int i = 0; i < 6; i++) {
        for (int k = 0; k < 20000; k++)
            (void)GC_MALLOC(sizeof(struct cell));
        GC_gcollect();
    }
    compat_check("collections complete while a thread blocks every signal", 1);
    set_stage(2);
    void *ret = NULL;
    pthread_join(t, &ret);
    compat_check("the blocked thread's list survived", ret != NULL);
    compat_check("the thread's mask blocks the other signals", blocked_ok);
    return compat_done();
}
