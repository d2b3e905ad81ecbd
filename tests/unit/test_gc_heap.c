/*
 * test_gc_heap.c - the collector's heap as the OS sees it
 * (include/pagealloc/gc.h, pa_gc_stats): pa_gc_expand_heap makes the heap
 * hold the bytes at once; after the live set drops, an explicit
 * collection gives the free pages back, so the resident heap (pages in
 * spans plus free pages held, heap_bytes + free_page_bytes) falls to
 * within a bound of the live set, the freed spans' records go back, and
 * the heap grows again over what went back; the statistics stay consistent
 * (pa_gc_collect_and_release leaves no free page resident, the JSON form
 * carries the new field); an expansion past a hard memory limit fails
 * and changes nothing; objects up to 1024 bytes are rounded up to 16
 * bytes only (the collector's size classes, src/gc/classes.c), every
 * object 16-byte aligned.
 *
 * Every figure comes from pa_gc_get_stats, never from /proc or a clock.
 * The page heap's own background scavenger may release free pages at any
 * time; each test is arranged so that it has nothing to release (the
 * expansion stays within 10% of a larger live set) or so that its work
 * only helps the assertion.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "pa_clear_stack.h"
#include "pagealloc/gc.h"
#include "pagealloc/sysmem.h"
#include "pa_heap_expect.h"

#define MIB ((size_t)1 << 20)

static pa_gc_stats stats(void)
{
    pa_gc_stats s;
    assert_int_equal(pa_gc_get_stats(&s), 0);
    assert_int_equal(s.version, PA_GC_STATS_VERSION);
    return s;
}

static uint64_t resident(const pa_gc_stats *s)
{
    return s->heap_bytes + s->free_page_bytes;
}

/* n atomic objects of size bytes, held by an uncollectable array. */
static void **make_set(size_t n, size_t size)
{
    void **set = pa_gc_malloc_uncollectable(n * sizeof *set);
    assert_non_null(set);
    for (size_t i = 0; i < n; i++) {
        set[i] = pa_gc_malloc_atomic(size);
        assert_non_null(set[i]);
        memset(set[i], (int)i, size);
    }
    return set;
}

static void test_expand_heap(void **state)
{
    (void)state;
    /* A 64 MiB live set: 4 MiB more stays within the page heap
     * scavenger's 10% above in-use, so it releases none of them. */
    enum { N = 64 };
    void **set = make_set(N, MIB);
    pa_gc_collect();
    pa_gc_stats s0 = stats();
    assert_int_equal(pa_gc_expand_heap(4 * MIB), 0);
    pa_gc_stats s1 = stats();
    assert_true(resident(&s1) >= resident(&s0) + 4 * MIB);
    assert_true(s1.free_page_bytes >= 4 * MIB);
    assert_true(s1.heap_bytes == s0.heap_bytes);
    assert_int_equal(pa_gc_expand_heap(0), 0);
    for (size_t i = 0; i < N; i++)
        assert_true(((unsigned char *)set[i])[MIB - 1] == (unsigned char)i);
    pa_gc_free(set);
    pa_expect_gc_ok();
}

