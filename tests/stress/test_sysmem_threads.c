/*
 * test_sysmem_threads.c - stress test, not a benchmark: many threads using
 * the layer at once, each on its own ranges (overlapping ranges would be
 * caller misuse). Meant to run
 * under ThreadSanitizer as well; nothing here depends on timing.
 *
 * Each worker repeats, with its own seeded PRNG, one of three patterns:
 *   alloc -> write -> unused part -> used -> check zero/contents -> free
 *   reserve -> map part -> used -> write -> fault part -> map again -> free
 *   reserve -> free its pages one by one in random order (holes, trimming,
 *             and freed addresses reused at once by other threads' reserves)
 * checking every return code and the state of its own pages as it goes.
 * Its own stat, and one stat shared by all workers, must end at zero. A
 * reader thread meanwhile reads totals, page states and runs the invariant
 * checker. At the end the totals and metadata are back at the baseline.
 *
 * A second test aims at the one overlap the layer handles itself: a free
 * whose munmap has succeeded but which has not yet committed, while another
 * thread's reserve receives the very same addresses from the kernel.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "pagealloc/sysmem.h"
#include "sysmem_fi.h"
#include "sysmem_kview.h"
#include "sysmem_tu.h"
#include "pa_skip.h"

#define WORKERS 6
#define MAXP 32

static size_t PS;
static sysmem_stat shared_stat;
static atomic_int stop_reader;
static _Atomic uintptr_t last_seen;     /* some worker's recent address, for the reader */

struct worker {
    pthread_t tid;
    uint64_t seed;
    int iterations;
    sysmem_stat stat;
    int failures;           /* nonzero: what went wrong first (line number) */
};

#define CHECK(w, cond)                          \
    do {                                        \
        if (!(cond) && !(w)->failures)          \
            (w)->failures = __LINE__;           \
    } while (0)

static int states_are(char *p, size_t n, sysmem_state s)
{
    for (size_t i = 0; i < n; i++)
        if (sysmem_state_of(p + i * PS) != s)
            return 0;
    return 1;
}

static void pattern_alloc(struct worker *w, uint64_t *rng)
{
    size_t n = 2 + (size_t)sysmem_tu_below(rng, MAXP - 1);
    sysmem_stat *st = sysmem_tu_below(rng, 2) ? &w->stat : &shared_stat;
    char *p;
    CHECK(w, sysmem_alloc(n * PS, st, (void **)&p) == 0);
    if (w->failures)
        return;
    atomic_store(&last_seen, (uintptr_t)p);
    CHECK(w, states_are(p, n, SYSMEM_READY));
    for (size_t i = 0; i < n; i++)
        sysmem_tu_fill(p + i * PS, PS, (unsigned)i + 1);
    size_t lo = (size_t)sysmem_tu_below(rng, n), len = 1 + (size_t)sysmem_tu_below(rng, n - lo);
    CHECK(w, sysmem_unused(p + lo * PS, len * PS) == 0);
    CHECK(w, states_are(p + lo * PS, len, SYSMEM_PREPARED));
    CHECK(w, sysmem_used(p, n * PS) == 0);
    if (w->failures)
        return;
    for (size_t i = 0; i < n; i++) {
        int released = i >= lo && i < lo + len;
        CHECK(w, released ? sysmem_tu_zero(p + i * PS, PS)
                          : sysmem_tu_filled(p + i * PS, PS, (unsigned)i + 1));
    }
    CHECK(w, sysmem_free(p, n * PS, st) == 0);
}

