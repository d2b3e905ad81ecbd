/*
 * test_scavenger.c - the background scavenger's pacing loop, driven with a
 * fake clock and a fake heap (no sleeping, no timing assertions), and the
 * real thread started and stopped on a real heap (asserting only on
 * eventual state, with a generous bounded wait).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "pagealloc/pageheap.h"
#include "pageheap/scavenger.h"
#include "pa_heap_expect.h"

/* A fake world: time advances only when the scavenger works or sleeps. */
struct fake {
    uint64_t now;
    uint64_t remaining;        /* bytes above the goal */
    uint64_t cost_per_call;    /* ns per release call */
    double   oversleep;        /* a sleep lasts oversleep * asked + extra */
    uint64_t extra;
    uint64_t releases, sleeps;
    int      empty;            /* release finds nothing */
};

static uint64_t f_now(void *arg) { return ((struct fake *)arg)->now; }
static size_t f_excess(void *arg, uint64_t now)
{
    (void)now;
    return (size_t)((struct fake *)arg)->remaining;
}
static size_t f_release(void *arg, size_t max)
{
    struct fake *f = arg;
    f->releases++;
    f->now += f->cost_per_call;
    if (f->empty)
        return 0;
    size_t r = max < f->remaining ? max : (size_t)f->remaining;
    f->remaining -= r;
    return r;
}
static void f_sleep(void *arg, uint64_t ns)
{
    struct fake *f = arg;
    f->sleeps++;
    f->now += (uint64_t)((double)ns * f->oversleep) + f->extra;
}

static void init_fake(pa_scavenger *sc, struct fake *f, double target)
{
    pa_scav_hooks hk = { .arg = f, .now = f_now, .excess = f_excess,
                         .release = f_release, .sleep = f_sleep };
    pa_scavenger_init(sc, &hk, target, 0);
}

/* The measured CPU fraction converges to the target whatever the sleeps
 * really last. */
static void test_pacer_converges(void **state)
{
    (void)state;
    const double targets[] = { 0.01, 0.05, 0.25 };
    const double overs[] = { 1.0, 1.3, 3.0, 0.7 };
    const uint64_t costs[] = { 37000, 150000, 1100000 };
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t oi = 0; oi < 4; oi++)
            for (size_t ci = 0; ci < 3; ci++) {
                struct fake f = { .now = 1000, .remaining = UINT64_MAX / 2,
                                  .cost_per_call = costs[ci], .oversleep = overs[oi],
                                  .extra = 60000 };
                pa_scavenger sc;
                init_fake(&sc, &f, targets[ti]);
                uint64_t w0 = 0, s0 = 0;
                for (int i = 0; i < 400; i++) {
                    if (i == 200) {
                        w0 = atomic_load(&sc.worked_ns);
                        s0 = atomic_load(&sc.slept_ns);
                    }
                    assert_int_equal(pa_scavenger_cycle(&sc), 0);
                }
                double w = (double)(atomic_load(&sc.worked_ns) - w0);
                double s = (double)(atomic_load(&sc.slept_ns) - s0);
                double frac = w / (w + s);
                if (frac < targets[ti] * 0.9 || frac > targets[ti] * 1.1)
                    fail_msg("target %g oversleep %g cost %llu: fraction %g", targets[ti],
                             overs[oi], (unsigned long long)costs[ci], frac);
                /* Each cycle works at least the quantum. */
                assert_true(w >= 200.0 * PA_SCAV_QUANTUM_NS);
                pa_scavenger_destroy(&sc);
            }
}

/* Work stops exactly at the goal, and an idle scavenger does nothing. */
static void test_stops_at_goal(void **state)
{
    (void)state;
    struct fake f = { .now = 5, .remaining = 10u << 20, .cost_per_call = 20000,
                      .oversleep = 1.0 };
    pa_scavenger sc;
    init_fake(&sc, &f, 0.01);
    int cycles = 0;
    while (pa_scavenger_cycle(&sc) == 0)
        assert_true(++cycles < 1000);
    assert_int_equal(f.remaining, 0);
    assert_int_equal(atomic_load(&sc.released_bytes), 10u << 20);
    assert_int_equal(f.releases, (10u << 20) / PA_SCAV_RELEASE_UNIT);
    uint64_t rel = f.releases, sl = f.sleeps, now = f.now;
    for (int i = 0; i < 10; i++)
        assert_int_equal(pa_scavenger_cycle(&sc), 1);
    assert_int_equal(f.releases, rel);
    assert_int_equal(f.sleeps, sl);
    assert_int_equal(f.now, now);
    /* 1% of CPU over the whole run: 10 MiB took 160 calls of 20 us. */
    double w = (double)atomic_load(&sc.worked_ns), s = (double)atomic_load(&sc.slept_ns);
    assert_true(w / (w + s) < 0.02);
    pa_scavenger_destroy(&sc);
}

/* Nothing left to release: idle at once; a clock that does not move is
 * charged per byte, so the pacer still sleeps. */
