/*
 * test_heap_threads.c - stress test, not a benchmark.
 *
 * More threads than cores allocate runs of pages from one heap (through
 * the page caches and the locked path), write an owner stamp into every
 * page, check every stamp before freeing, and hand some runs to other
 * threads to free (remote frees). Meanwhile a pest thread releases memory,
 * flushes every cache and moves a soft limit up and down, and the
 * background scavenger runs. A page handed to two owners shows up as a
 * foreign stamp. At the end everything is freed and the heap's stats,
 * allocators and page states must balance exactly (pageheap_check).
 * Op counts are scaled down under ThreadSanitizer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "pagealloc/pageheap.h"
#include "rng.h"

#include "base/tsan.h"

#define PAGE ((size_t)PAGEALLOC_PAGE_SIZE)
#define NTHREADS 6
#define OPS (PA_UNDER_TSAN ? 30000 : 100000)          /* per thread */
#define SLOTS 64
#define MAILBOX 16

static pageheap *heap;
static atomic_int stop_pest;
static atomic_int done_threads;

/* Runs handed between threads to be freed by someone else. */
static struct {
    pthread_mutex_t mu;
    uint64_t *p[MAILBOX];
    size_t n[MAILBOX];
    int count;
} mailbox = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Sizes from xorshift64* (workloads/rng.h; one generator per thread):
 * W1's mix, with the largest class cut to 65-264 pages. */
static size_t pick_size(rng_xorshift *rng)
{
    uint64_t p = rng_xorshift_next(rng) % 100;
    if (p < 50)
        return 1;
    if (p < 85)
        return 2 + rng_xorshift_next(rng) % 7;
    if (p < 98)
        return 9 + rng_xorshift_next(rng) % 56;
    return 65 + rng_xorshift_next(rng) % 200;
}

static void stamp(uint64_t *p, size_t n, uint64_t owner)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t *w = (uint64_t *)((char *)p + i * PAGE);
        w[0] = owner;
        w[PAGE / 8 - 1] = owner ^ i;
    }
}

static int stamp_ok(const uint64_t *p, size_t n, uint64_t owner)
{
    for (size_t i = 0; i < n; i++) {
        const uint64_t *w = (const uint64_t *)((const char *)p + i * PAGE);
        if (w[0] != owner || w[PAGE / 8 - 1] != (owner ^ i))
            return 0;
    }
    return 1;
}

static atomic_ulong stamp_errors, alloc_failures;

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    rng_xorshift rng = {42 + id};
    uint64_t *slot[SLOTS] = { 0 };
    size_t size[SLOTS] = { 0 };
    uint64_t owner[SLOTS] = { 0 };
    uint64_t seq = 0;
    for (int op = 0; op < OPS; op++) {
        unsigned i = (unsigned)(rng_xorshift_next(&rng) % SLOTS);
        if (slot[i]) {
            if (!stamp_ok(slot[i], size[i], owner[i]))
                atomic_fetch_add(&stamp_errors, 1);
            if (rng_xorshift_next(&rng) % 16 == 0) {
                /* Hand it to another thread; its stamp stays ours. */
                pthread_mutex_lock(&mailbox.mu);
                if (mailbox.count < MAILBOX) {
                    stamp(slot[i], size[i], 0xfeedull << 32 | size[i]);
                    mailbox.p[mailbox.count] = slot[i];
                    mailbox.n[mailbox.count++] = size[i];
                    slot[i] = NULL;
                }
                pthread_mutex_unlock(&mailbox.mu);
            }
            if (slot[i]) {
                pageheap_free(heap, slot[i], size[i]);
                slot[i] = NULL;
            }
        } else {
            size_t n = pick_size(&rng);
            uint64_t *p = (rng_xorshift_next(&rng) & 7) == 0 ? pageheap_alloc_zeroed(heap, n)
                                                   : pageheap_alloc(heap, n);
            if (!p) {
                atomic_fetch_add(&alloc_failures, 1);
                continue;
            }
            owner[i] = (uint64_t)id << 48 | ++seq;
            stamp(p, n, owner[i]);
            slot[i] = p;
            size[i] = n;
        }
        if (op % 64 == 0) {
            /* Free someone else's run. */
            pthread_mutex_lock(&mailbox.mu);
            uint64_t *p = NULL;
            size_t n = 0;
            if (mailbox.count) {
                p = mailbox.p[--mailbox.count];
                n = mailbox.n[mailbox.count];
            }
            pthread_mutex_unlock(&mailbox.mu);
            if (p) {
                if (!stamp_ok(p, n, 0xfeedull << 32 | n))
                    atomic_fetch_add(&stamp_errors, 1);
                pageheap_free(heap, p, n);
            }
        }
    }
    for (unsigned i = 0; i < SLOTS; i++)
        if (slot[i]) {
            if (!stamp_ok(slot[i], size[i], owner[i]))
                atomic_fetch_add(&stamp_errors, 1);
            pageheap_free(heap, slot[i], size[i]);
        }
    atomic_fetch_add(&done_threads, 1);
    return NULL;
}

