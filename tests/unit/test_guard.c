/*
 * test_guard.c - the heap's guard mode (pageheap_options.guard): freed
 * pages are inaccessible (sysmem Reserved) until reused, so a use after
 * free faults at the freed address. Faults are provoked in a child
 * process (fork; tests/support/pa_child.c) whose SIGSEGV handler sends
 * the signal and the faulting address back to the parent. Every test ends
 * with pageheap_check, which in guard mode also accounts for every
 * guarded page.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pagealloc/pageheap.h"
#include "pa_child.h"
#include "pa_heap_expect.h"

#define PAGE ((size_t)PAGEALLOC_PAGE_SIZE)

static pageheap *guard_heap(void)
{
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1, .guard = 1 });
    assert_non_null(h);
    return h;
}

static void expect_states(const char *p, size_t npages, sysmem_state s)
{
    for (size_t i = 0; i < npages; i++)
        if (sysmem_state_of(p + i * PAGE) != s)
            fail_msg("page %zu of %p: state %d, want %d", i, (const void *)p,
                     (int)sysmem_state_of(p + i * PAGE), (int)s);
}

static void write_byte(void *p)
{
    *(volatile char *)p = 42;
}

static void read_byte(void *p)
{
    (void)*(volatile char *)p;
}

/* Writing or reading a freed page faults at that address; a live page
 * does not. */
static void expect_fault(void *p)
{
    uintptr_t addr = 0;
    assert_int_equal(pa_run_in_child(write_byte, p, &addr), SIGSEGV);
    assert_int_equal(addr, (uintptr_t)p);
    addr = 0;
    assert_int_equal(pa_run_in_child(read_byte, p, &addr), SIGSEGV);
    assert_int_equal(addr, (uintptr_t)p);
}

static void expect_no_fault(void *p)
{
    uintptr_t addr = 0;
    assert_int_equal(pa_run_in_child(write_byte, p, &addr), 0);
}

/* ---- Tests ------------------------------------------------------------------- */

