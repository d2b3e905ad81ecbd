/*
 * test_pageheap.c - the thread-safe page heap: growth, limits (hard and
 * soft), exhaustion, fill patterns and zeroing, RSS after release, bad
 * frees, huge-page policies, several heaps, stats and their JSON.
 * Every test ends with pageheap_check, which compares the stats with the
 * allocators' bitmaps and every page's sysmem state.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pagealloc/pageheap.h"
#include "pa_json.h"
#include "pa_skip.h"
#include "pa_heap_expect.h"

#define PAGE ((size_t)PAGEALLOC_PAGE_SIZE)
#define MiB ((uint64_t)1 << 20)

/* The balance equations of pageheap.h, when nothing is in flight. */
static void check_balance(pageheap *h)
{
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    assert_int_equal(s.version, PAGEHEAP_STATS_VERSION);
    assert_int_equal(s.ready_bytes + s.prepared_bytes,
                     s.in_use_bytes + s.cache_bytes + s.free_bytes + s.released_bytes);
    assert_int_equal(s.prepared_bytes, s.released_bytes + s.cache_released_bytes);
    assert_int_equal(s.alloc_bytes - s.freed_bytes, s.in_use_bytes);
}

static pageheap *new_heap(uint64_t limit, int hard)
{
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1, .limit = limit,
                                                    .hard_limit = hard });
    assert_non_null(h);
    return h;
}

static uint64_t ready_and_meta(pageheap *h)
{
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    return s.ready_bytes + s.metadata_bytes;
}

/* ---- Basics ---------------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(NULL);
    assert_non_null(h);
    void *p = pageheap_alloc(h, 1);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % PAGE, 0);
    memset(p, 1, PAGE);
    void *q = pageheap_alloc(h, 300);
    assert_non_null(q);
    memset(q, 2, 300 * PAGE);
    void *r = pageheap_alloc(h, 2);          /* the first one grew: this one is cached */
    assert_non_null(r);
    errno = 0;
    assert_null(pageheap_alloc(h, 0));
    assert_int_equal(errno, EINVAL);
    pa_expect_heap_ok(h);
    pageheap_free(h, p, 1);
    pageheap_free(h, q, 300);
    pageheap_free(h, r, 2);
    pageheap_free(h, NULL, 0);               /* no-op */
    pa_expect_heap_ok(h);
    check_balance(h);
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    assert_int_equal(s.in_use_bytes, 0);
    assert_int_equal(s.allocs, 3);
    assert_int_equal(s.frees, 3);
    assert_int_equal(s.cache_allocs, 1);
    assert_true(s.grows >= 1);
    pageheap_delete(h);
    pageheap_delete(NULL);
}

static void test_bad_options(void **state)
{
    (void)state;
    errno = 0;
    assert_null(pageheap_new(&(pageheap_options){ .scavenger_cpu_fraction = 2.0 }));
    assert_int_equal(errno, EINVAL);
    assert_null(pageheap_new(&(pageheap_options){ .shards = 1000 }));
    assert_null(pageheap_new(&(pageheap_options){ .huge_pages = (pageheap_huge_policy)7 }));
}

/* Grown memory sits at Go's arena hints when the address space is free.
 * First fit is the heap's answer with one shard and no run caches
 * (test_runcache.c replays a churn against a bare allocator). */
static void test_first_fit_single_shard(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1, .no_run_cache = 1 });
    assert_non_null(h);
    char *a = pageheap_alloc(h, 20), *b = pageheap_alloc(h, 20), *c = pageheap_alloc(h, 20);
    assert_ptr_equal(b, a + 20 * PAGE);
    assert_ptr_equal(c, b + 20 * PAGE);
    pageheap_free(h, b, 20);
    char *d = pageheap_alloc(h, 20);           /* first fit: b's hole */
    assert_ptr_equal(d, b);
    pageheap_free(h, a, 20);
    pageheap_free(h, c, 20);
    pageheap_free(h, d, 20);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* ---- Limits ---------------------------------------------------------------- */

