/*
 * scavenger.h - the background scavenger: a pacing loop that returns free
 * memory to the OS toward a goal, spending a fixed fraction of one CPU.
 *
 * The scavenger knows nothing of heaps: it sees the world through hooks
 * (a clock, "how many bytes are above the goal", "release up to n bytes",
 * "sleep"), so the policy is tested with fake time and a fake heap, and
 * the heap (heap.c, limit.c) supplies the real ones. The pacing design is
 * described at the top of scavenger.c.
 *
 * Synchronisation: a pa_scavenger is driven by one thread at a time: the
 * background thread between pa_scavenger_start and pa_scavenger_stop, or a
 * test calling pa_scavenger_cycle directly (never both). The totals are
 * atomics, readable from any thread. pa_scavenger_kick and _stop may be
 * called from any thread.
 */
#ifndef PAGEALLOC_SCAVENGER_H
#define PAGEALLOC_SCAVENGER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pa_scav_hooks {
    void *arg;
    /* Monotonic time in ns. */
    uint64_t (*now)(void *arg);
    /* Bytes of memory above the goal at time now (0: goal met). */
    size_t (*excess)(void *arg, uint64_t now);
    /* Release about max_bytes (may be more, by a huge page); returns the
     * bytes released, less than asked when nothing is left. */
    size_t (*release)(void *arg, size_t max_bytes);
    /* Sleep about ns; may return early (stop or kick). NULL: the thread's
     * own timed wait on cv (returns early on kick or stop). */
    void (*sleep)(void *arg, uint64_t ns);
} pa_scav_hooks;

/* The pacer: turns measured work into a sleep, and corrects itself from
 * the fraction of time actually spent working (scavenger.c). */
typedef struct pa_scav_pacer {
    double target;        /* wanted fraction of one CPU, (0, 1] */
    double base_log;      /* log of the ideal sleep/work ratio, (1-t)/t */
    double integral;      /* integral term, log units */
    double log_mult;      /* current log of sleep/work; clamped */
    double last_fraction; /* fraction measured in the last cycle */
} pa_scav_pacer;

void     pa_scav_pacer_init(pa_scav_pacer *p, double target);
/* How long to sleep after working worked_ns. */
uint64_t pa_scav_pacer_sleep_ns(const pa_scav_pacer *p, uint64_t worked_ns);
/* Feed back one cycle: worked_ns of work followed by slept_ns of sleep. */
void     pa_scav_pacer_update(pa_scav_pacer *p, uint64_t worked_ns, uint64_t slept_ns);

#define PA_SCAV_QUANTUM_NS   1000000u     /* work at least 1 ms per cycle */
#define PA_SCAV_RELEASE_UNIT (64u << 10)  /* bytes per release call */

typedef struct pa_scavenger {
    pa_scav_hooks hooks;          /* set before start; constant afterwards */
    pa_scav_pacer pacer;          /* driving thread only */
    uint64_t poll_ns;             /* idle re-check period (real time) */
    /* Totals, written by the driving thread, read by anyone. */
    _Atomic uint64_t worked_ns, slept_ns, released_bytes, cycles, idle_cycles;
    /* Thread control, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* signalled by kick and stop */
    int running, stop, kicked;
    pthread_t thread;
} pa_scavenger;

/* Initialise (no thread). target: CPU fraction; poll_ns: idle period. */
void pa_scavenger_init(pa_scavenger *sc, const pa_scav_hooks *hooks, double target,
                       uint64_t poll_ns);
/* One cycle: work until the quantum is spent (by the hook clock), the goal
 * is met or nothing is left, then sleep as the pacer says and learn from
 * it. Returns 1 if the scavenger found nothing to do (goal met or nothing
 * left; it then did not sleep), else 0. */
int  pa_scavenger_cycle(pa_scavenger *sc);
/* Start / stop the background thread (0 or an errno value). stop joins it;
 * both are idempotent. destroy stops and frees the sync objects. */
int  pa_scavenger_start(pa_scavenger *sc);
void pa_scavenger_stop(pa_scavenger *sc);
void pa_scavenger_destroy(pa_scavenger *sc);
/* In a child after fork (mu taken by the parent's prepare): new sync
 * objects, no thread (the parent's does not exist here). */
void pa_scavenger_after_fork(pa_scavenger *sc);
/* Wake the thread now (e.g. the limit was lowered). */
void pa_scavenger_kick(pa_scavenger *sc);

#endif /* PAGEALLOC_SCAVENGER_H */
