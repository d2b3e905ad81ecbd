/*
 * scavenger.c - the background scavenger's pacing loop (the role of Go's
 * bgscavenge and scavengerState, mgcscavenge.go; our own controller).
 *
 * Goal. Free memory that is likely to stay unused should go back to the
 * OS, but releasing costs CPU (madvise, and page faults when the memory is
 * reused), so the scavenger works toward a goal set by its owner (the
 * heap: retained memory at most ~10% above recent in-use, and Ready memory
 * below 95% of the memory limit; see ph_excess in limit.c) while spending a fixed
 * fraction t of one CPU (default 1%, as Go).
 *
 * The loop (pa_scavenger_cycle). Work in bursts: release 64 KiB at a time
 * until at least 1 ms of work has been measured on the hook clock, the goal
 * is met, or nothing is left. If the burst did any work, sleep so that
 * work / (work + sleep) = t, then learn from how long the sleep really
 * was. A cycle that finds nothing to do does not sleep; the thread then
 * parks for the poll period (or until kicked), because nothing in a heap
 * without a GC announces "the goal moved" except a changed limit.
 *
 * The pacer. The ideal ratio of sleep to work is m0 = (1 - t) / t (99 for
 * 1%). Real sleeps are longer than asked (timer slack, scheduling) and
 * work measurements are noisy, so the requested ratio m is corrected by a
 * proportional-integral controller on the error between the ideal and the
 * achieved ratio, taken in log space:
 *
 *     e  = ln(m0) - ln(slept / worked)         (> 0: slept too little)
 *     I += ki * e
 *     ln m = ln(m0) + kp * e + I               (kp = 0.1, ki = 0.5)
 *
 * Log space makes the controller scale-free: a sleep that is k times the
 * request shifts ln m by -ln k at equilibrium, whatever k, and the loop's
 * error shrinks by a factor of about 0.6 per cycle (the roots of
 * x^2 - (1 - kp - ki) x - kp = 0 are 0.57 and -0.17). The correction and
 * the integral are clamped to a factor of 1000 either way (anti-windup),
 * so a burst of absurd measurements (a suspended process, a clock jump)
 * cannot push the pacer into a state it takes long to leave.
 *
 * What was simpler and failed: sleeping exactly worked * m0 overshoots the
 * budget by the timer slack, which for 1 ms bursts is tens of percent.
 * Go's controller works on the CPU fraction directly, with gains tuned for
 * that range; the log form needs no tuning for t.
 *
 * A burst whose clock did not advance (coarse or fake clocks) is charged
 * 10 us per 4 KiB released, so the pacer never divides by zero.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "pageheap/scavenger.h"

static const double kp = 0.1, ki = 0.5;
#define LOG_CLAMP 6.907755278982137   /* ln(1000) */

/* ln and exp without libm (the library links libc and pthreads only);
 * accurate to ~1e-12, far more than pacing needs. */
static double pa_ln(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    int e = (int)((b >> 52) & 0x7ff) - 1023;
    b = (b & ~((uint64_t)0x7ff << 52)) | ((uint64_t)1023 << 52);
    double m;
    memcpy(&m, &b, sizeof m);              /* x = m * 2^e, m in [1, 2) */
    if (m > 1.4142135623730951) {
        m /= 2;
        e++;
    }
    double t = (m - 1) / (m + 1), t2 = t * t, term = t, sum = 0;
    for (int k = 1; k < 30; k += 2) {
        sum += term / k;
        term *= t2;
    }
    return 2 * sum + e * 0.6931471805599453;
}