static void test_empty_and_still_clock(void **state)
{
    (void)state;
    struct fake f = { .now = 5, .remaining = 1u << 30, .empty = 1, .oversleep = 1.0 };
    pa_scavenger sc;
    init_fake(&sc, &f, 0.01);
    assert_int_equal(pa_scavenger_cycle(&sc), 1);
    assert_int_equal(f.releases, 1);
    assert_int_equal(f.sleeps, 0);
    pa_scavenger_destroy(&sc);

    struct fake g = { .now = 5, .remaining = 1u << 30, .cost_per_call = 0, .oversleep = 1.0 };
    init_fake(&sc, &g, 0.01);
    assert_int_equal(pa_scavenger_cycle(&sc), 0);
    /* 10 us per 4 KiB: 1 ms of work is 400 KiB, i.e. 7 calls of 64 KiB. */
    assert_int_equal(g.releases, 7);
    assert_int_equal(g.sleeps, 1);
    assert_true(g.now - 5 >= 99 * 7 * 160000ull / 2);
    pa_scavenger_destroy(&sc);
}

static void test_pacer_full_cpu(void **state)
{
    (void)state;
    pa_scav_pacer p;
    pa_scav_pacer_init(&p, 1.0);
    assert_int_equal(pa_scav_pacer_sleep_ns(&p, 1000000), 0);
    pa_scav_pacer_init(&p, 0.01);
    uint64_t s = pa_scav_pacer_sleep_ns(&p, 1000000);
    assert_true(s > 98000000 && s < 100000000);
    /* Absurd measurements are clamped. */
    for (int i = 0; i < 50; i++)
        pa_scav_pacer_update(&p, 1000000, 1);
    s = pa_scav_pacer_sleep_ns(&p, 1000000);
    assert_true(s <= 99000000ull * 1001);
}

/* The thread on a fake world: start and stop, with and without work. */
static void test_thread_start_stop_fake(void **state)
{
    (void)state;
    struct fake f = { .now = 5, .remaining = 0, .oversleep = 1.0 };
    pa_scavenger sc;
    pa_scav_hooks hk = { .arg = &f, .now = f_now, .excess = f_excess, .release = f_release };
    pa_scavenger_init(&sc, &hk, 0.01, 1000000);
    assert_int_equal(pa_scavenger_start(&sc), 0);
    assert_int_equal(pa_scavenger_start(&sc), 0);    /* idempotent */
    pa_scavenger_kick(&sc);
    pa_scavenger_stop(&sc);
    pa_scavenger_stop(&sc);
    assert_int_equal(f.releases, 0);
    pa_scavenger_destroy(&sc);
}

/* The real thing: a heap with the background scavenger gives freed
 * memory back on its own. */
static void test_heap_background(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){
        .shards = 1, .background_scavenger = 1, .scavenger_cpu_fraction = 0.5,
        .scavenger_poll_ns = 5000000 });
    assert_non_null(h);
    size_t n = 4096;                       /* 32 MiB */
    char *p = pageheap_alloc(h, n);
    assert_non_null(p);
    memset(p, 1, n * PAGEALLOC_PAGE_SIZE);
    void *keep = pageheap_alloc(h, 64);
    pageheap_free(h, p, n);
    pageheap_stats s;
    /* In-use drops to 512 KiB; the goal (10% above it, within a physical
     * page) follows within about a second. */
    uint64_t bound = 64 * PAGEALLOC_PAGE_SIZE * 11 / 10 + 2 * 4096;
    for (int i = 0; i < 3000; i++) {
        pageheap_get_stats(h, &s);
        if (s.ready_bytes <= bound)
            break;
        nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
    }
    pageheap_get_stats(h, &s);
    assert_true(s.ready_bytes <= bound);
    assert_true(s.released_bytes >= (uint64_t)(n - 64) * PAGEALLOC_PAGE_SIZE);
    assert_true(s.scavenger_cpu_ns > 0);
    pageheap_free(h, keep, 64);
    pa_expect_heap_ok(h);
    pageheap_delete(h);                    /* stops the thread */
}

/* Lowering the limit wakes the scavenger; the heap gets under 95%. */
static void test_heap_background_limit(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){
        .shards = 1, .background_scavenger = 1, .scavenger_cpu_fraction = 0.5,
        .scavenger_poll_ns = 1000000000 });
    assert_non_null(h);
    size_t n = 2048;
    char *p = pageheap_alloc(h, n);
    memset(p, 1, n * PAGEALLOC_PAGE_SIZE);
    char *q = pageheap_alloc(h, n);
    memset(q, 1, n * PAGEALLOC_PAGE_SIZE);
    pageheap_free(h, q, n);
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    uint64_t total = s.ready_bytes + s.metadata_bytes;
    pageheap_set_limit(h, total);          /* not over: nothing released now */
    pageheap_set_limit(h, total - 1);      /* over by a byte: releases a little, kicks */
    uint64_t goal = (total - 1) / 100 * 95;
    for (int i = 0; i < 3000; i++) {
        pageheap_get_stats(h, &s);
        if (s.ready_bytes + s.metadata_bytes <= goal)
            break;
        nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
    }
    pageheap_get_stats(h, &s);
    assert_true(s.ready_bytes + s.metadata_bytes <= goal);
    pageheap_free(h, p, n);
    pageheap_delete(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pacer_converges),
        cmocka_unit_test(test_stops_at_goal),
        cmocka_unit_test(test_empty_and_still_clock),
        cmocka_unit_test(test_pacer_full_cpu),
        cmocka_unit_test(test_thread_start_stop_fake),
        cmocka_unit_test(test_heap_background),
        cmocka_unit_test(test_heap_background_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