static void test_use_after_free_faults(void **state)
{
    (void)state;
    pageheap *h = guard_heap();
    char *p = pageheap_alloc(h, 4);
    char *q = pageheap_alloc(h, 4);
    assert_non_null(p);
    assert_non_null(q);
    memset(p, 1, 4 * PAGE);
    memset(q, 2, 4 * PAGE);
    pageheap_free(h, p, 4);
    expect_states(p, 4, SYSMEM_RESERVED);
    expect_states(q, 4, SYSMEM_READY);
    pa_expect_heap_ok(h);
    expect_fault(p);
    expect_fault(p + 3 * PAGE + 100);
    expect_no_fault(q);
    /* The parent's q is untouched by the children. */
    for (size_t i = 0; i < 4 * PAGE; i++)
        assert_int_equal(q[i], 2);
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    assert_int_equal(s.in_use_bytes, 4 * PAGE);
    assert_int_equal(s.cache_allocs, 0);            /* no page caches in guard mode */
    assert_true(s.reserved_bytes >= 4 * PAGE);       /* guarded pages are not mapped */
    pageheap_free(h, q, 4);
    expect_fault(q + PAGE);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* Reuse maps the pages again, zeroed; part of a freed run can be reused
 * while the rest stays guarded. */
static void test_reuse(void **state)
{
    (void)state;
    pageheap *h = guard_heap();
    char *p = pageheap_alloc(h, 10);
    assert_non_null(p);
    memset(p, 0x5a, 10 * PAGE);
    pageheap_free(h, p, 10);
    char *r = pageheap_alloc(h, 3);                   /* first fit: the same place */
    assert_ptr_equal(r, p);
    expect_states(r, 3, SYSMEM_READY);
    expect_states(p + 3 * PAGE, 7, SYSMEM_RESERVED);
    for (size_t i = 0; i < 3 * PAGE; i++)
        assert_int_equal(r[i], 0);                    /* fresh pages read zero */
    memset(r, 1, 3 * PAGE);
    pa_expect_heap_ok(h);
    expect_no_fault(r + 2 * PAGE);
    expect_fault(p + 3 * PAGE);
    expect_fault(p + 9 * PAGE);
    char *z = pageheap_alloc_zeroed(h, 7);
    assert_ptr_equal(z, p + 3 * PAGE);
    for (size_t i = 0; i < 7 * PAGE; i++)
        assert_int_equal(z[i], 0);
    pa_expect_heap_ok(h);
    pageheap_free(h, r, 3);
    pageheap_free(h, z, 7);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* A run across chunks, release, and reuse of several freed runs at once. */
static void test_large_runs(void **state)
{
    (void)state;
    pageheap *h = guard_heap();
    char *a = pageheap_alloc(h, 100);
    char *b = pageheap_alloc(h, 900);                 /* crosses a chunk boundary */
    assert_non_null(a);
    assert_non_null(b);
    memset(b, 3, 900 * PAGE);
    pageheap_free(h, b, 900);
    expect_states(b, 900, SYSMEM_RESERVED);
    pa_expect_heap_ok(h);
    expect_fault(b + 600 * PAGE);

    /* Release has nothing resident to give back from b; a's pages are in
     * use. Everything balances. */
    pageheap_release(h, SIZE_MAX);
    pa_expect_heap_ok(h);
    pageheap_free(h, a, 100);
    assert_true(pageheap_release(h, SIZE_MAX) == 0);  /* guarded pages are not resident */
    pa_expect_heap_ok(h);
    char *c = pageheap_alloc(h, 1000);                /* reuses a and b */
    assert_ptr_equal(c, a);
    expect_states(c, 1000, SYSMEM_READY);
    memset(c, 4, 1000 * PAGE);
    pa_expect_heap_ok(h);
    pageheap_free(h, c, 1000);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

static int reports;
static char last_report[256];
static void record_report(const char *msg, void *arg)
{
    (void)arg;
    reports++;
    snprintf(last_report, sizeof last_report, "%s", msg);
}

static void test_double_free_reported(void **state)
{
    (void)state;
    pageheap *h = guard_heap();
    char *p = pageheap_alloc(h, 5);
    assert_non_null(p);
    pageheap_free(h, p, 5);
    pagealloc_set_error_handler(record_report, NULL);
    reports = 0;
    pageheap_free(h, p, 5);                            /* double free */
    assert_int_equal(reports, 1);
    assert_non_null(strstr(last_report, "pageheap_free("));
    assert_non_null(strstr(last_report, "not allocated"));
    pageheap_free(h, p + 1, 1);                         /* unaligned */
    assert_int_equal(reports, 2);
    pagealloc_set_error_handler(NULL, NULL);
    expect_states(p, 5, SYSMEM_RESERVED);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* Several threads allocating and freeing in guard mode. */
static void *worker(void *arg)
{
    pageheap *h = arg;
    char *live[16] = { 0 };
    size_t n[16] = { 0 };
    for (unsigned i = 0; i < 400; i++) {
        unsigned k = (i * 7) % 16;
        if (live[k]) {
            assert_int_equal(live[k][0], (char)k);
            pageheap_free(h, live[k], n[k]);
            live[k] = NULL;
        } else {
            n[k] = 1 + (i % 5) * 3;
            live[k] = pageheap_alloc(h, n[k]);
            assert_non_null(live[k]);
            memset(live[k], (char)k, n[k] * PAGE);
        }
    }
    for (unsigned k = 0; k < 16; k++)
        if (live[k])
            pageheap_free(h, live[k], n[k]);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 2, .guard = 1 });
    assert_non_null(h);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, h), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pa_expect_heap_ok(h);
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    assert_int_equal(s.in_use_bytes, 0);
    assert_int_equal(s.cache_bytes, 0);
    pageheap_delete(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_use_after_free_faults),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_large_runs),
        cmocka_unit_test(test_double_free_reported),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