static void test_grow_under_limit(void **state)
{
    (void)state;
    pageheap *h = new_heap(0, 1);
    void *first = pageheap_alloc(h, 1);      /* grows once: metadata exists */
    assert_non_null(first);
    uint64_t base = ready_and_meta(h);
    pageheap_set_limit(h, base + 8 * MiB);
    assert_int_equal(pageheap_get_limit(h), base + 8 * MiB);

    void *runs[64];
    int k = 0;
    errno = 0;
    while (k < 64 && (runs[k] = pageheap_alloc(h, 64)) != NULL) {
        memset(runs[k], 0x5a, 64 * PAGE);
        k++;
    }
    assert_true(k < 64);
    assert_int_equal(errno, ENOMEM);
    assert_true(k >= 12 && k <= 16);                /* 8 MiB / 512 KiB, less metadata */
    assert_true(ready_and_meta(h) <= base + 8 * MiB);
    pa_expect_heap_ok(h);
    check_balance(h);
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    assert_true(s.limit_hits >= 1);
    assert_int_equal(s.limit_failures, 1);

    /* Fails cleanly again, and succeeds once the limit is raised. */
    assert_null(pageheap_alloc(h, 64));
    pa_expect_heap_ok(h);
    pageheap_set_limit(h, base + 16 * MiB);
    runs[k] = pageheap_alloc(h, 64);
    assert_non_null(runs[k]);
    k++;
    assert_non_null(pageheap_alloc(h, 1));
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

static void test_exhaust(void **state)
{
    (void)state;
    pageheap *h = new_heap(0, 1);
    pageheap_free(h, pageheap_alloc(h, 1), 1);
    pageheap_set_limit(h, ready_and_meta(h) + 12 * MiB);
    enum { MAXN = 2048 };
    static void *p[MAXN];
    static size_t n[MAXN];
    int k = 0;
    for (; k < MAXN; k++) {
        n[k] = k % 3 == 0 ? 1 : k % 3 == 1 ? 5 : 24;
        p[k] = pageheap_alloc(h, n[k]);
        if (!p[k])
            break;
        *(volatile char *)p[k] = 1;
    }
    assert_true(k > 100 && k < MAXN);
    assert_int_equal(errno, ENOMEM);
    pa_expect_heap_ok(h);
    /* Free every other one, release, and allocate as much again. */
    size_t freed = 0;
    for (int i = 0; i < k; i += 2) {
        pageheap_free(h, p[i], n[i]);
        freed += n[i] * PAGE;
        p[i] = NULL;
    }
    size_t rel = pageheap_release(h, SIZE_MAX);
    assert_true(rel >= freed);
    pa_expect_heap_ok(h);
    size_t again = 0;
    for (int i = 0; i < k; i += 2) {
        p[i] = pageheap_alloc(h, n[i]);
        if (!p[i])
            break;
        again += n[i] * PAGE;
    }
    assert_true(again >= freed - 24 * PAGE);
    pa_expect_heap_ok(h);
    for (int i = 0; i < k; i++)
        if (p[i])
            pageheap_free(h, p[i], n[i]);
    pa_expect_heap_ok(h);
    check_balance(h);
    pageheap_delete(h);
}

static void test_soft_limit(void **state)
{
    (void)state;
    pageheap *h = new_heap(0, 0);
    pageheap_free(h, pageheap_alloc(h, 1), 1);
    uint64_t base = ready_and_meta(h);
    pageheap_set_limit(h, base + 4 * MiB);
    void *a = pageheap_alloc(h, 1024);         /* 8 MiB: over the soft limit */
    assert_non_null(a);
    memset(a, 1, 1024 * PAGE);
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    assert_true(s.limit_hits >= 1);
    assert_int_equal(s.limit_failures, 0);
    /* Freed memory is released at once when the heap is over its limit. */
    pageheap_free(h, a, 1024);
    void *b = pageheap_alloc(h, 16);
    assert_non_null(b);
    assert_true(ready_and_meta(h) <= base + 4 * MiB);
    pageheap_free(h, b, 16);
    pa_expect_heap_ok(h);
    check_balance(h);
    pageheap_delete(h);
}

static void test_set_limit_releases(void **state)
{
    (void)state;
    pageheap *h = new_heap(0, 0);
    void *a = pageheap_alloc(h, 2048);
    memset(a, 3, 2048 * PAGE);
    pageheap_free(h, a, 2048);
    uint64_t before = ready_and_meta(h);
    size_t r = pageheap_set_limit(h, before - 8 * MiB);
    assert_true(r >= 8 * MiB);
    assert_true(ready_and_meta(h) <= before - 8 * MiB);
    pageheap_set_limit(h, 0);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* ---- Contents ---------------------------------------------------------------- */

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static void test_fill_patterns(void **state)
{
    (void)state;
    pageheap *h = new_heap(0, 0);
    enum { N = 300 };
    static uintptr_t run[N][2];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            size_t n = 1 + (size_t)(i * 7 + round) % 40;
            unsigned char *p = pageheap_alloc(h, n);
            assert_non_null(p);
            if (round > 0) {
                /* Everything was freed and released: it must read zero. */
                for (size_t j = 0; j < n * PAGE; j += 512)
                    assert_int_equal(p[j], 0);
            }
            memset(p, (int)(i & 0xff) | 1, n * PAGE);
            run[i][0] = (uintptr_t)p;
            run[i][1] = n;
        }
        /* Nothing handed out twice: runs are disjoint, patterns intact. */
        for (int i = 0; i < N; i++) {
            unsigned char *p = (unsigned char *)run[i][0];
            for (size_t j = 0; j < run[i][1] * PAGE; j += PAGE)
                assert_int_equal(p[j], (i & 0xff) | 1);
        }
        qsort(run, N, sizeof run[0], cmp_ptr);
        for (int i = 1; i < N; i++)
            assert_true(run[i - 1][0] + run[i - 1][1] * PAGE <= run[i][0]);
        pa_expect_heap_ok(h);
        for (int i = 0; i < N; i++)
            pageheap_free(h, (void *)run[i][0], run[i][1]);
        assert_true(pageheap_release(h, SIZE_MAX) > 0);
        pa_expect_heap_ok(h);
        pageheap_stats s;
        pageheap_get_stats(h, &s);
        assert_int_equal(s.free_bytes, 0);
        assert_int_equal(s.cache_bytes, 0);
    }
    check_balance(h);
    pageheap_delete(h);
}

