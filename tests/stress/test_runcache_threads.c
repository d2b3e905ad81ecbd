/*
 * test_runcache_threads.c - stress test, not a benchmark: double frees
 * racing between threads, with run caches on.
 *
 * The main thread allocates runs; two threads then free every one of
 * them, both in the same order, with no synchronisation between them, so
 * each run is freed twice, sometimes at the same moment, sometimes one
 * after the other. One of the two threads shares the runs' shard (its
 * frees go to its run cache), the other does not (its frees go to the
 * allocator). Exactly one free of each run must succeed and the other be
 * reported, and the heap must balance at the end (pageheap_check). Then
 * the same with the threads each churning their own runs (short and long,
 * so that cached runs are split) while a third flushes the caches and
 * releases memory, under each run-cache merge policy (the neighbours'
 * run-map reads race with the other threads' writes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "pagealloc/pageheap.h"

#include "base/tsan.h"

#define PAGE ((size_t)PAGEALLOC_PAGE_SIZE)
#define NRUNS (PA_UNDER_TSAN ? 1000u : 3000u)

static pageheap *heap;
static char *runs[3000];
static size_t lens[3000];
static atomic_uint reports;
static pthread_barrier_t go;

static void count_report(const char *msg, void *arg)
{
    (void)msg;
    (void)arg;
    atomic_fetch_add(&reports, 1);
}

static void *free_all(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&go);
    for (unsigned i = 0; i < NRUNS; i++)
        pageheap_free(heap, runs[i], lens[i]);
    return NULL;
}

static void check(void)
{
    char msg[512];
    if (pageheap_check(heap, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
}

static void test_double_free_race(void **state)
{
    (void)state;
    heap = pageheap_new(&(pageheap_options){ .shards = 2 });
    assert_non_null(heap);
    pagealloc_set_error_handler(count_report, NULL);
    atomic_store(&reports, 0);
    for (unsigned i = 0; i < NRUNS; i++) {
        lens[i] = i % 8 ? 1 + i % 24 : 60 + i % 90;   /* some long: count in the map */
        runs[i] = pageheap_alloc(heap, lens[i]);
        assert_non_null(runs[i]);
    }
    pageheap_stats s0;
    pageheap_get_stats(heap, &s0);
    pthread_barrier_init(&go, NULL, 2);
    pthread_t a, b;
    assert_int_equal(pthread_create(&a, NULL, free_all, NULL), 0);
    assert_int_equal(pthread_create(&b, NULL, free_all, NULL), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_barrier_destroy(&go);
    pagealloc_set_error_handler(NULL, NULL);
    assert_int_equal(atomic_load(&reports), NRUNS);
    pageheap_stats s;
    pageheap_get_stats(heap, &s);
    assert_int_equal(s.frees, s0.frees + NRUNS);
    assert_int_equal(s.in_use_bytes, 0);
    assert_int_equal(s.run_cache_bytes, 0);      /* both threads exited */
    check();
    pageheap_delete(heap);
}

static atomic_int stop;

static void *churn(void *arg)
{
    uint64_t x = 42 + (uintptr_t)arg;
    enum { SLOTS = 64 };
    char *p[SLOTS] = { 0 };
    size_t n[SLOTS] = { 0 };
    for (unsigned step = 0; step < (PA_UNDER_TSAN ? 20000u : 200000u); step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned i = (unsigned)(x % SLOTS);
        if (p[i]) {
            if (p[i][0] != (char)i || p[i][(n[i] - 1) * PAGE] != (char)i)
                fail_msg("run %p lost its stamp", (void *)p[i]);
            pageheap_free(heap, p[i], n[i]);
        }
        n[i] = (x >> 40) % 8 ? 1 + (x >> 20) % 40 : 60 + (x >> 20) % 120;  /* splits, long runs */
        p[i] = pageheap_alloc(heap, n[i]);
        assert_non_null(p[i]);
        p[i][0] = (char)i;
        p[i][(n[i] - 1) * PAGE] = (char)i;
    }
    for (unsigned i = 0; i < SLOTS; i++)
        if (p[i])
            pageheap_free(heap, p[i], n[i]);
    return NULL;
}

static void *pest(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        pageheap_flush_caches(heap);
        pageheap_release(heap, 1 << 20);
        pageheap_stats s;
        pageheap_get_stats(heap, &s);
        assert_true(s.run_cache_bytes <= s.cache_bytes);
    }
    return NULL;
}

/* Under each run-cache merge policy: the neighbours' reads (no lock) race
 * with the other threads' allocations and frees. */
static void churn_with_flushes(pageheap_run_merge merge)
{
    heap = pageheap_new(&(pageheap_options){ .shards = 2, .background_scavenger = 1,
                                             .scavenger_poll_ns = 2000000,
                                             .run_cache_merge = merge });
    assert_non_null(heap);
    atomic_store(&stop, 0);
    pthread_t t[3], pt;
    assert_int_equal(pthread_create(&pt, NULL, pest, NULL), 0);
    for (uintptr_t i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)i), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop, 1);
    pthread_join(pt, NULL);
    pageheap_stats s;
    pageheap_get_stats(heap, &s);
    assert_int_equal(s.in_use_bytes, 0);
    assert_int_equal(s.run_cache_bytes, 0);
    check();
    pageheap_delete(heap);
}

static void test_churn_with_flushes(void **state)
{
    (void)state;
    churn_with_flushes(PAGEHEAP_MERGE_DEFAULT);
    churn_with_flushes(PAGEHEAP_MERGE_BOTH);
    churn_with_flushes(PAGEHEAP_MERGE_OFF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_double_free_race),
        cmocka_unit_test(test_churn_with_flushes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
