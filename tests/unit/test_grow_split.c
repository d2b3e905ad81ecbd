/*
 * test_grow_split.c - growth makes no system call under a shard lock
 * (issue 11; docs/pagealloc.md "Growth", docs/heap.md "Locks and their
 * order").
 *
 *   - the allocator: pa_grow_prepare commits everything (summary pages,
 *     chunk blocks, index words, a doubled in-use array) and changes
 *     nothing a reader sees; pa_grow_publish makes no call of the OS
 *     primitive table at all (counted by the fault-injecting table,
 *     sysmem_fi.h); pa_grow_finish unmaps the array publish replaced;
 *   - the heap: with the primitive table's hook looking at every shard's
 *     lock word, no primitive runs while a shard lock is held, over
 *     hundreds of grows (new arenas, new chunk blocks) and frees; the
 *     same with a fault injected at every call of a grow, which must
 *     fail cleanly (ENOMEM, heap consistent, metadata stat exact per
 *     pageheap_check) and succeed when retried.
 * One thread, no background scavenger: a held lock word is this thread's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "pagealloc/heapapi.h"
#include "pagealloc/pagealloc.h"
#include "pagealloc/pageheap.h"
#include "pagealloc/sysmem.h"
#include "pageheap/heap.h"
#include "sysmem_fi.h"
#include "rng.h"
#include "pa_heap_expect.h"

#define PAGE  ((uintptr_t)PAGEALLOC_PAGE_SIZE)
#define CHUNK ((uintptr_t)PAGEALLOC_CHUNK_SIZE)

/* ---- The allocator's three steps -------------------------------------------- */

static void test_publish_makes_no_call(void **state)
{
    (void)state;
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 });
    assert_non_null(pa);
    sysmem_fi_install();
    rng_xorshift rng = {12345};
    unsigned grown = 0, prepare_calls = 0, finish_unmaps = 0;
    while (grown < 300) {
        uintptr_t base = (1 + rng_xorshift_below(&rng, ((uintptr_t)1 << 26) - 4)) * CHUNK;
        uintptr_t size = (1 + rng_xorshift_below(&rng, 3)) * CHUNK;
        pagealloc_stats before, mid, after;
        pagealloc_get_stats(pa, &before);
        sysmem_fi_reset();
        int err = pa_grow_prepare(pa, base, size);
        if (err == EEXIST)
            continue;
        assert_int_equal(err, 0);
        unsigned n = sysmem_fi_ncalls();
        prepare_calls += n;
        /* Prepared, not published: the heap readers see is unchanged. */
        pagealloc_get_stats(pa, &mid);
        assert_int_equal(mid.heap_bytes, before.heap_bytes);
        assert_int_equal(mid.chunks, before.chunks);
        assert_int_equal(mid.free_bytes, before.free_bytes);
        assert_int_equal(pagealloc_try_free(pa, base, 1), EINVAL);
        char msg[256];
        if (pagealloc_check(pa, msg, sizeof msg))
            fail_msg("after prepare: %s", msg);
        pa_grow_publish(pa, base, size);
        assert_int_equal(sysmem_fi_ncalls(), n);     /* publish: no primitive */
        pa_grow_finish(pa);
        for (unsigned i = n; i < sysmem_fi_ncalls(); i++)
            finish_unmaps += sysmem_fi_call_at(i)->prim == 'U';
        assert_true(sysmem_fi_ncalls() == n || sysmem_fi_call_at(n)->prim == 'U');
        pagealloc_get_stats(pa, &after);
        assert_int_equal(after.heap_bytes, before.heap_bytes + size);
        grown++;
    }
    sysmem_fi_uninstall();
    char msg[256];
    if (pagealloc_check(pa, msg, sizeof msg))
        fail_msg("%s", msg);
    assert_true(prepare_calls >= grown);   /* every far range commits something */
    assert_true(finish_unmaps >= 1);       /* the in-use array doubled past 256 */
    pagealloc_delete(pa);
}

/* ---- The heap: the primitive table's hook watches the shard locks ----------- */

static pageheap *watched;
static int watching;
static unsigned calls_seen, calls_under_lock;
static char first_bad;

