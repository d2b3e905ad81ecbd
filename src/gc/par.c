/*
 * par.c - parallel marking (Go's gcDrain by several mark workers over
 * gcWork buffers; here all of it with the world stopped). After the roots
 * are pushed, the collecting thread and markers - 1 helper threads drain:
 * each owns a work list (markq.h), gives spare full blocks to the shared
 * queue when it is short, and takes from it when its own list is empty.
 *
 * Termination: `active` counts workers that may still hold work. A worker
 * whose list is empty drops out of active and watches the shared queue;
 * it rejoins (active + 1 before it steals) when a block appears, and
 * leaves the drain when it sees active == 0 and the shared queue empty.
 * Work exists only in active workers' lists or in the shared queue, and a
 * worker that shared a block sees it (or whoever stole it is active)
 * before it leaves, so when the last worker leaves no work is left.
 *
 * Joining: the drain starts with active = 1 (the collecting thread); a
 * helper counts itself in (active + 1, `started` + 1, under par_mu) when
 * it wakes, if the drain is still open (drain_open). So the end of the
 * drain never waits for a helper the scheduler has not run yet (on a
 * loaded machine a woken thread can wait a whole scheduling period for a
 * CPU): the collecting thread closes the drain when it leaves and waits
 * only for the helpers that joined. A helper joining after the work ran
 * out finds nothing and leaves at once.
 *
 * Helpers are collector threads, not registered (never stopped, their
 * stacks hold no roots), made at the first parallel mark; they sleep on
 * par_cv between cycles. The helpers' CPU time of the last drain is added
 * to the cycle's mark CPU time.
 */
#include <sched.h>
#include <time.h>

#include "gc/gcint.h"
#include "gc/markq.h"

#define GC_MAX_MARKERS 16u

unsigned gc_last_markers = 1;
uint64_t gc_helper_cpu_ns;

static pthread_mutex_t par_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t par_cv = PTHREAD_COND_INITIALIZER;      /* helpers wait */
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;     /* main waits */
static unsigned nhelpers;                  /* par_mu: threads made */
static unsigned want;                      /* par_mu: helpers in this drain */
static uint64_t epoch;                     /* par_mu */
static unsigned finished;                  /* par_mu */
static unsigned started;                   /* par_mu: helpers that joined */
static int drain_open;                     /* par_mu: the drain takes helpers */
static uint64_t cpu_sum;                   /* par_mu */
static _Atomic unsigned active;
static unsigned nworkers;                  /* this drain's workers; set before it */
static uint64_t born[GC_MAX_MARKERS];      /* par_mu: epoch when helper i was made */

static uint64_t thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void worker(gc_markq *q)
{
    q->active = &active;
    q->nworkers = nworkers;
    for (;;) {
        gc_mark_drain_q(q);               /* shares when someone is idle */
        if (gc_markq_steal(q))
            continue;
        atomic_fetch_sub_explicit(&active, 1, memory_order_acq_rel);
        for (;;) {
            if (gc_markq_steal(q)) {
                /* Rejoin. Another worker may meanwhile see active == 0
                 * and the queue empty and leave early: that only costs
                 * parallelism, since this worker drains what it took. */
                atomic_fetch_add_explicit(&active, 1, memory_order_acq_rel);
                break;
            }
            if (atomic_load_explicit(&active, memory_order_acquire) == 0 && !gc_markq_steal(q))
                return;
            sched_yield();
        }
    }
}

/* The main queue drains alone again after the parallel drain. */
static void worker_done(gc_markq *q)
{
    q->active = NULL;
    q->nworkers = 0;
}

static void *helper_main(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    gc_markq q = { 0 };
    pthread_mutex_lock(&par_mu);
    uint64_t seen = born[id];             /* joins the drain after its birth */
    pthread_mutex_unlock(&par_mu);
    for (;;) {
        pthread_mutex_lock(&par_mu);
        while (epoch == seen || id >= want)
            pthread_cond_wait(&par_cv, &par_mu);
        seen = epoch;
        int join = drain_open;
        if (join) {
            started++;
            atomic_fetch_add_explicit(&active, 1, memory_order_acq_rel);
        }
        pthread_mutex_unlock(&par_mu);
        if (!join)
            continue;
        uint64_t c0 = thread_cpu();
        gc_markq_begin(&q);
        worker(&q);
        worker_done(&q);
        gc_mark_add_marked(q.marked);
        uint64_t c = thread_cpu() - c0;
        pthread_mutex_lock(&par_mu);
        cpu_sum += c;
        finished++;
        pthread_cond_signal(&done_cv);
        pthread_mutex_unlock(&par_mu);
    }
    return NULL;
}

unsigned gc_mark_parallel(void)
{
    unsigned m = gc_g.markers;
    if (m > GC_MAX_MARKERS)
        m = GC_MAX_MARKERS;
    pthread_mutex_lock(&par_mu);
    while (nhelpers + 1 < m) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        born[nhelpers] = epoch;
        int err = pthread_create(&t, &at, helper_main, (void *)(uintptr_t)nhelpers);
        pthread_attr_destroy(&at);
        if (err)
            break;
        nhelpers++;
    }
    unsigned h = m > 0 && nhelpers + 1 >= m ? m - 1 : nhelpers;
    gc_helper_cpu_ns = 0;
    if (h == 0) {
        pthread_mutex_unlock(&par_mu);
        gc_last_markers = 1;
        gc_mark_drain_q(gc_main_queue());
        return 1;
    }
    want = h;
    finished = 0;
    started = 0;
    drain_open = 1;
    cpu_sum = 0;
    nworkers = h + 1;
    atomic_store_explicit(&active, 1, memory_order_release);
    /* Give the helpers something to start on. */
    gc_markq_share(gc_main_queue());
    epoch++;
    pthread_cond_broadcast(&par_cv);
    pthread_mutex_unlock(&par_mu);
    worker(gc_main_queue());
    worker_done(gc_main_queue());
    pthread_mutex_lock(&par_mu);
    drain_open = 0;
    while (finished < started)
        pthread_cond_wait(&done_cv, &par_mu);
    gc_helper_cpu_ns = cpu_sum;
    pthread_mutex_unlock(&par_mu);
    gc_last_markers = h + 1;
    return h + 1;
}

void gc_par_fork_child(void)
{
    pthread_mutex_init(&par_mu, NULL);
    pthread_cond_init(&par_cv, NULL);
    pthread_cond_init(&done_cv, NULL);
    nhelpers = 0;
    want = 0;
    started = 0;
    drain_open = 0;
}
