/*
 * test_pageheap_ceiling.c - the resident ceiling (options.resident_ceiling,
 * docs/heap.md "The resident ceiling"): Ready memory stays within c per
 * mille (4 MiB at least) of the highest in-use, through the locked path and
 * the page-cache refills; off by default, where nothing is released.
 * Deterministic: one shard, no background scavenger, one thread; then
 * four threads on two shards, for the races (no figures asserted).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "pagealloc/pageheap.h"
#include "pa_heap_expect.h"

#define PAGE ((size_t)PAGEALLOC_PAGE_SIZE)
#define MiB ((uint64_t)1 << 20)

static pageheap_stats stats(pageheap *h)
{
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    return s;
}

/* The rule, from the test's own peak of in-use (the heap's may only be
 * lower), plus one physical page of rounding per release. */
static uint64_t ceiling(unsigned per_mille, uint64_t peak)
{
    uint64_t slack = peak / 1000 * per_mille;
    return peak + (slack > 4 * MiB ? slack : 4 * MiB) + 64 * 1024;
}

/* 64 runs of 1 MiB, every other one freed (32 MiB of 1 MiB holes), then
 * 16 runs of 2 MiB, which fit no hole: new pages at the top. Without a
 * ceiling Ready grows to 96 MiB; with 100 per mille it stays within 10 % of
 * the peak in-use (64 MiB), the holes released. */
static void holes_then_longer_runs(unsigned per_mille, uint64_t *ready, uint64_t *scavenged)
{
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1, .no_run_cache = 1,
                                                    .resident_ceiling = per_mille });
    assert_non_null(h);
    void *a[64], *b[16];
    for (int i = 0; i < 64; i++) {
        a[i] = pageheap_alloc(h, MiB / PAGE);
        assert_non_null(a[i]);
        memset(a[i], 1, MiB);
    }
    for (int i = 0; i < 64; i += 2)
        pageheap_free(h, a[i], MiB / PAGE);
    for (int i = 0; i < 16; i++) {
        b[i] = pageheap_alloc(h, 2 * MiB / PAGE);
        assert_non_null(b[i]);
        memset(b[i], 2, 2 * MiB);
        if (per_mille)
            assert_true(stats(h).ready_bytes <= ceiling(per_mille, 64 * MiB));
    }
    pageheap_stats s = stats(h);
    assert_int_equal(s.in_use_bytes, 64 * MiB);
    *ready = s.ready_bytes;
    *scavenged = s.scavenged_bytes;
    for (int i = 1; i < 64; i += 2)              /* the data survived the releases */
        assert_int_equal(((unsigned char *)a[i])[MiB - 1], 1);
    pa_expect_heap_ok(h);
    for (int i = 1; i < 64; i += 2)
        pageheap_free(h, a[i], MiB / PAGE);
    for (int i = 0; i < 16; i++)
        pageheap_free(h, b[i], 2 * MiB / PAGE);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

static void test_off_by_default(void **state)
{
    (void)state;
    uint64_t ready, scavenged;
    holes_then_longer_runs(0, &ready, &scavenged);
    assert_int_equal(scavenged, 0);
    assert_true(ready >= 96 * MiB);
}

static void test_locked_path(void **state)
{
    (void)state;
    uint64_t ready, scavenged;
    holes_then_longer_runs(100, &ready, &scavenged);
    assert_true(ready <= ceiling(100, 64 * MiB));
    assert_true(scavenged >= 96 * MiB - ceiling(100, 64 * MiB));
    holes_then_longer_runs(1, &ready, &scavenged);    /* the 4 MiB floor */
    assert_true(ready <= 68 * MiB + 64 * 1024);
}

/* Small requests (page caches) and run caches on: a churn of mixed sizes
 * whose in-use falls and rises again; after every allocation Ready is
 * within the ceiling of the peak in-use so far, plus what the caches hold
 * (Ready, not in use, and not the ceiling's to release). */
static void test_page_caches_and_churn(void **state)
{
    (void)state;
    const unsigned pm = 50;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1, .resident_ceiling = pm });
    assert_non_null(h);
    enum { SLOTS = 128 };
    static void *p[SLOTS];
    static size_t n[SLOTS];
    uint64_t x = 42, live = 0, peak = 0;
    for (int step = 0; step < 40000; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned i = (unsigned)(x % SLOTS);
        if (p[i]) {
            pageheap_free(h, p[i], n[i]);
            live -= n[i] * PAGE;
            p[i] = NULL;
        }
        /* Phases of 10,000 steps: big runs, then small ones (page caches). */
        int big = (step / 10000) % 2 == 0;
        size_t want = big ? 16 + (size_t)(x >> 40) % 240 : 1 + (size_t)(x >> 40) % 15;
        if ((x >> 20) % 4 == 0)
            continue;                   /* one slot in four stays empty: in-use moves */
        p[i] = pageheap_alloc(h, want);
        assert_non_null(p[i]);
        n[i] = want;
        ((volatile char *)p[i])[0] = 1;
        live += want * PAGE;
        if (live > peak)
            peak = live;
        pageheap_stats s = stats(h);    /* cached runs are Ready, not in use */
        assert_true(s.ready_bytes <= ceiling(pm, peak) + s.cache_bytes);
    }
    assert_true(stats(h).scavenged_bytes > 0);
    pa_expect_heap_ok(h);
    for (unsigned i = 0; i < SLOTS; i++)
        if (p[i])
            pageheap_free(h, p[i], n[i]);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* Four threads churning on one heap with the ceiling on: its in-use sums
 * (registry lock), hwm updates and releases race with allocations, frees
 * and page-cache refills (the TSan stage runs only the stress tests: run
 * this one under TSan by hand). */
static void *churn_thread(void *arg)
{
    pageheap *h = arg;
    enum { SLOTS = 64 };
    void *p[SLOTS] = {0};
    size_t n[SLOTS] = {0};
    uint64_t x = (uint64_t)(uintptr_t)&p | 1;
    for (int step = 0; step < 20000; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned i = (unsigned)(x % SLOTS);
        if (p[i])
            pageheap_free(h, p[i], n[i]);
        n[i] = (x >> 40) % 8 == 0 ? 16 + (size_t)(x >> 20) % 200 : 1 + (size_t)(x >> 20) % 15;
        p[i] = (x >> 30) % 3 == 0 ? NULL : pageheap_alloc(h, n[i]);
        if (p[i])
            ((volatile char *)p[i])[0] = 1;
    }
    for (unsigned i = 0; i < SLOTS; i++)
        if (p[i])
            pageheap_free(h, p[i], n[i]);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 2, .resident_ceiling = 20 });
    assert_non_null(h);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, churn_thread, h), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pageheap_stats s = stats(h);
    assert_int_equal(s.in_use_bytes, 0);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_by_default),
        cmocka_unit_test(test_locked_path),
        cmocka_unit_test(test_page_caches_and_churn),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
