/*
 * test_gc_tcache.c - the collector's per-thread allocation caches
 * (src/gc/tcache.c): objects a thread's cache holds are free for the
 * program (pa_gc_base, pa_gc_size, a free of one is a double free, which
 * changes nothing) and allocated for the collector (the heap check holds
 * with caches full); scanned objects read as zero when handed out, also
 * when their memory held pointers before; a thread's cache goes back when
 * it exits or unregisters; a thread that is not registered allocates
 * without a cache; objects survive collections while caches are in use;
 * a free into a span the thread's cache owns puts the object back there.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "pa_clear_stack.h"
#include "pagealloc/errors.h"
#include "pagealloc/gc.h"
#include "pa_heap_expect.h"

static int nreports;
static char last_report[256];
static void record(const char *msg, void *arg)
{
    (void)arg;
    nreports++;
    strncpy(last_report, msg, sizeof last_report - 1);
}

/* An address that the calling thread's cache holds: the object after a
 * fresh one, when it lies in the heap and is not allocated. NULL if the
 * first tries all ended a run. */
static char *cached_neighbour(size_t size, char **fresh)
{
    for (int k = 0; k < 64; k++) {
        char *p = pa_gc_malloc(size);
        assert_non_null(p);
        size_t sz = pa_gc_size(p);
        char *q = p + sz;
        if (pa_gc_is_heap_ptr(q) && !pa_gc_base(q)) {
            *fresh = p;
            return q;
        }
    }
    return NULL;
}

/* A cached object is free for the program; freeing it is a double free
 * that is reported and changes nothing: it is handed out next, once. */
static void test_cached_object_is_free(void **state)
{
    (void)state;
    char *p = NULL;
    char *q = cached_neighbour(48, &p);
    assert_non_null(q);
    assert_int_equal(pa_gc_size(q), 0);
    assert_null(pa_gc_base(q + 5));
    pagealloc_set_error_handler(record, NULL);
    nreports = 0;
    pa_gc_free(q);
    pagealloc_set_error_handler(NULL, NULL);
    assert_int_equal(nreports, 1);
    assert_non_null(strstr(last_report, "not allocated"));
    pa_expect_gc_ok();
    char *r = pa_gc_malloc(48);
    assert_ptr_equal(r, q);                       /* still in the cache, once */
    assert_ptr_equal(pa_gc_base(r + 5), r);
    char *s = pa_gc_malloc(48);
    assert_ptr_not_equal(s, r);
    pa_gc_free(r);
    pa_gc_free(s);
    pa_gc_free(p);
    pa_expect_gc_ok();
}

/* An object the owner of its span frees goes back to the cache: free for
 * the program, a second free reported, handed out again zeroed. */
static void test_free_to_cache(void **state)
{
    (void)state;
    void **p = pa_gc_malloc(64);
    assert_non_null(p);
    for (int k = 0; k < 8; k++)
        p[k] = p;
    pa_gc_free(p);
    assert_null(pa_gc_base(p));
    pagealloc_set_error_handler(record, NULL);
    nreports = 0;
    pa_gc_free(p);
    pagealloc_set_error_handler(NULL, NULL);
    assert_int_equal(nreports, 1);
    int found = 0;
    for (int i = 0; i < 1024 && !found; i++) {
        void **q = pa_gc_malloc(64);
        assert_non_null(q);
        if (q == p) {
            found = 1;
            for (int k = 0; k < 8; k++)
                assert_null(q[k]);
        }
    }
    assert_true(found);
    pa_expect_gc_ok();
}

/* Memory that held pointers comes back zeroed: fill objects, drop them,
 * collect, allocate the class again many times. */
static __attribute__((noinline)) void fill_and_drop(size_t size, int n)
{
    for (int i = 0; i < n; i++) {
        void **o = pa_gc_malloc(size);
        assert_non_null(o);
        for (size_t k = 0; k < size / sizeof(void *); k++)
            o[k] = o;
    }
}