static void test_drop_gives_memory_back(void **state)
{
    (void)state;
    /* 48 MiB of 1 KiB objects, of which the first 1/16 stays. */
    enum { N = 48 * 1024, KEEP = N / 16 };
    void **set = make_set(N, 1024);
    pa_gc_collect();
    pa_gc_stats full = stats();
    assert_true(full.heap_bytes >= (uint64_t)N * 1024);
    for (size_t i = KEEP; i < N; i++)
        set[i] = NULL;
    pa_clear_stack();
    pa_gc_collect();
    pa_gc_stats s = stats();
    uint64_t live = (uint64_t)KEEP * 1024 + N * sizeof *set;
    /* The spans hold the live set (a few stale-word survivors allowed),
     * and the heap keeps at most 1/64 over them resident, plus what the
     * page heap rounds a release to; the records of the freed spans went
     * back with their pages (6144 spans of 128-byte records before, 1/16
     * of them after). */
    assert_true(s.heap_bytes <= live + live / 4 + MIB);
    assert_true(resident(&s) <= s.heap_bytes + s.heap_bytes / 64 + 2 * MIB);
    assert_true(s.metadata_bytes + MIB / 2 <= full.metadata_bytes);
    assert_true(s.released_bytes >= full.heap_bytes / 2);
    assert_true(s.released_total_bytes >= full.heap_bytes / 2);
    for (size_t i = 0; i < KEEP; i++)
        assert_true(((unsigned char *)set[i])[1023] == (unsigned char)i);
    /* The heap grows again over the returned pages, records and page-map
     * pages: every object is found (pa_gc_base goes through the map) and
     * the OS layer's books still add up. */
    for (size_t i = KEEP; i < N; i++) {
        set[i] = pa_gc_malloc_atomic(1024);
        assert_non_null(set[i]);
        memset(set[i], (int)i, 1024);
    }
    for (size_t i = 0; i < N; i++) {
        assert_ptr_equal(pa_gc_base((char *)set[i] + 1000), set[i]);
        assert_true(((unsigned char *)set[i])[1023] == (unsigned char)i);
    }
    char msg[256] = "";
    if (sysmem_check(msg, sizeof msg) != 0)
        fail_msg("sysmem_check: %s", msg);
    pa_gc_free(set);
    pa_expect_gc_ok();
}

static void test_stats_consistent(void **state)
{
    (void)state;
    void **set = make_set(4096, 512);
    for (size_t i = 0; i < 4096; i += 2)
        set[i] = NULL;
    pa_clear_stack();
    pa_gc_collect_and_release();
    pa_gc_stats s = stats();
    assert_int_equal(s.free_page_bytes, 0);    /* every free page released */
    assert_true(s.free_bytes <= s.heap_bytes);
    char buf[1280];
    size_t n = pa_gc_stats_json_buf(buf, sizeof buf);
    assert_true(n < sizeof buf);
    assert_non_null(strstr(buf, "\"free_page_bytes\":"));
    pa_gc_free(set);
    pa_expect_gc_ok();
}

static void test_expand_past_hard_limit(void **state)
{
    (void)state;
    pa_gc_stats s0 = stats();
    uint64_t limit = resident(&s0) + s0.metadata_bytes + 8 * MIB;
    assert_int_equal(pa_gc_set_memory_limit(limit, 1), 0);
    assert_int_equal(pa_gc_expand_heap(64 * MIB), ENOMEM);
    pa_gc_stats s1 = stats();
    assert_true(resident(&s1) <= resident(&s0));   /* nothing grew */
    assert_int_equal(pa_gc_set_memory_limit(0, 0), 0);
    assert_int_equal(pa_gc_expand_heap(64 * MIB), 0);
    /* 64 MiB is far above 10% of the live heap: the page heap's
     * scavenger may be releasing some already. What it released is in
     * released_total_bytes; a run it is releasing right now is in
     * neither figure (at most a few of its 64 KiB steps). */
    pa_gc_stats s2 = stats();
    assert_true(resident(&s2) + s2.released_total_bytes + MIB >=
                resident(&s1) + s1.released_total_bytes + 64 * MIB);
    pa_expect_gc_ok();
}

/* Up to 1024 bytes a class every 16 bytes; above, a class at least as
 * big; every object aligned to 16 and writable in full. */
static void test_size_classes(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 40000; n += n < 1100 ? 1 : 97) {
        unsigned char *p = n & 1 ? pa_gc_malloc_atomic(n) : pa_gc_malloc(n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p & 15, 0);
        size_t got = pa_gc_size(p);
        if (n <= 1024)
            assert_int_equal(got, n ? (n + 15) & ~(size_t)15 : 16);
        else
            assert_true(got >= n);
        memset(p, 0xa5, got);
        assert_ptr_equal(pa_gc_base(p + got - 1), p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand_heap),
        cmocka_unit_test(test_drop_gives_memory_back),
        cmocka_unit_test(test_stats_consistent),
        cmocka_unit_test(test_expand_past_hard_limit),
        cmocka_unit_test(test_size_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