static void watch_hook(char prim, uintptr_t v, size_t n, int err)
{
    (void)v, (void)n, (void)err;
    if (!watching || !watched)
        return;
    calls_seen++;
    for (unsigned i = 0; i < watched->nshards; i++)
        if (atomic_load_explicit(&watched->shards[i].mu.held, memory_order_relaxed)) {
            if (!calls_under_lock++)
                first_bad = prim;
        }
}

static pageheap *watched_heap(void)
{
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 2, .arena_bytes = 4u << 20 });
    assert_non_null(h);
    watched = h;
    calls_seen = calls_under_lock = 0;
    sysmem_fi_install();
    sysmem_fi_set_hook(watch_hook);
    return h;
}

static void unwatch(pageheap *h)
{
    watching = 0;
    sysmem_fi_set_hook(NULL);
    sysmem_fi_uninstall();
    watched = NULL;
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

static void test_heap_no_call_under_shard_lock(void **state)
{
    (void)state;
    pageheap *h = watched_heap();
    enum { N = 600 };
    static void *p[N];
    static size_t np[N];
    rng_xorshift rng = {777};
    watching = 1;
    for (int i = 0; i < N; i++) {
        uint64_t r = rng_xorshift_below(&rng, 10);
        np[i] = r < 5 ? 1 + rng_xorshift_below(&rng, 64)
              : r < 9 ? 65 + rng_xorshift_below(&rng, 600) : 1000 + rng_xorshift_below(&rng, 3000);
        p[i] = pageheap_alloc(h, np[i]);
        assert_non_null(p[i]);
        memset(p[i], 1, PAGE);
        if (i % 3 == 2) {                      /* some frees in between */
            pageheap_free(h, p[i - 1], np[i - 1]);
            p[i - 1] = NULL;
        }
    }
    for (int i = 0; i < N; i++)
        if (p[i])
            pageheap_free(h, p[i], np[i]);
    watching = 0;
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    print_message("  %llu grows, %u primitive calls, %u under a shard lock (first: %c)\n",
                  (unsigned long long)s.grows, calls_seen, calls_under_lock,
                  calls_under_lock ? first_bad : '-');
    assert_true(s.grows >= 60);
    assert_true(calls_seen > 0);
    assert_int_equal(calls_under_lock, 0);
    unwatch(h);
}

/* A grow failing at each of its primitive calls in turn: ENOMEM, nothing
 * under a shard lock, the heap consistent (pageheap_check compares each
 * shard's metadata stat with its allocator's) and usable. */
static void test_heap_failed_grow(void **state)
{
    (void)state;
    unsigned n = 0, failures = 0;
    char seq[SYSMEM_FI_LOG_MAX + 1] = "";
    for (unsigned k = 0; k <= n; k++) {
        pageheap *h = watched_heap();
        sysmem_fi_reset();
        if (k)
            sysmem_fi_arm(k, ENOMEM);
        watching = 1;
        errno = 0;
        /* The first grow: an arena, and all of the shard allocator's
         * metadata (level 0, summary pages, a chunk block, index words,
         * the in-use array), then 2 chunks of it. */
        void *b = pageheap_alloc(h, 900);
        watching = 0;
        if (k == 0) {
            n = sysmem_fi_ncalls();
            sysmem_fi_sequence(seq, sizeof seq);
            assert_non_null(b);
        } else if (!b) {
            failures++;
            assert_int_equal(errno, ENOMEM);
            char msg[512];
            if (pageheap_check(h, msg, sizeof msg))
                fail_msg("after failing call %u (%c): %s", k, seq[k - 1], msg);
            sysmem_fi_arm(0, 0);
            watching = 1;
            b = pageheap_alloc(h, 900);
            watching = 0;
            assert_non_null(b);
        }
        memset(b, 2, 900 * PAGE);
        assert_int_equal(calls_under_lock, 0);
        pageheap_free(h, b, 900);
        unwatch(h);
    }
    print_message("  a first grow's %u primitive calls (%s) failed in turn: %u allocations "
                  "failed\n", n, seq, failures);
    assert_true(n > 0);
    assert_true(failures > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_makes_no_call),
        cmocka_unit_test(test_heap_no_call_under_shard_lock),
        cmocka_unit_test(test_heap_failed_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