static void test_zeroed_after_reuse(void **state)
{
    (void)state;
    const size_t sizes[] = { 16, 32, 64, 128, 512, 2048 };
    for (unsigned s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        fill_and_drop(sizes[s], 4000);
        pa_clear_stack();
        pa_gc_collect();
        for (int i = 0; i < 4000; i++) {
            unsigned char *o = pa_gc_malloc(sizes[s]);
            assert_non_null(o);
            for (size_t k = 0; k < sizes[s]; k++)
                if (o[k])
                    fail_msg("size %zu: byte %zu of object %d is %u", sizes[s], k, i, o[k]);
        }
        pa_expect_gc_ok();
    }
}

/* The heap check holds while caches of many classes hold objects, and
 * objects reached from the stack survive collections meanwhile. */
static void test_check_with_caches(void **state)
{
    (void)state;
    enum { N = 200 };
    void *volatile keep[N];
    for (int i = 0; i < N; i++) {
        size_t size = 16 + (size_t)(i % 40) * 24;
        keep[i] = i & 1 ? pa_gc_malloc_atomic(size) : pa_gc_malloc(size);
        assert_non_null(keep[i]);
        memset(keep[i], i & 0xff, size);
    }
    pa_expect_gc_ok();
    pa_gc_collect();
    pa_expect_gc_ok();
    for (int i = 0; i < N; i++) {
        size_t size = 16 + (size_t)(i % 40) * 24;
        const unsigned char *o = keep[i];
        assert_ptr_equal(pa_gc_base(keep[i]), keep[i]);
        for (size_t k = 0; k < size; k++)
            assert_int_equal(o[k], i & 0xff);
    }
}

/* A registered thread's cached objects go back when it exits (the heap's
 * free bytes grow by them); a thread that is not registered allocates
 * without a cache. */
static pthread_barrier_t bar;

static void *alloc_one_wait(void *arg)
{
    *(void **)arg = pa_gc_malloc_atomic(16);      /* the rest of the run is cached */
    pthread_barrier_wait(&bar);
    pthread_barrier_wait(&bar);
    return NULL;
}

static void *alloc_some(void *arg)
{
    void **out = arg;
    for (int i = 0; i < 100; i++)
        out[i] = pa_gc_malloc_atomic(16 + (size_t)(i % 4) * 16);
    return NULL;
}

static void test_thread_exit(void **state)
{
    (void)state;
    void *one = NULL;
    pthread_t t;
    pa_gc_collect();                              /* the sweep is done */
    assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
    assert_int_equal(pa_gc_pthread_create(&t, NULL, alloc_one_wait, &one), 0);
    pthread_barrier_wait(&bar);
    pa_gc_stats cached, gone;
    pa_gc_get_stats(&cached);
    pthread_barrier_wait(&bar);
    assert_int_equal(pa_gc_pthread_join(t, NULL), 0);
    pa_gc_get_stats(&gone);
    pthread_barrier_destroy(&bar);
    assert_non_null(one);
    assert_true(gone.free_bytes > cached.free_bytes);
    assert_ptr_equal(pa_gc_base(one), one);
    pa_expect_gc_ok();

    void *got[100];
    pa_gc_stats before, after;
    pa_gc_get_stats(&before);
    assert_int_equal(pthread_create(&t, NULL, alloc_some, got), 0);   /* not registered */
    assert_int_equal(pthread_join(t, NULL), 0);
    pa_gc_get_stats(&after);
    for (int i = 0; i < 100; i++)
        assert_ptr_equal(pa_gc_base(got[i]), got[i]);
    assert_true(after.total_allocated >= before.total_allocated + 100 * 16);
    pa_expect_gc_ok();
}

/* Statistics count what was handed out, without waiting for a refill. */
static void test_total_counts_handed_out(void **state)
{
    (void)state;
    pa_gc_stats a, b;
    pa_gc_get_stats(&a);
    for (int i = 0; i < 10; i++)
        assert_non_null(pa_gc_malloc(256));
    pa_gc_get_stats(&b);
    assert_true(b.total_allocated >= a.total_allocated + 10 * 256);
}

int main(void)
{
    pa_gc_options o = { .check_heap = 1 };
    assert_int_equal(pa_gc_init(&o), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cached_object_is_free),
        cmocka_unit_test(test_free_to_cache),
        cmocka_unit_test(test_zeroed_after_reuse),
        cmocka_unit_test(test_check_with_caches),
        cmocka_unit_test(test_thread_exit),
        cmocka_unit_test(test_total_counts_handed_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
