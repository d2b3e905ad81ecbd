/*
 * test_fresh_window.c - a page-cache refill of fresh memory makes the rest
 * of its chunk Ready at once (docs/heap.md "Page caches"): one OS-layer
 * call per chunk, not per 64-page block, with the heap's books exact
 * (ready_bytes, the allocator's scavenged bits, every page's sysmem state:
 * pageheap_check), and only when the memory limit admits the whole
 * window; a refill the limit does not admit so far makes its block alone
 * Ready, as before. A window's pages that no refill handed out are given
 * back with no system call (untouched: nothing to release), handed-out
 * ones with one, as any other.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagealloc/pageheap.h"
#include "pagealloc/sysmem.h"
#include "pa_heap_expect.h"
#include "sysmem_fi.h"

#define PAGE  ((uint64_t)PAGEALLOC_PAGE_SIZE)
#define BLOCK ((uint64_t)PAGEALLOC_CACHE_PAGES * PAGE)   /* 512 KiB */
#define CHUNK ((uint64_t)PAGEALLOC_CHUNK_PAGES * PAGE)   /* 4 MiB */

static pageheap_stats stats(pageheap *h)
{
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    return s;
}

/* Allocate n single pages (the page-cache path) into p[]. */
static void take_pages(pageheap *h, void **p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = pageheap_alloc(h, 1);
        assert_non_null(p[i]);
        memset(p[i], 0x5a, 16);
    }
}

static void free_pages(pageheap *h, void **p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pageheap_free(h, p[i], 1);
}

/* No limit. A grow's first allocation takes the locked path (the empty
 * cache found no free page), so its page alone is made Ready; the next
 * one refills the rest of that block and makes it and the rest of the
 * chunk Ready in one call; the chunk's next seven refills make nothing
 * Ready (the process's Ready bytes do not move). The next chunk goes the
 * same way. */