static double pa_exp(double y)
{
    if (y > 700)
        y = 700;
    if (y < -700)
        y = -700;
    double kf = y / 0.6931471805599453;
    int k = (int)(kf < 0 ? kf - 0.5 : kf + 0.5);
    double r = y - k * 0.6931471805599453, term = 1, sum = 1;
    for (int i = 1; i < 20; i++) {
        term *= r / i;
        sum += term;
    }
    uint64_t b = (uint64_t)(k + 1023) << 52;
    double scale;
    memcpy(&scale, &b, sizeof scale);
    return sum * scale;
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

void pa_scav_pacer_init(pa_scav_pacer *p, double target)
{
    if (!(target > 0.0))
        target = 0.01;
    if (target > 1.0)
        target = 1.0;
    p->target = target;
    p->base_log = target < 1.0 ? pa_ln((1.0 - target) / target) : 0.0;
    p->integral = 0.0;
    p->log_mult = p->base_log;
    p->last_fraction = 0.0;
}

uint64_t pa_scav_pacer_sleep_ns(const pa_scav_pacer *p, uint64_t worked_ns)
{
    if (p->target >= 1.0)
        return 0;
    double s = (double)worked_ns * pa_exp(p->log_mult);
    return s >= 1e15 ? (uint64_t)1e15 : (uint64_t)s;    /* cap: ~11 days */
}

void pa_scav_pacer_update(pa_scav_pacer *p, uint64_t worked_ns, uint64_t slept_ns)
{
    if (worked_ns == 0)
        return;
    p->last_fraction = (double)worked_ns / ((double)worked_ns + (double)slept_ns);
    if (p->target >= 1.0)
        return;
    double achieved = (double)(slept_ns ? slept_ns : 1) / (double)worked_ns;
    double e = clampd(p->base_log - pa_ln(achieved), -LOG_CLAMP, LOG_CLAMP);
    p->integral = clampd(p->integral + ki * e, -LOG_CLAMP, LOG_CLAMP);
    double corr = clampd(kp * e + p->integral, -LOG_CLAMP, LOG_CLAMP);
    p->log_mult = p->base_log + corr;
}

static void thread_sleep(pa_scavenger *sc, uint64_t ns);

/* ---- The cycle ----------------------------------------------------------- */

static void add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

int pa_scavenger_cycle(pa_scavenger *sc)
{
    const pa_scav_hooks *hk = &sc->hooks;
    uint64_t worked = 0, t0 = hk->now(hk->arg);
    size_t released = 0;
    int idle = 0;
    while (worked < PA_SCAV_QUANTUM_NS) {
        size_t ex = hk->excess(hk->arg, t0);
        if (ex == 0) {
            idle = 1;
            break;
        }
        size_t want = ex < PA_SCAV_RELEASE_UNIT ? ex : PA_SCAV_RELEASE_UNIT;
        size_t r = hk->release(hk->arg, want);
        uint64_t t1 = hk->now(hk->arg);
        uint64_t d = t1 > t0 ? t1 - t0 : 0;
        if (d == 0)
            d = 10000u * (uint64_t)((r + 4095) / 4096);
        worked += d;
        released += r;
        t0 = t1;
        if (r < want) {
            idle = 1;           /* nothing left to release */
            break;
        }
    }
    add(&sc->cycles, 1);
    add(&sc->released_bytes, released);
    if (released == 0) {
        add(&sc->idle_cycles, 1);
        return 1;
    }
    add(&sc->worked_ns, worked);
    uint64_t want_sleep = pa_scav_pacer_sleep_ns(&sc->pacer, worked);
    uint64_t s0 = hk->now(hk->arg);
    if (want_sleep) {
        if (hk->sleep)
            hk->sleep(hk->arg, want_sleep);
        else
            thread_sleep(sc, want_sleep);
    }
    uint64_t s1 = hk->now(hk->arg);
    uint64_t slept = s1 > s0 ? s1 - s0 : 0;
    add(&sc->slept_ns, slept);
    pa_scav_pacer_update(&sc->pacer, worked, slept);
    return idle;
}

/* ---- The thread ---------------------------------------------------------- */

static void deadline_after(struct timespec *ts, uint64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t sec = ns / 1000000000u, nsec = ns % 1000000000u;
    ts->tv_sec += (time_t)sec;
    ts->tv_nsec += (long)nsec;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_nsec -= 1000000000L;
        ts->tv_sec++;
    }
}

/* Wait up to ns for a kick or stop (consumes a kick). sc->mu held. */
static void wait_locked(pa_scavenger *sc, uint64_t ns)
{
    struct timespec dl;
    deadline_after(&dl, ns);
    while (!sc->stop && !sc->kicked) {
        if (pthread_cond_timedwait(&sc->cv, &sc->mu, &dl) == ETIMEDOUT)
            break;
    }
    sc->kicked = 0;
}

static void thread_sleep(pa_scavenger *sc, uint64_t ns)
{
    pthread_mutex_lock(&sc->mu);
    wait_locked(sc, ns);
    pthread_mutex_unlock(&sc->mu);
}

/* The thread-control objects, new; no thread. */
static void sync_init(pa_scavenger *sc)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sc->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&sc->mu, NULL);
    sc->running = sc->stop = sc->kicked = 0;
}

void pa_scavenger_init(pa_scavenger *sc, const pa_scav_hooks *hooks, double target,
                       uint64_t poll_ns)
{
    sc->hooks = *hooks;
    pa_scav_pacer_init(&sc->pacer, target);
    sc->poll_ns = poll_ns ? poll_ns : 100000000u;
    atomic_init(&sc->worked_ns, 0);
    atomic_init(&sc->slept_ns, 0);
    atomic_init(&sc->released_bytes, 0);
    atomic_init(&sc->cycles, 0);
    atomic_init(&sc->idle_cycles, 0);
    sync_init(sc);
}

void pa_scavenger_after_fork(pa_scavenger *sc)
{
    sync_init(sc);
}

static void *scavenger_main(void *arg)
{
    pa_scavenger *sc = arg;
    pthread_mutex_lock(&sc->mu);
    while (!sc->stop) {
        pthread_mutex_unlock(&sc->mu);
        int idle = pa_scavenger_cycle(sc);
        pthread_mutex_lock(&sc->mu);
        if (idle)
            wait_locked(sc, sc->poll_ns);
    }
    pthread_mutex_unlock(&sc->mu);
    return NULL;
}

int pa_scavenger_start(pa_scavenger *sc)
{
    pthread_mutex_lock(&sc->mu);
    int err = 0;
    if (!sc->running) {
        sc->stop = 0;
        err = pthread_create(&sc->thread, NULL, scavenger_main, sc);
        if (err == 0)
            sc->running = 1;
    }
    pthread_mutex_unlock(&sc->mu);
    return err;
}

void pa_scavenger_stop(pa_scavenger *sc)
{
    pthread_mutex_lock(&sc->mu);
    if (!sc->running) {
        pthread_mutex_unlock(&sc->mu);
        return;
    }
    sc->stop = 1;
    pthread_cond_broadcast(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
    pthread_join(sc->thread, NULL);
    pthread_mutex_lock(&sc->mu);
    sc->running = 0;
    pthread_mutex_unlock(&sc->mu);
}

void pa_scavenger_destroy(pa_scavenger *sc)
{
    pa_scavenger_stop(sc);
    pthread_cond_destroy(&sc->cv);
    pthread_mutex_destroy(&sc->mu);
}

void pa_scavenger_kick(pa_scavenger *sc)
{
    pthread_mutex_lock(&sc->mu);
    sc->kicked = 1;
    pthread_cond_broadcast(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
}
