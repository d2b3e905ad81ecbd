/*
 * par.c - parallel marking (Go's gcDrain by several mark workers over
 * gcWork buffers; here all of it with the world stopped). After the roots
 * are pushed, the collecting thread and markers - 1 helper threads drain:
 * each owns a work list (markq.h), gives spare full blocks to the shared
 * queue when it is short, and takes from it when its own list is empty.
 *
 * Termination: `active` counts workers that may still hold work. A worker
 * whose list is empty drops out of active and watches the shared queue;
 * when a block appears it counts itself in again (active + 1) and then
 * steals, and it leaves the drain when it sees active == 0 and the queue
 * empty. Work exists only in active workers' lists or in the shared
 * queue, so when the collecting thread leaves no work is left - except in
 * a helper that stole between the collecting thread's two looks (at
 * active, then at the queue), which the helper states below cover.
 *
 * Joining and leaving: the drain starts with active = 1 (the collecting
 * thread); a helper counts itself in (active + 1, state busy, under
 * par_mu) when it wakes, if the drain is still open (drain_open). A
 * helper adds its marked bytes and drops out of active before it goes
 * idle, and moves idle -> busy (compare and swap) before it counts itself
 * in again and steals; active changes only while a helper is busy. When the collecting thread leaves, it closes the drain, waits
 * for busy helpers to go idle and moves idle ones to dismissed: a
 * dismissed helper touches nothing shared again and leaves when it next
 * runs. So the end of a drain never waits for a helper that holds no work
 * to be scheduled (on a loaded machine a runnable thread can wait a whole
 * scheduling period for a CPU: ~11 ms per cycle of binary-trees 18 at load
 * 13 before this). A helper's CPU time is counted when it leaves, so a
 * late helper's lands in the next cycle's figure.
 *
 * Helpers are collector threads, not registered (never stopped, their
 * stacks hold no roots), made by gc_par_start before a collection stops
 * the world (never while it is stopped: see there); they sleep on
 * par_cv between cycles. The helpers' CPU time is added to the cycle's
 * mark CPU time.
 */
#include <sched.h>
#include <time.h>

#include "gc/gcint.h"
#include "gc/markq.h"

#define GC_MAX_MARKERS 16u

_Atomic unsigned gc_last_markers = 1;
uint64_t gc_helper_cpu_ns;
uint64_t gc_par_idle_ns;                   /* the collecting thread's wait, last drain */

static pthread_mutex_t par_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t par_cv = PTHREAD_COND_INITIALIZER;      /* helpers wait */
static unsigned nhelpers;                  /* par_mu: threads made */
static unsigned want;                      /* par_mu: helpers in this drain */
static uint64_t epoch;                     /* par_mu */
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

/* A helper's part in the current drain (hstate[i], i its id). */
enum { H_OUT, H_BUSY, H_IDLE, H_DISMISSED };
static _Atomic int hstate[GC_MAX_MARKERS];

/* Drain q, steal, and leave when no work is left anywhere. st is the
 * helper's state word, NULL for the collecting thread. A helper adds its
 * marked bytes before it goes idle (so it owes nothing while idle), and
 * counts itself active (then busy) before it steals again, unless the
 * collecting thread dismissed it meanwhile. */
