/*
 * threads.c - the collector's pthread wrappers (pa_gc_pthread_create,
 * join, detach, exit) and the results of the threads they made.
 *
 * A thread made by gc_thread_create is registered (world.c) before its
 * start routine runs and unregistered when it ends.
 *
 * Results. Such a thread gets a gc_result record (on the results list)
 * holding what its start routine returned or it passed to
 * pa_gc_pthread_exit: a root from the thread's end until
 * pa_gc_pthread_join collects it or the thread is detached (a detached
 * thread's record goes at its end). glibc keeps a thread's result in its
 * descriptor, which no collection scans, so without the record a
 * collection between the end and the join could reclaim it (bdwgc keeps
 * it in its thread record too). A thread that ends otherwise (a plain
 * pthread_exit, cancellation) keeps no value: a key destructor marks its
 * record finished. A thread made by the wrapper must be joined or
 * detached through the wrapper: a plain pthread_join leaves its record,
 * and the object it holds, behind.
 *
 * The results list shares threads_mu with the registry (gc_threads_lock),
 * which the collection holds while it scans them; records are taken and
 * given back under it too, so no thread the collection stops holds the
 * records' own (OS layer) lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>

#include "gc/gcint.h"

/* What a thread made by gc_thread_create ended with, kept as a root until
 * it is joined or detached. tid is written by the thread at its start;
 * every field is under threads_mu. */
typedef struct gc_result {
    pthread_t tid;
    void *value;               /* scanned by every collection */
    int detached;              /* its record goes when it finishes */
    int finished;
    int joining;               /* a pa_gc_pthread_join holds it */
    struct gc_result *next, *prev;
} gc_result;

static gc_result *results;                        /* threads_mu */
static pa_fixalloc result_recs;
static pthread_key_t result_key;
static __thread gc_result *my_result;

static void result_finish(void *value, int keep);

static void result_destructor(void *arg)
{
    (void)arg;
    result_finish(NULL, 0);
}

int gc_results_init(void)
{
    int err = pa_fixalloc_init(&result_recs, sizeof(gc_result), 64, &gc_g.meta);
    return err ? err : pthread_key_create(&result_key, result_destructor);
}

/* threads_mu held (the collection). */
void gc_scan_results(void)
{
    for (gc_result *r = results; r; r = r->next)
        gc_mark_word((uintptr_t)r->value);
}

static void result_unlink(gc_result *r)           /* threads_mu held */
{
    if (r->prev)
        r->prev->next = r->next;
    else
        results = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

/* The joinable record of thread t, or NULL; threads_mu held. */
static gc_result *result_find(pthread_t t)
{
    for (gc_result *r = results; r; r = r->next)
        if (!r->detached && !r->joining && pthread_equal(r->tid, t))
            return r;
    return NULL;
}

/* The calling thread ends with value (kept if keep); once. */
static void result_finish(void *value, int keep)
{
    gc_result *r = my_result;
    if (!r)
        return;
    my_result = NULL;
    pthread_setspecific(result_key, NULL);
    int drop;
    gc_threads_lock();
    r->finished = 1;
    r->value = keep ? value : NULL;
    drop = r->detached;
    if (drop) {
        result_unlink(r);
        pa_fixalloc_free(&result_recs, r);
    }
    gc_threads_unlock();
}

/* The start record lives on the creator's stack, which keeps arg alive
 * (the creator waits) until the new thread is registered and has arg on
 * its own stack. */
typedef struct start_rec {
    void *(*start)(void *);
    void *arg;
    gc_result *result;
    sem_t ready;
} start_rec;

static void *thread_start(void *p)
{
    start_rec *rp = p;
    void *(*start)(void *) = rp->start;
    void *volatile arg = rp->arg;
    gc_result *r = rp->result;
    gc_threads_lock();
    r->tid = pthread_self();
    gc_threads_unlock();
    my_result = r;
    pthread_setspecific(result_key, r);
    (void)gc_thread_register(NULL);
    sem_post(&rp->ready);                          /* rp is gone after this */
    void *ret = start(arg);
    result_finish(ret, 1);                         /* a root before we leave */
    (void)gc_thread_unregister();
    return ret;
}

int gc_thread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                     void *arg)
{
    int err = 0, state = PTHREAD_CREATE_JOINABLE;
    if (attr)
        (void)pthread_attr_getdetachstate(attr, &state);
    gc_threads_lock();
    gc_result *r = pa_fixalloc_alloc(&result_recs, &err);
    if (!r) {
        gc_threads_unlock();
        return EAGAIN;
    }
    memset(r, 0, sizeof *r);
    r->detached = state == PTHREAD_CREATE_DETACHED;
    r->next = results;
    if (results)
        results->prev = r;
    results = r;
    gc_threads_unlock();
    start_rec sr = { start, arg, r, { { 0 } } };
    if (sem_init(&sr.ready, 0, 0) != 0)
        err = EAGAIN;
    else
        err = pthread_create(thread, attr, thread_start, &sr);
    if (err == 0)
        gc_sem_wait_parked(&sr.ready);             /* parked under TSan (world.c) */
    sem_destroy(&sr.ready);
    if (err) {
        gc_threads_lock();
        result_unlink(r);
        pa_fixalloc_free(&result_recs, r);
        gc_threads_unlock();
    }
    return err;
}

/* The record is found before pthread_join, while the id still names only
 * this thread: once the join returns, glibc may hand the same pthread_t to
 * a thread another thread creates at that moment, and a search by id
 * could then free the new thread's live record (it did: the list looped
 * and a collection spun in gc_scan_results, ~1 run in 200 of
 * stress/test_gc_threads). `joining` keeps the record out of other
 * searches meanwhile; only this joiner frees it (joining or detaching a
 * thread twice is undefined). */
PA_API int pa_gc_pthread_join(pthread_t thread, void **retval)
{
    gc_threads_lock();
    gc_result *r = result_find(thread);
    if (r)
        r->joining = 1;
    gc_threads_unlock();
    int err = pthread_join(thread, retval);
    gc_threads_lock();
    if (r && err)
        r->joining = 0;
    else if (r) {
        result_unlink(r);
        pa_fixalloc_free(&result_recs, r);
    }
    gc_threads_unlock();
    return err;
}

PA_API int pa_gc_pthread_detach(pthread_t thread)
{
    gc_threads_lock();
    gc_result *r = result_find(thread);
    int err = pthread_detach(thread);
    if (err == 0 && r) {
        r->detached = 1;
        if (r->finished) {
            result_unlink(r);
            pa_fixalloc_free(&result_recs, r);
        }
    }
    gc_threads_unlock();
    return err;
}

PA_API void pa_gc_pthread_exit(void *retval)
{
    result_finish(retval, 1);
    (void)gc_thread_unregister();
    pthread_exit(retval);
}

void gc_results_fork_child(void)
{
    /* Records of threads that did not survive the fork stay (their value
     * is NULL until a finish that will not come; a join or detach in the
     * child, if the program does one, drops them). */
    pthread_mutex_init(&result_recs.mu, NULL);
}