static void test_zeroed(void **state)
{
    (void)state;
    pageheap *h = new_heap(0, 0);
    for (int round = 0; round < 2; round++) {
        unsigned char *a = pageheap_alloc(h, 40), *b = pageheap_alloc(h, 3);
        memset(a, 0xab, 40 * PAGE);
        memset(b, 0xcd, 3 * PAGE);
        pageheap_free(h, a, 40);
        pageheap_free(h, b, 3);
        if (round == 1)
            pageheap_release(h, 20 * PAGE);   /* a mix of released and resident */
        unsigned char *c = pageheap_alloc_zeroed(h, 40), *d = pageheap_alloc_zeroed(h, 3);
        for (size_t i = 0; i < 40 * PAGE; i++)
            if (c[i])
                fail_msg("byte %zu of a zeroed run is %d", i, c[i]);
        for (size_t i = 0; i < 3 * PAGE; i++)
            assert_int_equal(d[i], 0);
        pageheap_free(h, c, 40);
        pageheap_free(h, d, 3);
    }
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* ---- RSS ------------------------------------------------------------------------ */

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long size = 0, res = 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void test_rss_drops_on_release(void **state)
{
    (void)state;
    pageheap *h = new_heap(0, 0);
    size_t n = 8192;                              /* 64 MiB */
    char *p = pageheap_alloc(h, n);
    assert_non_null(p);
    memset(p, 7, n * PAGE);
    pageheap_free(h, p, n);
    uint64_t before = rss_bytes();
    size_t rel = pageheap_release(h, SIZE_MAX);
    uint64_t after = rss_bytes();
    assert_true(rel >= n * PAGE);
    if (before == 0)
        PA_SKIP("/proc/self/statm unreadable, so RSS cannot be measured");
    /* RSS falls by about the released amount (other threads and the
     * allocator may move it by a little). */
    assert_true(before > after);
    assert_true(before - after >= rel / 10 * 9);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* ---- Bad frees ------------------------------------------------------------------ */

static int reports;
static char last_report[256];
static void record_error(const char *msg, void *arg)
{
    (void)arg;
    reports++;
    snprintf(last_report, sizeof last_report, "%s", msg);
}

static void test_bad_frees(void **state)
{
    (void)state;
    pageheap *h = new_heap(0, 0);
    pagealloc_set_error_handler(record_error, NULL);
    char *p = pageheap_alloc(h, 4);
    char *q = pageheap_alloc(h, 40);
    static char outside[3 * 8192];
    reports = 0;
    pageheap_free(h, NULL, 0);
    assert_int_equal(reports, 0);
    pageheap_free(h, p + 100, 1);            /* unaligned */
    assert_int_equal(reports, 1);
    pageheap_free(h, outside, 1);            /* not the heap's */
    assert_int_equal(reports, 2);
    pageheap_free(h, NULL, 1);
    assert_int_equal(reports, 3);
    pageheap_free(h, q, 0);                  /* zero pages */
    assert_int_equal(reports, 4);
    /* Counts the fast path does not range-test (free.c): a huge count of
     * a short run and of a long one, and a long run's count off by one,
     * each take the long branch and fail its exact count. */
    char *big = pageheap_alloc(h, 100);
    assert_non_null(big);
    pageheap_free(h, q, (size_t)1 << 40);
    assert_int_equal(reports, 5);
    pageheap_free(h, big, SIZE_MAX);
    assert_int_equal(reports, 6);
    pageheap_free(h, big, 101);
    assert_int_equal(reports, 7);
    pageheap_free(h, big, 100);              /* still live: freed once */
    assert_int_equal(reports, 7);
    pageheap_free(h, q, 40);
    pageheap_free(h, q, 40);                 /* double free */
    assert_int_equal(reports, 8);
    assert_non_null(strstr(last_report, "pagealloc"));
    pageheap_free(h, p, 4);
    pageheap_flush_caches(h);
    pageheap_free(h, p, 1);                  /* double free of a cached page */
    assert_int_equal(reports, 9);
    pagealloc_set_error_handler(NULL, NULL);
    /* The heap still works. */
    void *r = pageheap_alloc(h, 4);
    assert_non_null(r);
    pageheap_free(h, r, 4);
    pageheap_delete(h);
}

/* ---- Policies, several heaps, threads ------------------------------------------------ */

static void test_huge_policies(void **state)
{
    (void)state;
    for (int pol = PAGEHEAP_HUGE_OFF; pol <= PAGEHEAP_HUGE_ALWAYS; pol++) {
        pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1,
                                                        .huge_pages = (pageheap_huge_policy)pol });
        assert_non_null(h);
        char *dense = pageheap_alloc(h, 500);     /* chunk 0: 500 of 512 pages */
        char *pad = pageheap_alloc(h, 12);        /* chunk 0 full */
        char *sparse = pageheap_alloc(h, 512);    /* chunk 1 */
        assert_ptr_equal(pad, dense + 500 * PAGE);
        assert_ptr_equal(sparse, dense + 512 * PAGE);
        memset(dense, 1, 500 * PAGE);
        memset(pad, 1, 12 * PAGE);
        memset(sparse, 1, 512 * PAGE);
        pageheap_free(h, sparse, 512);
        pageheap_free(h, pad, 12);
        size_t rel = pageheap_release(h, SIZE_MAX);
        /* The dense chunk's free pages are kept under go/always. */
        pageheap_stats s;
        pageheap_get_stats(h, &s);
        if (pol == PAGEHEAP_HUGE_OFF)
            assert_int_equal(s.free_bytes, 0);
        else
            assert_true(s.free_bytes > 0);
        if (rel < 512 * PAGE)
            fail_msg("policy %d: released %zu at %p, free %llu released %llu", pol, rel, (void *)dense, (unsigned long long)s.free_bytes, (unsigned long long)s.released_bytes);
        pa_expect_heap_ok(h);
        pageheap_free(h, dense, 500);
        pageheap_release(h, SIZE_MAX);
        pa_expect_heap_ok(h);
        pageheap_delete(h);
    }
}