static void pattern_reserve(struct worker *w, uint64_t *rng)
{
    size_t n = 5 + (size_t)sysmem_tu_below(rng, MAXP - 4);
    char *p;
    CHECK(w, sysmem_reserve(NULL, n * PS, (void **)&p) == 0);
    if (w->failures)
        return;
    atomic_store(&last_seen, (uintptr_t)p);
    size_t lo = 1, len = n - 2;
    CHECK(w, sysmem_map(p + lo * PS, len * PS, &w->stat) == 0);
    CHECK(w, sysmem_used(p + lo * PS, len * PS) == 0);
    if (w->failures)
        return;
    for (size_t i = lo; i < lo + len; i++)
        sysmem_tu_fill(p + i * PS, PS, 7);
    CHECK(w, sysmem_fault(p + 2 * PS, PS, &w->stat) == 0);
    CHECK(w, sysmem_state_of(p + 2 * PS) == SYSMEM_RESERVED);
    CHECK(w, sysmem_map(p + 2 * PS, PS, &w->stat) == 0);
    CHECK(w, sysmem_huge_page(p + lo * PS, len * PS) == 0);
    CHECK(w, sysmem_no_huge_page(p + lo * PS, PS) == 0);
    if (w->failures)
        return;
    CHECK(w, sysmem_tu_filled(p + 3 * PS, PS, 7));
    CHECK(w, sysmem_tu_zero(p + 2 * PS, PS));
    CHECK(w, states_are(p, 1, SYSMEM_RESERVED) && states_are(p + (n - 1) * PS, 1, SYSMEM_RESERVED));
    CHECK(w, sysmem_free(p, n * PS, &w->stat) == 0);
}

static void pattern_piecewise_free(struct worker *w, uint64_t *rng)
{
    size_t n = 2 + (size_t)sysmem_tu_below(rng, MAXP - 1);
    size_t order[MAXP];
    char *p;
    CHECK(w, sysmem_reserve(NULL, n * PS, (void **)&p) == 0);
    if (w->failures)
        return;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)sysmem_tu_below(rng, i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        CHECK(w, sysmem_state_of(p + order[i] * PS) == SYSMEM_RESERVED);
        CHECK(w, sysmem_free(p + order[i] * PS, PS, NULL) == 0);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t rng = w->seed;
    for (int i = 0; i < w->iterations && !w->failures; i++) {
        switch (sysmem_tu_below(&rng, 3)) {
        case 0: pattern_alloc(w, &rng); break;
        case 1: pattern_reserve(w, &rng); break;
        default: pattern_piecewise_free(w, &rng); break;
        }
    }
    return NULL;
}

static void *reader_main(void *arg)
{
    int *bad = arg;
    while (!atomic_load(&stop_reader)) {
        sysmem_totals t;
        sysmem_get_totals(&t);
        (void)sysmem_state_of((void *)atomic_load(&last_seen));
        (void)sysmem_ready_bytes();
        char msg[200];
        if (sysmem_check(msg, sizeof(msg)) != 0 && !*bad) {
            *bad = 1;
            print_error("%s\n", msg);
        }
    }
    return NULL;
}

static void run_workers(int iterations)
{
    struct sysmem_tu_base base;
    sysmem_tu_base_take(&base);
    static struct worker w[WORKERS];
    pthread_t reader;
    int reader_bad = 0;
    atomic_store(&stop_reader, 0);
    assert_int_equal(pthread_create(&reader, NULL, reader_main, &reader_bad), 0);
    for (int i = 0; i < WORKERS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].seed = 0x7e57 + (uint64_t)i * 7919;
        w[i].iterations = iterations;
        assert_int_equal(pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_join(w[i].tid, NULL), 0);
    atomic_store(&stop_reader, 1);
    assert_int_equal(pthread_join(reader, NULL), 0);
    for (int i = 0; i < WORKERS; i++) {
        if (w[i].failures)
            print_error("worker %d: check at line %d failed\n", i, w[i].failures);
        assert_int_equal(w[i].failures, 0);
        assert_int_equal(sysmem_stat_load(&w[i].stat), 0);
    }
    assert_int_equal(reader_bad, 0);
    assert_int_equal(sysmem_stat_load(&shared_stat), 0);
    SYSMEM_TU_ASSERT_TOTALS(&base, PS, 0, 0, 0, 0);
    assert_int_equal(sysmem_metadata_bytes(), base.meta);
    SYSMEM_TU_ASSERT_CHECK();
}

static void test_threads_disjoint_ranges(void **state)
{
    (void)state;
    run_workers(sysmem_kv_under_valgrind() ? 60 : 300);
}

/* ---- address reuse while a free is in flight ------------------------------------ */

static struct {
    uintptr_t target;           /* the range being freed */
    size_t n;
    int armed;
    int quit;
    sem_t go;                   /* racer: reserve now (or quit) */
    sem_t mapped;               /* the racer's mmap is done */
    sem_t done;                 /* the racer's reserve has returned */
    void *got;
    int rc;
} race;