static void worker(gc_markq *q, _Atomic int *st)
{
    q->active = &active;
    q->nworkers = nworkers;
    for (;;) {
        gc_mark_drain_q(q);               /* shares when someone is idle */
        if (gc_markq_steal(q))
            continue;
        if (st) {
            gc_mark_add_marked(q->marked);
            q->marked = 0;
        }
        /* active changes only while busy: once idle is published, the
         * collecting thread may dismiss this helper and start the next
         * drain, which a late decrement would corrupt. */
        atomic_fetch_sub_explicit(&active, 1, memory_order_acq_rel);
        if (st)
            atomic_store_explicit(st, H_IDLE, memory_order_release);
        uint64_t idle0 = st ? 0 : gc_now_ns();
        for (;;) {
            if (gc_markq_waiting()) {
                int idle = H_IDLE;
                if (st && !atomic_compare_exchange_strong_explicit(
                              st, &idle, H_BUSY, memory_order_acq_rel, memory_order_acquire))
                    return;                        /* dismissed */
                /* Counted in before the steal: while this worker holds
                 * stolen work, nobody sees active == 0. */
                atomic_fetch_add_explicit(&active, 1, memory_order_acq_rel);
                if (gc_markq_steal(q)) {
                    if (!st)
                        gc_par_idle_ns += gc_now_ns() - idle0;
                    break;
                }
                atomic_fetch_sub_explicit(&active, 1, memory_order_acq_rel);
                if (st)
                    atomic_store_explicit(st, H_IDLE, memory_order_release);
            }
            if (st && atomic_load_explicit(st, memory_order_acquire) == H_DISMISSED)
                return;
            if (atomic_load_explicit(&active, memory_order_acquire) == 0 &&
                !gc_markq_waiting()) {
                if (!st)
                    gc_par_idle_ns += gc_now_ns() - idle0;
                return;
            }
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
    gc_lock(&par_mu);
    uint64_t seen = born[id];             /* joins the drain after its birth */
    pthread_mutex_unlock(&par_mu);
    for (;;) {
        gc_lock(&par_mu);
        while (epoch == seen || id >= want)
            pthread_cond_wait(&par_cv, &par_mu);
        seen = epoch;
        int join = drain_open;
        if (join) {
            started++;
            atomic_store_explicit(&hstate[id], H_BUSY, memory_order_relaxed);
            atomic_fetch_add_explicit(&active, 1, memory_order_acq_rel);
        }
        pthread_mutex_unlock(&par_mu);
        if (!join)
            continue;
        uint64_t c0 = thread_cpu();
        gc_markq_begin(&q);
        worker(&q, &hstate[id]);
        worker_done(&q);
        /* Its marked bytes are added already; OUT unless dismissed. */
        int busy_or_idle = H_IDLE;
        atomic_compare_exchange_strong_explicit(&hstate[id], &busy_or_idle, H_OUT,
                                                memory_order_acq_rel, memory_order_acquire);
        uint64_t c = thread_cpu() - c0;
        gc_lock(&par_mu);
        cpu_sum += c;                     /* a late helper's counts in the next cycle */
        pthread_mutex_unlock(&par_mu);
    }
    return NULL;
}

/* Called by the collection before it takes any lock and before the world
 * stops: pthread_create may need a lock a stopped thread holds (glibc's
 * stack cache lock, the loader's TLS lock, the allocator's arena lock for
 * the thread's TLS vector), so a helper made while the world is stopped
 * could hang the collection for ever. The drain (gc_mark_parallel) only
 * uses the helpers made here. */
void gc_par_start(unsigned markers)
{
    unsigned m = markers > GC_MAX_MARKERS ? GC_MAX_MARKERS : markers;
    gc_lock(&par_mu);
    while (nhelpers + 1 < m) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        born[nhelpers] = epoch;
        int err = pthread_create(&t, &at, helper_main, (void *)(uintptr_t)nhelpers);
        pthread_attr_destroy(&at);
        if (err)
            break;                         /* fewer markers; tried again next cycle */
        nhelpers++;
    }
    pthread_mutex_unlock(&par_mu);
}

unsigned gc_mark_parallel(void)
{
    unsigned m = gc_g.markers;
    if (m > GC_MAX_MARKERS)
        m = GC_MAX_MARKERS;
    gc_lock(&par_mu);
    unsigned h = m > 0 && nhelpers + 1 >= m ? m - 1 : nhelpers;
    gc_helper_cpu_ns = 0;
    gc_par_idle_ns = 0;
    if (h == 0) {
        pthread_mutex_unlock(&par_mu);
        atomic_store_explicit(&gc_last_markers, 1, memory_order_relaxed);
        gc_mark_drain_q(gc_main_queue());
        return 1;
    }
    want = h;
    started = 0;
    drain_open = 1;
    nworkers = h + 1;
    atomic_store_explicit(&active, 1, memory_order_release);
    /* Give the helpers something to start on. */
    gc_markq_share(gc_main_queue());
    epoch++;
    pthread_cond_broadcast(&par_cv);
    pthread_mutex_unlock(&par_mu);
    worker(gc_main_queue(), NULL);
    worker_done(gc_main_queue());
    gc_lock(&par_mu);
    drain_open = 0;
    unsigned joined[GC_MAX_MARKERS], nj = 0;
    for (unsigned i = 0; i < h; i++)
        if (atomic_load_explicit(&hstate[i], memory_order_acquire) != H_OUT)
            joined[nj++] = i;
    pthread_mutex_unlock(&par_mu);
    /* No work is left (active was 0 with the queue empty); a busy helper
     * is only between two looks at an empty queue. Idle helpers are
     * dismissed rather than waited for: one may not get a CPU for a while. */
    uint64_t d0 = gc_now_ns();
    for (unsigned k = 0; k < nj; k++)
        for (;;) {
            int v = H_IDLE;
            if (atomic_compare_exchange_strong_explicit(&hstate[joined[k]], &v, H_DISMISSED,
                                                        memory_order_acq_rel,
                                                        memory_order_acquire) ||
                v == H_OUT || v == H_DISMISSED)
                break;
            sched_yield();
        }
    gc_par_idle_ns += gc_now_ns() - d0;
    gc_lock(&par_mu);
    gc_helper_cpu_ns = cpu_sum;
    cpu_sum = 0;
    pthread_mutex_unlock(&par_mu);
    atomic_store_explicit(&gc_last_markers, h + 1, memory_order_relaxed);
    return h + 1;
}

void gc_par_fork_child(void)
{
    pthread_mutex_init(&par_mu, NULL);
    pthread_cond_init(&par_cv, NULL);
    nhelpers = 0;
    want = 0;
    started = 0;
    drain_open = 0;
}