struct two { pageheap *a, *b; };

static void *use_two(void *arg)
{
    struct two *t = arg;
    for (int i = 0; i < 200; i++) {
        void *x = pageheap_alloc(t->a, 1 + i % 5), *y = pageheap_alloc(t->b, 1 + i % 7);
        assert_non_null(x);
        assert_non_null(y);
        pageheap_free(t->a, x, 1 + i % 5);
        pageheap_free(t->b, y, 1 + i % 7);
    }
    void *keep = pageheap_alloc(t->a, 3);    /* the thread's cache stays full */
    pageheap_free(t->a, keep, 3);
    return NULL;
}

static void test_several_heaps(void **state)
{
    (void)state;
    struct two t = { pageheap_new(NULL), pageheap_new(&(pageheap_options){ .shards = 2 }) };
    assert_non_null(t.a);
    assert_non_null(t.b);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, use_two, &t), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    /* Exited threads flushed their caches and folded their counters. */
    pageheap_stats s;
    pageheap_get_stats(t.a, &s);
    assert_int_equal(s.threads, 0);
    assert_int_equal(s.cache_bytes, 0);
    assert_int_equal(s.allocs, 3 * 201);
    assert_int_equal(s.in_use_bytes, 0);
    pa_expect_heap_ok(t.a);
    pa_expect_heap_ok(t.b);
    check_balance(t.a);
    check_balance(t.b);
    /* The heaps' memory does not overlap. */
    void *x = pageheap_alloc(t.a, 1), *y = pageheap_alloc(t.b, 1);
    assert_ptr_not_equal(x, y);
    pageheap_delete(t.a);
    pageheap_delete(t.b);
}

