/*
 * test_runcache.c - the page heap's per-thread run caches: reuse of a
 * freed run for a request of its length, or of a longer run's head for a
 * request of 9 pages or more, the bounds (runs and bytes), the big slot
 * (one longer run, the longer one kept), the statistics and the checker, bad frees the run map catches (double free
 * of a cached run, wrong page count, inside a run; long runs, whose
 * count the map keeps in their next pages' entries), every way the caches
 * drain (flush, release, thread exit, the hard limit, the background
 * scavenger), guard mode (no caches), and the option that turns them off:
 * with no_run_cache and one shard the heap gives exactly the answers of a
 * bare page allocator driven as the heap drives it. The tests of the
 * caches' mechanics free runs at the heap's top, whose next page is free:
 * they keep every run (PAGEHEAP_MERGE_OFF); test_runmerge.c has the merge
 * policies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pagealloc/pagealloc.h"
#include "pagealloc/pageheap.h"
#include "pa_heap_expect.h"

#define PAGE ((size_t)PAGEALLOC_PAGE_SIZE)
#define RC_RUNS 64u                       /* the bounds pageheap.h documents */
#define RC_PAGES 512u
#define RC_BIG_PAGES 4096u                /* the big slot's longest run */

static pageheap_stats stats(pageheap *h)
{
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    assert_int_equal(s.ready_bytes + s.prepared_bytes,
                     s.in_use_bytes + s.cache_bytes + s.free_bytes + s.released_bytes);
    assert_true(s.run_cache_bytes <= s.cache_bytes);
    return s;
}

static int reports;
static char last_report[512];
static void record_error(const char *msg, void *arg)
{
    (void)arg;
    reports++;
    snprintf(last_report, sizeof last_report, "%s", msg);
}

static void expect_report(const char *rule)
{
    if (reports != 1 || !strstr(last_report, rule))
        fail_msg("%d reports; last \"%s\", want one with \"%s\"", reports, last_report, rule);
    reports = 0;
}

/* ---- Reuse, bounds, statistics ---------------------------------------------- */