static void sem_wait_ok(sem_t *s)
{
    while (sem_wait(s) != 0)
        ;
}

/* Created once, before the rounds, so that no thread creation (and its
 * mappings) happens between the free's munmap and the racer's mmap. */
static void *racer_main(void *arg)
{
    (void)arg;
    for (;;) {
        sem_wait_ok(&race.go);
        if (race.quit)
            return NULL;
        race.rc = sysmem_reserve((void *)race.target, 4 * PS, &race.got);
        sem_post(&race.done);
    }
}

/* Runs after every primitive call: once the target's munmap has succeeded
 * (the free is now between its system call and its commit), let the racer
 * reserve at the same address, and let the free continue only when the
 * racer's mmap has returned. */
static void race_hook(char prim, uintptr_t v, size_t n, int err)
{
    if (prim == 'U' && err == 0 && race.armed && v == race.target && n == race.n) {
        race.armed = 0;
        sem_post(&race.go);
        sem_wait_ok(&race.mapped);
    } else if (prim == 'R' && !race.armed && race.target) {
        sem_post(&race.mapped);
    }
}

static void test_reserve_reuses_address_of_inflight_free(void **state)
{
    (void)state;
    struct sysmem_tu_base base;
    sysmem_tu_base_take(&base);
    size_t hits = 0, rounds = sysmem_kv_under_valgrind() ? 20 : 200;
    pthread_t racer;
    assert_int_equal(sem_init(&race.go, 0, 0), 0);
    assert_int_equal(sem_init(&race.mapped, 0, 0), 0);
    assert_int_equal(sem_init(&race.done, 0, 0), 0);
    race.quit = 0;
    assert_int_equal(pthread_create(&racer, NULL, racer_main, NULL), 0);
    sysmem_fi_install();
    sysmem_fi_set_hook(race_hook);
    for (size_t i = 0; i < rounds; i++) {
        char *p;
        /* Free 64 pages and race for the lowest 4: the racer's one-page
         * metadata block, if the kernel puts it in the hole, goes to the
         * top of it (mmap fills gaps from their top), after the racer's
         * reservation anyway. */
        assert_int_equal(sysmem_reserve(NULL, 64 * PS, (void **)&p), 0);
        assert_int_equal(sysmem_map(p, 64 * PS, NULL), 0);
        race.target = (uintptr_t)p;
        race.n = 64 * PS;
        race.got = NULL;
        race.armed = 1;
        assert_int_equal(sysmem_free(p, 64 * PS, NULL), 0);
        sem_wait_ok(&race.done);
        race.target = 0;
        assert_int_equal(race.rc, 0);
        hits += race.got == p;
        /* Whatever the interleaving: the new reservation is Reserved. */
        assert_true(states_are(race.got, 4, SYSMEM_RESERVED));
        SYSMEM_TU_ASSERT_TOTALS(&base, PS, 4, 0, 0, 0);
        SYSMEM_TU_ASSERT_CHECK();
        assert_int_equal(sysmem_free(race.got, 4 * PS, NULL), 0);
    }
    race.quit = 1;
    sem_post(&race.go);
    assert_int_equal(pthread_join(racer, NULL), 0);
    sysmem_fi_set_hook(NULL);
    sysmem_fi_uninstall();
    sem_destroy(&race.go);
    sem_destroy(&race.mapped);
    sem_destroy(&race.done);
    SYSMEM_TU_ASSERT_TOTALS(&base, PS, 0, 0, 0, 0);
    assert_int_equal(sysmem_metadata_bytes(), base.meta);
    print_message("the kernel reused the freed address in %zu of %zu rounds\n", hits, rounds);
    if (hits == 0) {
        PA_SKIP("the kernel never placed the racing reservation at the freed address, "
                "so the in-flight wait was not exercised");
    }
}

static int group_setup(void **state)
{
    (void)state;
    return sysmem_tu_group_init(&PS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_disjoint_ranges),
        cmocka_unit_test(test_reserve_reuses_address_of_inflight_free),
    };
    return PA_RUN_GROUP_TESTS_NAME("sysmem_threads", tests, group_setup, NULL);
}