/* ---- Stats and JSON -------------------------------------------------------------------- */

/* A strict parser for the flat object the heap prints: {"k": n, ...}. */
static int parse_json(const char *s, const char *key, unsigned long long *out)
{
    int found = 0, members = 0;
    while (*s == ' ' || *s == '\n')
        s++;
    if (*s++ != '{')
        return -1;
    for (;;) {
        while (*s == ' ' || *s == '\n')
            s++;
        if (*s == '}')
            break;
        if (members && *s++ != ',')
            return -1;
        while (*s == ' ' || *s == '\n')
            s++;
        if (*s++ != '"')
            return -1;
        const char *k = s;
        while (*s && *s != '"')
            s++;
        if (*s != '"')
            return -1;
        size_t klen = (size_t)(s - k);
        s++;
        while (*s == ' ')
            s++;
        if (*s++ != ':')
            return -1;
        while (*s == ' ')
            s++;
        if (*s < '0' || *s > '9')
            return -1;
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        s = end;
        if (klen == strlen(key) && memcmp(k, key, klen) == 0) {
            *out = v;
            found++;
        }
        members++;
    }
    s++;
    while (*s == ' ' || *s == '\n')
        s++;
    return *s == 0 && found == 1 ? members : -1;
}

static void test_stats_json(void **state)
{
    (void)state;
    pageheap *h = new_heap(1 << 30, 0);
    void *a = pageheap_alloc(h, 3), *b = pageheap_alloc(h, 100), *c = pageheap_alloc(h, 700);
    memset(c, 1, 700 * PAGE);
    pageheap_free(h, c, 700);
    pageheap_release(h, 64 * PAGE);
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    char buf[4096];
    size_t n = pageheap_stats_json_buf(h, buf, sizeof buf);
    assert_true(n < sizeof buf);
    assert_int_equal(strlen(buf), n);
    assert_int_equal(pageheap_stats_json_buf(h, NULL, 0), n);
    char tiny[10];
    assert_int_equal(pageheap_stats_json_buf(h, tiny, sizeof tiny), n);
    assert_int_equal(strlen(tiny), 9);

    unsigned long long v = 0;
    assert_int_equal(parse_json(buf, "in_use_bytes", &v), 28);
    assert_int_equal(v, s.in_use_bytes);
    assert_int_equal(v, 103 * PAGE);
    assert_int_equal(parse_json(buf, "released_bytes", &v), 28);
    assert_int_equal(v, s.released_bytes);
    assert_int_equal(parse_json(buf, "limit_bytes", &v), 28);
    assert_int_equal(v, 1 << 30);
    assert_int_equal(parse_json(buf, "ready_bytes", &v), 28);
    assert_int_equal(v, s.ready_bytes);

    /* The same text through a FILE, and through Python's parser if any. */
    char path[] = "/tmp/pageheap_json_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w+");
    assert_int_equal(pageheap_stats_json(h, f), 0);
    rewind(f);
    char buf2[4096] = { 0 };
    size_t got = fread(buf2, 1, sizeof buf2 - 1, f);
    fclose(f);
    assert_int_equal(got, n);
    assert_string_equal(buf, buf2);
    if (getenv("PAGEALLOC_UNDER_VALGRIND") == NULL && system("python3 -c '' 2>/dev/null") == 0) {
        char cmd[256];
        snprintf(cmd, sizeof cmd,
                 "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
                 "print(d[\"in_use_bytes\"] + d[\"cache_bytes\"] + d[\"free_bytes\"] + d[\"released_bytes\"]"
                 " - d[\"ready_bytes\"] - d[\"prepared_bytes\"])' %s", path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        long long diff = -1;
        assert_int_equal(fscanf(p, "%lld", &diff), 1);
        assert_int_equal(pclose(p), 0);
        assert_int_equal(diff, 0);
    }
    unlink(path);
    pa_expect_heap_ok(h);
    check_balance(h);
    pageheap_free(h, a, 3);
    pageheap_free(h, b, 100);
    pageheap_delete(h);
}