static void test_reuse_exact_length(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(
        &(pageheap_options){ .shards = 1, .run_cache_merge = PAGEHEAP_MERGE_OFF });
    assert_non_null(h);
    char *p = pageheap_alloc(h, 5), *q = pageheap_alloc(h, 40);
    assert_non_null(p);
    assert_non_null(q);
    memset(q, 7, 40 * PAGE);
    pageheap_stats s0 = stats(h);
    pageheap_free(h, q, 40);
    pageheap_stats s1 = stats(h);
    assert_int_equal(s1.run_cache_bytes, 40 * PAGE);
    assert_int_equal(s1.in_use_bytes, s0.in_use_bytes - 40 * PAGE);
    assert_int_equal(s1.frees, s0.frees + 1);
    pa_expect_heap_ok(h);
    /* Another length does not take it; the same length does. */
    char *r = pageheap_alloc(h, 41);
    assert_non_null(r);
    assert_true(r != q);
    assert_int_equal(stats(h).run_cache_bytes, 40 * PAGE);
    char *z = pageheap_alloc_zeroed(h, 40);
    assert_ptr_equal(z, q);
    for (size_t i = 0; i < 40 * PAGE; i += 997)
        assert_int_equal(z[i], 0);
    pageheap_stats s2 = stats(h);
    assert_int_equal(s2.run_cache_bytes, 0);
    assert_int_equal(s2.cache_allocs, s1.cache_allocs + 1);
    pa_expect_heap_ok(h);
    pageheap_free(h, p, 5);
    pageheap_free(h, r, 41);
    pageheap_free(h, z, 40);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* No run of the requested length: a request of 9 pages or more takes the
 * head of the shortest longer run and the tail goes back to the allocator;
 * shorter requests do not split. */
static void test_split(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(
        &(pageheap_options){ .shards = 1, .run_cache_merge = PAGEHEAP_MERGE_OFF });
    assert_non_null(h);
    pagealloc_set_error_handler(record_error, NULL);
    reports = 0;
    char *a = pageheap_alloc(h, 50), *b = pageheap_alloc(h, 30), *c = pageheap_alloc(h, 300);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    pageheap_free(h, a, 50);
    pageheap_free(h, b, 30);
    pageheap_free(h, c, 300);
    char *d = pageheap_alloc(h, 8);                 /* too short to split */
    assert_true(d != a && d != b && d != c);
    pageheap_stats s0 = stats(h);
    assert_int_equal(s0.run_cache_bytes, 380 * PAGE);
    char *e = pageheap_alloc(h, 20);                /* the shortest that fits: b */
    assert_ptr_equal(e, b);
    pageheap_stats s1 = stats(h);
    assert_int_equal(s1.run_cache_bytes, 350 * PAGE);
    assert_int_equal(s1.in_use_bytes, s0.in_use_bytes + 20 * PAGE);
    assert_int_equal(s1.free_bytes, s0.free_bytes + 10 * PAGE);
    pa_expect_heap_ok(h);
    pageheap_free(h, e, 30);                        /* the head is 20 pages now */
    expect_report("not allocated");
    char *f = pageheap_alloc(h, 100);               /* long from long: c */
    assert_ptr_equal(f, c);
    pa_expect_heap_ok(h);
    pageheap_free(h, f, 101);
    expect_report("not allocated");
    pageheap_free(h, f, 99);
    expect_report("page count differs from the allocation's (100 pages)");
    pageheap_free(h, f, 100);                       /* cached again */
    char *g = pageheap_alloc(h, 12);                /* short from long: a (50) */
    assert_ptr_equal(g, a);
    char *k = pageheap_alloc(h, 70);                /* short from long: c (100) */
    assert_ptr_equal(k, c);
    pageheap_free(h, k + PAGE, 3);
    expect_report("inside a run");
    pa_expect_heap_ok(h);
    assert_int_equal(stats(h).run_cache_bytes, 0);
    pageheap_free(h, d, 8);
    pageheap_free(h, e, 20);
    pageheap_free(h, g, 12);
    pageheap_free(h, k, 70);
    assert_int_equal(reports, 0);
    pagealloc_set_error_handler(NULL, NULL);
    assert_int_equal(stats(h).in_use_bytes, 0);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

static void test_bounds(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    enum { N = 100 };
    char *p[N];
    for (int i = 0; i < N; i++)
        assert_non_null(p[i] = pageheap_alloc(h, 1));
    for (int i = 0; i < N; i++)
        pageheap_free(h, p[i], 1);
    pageheap_stats s = stats(h);
    assert_int_equal(s.run_cache_bytes, RC_RUNS * PAGE);      /* at most 64 runs */
    assert_int_equal(s.in_use_bytes, 0);
    pa_expect_heap_ok(h);
    pageheap_flush_caches(h);
    assert_int_equal(stats(h).run_cache_bytes, 0);
    /* Bytes: 300-page runs, of which one fits in 512 pages. */
    for (int i = 0; i < 4; i++)
        assert_non_null(p[i] = pageheap_alloc(h, 300));
    for (int i = 0; i < 4; i++)
        pageheap_free(h, p[i], 300);
    assert_int_equal(stats(h).run_cache_bytes, 300 * PAGE);
    /* A run longer than the bound goes to the big slot, outside it; one
     * longer than the slot's bound is never cached. */
    char *big = pageheap_alloc(h, RC_PAGES + 1);
    assert_non_null(big);
    pageheap_free(h, big, RC_PAGES + 1);
    assert_int_equal(stats(h).run_cache_bytes, (300 + RC_PAGES + 1) * PAGE);
    big = pageheap_alloc(h, RC_BIG_PAGES + 1);
    assert_non_null(big);
    pageheap_free(h, big, RC_BIG_PAGES + 1);
    assert_int_equal(stats(h).run_cache_bytes, (300 + RC_PAGES + 1) * PAGE);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* The big slot: one run of RC_PAGES+1..RC_BIG_PAGES pages per thread. It
 * keeps the longer of the run it holds and a run freed; a request longer
 * than RC_PAGES takes it if it is long enough (the tail goes back to the
 * allocator); the run map still catches bad frees of it; the checker and
 * the statistics count it; a flush gives it back. */
static void test_big_slot(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    pagealloc_set_error_handler(record_error, NULL);
    reports = 0;
    char *a = pageheap_alloc(h, 1000), *b = pageheap_alloc(h, 2000), *c = pageheap_alloc(h, 600);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    pageheap_free(h, a, 1000);
    assert_int_equal(stats(h).run_cache_bytes, 1000 * PAGE);
    pageheap_free(h, b, 2000);                  /* longer: replaces a, a goes back */
    assert_int_equal(stats(h).run_cache_bytes, 2000 * PAGE);
    pageheap_free(h, c, 600);                   /* shorter: goes back */
    assert_int_equal(stats(h).run_cache_bytes, 2000 * PAGE);
    pa_expect_heap_ok(h);
    pageheap_free(h, b, 2000);                  /* double free of the cached run */
    expect_report("already freed");
    pageheap_free(h, a, 1000);                  /* given back: the allocator's rule */
    expect_report("not allocated");
    pageheap_free(h, b + PAGE, 1);              /* inside it */
    expect_report("not allocated");
    pageheap_free(h, b, 1999);                  /* of a cached run, any length */
    expect_report("already freed");
    /* Too long for it: the allocator. */
    char *d = pageheap_alloc(h, 2001);
    assert_non_null(d);
    assert_ptr_not_equal(d, b);
    assert_int_equal(stats(h).run_cache_bytes, 2000 * PAGE);
    /* Shorter: its head, the tail to the allocator. */
    char *e = pageheap_alloc(h, 700);
    assert_ptr_equal(e, b);
    pageheap_stats s = stats(h);
    assert_int_equal(s.run_cache_bytes, 0);
    assert_int_equal(s.in_use_bytes, (2001 + 700) * PAGE);
    pa_expect_heap_ok(h);
    pageheap_free(h, e, 2000);                  /* the old length: its tail is free */
    expect_report("not allocated");
    pageheap_free(h, e, 699);                   /* too short */
    expect_report("page count differs");
    pageheap_free(h, e, 700);
    pageheap_free(h, d, 2001);                  /* longer than the slot holds */
    assert_int_equal(stats(h).run_cache_bytes, 2001 * PAGE);
    pa_expect_heap_ok(h);
    pageheap_flush_caches(h);
    s = stats(h);
    assert_int_equal(s.run_cache_bytes, 0);
    assert_int_equal(s.in_use_bytes, 0);
    pa_expect_heap_ok(h);
    assert_int_equal(reports, 0);
    pagealloc_set_error_handler(NULL, NULL);
    pageheap_delete(h);
}

/* The visitor shows cached runs as cached. */
static unsigned cached_pages;
static void count_cached(void *arg, unsigned shard, uintptr_t base,
                         const uint8_t st[PAGEALLOC_CHUNK_PAGES])
{
    (void)arg;
    (void)shard;
    (void)base;
    for (unsigned i = 0; i < PAGEALLOC_CHUNK_PAGES; i++)
        cached_pages += st[i] == PAGEHEAP_PAGE_CACHED;
}

static void test_visible(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(
        &(pageheap_options){ .shards = 1, .run_cache_merge = PAGEHEAP_MERGE_OFF });
    assert_non_null(h);
    char *p = pageheap_alloc(h, 100);           /* not from the page cache */
    cached_pages = 0;
    assert_int_equal(pageheap_visit(h, count_cached, NULL), 0);
    unsigned before = cached_pages;
    pageheap_free(h, p, 100);
    cached_pages = 0;
    assert_int_equal(pageheap_visit(h, count_cached, NULL), 0);
    assert_int_equal(cached_pages, before + 100);
    char buf[4096];
    assert_true(pageheap_stats_json_buf(h, buf, sizeof buf) < sizeof buf);
    char want[64];
    snprintf(want, sizeof want, "\"run_cache_bytes\": %zu", 100 * PAGE);
    assert_non_null(strstr(buf, want));
    pageheap_delete(h);
}

/* ---- Bad frees -------------------------------------------------------------- */

static void test_bad_frees(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    pagealloc_set_error_handler(record_error, NULL);
    reports = 0;
    char *p = pageheap_alloc(h, 5), *q = pageheap_alloc(h, 20), *r = pageheap_alloc(h, 20);
    assert_non_null(r);
    pageheap_free(h, q, 20);                    /* cached */
    pageheap_stats s0 = stats(h);
    pageheap_free(h, q, 20);                    /* double free of a cached run */
    expect_report("already freed");
    pageheap_free(h, q + PAGE, 1);              /* inside the cached run */
    expect_report("not allocated");
    pageheap_free(h, p, 4);                     /* too short */
    expect_report("page count differs");
    pageheap_free(h, p, 6);                     /* too long (page 6: the page cache's) */
    expect_report("page count differs");
    pageheap_free(h, r, 21);                    /* too long, into free pages */
    expect_report("not allocated");
    pageheap_free(h, r + 2 * PAGE, 3);          /* inside a live run */
    expect_report("not allocated");
    pageheap_free(h, p + 100, 5);               /* unaligned: the allocator's rule */
    expect_report("not page aligned");
    pageheap_stats s1 = stats(h);
    assert_int_equal(s1.frees, s0.frees);
    assert_int_equal(s1.in_use_bytes, s0.in_use_bytes);
    assert_int_equal(s1.run_cache_bytes, s0.run_cache_bytes);
    pa_expect_heap_ok(h);
    /* A run the cache gave back to the allocator: the allocator's rule. */
    pageheap_flush_caches(h);
    pageheap_free(h, q, 20);
    expect_report("not allocated");
    pageheap_free(h, p, 5);
    pageheap_free(h, r, 20);
    assert_int_equal(reports, 0);
    pagealloc_set_error_handler(NULL, NULL);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* Runs of 63 pages and more: the run map keeps their exact count in the
 * entries of their next pages. A run that starts two pages before a
 * chunk's end keeps it in the next chunk's entries (with 64 MiB arenas,
 * the next chunk is in the same reservation, so the run crosses); with
 * one-chunk arenas the next chunk is another reservation's, and the run
 * crosses into its block if the OS put the two side by side (it does at
 * the heap's address hints, not under ASan). */
static void long_runs_on(pageheap *h, int must_cross)
{
    assert_non_null(h);
    pagealloc_set_error_handler(record_error, NULL);
    reports = 0;
    char *a = pageheap_alloc(h, PAGEALLOC_CHUNK_PAGES - 2);
    char *b = pageheap_alloc(h, 100);
    assert_non_null(a);
    assert_non_null(b);
    if (must_cross)
        assert_ptr_equal(b, a + (PAGEALLOC_CHUNK_PAGES - 2) * PAGE);
    pageheap_free(h, b, 99);                    /* live, too short */
    expect_report("page count differs from the allocation's (100 pages)");
    pageheap_free(h, b, 101);                   /* live, too long */
    expect_report("not allocated");
    pageheap_free(h, b + PAGE, 5);              /* inside, on a count entry */
    expect_report("inside a run");
    pageheap_free(h, b + 3 * PAGE, 97);         /* inside, to the run's end */
    expect_report("inside a run");
    pa_expect_heap_ok(h);
    pageheap_free(h, b, 100);                   /* cached */
    assert_int_equal(stats(h).run_cache_bytes, 100 * PAGE);
    pa_expect_heap_ok(h);
    pageheap_free(h, b, 100);
    expect_report("already freed");
    pageheap_free(h, b, 64);
    expect_report("already freed");
    pageheap_free(h, b + 2 * PAGE, 1);
    expect_report("inside a run");
    assert_ptr_equal(pageheap_alloc(h, 100), b);
    pageheap_free(h, b, 100);
    /* Flushed, and a run never cached: the allocator has them, the map
     * keeps nothing of them (the check looks at every free page). */
    pageheap_flush_caches(h);
    char *c = pageheap_alloc(h, RC_PAGES + 100);
    assert_non_null(c);
    pageheap_free(h, c, RC_PAGES + 100);
    pa_expect_heap_ok(h);
    pageheap_free(h, b, 100);
    expect_report("not allocated");
    pageheap_free(h, a, PAGEALLOC_CHUNK_PAGES - 2);
    assert_int_equal(reports, 0);
    pagealloc_set_error_handler(NULL, NULL);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

static void test_long_runs(void **state)
{
    (void)state;
    long_runs_on(pageheap_new(&(pageheap_options){ .shards = 1,
                                                   .run_cache_merge = PAGEHEAP_MERGE_OFF }), 1);
    long_runs_on(pageheap_new(&(pageheap_options){ .shards = 1,
                                                   .arena_bytes = PAGEALLOC_CHUNK_SIZE,
                                                   .run_cache_merge = PAGEHEAP_MERGE_OFF }), 0);
}

/* ---- Draining ---------------------------------------------------------------- */

static void *cache_and_exit(void *arg)
{
    pageheap *h = arg;
    char *p[8];
    for (int i = 0; i < 8; i++)
        p[i] = pageheap_alloc(h, (size_t)i + 20);
    for (int i = 0; i < 8; i++)
        pageheap_free(h, p[i], (size_t)i + 20);
    return NULL;
}

static void test_drains(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(
        &(pageheap_options){ .shards = 2, .run_cache_merge = PAGEHEAP_MERGE_OFF });
    assert_non_null(h);
    /* Thread exit. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cache_and_exit, h), 0);
    pthread_join(th, NULL);
    pageheap_stats s = stats(h);
    assert_int_equal(s.run_cache_bytes, 0);
    assert_int_equal(s.in_use_bytes, 0);
    pa_expect_heap_ok(h);
    /* Release: the cached run is released too. */
    char *p = pageheap_alloc(h, 64);
    memset(p, 1, 64 * PAGE);
    pageheap_free(h, p, 64);
    assert_int_equal(stats(h).run_cache_bytes, 64 * PAGE);
    pageheap_release(h, SIZE_MAX);
    s = stats(h);
    assert_int_equal(s.run_cache_bytes, 0);
    assert_int_equal(s.free_bytes, 0);
    assert_int_equal(s.ready_bytes, 0);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* Release gives the OS the run map's pages over wholly free chunks; the
 * entries of live runs stay, and the trimmed pages work again. */
static void test_release_trims_map(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    pagealloc_set_error_handler(record_error, NULL);
    reports = 0;
    enum { N = 24 };
    char *keep = pageheap_alloc(h, 3), *p[N];
    assert_non_null(keep);
    for (int i = 0; i < N; i++)                 /* 24 chunks: several map pages */
        assert_non_null(p[i] = pageheap_alloc(h, PAGEALLOC_CHUNK_PAGES - 1));
    for (int i = 0; i < N; i++)
        pageheap_free(h, p[i], PAGEALLOC_CHUNK_PAGES - 1);
    pageheap_release(h, SIZE_MAX);
    pa_expect_heap_ok(h);
    pageheap_free(h, keep, 2);                  /* its entry is still there */
    expect_report("page count differs from the allocation's (3 pages)");
    for (int i = 0; i < N; i++)
        assert_non_null(p[i] = pageheap_alloc(h, 100 + (size_t)i));
    for (int i = 0; i < N; i++) {
        pageheap_free(h, p[i], 99 + (size_t)i);
        expect_report("page count differs");
        pageheap_free(h, p[i], 100 + (size_t)i);
        pageheap_free(h, p[i], 100 + (size_t)i);
        expect_report(i < 5 ? "already freed" : "not allocated");
    }
    pageheap_free(h, keep, 3);
    assert_int_equal(reports, 0);
    pagealloc_set_error_handler(NULL, NULL);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* A hard limit: cached runs are Ready, and count; the limit's assist
 * flushes them so that an allocation needing new memory succeeds, and one
 * that cannot fit still fails cleanly. */
static void test_hard_limit(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(
        &(pageheap_options){ .shards = 1, .run_cache_merge = PAGEHEAP_MERGE_OFF, .hard_limit = 1 });
    assert_non_null(h);
    void *warm = pageheap_alloc(h, 1);          /* grow and make the metadata */
    assert_non_null(warm);
    pageheap_stats s = stats(h);
    uint64_t limit = s.ready_bytes + s.metadata_bytes + 3 * ((uint64_t)1 << 20);
    pageheap_set_limit(h, limit);
    char *a = pageheap_alloc(h, 256);           /* 2 MiB */
    assert_non_null(a);
    pageheap_free(h, a, 256);
    assert_int_equal(stats(h).run_cache_bytes, 256 * PAGE);
    char *b = pageheap_alloc(h, 300);           /* longer: needs the cached run's room */
    if (!b)
        fail_msg("allocation at the limit failed: %s", strerror(errno));
    s = stats(h);
    assert_int_equal(s.run_cache_bytes, 0);
    assert_true(s.limit_hits >= 1);
    assert_true(s.ready_bytes + s.metadata_bytes <= limit);
    pa_expect_heap_ok(h);
    errno = 0;
    assert_null(pageheap_alloc(h, 512));        /* 4 MiB: over, fails cleanly */
    assert_int_equal(errno, ENOMEM);
    pageheap_stats s2 = stats(h);
    assert_int_equal(s2.in_use_bytes, s.in_use_bytes);
    assert_true(s2.limit_failures >= 1);
    pa_expect_heap_ok(h);
    pageheap_free(h, b, 300);
    pageheap_free(h, warm, 1);
    pageheap_delete(h);
}

/* The background scavenger flushes run caches when the allocator's free
 * pages are not enough for its goal. */
static void test_scavenger_flushes(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){
        .shards = 1, .background_scavenger = 1, .scavenger_cpu_fraction = 0.5,
        .scavenger_poll_ns = 5000000 });
    assert_non_null(h);
    void *keep = pageheap_alloc(h, 64);
    char *p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = pageheap_alloc(h, 100);
        memset(p[i], 1, 100 * PAGE);
    }
    for (int i = 0; i < 4; i++)
        pageheap_free(h, p[i], 100);
    uint64_t bound = 64 * PAGE * 11 / 10 + 2 * 4096;
    pageheap_stats s;
    for (int i = 0; i < 3000; i++) {
        pageheap_get_stats(h, &s);
        if (s.ready_bytes <= bound && s.run_cache_bytes == 0)
            break;
        nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
    }
    s = stats(h);
    assert_int_equal(s.run_cache_bytes, 0);
    assert_true(s.ready_bytes <= bound);
    pageheap_free(h, keep, 64);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

static void test_guard_has_none(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1, .guard = 1 });
    assert_non_null(h);
    char *p = pageheap_alloc(h, 20);
    assert_non_null(p);
    pageheap_free(h, p, 20);
    pageheap_stats s = stats(h);
    assert_int_equal(s.run_cache_bytes, 0);
    assert_int_equal(s.in_use_bytes, 0);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* ---- Off: the allocator's answers ---------------------------------------------- */

/* A bare unbacked page allocator driven as a one-shard heap drives its own
 * (pageheap.h): requests under 16 pages from a page cache refilled when
 * empty, others (and a cache that cannot fit) by first fit, growing by the
 * request rounded up to whole chunks, contiguously. */
typedef struct mirror {
    pagealloc *pa;
    pagealloc_cache c;
    uintptr_t next;                  /* where the next grow goes; 0: not yet */
} mirror;

static uintptr_t mirror_alloc(mirror *m, size_t n, uintptr_t heap_answer)
{
    if (n < 16) {
        if (m->c.cache == 0)
            m->c = pagealloc_alloc_to_cache(m->pa);
        uintptr_t b = pagealloc_cache_alloc(&m->c, n, NULL);
        if (b)
            return b;
    }
    for (;;) {
        uintptr_t b = pagealloc_alloc(m->pa, n, NULL);
        if (b)
            return b;
        size_t bytes = (n * PAGE + PAGEALLOC_CHUNK_SIZE - 1) & ~(PAGEALLOC_CHUNK_SIZE - 1);
        if (!m->next)
            m->next = heap_answer & ~(uintptr_t)(PAGEALLOC_CHUNK_SIZE - 1);
        assert_int_equal(pagealloc_grow(m->pa, m->next, bytes), 0);
        m->next += bytes;
    }
}

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545f4914f6cdd1dull;
}

static size_t churn_size(uint64_t *x)
{
    uint64_t p = rng_next(x) % 100;
    return p < 50 ? 1 : p < 85 ? 2 + rng_next(x) % 7 : p < 98 ? 9 + rng_next(x) % 56
                                                             : 65 + rng_next(x) % 136;
}

/* Replays a churn on the heap (and, if m, the mirror); returns how many
 * answers differed from the mirror's. */
static unsigned replay(pageheap *h, mirror *m)
{
    enum { SLOTS = 300, STEPS = 20000 };
    static char *live[SLOTS];
    static uintptr_t mlive[SLOTS];       /* the mirror's answers */
    static size_t len[SLOTS];
    uint64_t x = 42;
    unsigned diff = 0;
    for (unsigned step = 0; step < SLOTS + STEPS; step++) {
        unsigned i = step < SLOTS ? step : (unsigned)(rng_next(&x) % SLOTS);
        if (step >= SLOTS) {
            pageheap_free(h, live[i], len[i]);
            if (m)
                pagealloc_free(m->pa, mlive[i], len[i]);
        }
        len[i] = churn_size(&x);
        live[i] = pageheap_alloc(h, len[i]);
        assert_non_null(live[i]);
        if (m && (mlive[i] = mirror_alloc(m, len[i], (uintptr_t)live[i])) != (uintptr_t)live[i])
            diff++;
    }
    for (unsigned i = 0; i < SLOTS; i++)
        pageheap_free(h, live[i], len[i]);
    return diff;
}

static void test_off_is_first_fit(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1, .no_run_cache = 1 });
    assert_non_null(h);
    mirror m = { .pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 }) };
    assert_non_null(m.pa);
    assert_int_equal(replay(h, &m), 0);
    pageheap_stats s = stats(h);
    assert_int_equal(s.run_cache_bytes, 0);
    pa_expect_heap_ok(h);
    /* Frees of parts of a run are allowed with the caches off. */
    char *p = pageheap_alloc(h, 10);
    pageheap_free(h, p + 4 * PAGE, 6);
    pageheap_free(h, p, 4);
    pa_expect_heap_ok(h);
    pagealloc_delete(m.pa);
    pageheap_delete(h);

    /* On (the default), the same replay is served partly by the caches. */
    h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    pageheap_stats s0 = stats(h);
    replay(h, NULL);
    s = stats(h);
    assert_true(s.cache_allocs > s0.cache_allocs);
    assert_true(s.run_cache_bytes > 0);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse_exact_length),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_big_slot),
        cmocka_unit_test(test_visible),
        cmocka_unit_test(test_bad_frees),
        cmocka_unit_test(test_long_runs),
        cmocka_unit_test(test_drains),
        cmocka_unit_test(test_release_trims_map),
        cmocka_unit_test(test_hard_limit),
        cmocka_unit_test(test_scavenger_flushes),
        cmocka_unit_test(test_guard_has_none),
        cmocka_unit_test(test_off_is_first_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