static void test_window_is_the_chunk(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    static void *p[PAGEALLOC_CHUNK_PAGES + 2];
    take_pages(h, p, 1);
    assert_int_equal(stats(h).ready_bytes, PAGE);
    take_pages(h, p + 1, 1);
    assert_int_equal(stats(h).ready_bytes, CHUNK);
    pa_expect_heap_ok(h);
    uint64_t os_ready = sysmem_ready_bytes();
    take_pages(h, p + 2, PAGEALLOC_CHUNK_PAGES - 2);     /* the rest of the chunk */
    assert_int_equal(sysmem_ready_bytes(), os_ready);
    assert_int_equal(stats(h).ready_bytes, CHUNK);
    pa_expect_heap_ok(h);
    take_pages(h, p + PAGEALLOC_CHUNK_PAGES, 1);         /* the next chunk */
    assert_int_equal(stats(h).ready_bytes, CHUNK + PAGE);
    take_pages(h, p + PAGEALLOC_CHUNK_PAGES + 1, 1);
    assert_int_equal(stats(h).ready_bytes, 2 * CHUNK);
    pa_expect_heap_ok(h);
    free_pages(h, p, PAGEALLOC_CHUNK_PAGES + 2);
    pa_expect_heap_ok(h);
    /* The window's free pages are resident free memory like any other:
     * a release finds and returns all of it. */
    pageheap_release(h, SIZE_MAX);
    assert_int_equal(stats(h).ready_bytes, 0);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* A limit with room for three blocks but not a chunk: each refill of the
 * next chunk makes its block alone Ready, and the heap stays under the
 * limit without an assist. */
static void test_window_needs_the_limit(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    static void *p[PAGEALLOC_CHUNK_PAGES + PAGEALLOC_CACHE_PAGES + 1];
    take_pages(h, p, PAGEALLOC_CHUNK_PAGES);             /* chunk 0 */
    pageheap_stats s = stats(h);
    assert_int_equal(s.ready_bytes, CHUNK);
    uint64_t limit = s.ready_bytes + s.metadata_bytes + 3 * BLOCK;
    assert_int_equal(pageheap_set_limit(h, limit), 0);
    take_pages(h, p + PAGEALLOC_CHUNK_PAGES, 2);         /* a grow, then a refill */
    assert_int_equal(stats(h).ready_bytes, CHUNK + BLOCK);
    pa_expect_heap_ok(h);
    take_pages(h, p + PAGEALLOC_CHUNK_PAGES + 2, PAGEALLOC_CACHE_PAGES - 1);
    s = stats(h);
    assert_int_equal(s.ready_bytes, CHUNK + 2 * BLOCK);
    assert_true(s.ready_bytes + s.metadata_bytes <= limit);
    assert_int_equal(s.limit_hits, 0);
    pa_expect_heap_ok(h);
    free_pages(h, p, PAGEALLOC_CHUNK_PAGES + PAGEALLOC_CACHE_PAGES + 1);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* A hard limit below a chunk still fails cleanly and exactly: the heap
 * gives out what the limit allows a block at a time and then ENOMEM, and
 * the books stay balanced. */
static void test_window_hard_limit(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    void *first = pageheap_alloc(h, 1);
    assert_non_null(first);
    pageheap_stats s = stats(h);
    pageheap_free(h, first, 1);
    pageheap_release(h, SIZE_MAX);
    /* Metadata and three blocks: a window never fits. */
    uint64_t limit = s.metadata_bytes + 3 * BLOCK;
    pageheap_delete(h);
    h = pageheap_new(&(pageheap_options){ .shards = 1, .limit = limit, .hard_limit = 1 });
    assert_non_null(h);
    static void *p[4 * PAGEALLOC_CACHE_PAGES];
    size_t n = 0;
    while (n < 4 * PAGEALLOC_CACHE_PAGES && (p[n] = pageheap_alloc(h, 1)) != NULL)
        n++;
    assert_true(n >= PAGEALLOC_CACHE_PAGES);
    assert_true(n < 4 * PAGEALLOC_CACHE_PAGES);
    s = stats(h);
    assert_true(s.ready_bytes + s.metadata_bytes <= limit);
    assert_true(s.limit_failures >= 1);
    pa_expect_heap_ok(h);
    free_pages(h, p, n);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* Bytes of the chunk at watched passed to the OS's release primitive
 * (madvise) since os_count_start (other calls: the layers' metadata). */
static uint64_t released_by_os;
static uintptr_t watched;
static void count_release(char prim, uintptr_t v, size_t n, int err)
{
    if (prim == 'L' && err == 0 && v >= watched && v + n <= watched + CHUNK)
        released_by_os += n;
}

static void os_count_start(const void *in_chunk)
{
    watched = (uintptr_t)in_chunk & ~(uintptr_t)(CHUNK - 1);
    sysmem_fi_install();
    sysmem_fi_reset();
    sysmem_fi_set_hook(count_release);
    released_by_os = 0;
}

static void os_count_stop(void)
{
    sysmem_fi_set_hook(NULL);
    sysmem_fi_uninstall();
}

/* A window no refill used: its seven blocks are Ready in the books but
 * untouched, so scavenging them (a release; the background scavenger and
 * the limit's assist take the same path) moves them back to Prepared with
 * no release call: a partial release from the top of the heap makes no
 * call at all; a full one releases only block 0 (the refill's, handed to
 * the cache). The OS layer's Ready bytes drop by the whole chunk all the
 * same, and every page's state agrees with the allocator (check). */
static void test_window_untouched_no_syscall(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    void *p[2];
    take_pages(h, p, 2);
    assert_int_equal(stats(h).ready_bytes, CHUNK);
    uint64_t os_ready = sysmem_ready_bytes();
    os_count_start(p[0]);
    assert_true(pageheap_release(h, BLOCK) >= BLOCK);
    assert_int_equal(released_by_os, 0);
    pageheap_stats s = stats(h);
    assert_int_equal(os_ready - sysmem_ready_bytes(), CHUNK - s.ready_bytes);
    pa_expect_heap_ok(h);
    free_pages(h, p, 2);
    pageheap_release(h, SIZE_MAX);
    os_count_stop();
    assert_int_equal(released_by_os, BLOCK);
    assert_int_equal(stats(h).ready_bytes, 0);
    assert_int_equal(os_ready - sysmem_ready_bytes(), CHUNK);
    pa_expect_heap_ok(h);
    /* Taken again, zeroed: the untouched pages read zero as released ones
     * do (the heap skips the memset of scavenged pages when the OS's
     * release reads zero). */
    unsigned char *z = pageheap_alloc_zeroed(h, PAGEALLOC_CHUNK_PAGES);
    assert_non_null(z);
    for (uint64_t off = 0; off < CHUNK; off += 4096 - 8)
        assert_int_equal(z[off], 0);
    pa_expect_heap_ok(h);
    pageheap_free(h, z, PAGEALLOC_CHUNK_PAGES);
    pageheap_delete(h);
}

/* Pages a refill took from the window are no longer untouched: after a
 * second block's worth of pages (written), a release returns blocks 0
 * and 1 with release calls and the other six with none. */
static void test_window_handed_out_released(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    static void *p[PAGEALLOC_CACHE_PAGES + 2];
    take_pages(h, p, PAGEALLOC_CACHE_PAGES + 2);
    assert_int_equal(stats(h).ready_bytes, CHUNK);
    void *first = p[0];
    free_pages(h, p, PAGEALLOC_CACHE_PAGES + 2);
    uint64_t os_ready = sysmem_ready_bytes();
    os_count_start(first);
    pageheap_release(h, SIZE_MAX);
    os_count_stop();
    assert_int_equal(released_by_os, 2 * BLOCK);
    assert_int_equal(stats(h).ready_bytes, 0);
    assert_int_equal(os_ready - sysmem_ready_bytes(), CHUNK);
    pa_expect_heap_ok(h);
    /* Released and reused: the pages are whole again (read zero). */
    take_pages(h, p, 3);
    pa_expect_heap_ok(h);
    free_pages(h, p, 3);
    pageheap_delete(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_is_the_chunk),
        cmocka_unit_test(test_window_needs_the_limit),
        cmocka_unit_test(test_window_hard_limit),
        cmocka_unit_test(test_window_untouched_no_syscall),
        cmocka_unit_test(test_window_handed_out_released),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