static void *pest(void *arg)
{
    (void)arg;
    rng_xorshift rng = {7};
    while (!atomic_load(&stop_pest)) {
        switch (rng_xorshift_next(&rng) % 4) {
        case 0:
            pageheap_release(heap, (size_t)(rng_xorshift_next(&rng) % 64 + 1) * PAGE);
            break;
        case 1:
            pageheap_flush_caches(heap);
            break;
        case 2: {
            pageheap_stats s;
            pageheap_get_stats(heap, &s);
            pageheap_set_limit(heap, s.ready_bytes + s.metadata_bytes);
            break;
        }
        default:
            pageheap_set_limit(heap, 0);
            break;
        }
        sched_yield();
    }
    pageheap_set_limit(heap, 0);
    return NULL;
}

static void run(unsigned shards)
{
    heap = pageheap_new(&(pageheap_options){ .shards = shards, .background_scavenger = 1,
                                             .scavenger_poll_ns = 2000000 });
    assert_non_null(heap);
    atomic_store(&stop_pest, 0);
    atomic_store(&done_threads, 0);
    atomic_store(&stamp_errors, 0);
    atomic_store(&alloc_failures, 0);
    pthread_t th[NTHREADS], pt;
    assert_int_equal(pthread_create(&pt, NULL, pest, NULL), 0);
    for (unsigned i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&stop_pest, 1);
    pthread_join(pt, NULL);
    /* Whatever is left in the mailbox. */
    for (int i = 0; i < mailbox.count; i++)
        pageheap_free(heap, mailbox.p[i], mailbox.n[i]);
    mailbox.count = 0;

    assert_int_equal(atomic_load(&stamp_errors), 0);
    assert_int_equal(atomic_load(&alloc_failures), 0);
    pageheap_stats s;
    pageheap_get_stats(heap, &s);
    assert_int_equal(s.in_use_bytes, 0);
    assert_int_equal(s.allocs, s.frees);
    assert_int_equal(s.alloc_bytes, s.freed_bytes);
    assert_true(s.allocs >= (uint64_t)NTHREADS * OPS / 3);
    assert_true(s.threads <= 1);          /* this thread freed the mailbox */
    /* Exited threads' caches were flushed; this thread's run cache may
     * hold runs from the mailbox. */
    assert_int_equal(s.cache_bytes, s.run_cache_bytes);
    assert_true(s.run_cache_bytes <= 512u * PAGEALLOC_PAGE_SIZE);
    pageheap_flush_caches(heap);
    pageheap_get_stats(heap, &s);
    assert_int_equal(s.cache_bytes, 0);
    char msg[512];
    if (pageheap_check(heap, msg, sizeof msg))
        fail_msg("%s", msg);
    pageheap_release(heap, SIZE_MAX);
    if (pageheap_check(heap, msg, sizeof msg))
        fail_msg("%s", msg);
    pageheap_get_stats(heap, &s);
    assert_int_equal(s.ready_bytes + s.prepared_bytes, s.released_bytes);
    assert_int_equal(s.free_bytes, 0);
    printf("# shards %u: %llu allocs (%llu from caches), %llu grows, %llu scavenges, "
           "%llu limit hits\n", shards, (unsigned long long)s.allocs,
           (unsigned long long)s.cache_allocs, (unsigned long long)s.grows,
           (unsigned long long)s.scavenges, (unsigned long long)s.limit_hits);
    pageheap_delete(heap);
}

static void test_threads_one_shard(void **state)
{
    (void)state;
    run(1);
}

static void test_threads_sharded(void **state)
{
    (void)state;
    run(3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_one_shard),
        cmocka_unit_test(test_threads_sharded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