/* Sections of client layers: a section writes `reps` copies of a member. */
typedef struct section { unsigned reps, calls; } section;

static size_t write_section(void *arg, char *buf, size_t size)
{
    section *sec = arg;
    sec->calls++;
    size_t len = 0;
    for (unsigned i = 0; i <= sec->reps; i++) {
        size_t room = len < size ? size - len : 0;
        int n = snprintf(room ? buf + len : NULL, room, "%s\"m%u\": %u", i ? ", " : "{", i, i);
        len += (size_t)n;
    }
    size_t room = len < size ? size - len : 0;
    return len + (size_t)snprintf(room ? buf + len : NULL, room, "}");
}

static void test_stats_sections(void **state)
{
    (void)state;
    pageheap *h = new_heap(0, 0);
    section a = { .reps = 2 }, b = { .reps = 3 }, big = { .reps = 400 }, spare = { 0 };
    /* Refused: bad names, a member of the heap's own object, no function. */
    assert_int_equal(pageheap_attach_stats(h, "", write_section, &a), EINVAL);
    assert_int_equal(pageheap_attach_stats(h, "Stacks", write_section, &a), EINVAL);
    assert_int_equal(pageheap_attach_stats(h, "a-b", write_section, &a), EINVAL);
    assert_int_equal(pageheap_attach_stats(h, "abcdefghijklmnopqrstuvwxyz012345", write_section,
                                           &a), EINVAL);
    assert_int_equal(pageheap_attach_stats(h, "in_use_bytes", write_section, &a), EINVAL);
    assert_int_equal(pageheap_attach_stats(h, "alpha", NULL, &a), EINVAL);
    assert_int_equal(pageheap_attach_stats(NULL, "alpha", write_section, &a), EINVAL);
    assert_int_equal(pageheap_detach_stats(h, "alpha", &a), ENOENT);

    assert_int_equal(pageheap_attach_stats(h, "alpha", write_section, &a), 0);
    assert_int_equal(pageheap_attach_stats(h, "alpha", write_section, &b), EEXIST);
    assert_int_equal(pageheap_attach_stats(h, "beta_2", write_section, &b), 0);
    char buf[8192];
    size_t n = pageheap_stats_json_buf(h, buf, sizeof buf);
    assert_true(n < sizeof buf);
    assert_true(pa_json_valid(buf, NULL));
    const char *pa = strstr(buf, "\"alpha\": {\"m0\": 0, \"m1\": 1, \"m2\": 2}");
    const char *pb = strstr(buf, "\"beta_2\": {\"m0\": 0, \"m1\": 1, \"m2\": 2, \"m3\": 3}");
    assert_non_null(pa);
    assert_non_null(pb);
    assert_true(pa < pb);                                /* attach order, after the heap's */
    assert_true(strstr(buf, "\"limit_failures\"") < pa);
    assert_int_equal(pageheap_stats_json_buf(h, NULL, 0), n);
    char tiny[40];
    assert_int_equal(pageheap_stats_json_buf(h, tiny, sizeof tiny), n);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);

    /* Four slots; a detach frees one and keeps the order. */
    assert_int_equal(pageheap_attach_stats(h, "big", write_section, &big), 0);
    assert_int_equal(pageheap_attach_stats(h, "d", write_section, &spare), 0);
    assert_int_equal(pageheap_attach_stats(h, "e", write_section, &spare), ENOSPC);
    assert_int_equal(pageheap_detach_stats(h, "alpha", &b), ENOENT);    /* not its arg */
    assert_int_equal(pageheap_detach_stats(h, "alpha", &a), 0);
    assert_int_equal(pageheap_attach_stats(h, "e", write_section, &spare), 0);

    /* Over the FILE form's 4 KiB buffer: the same bytes as the buffer form. */
    n = pageheap_stats_json_buf(h, buf, sizeof buf);
    assert_true(n > 4096 && n < sizeof buf);
    assert_true(pa_json_valid(buf, NULL));
    assert_null(strstr(buf, "\"alpha\""));
    assert_true(strstr(buf, "\"beta_2\"") < strstr(buf, "\"big\""));
    assert_true(strstr(buf, "\"d\"") < strstr(buf, "\"e\""));
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(pageheap_stats_json(h, f), 0);
    rewind(f);
    static char buf2[8192];
    size_t got = fread(buf2, 1, sizeof buf2 - 1, f);
    fclose(f);
    assert_int_equal(got, n);
    assert_memory_equal(buf, buf2, n);

    unsigned calls = a.calls;
    assert_int_equal(pageheap_detach_stats(h, "beta_2", &b), 0);
    assert_int_equal(pageheap_detach_stats(h, "big", &big), 0);
    assert_int_equal(pageheap_detach_stats(h, "d", &spare), 0);
    assert_int_equal(pageheap_detach_stats(h, "e", &spare), 0);
    assert_int_equal(pageheap_detach_stats(h, "e", &spare), ENOENT);
    n = pageheap_stats_json_buf(h, buf, sizeof buf);
    assert_true(pa_json_valid(buf, NULL));
    assert_null(strstr(buf, "\"m0\""));
    assert_int_equal(a.calls, calls);
    pageheap_delete(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_first_fit_single_shard),
        cmocka_unit_test(test_grow_under_limit),
        cmocka_unit_test(test_exhaust),
        cmocka_unit_test(test_soft_limit),
        cmocka_unit_test(test_set_limit_releases),
        cmocka_unit_test(test_fill_patterns),
        cmocka_unit_test(test_zeroed),
        cmocka_unit_test(test_rss_drops_on_release),
        cmocka_unit_test(test_bad_frees),
        cmocka_unit_test(test_huge_policies),
        cmocka_unit_test(test_several_heaps),
        cmocka_unit_test(test_stats_json),
        cmocka_unit_test(test_stats_sections),
    };
    return PA_RUN_GROUP_TESTS(tests, NULL, NULL);
}
