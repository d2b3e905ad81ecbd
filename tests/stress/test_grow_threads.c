/*
 * test_grow_threads.c - stress test, not a benchmark: growth racing
 * allocation on the same allocator (issue 11; docs/pagealloc.md "Growth").
 *
 * The heap commits a new range's allocator metadata (pa_grow_prepare)
 * with only grow_mu held, while the shard's other threads allocate, free
 * and scavenge under the shard lock; only publish runs under that lock.
 * Two scenarios, both meant for ThreadSanitizer (the suite's TSan stage
 * runs every stress test):
 *
 *   - the allocator alone, unbacked: a grower prepares ranges of 1-3
 *     chunks at random places in the 48-bit space (so every prepare
 *     commits summary pages, a chunk block, index words, and the in-use
 *     array doubles past 256 ranges) with no lock held, then publishes
 *     under a mutex that stands for the shard lock and finishes after it.
 *     Readers, under the mutex, allocate and free runs (every answer must
 *     lie in a published range), scavenge, try to free a page of the range
 *     being prepared (refused: EINVAL) and now and then run the checker.
 *   - the heap, one shard: a grower allocates runs of 600-2000 pages and
 *     keeps them (a grow nearly every time) while two threads allocate and
 *     free small runs with owner stamps, and the background scavenger
 *     runs; at the end everything balances (pageheap_check).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "pagealloc/heapapi.h"
#include "pagealloc/pagealloc.h"
#include "pagealloc/pageheap.h"
#include "pagealloc/testing.h"
#include "rng.h"

#include "base/tsan.h"

#define PAGE  ((uintptr_t)PAGEALLOC_PAGE_SIZE)
#define CHUNK ((uintptr_t)PAGEALLOC_CHUNK_SIZE)

/* ---- The allocator alone ---------------------------------------------------- */

#define NGROW    300
#define NREADERS 3
#define ROPS     (PA_UNDER_TSAN ? 20000 : 60000)
#define HELD     32

static pagealloc *pa;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;     /* "the shard lock" */
static struct { uintptr_t base, limit; } published[NGROW + 1];   /* under mu */
static size_t npublished;                                     /* under mu */
static _Atomic uintptr_t preparing;      /* base of the range being prepared, or 0 */
static atomic_int grower_done;
static atomic_int errors;

static int is_published(uintptr_t a, uintptr_t n)
{
    for (size_t i = 0; i < npublished; i++)
        if (a >= published[i].base && a + n * PAGE <= published[i].limit)
            return 1;
    return 0;
}

static void *grower(void *arg)
{
    (void)arg;
    rng_xorshift rng = {0x9e3779b97f4a7c15ull};
    for (int i = 0; i < NGROW;) {
        uintptr_t nchunks = 1 + rng_xorshift_below(&rng, 3);
        uintptr_t ci = 1 + rng_xorshift_below(&rng, ((uintptr_t)1 << 26) - 4);
        uintptr_t base = ci * CHUNK, size = nchunks * CHUNK;
        /* Only a range that overlaps no grown one is announced: the
         * readers' frees of its first page must all be refused. */
        pthread_mutex_lock(&mu);
        int overlaps = 0;
        for (size_t j = 0; j < npublished; j++)
            overlaps |= base < published[j].limit && published[j].base < base + size;
        pthread_mutex_unlock(&mu);
        if (overlaps)
            continue;
        atomic_store(&preparing, base);
        int err = pa_grow_prepare(pa, base, size);   /* no lock: readers run */
        if (err) {
            atomic_fetch_add(&errors, 1);
            break;
        }
        pthread_mutex_lock(&mu);
        atomic_store(&preparing, 0);
        pa_grow_publish(pa, base, size);
        published[npublished].base = base;
        published[npublished].limit = base + size;
        npublished++;
        pthread_mutex_unlock(&mu);
        pa_grow_finish(pa);
        i++;
    }
    atomic_store(&grower_done, 1);
    return NULL;
}

static void *reader(void *arg)
{
    rng_xorshift rng = {0x1234567ull + (uintptr_t)arg};
    uintptr_t held[HELD] = { 0 }, heldn[HELD] = { 0 };
    for (int op = 0; op < ROPS || !atomic_load(&grower_done); op++) {
        unsigned k = (unsigned)rng_xorshift_below(&rng, HELD);
        uint64_t what = rng_xorshift_below(&rng, 100);
        pthread_mutex_lock(&mu);
        if (what < 80) {
            if (held[k]) {
                pagealloc_free(pa, held[k], heldn[k]);
                held[k] = 0;
            } else {
                uintptr_t n = rng_xorshift_below(&rng, 8) ? 1 + rng_xorshift_below(&rng, 16)
                                                          : 1 + rng_xorshift_below(&rng, 1500);
                uintptr_t a = pagealloc_alloc(pa, n, NULL);
                if (a && !is_published(a, n)) {
                    fprintf(stderr, "allocation %#lx (+%lu pages) outside the published heap\n",
                            (unsigned long)a, (unsigned long)n);
                    atomic_fetch_add(&errors, 1);
                }
                if (a) {
                    held[k] = a;
                    heldn[k] = n;
                }
            }
        } else if (what < 92) {
            /* A page of the range being prepared: never part of the heap yet. */
            uintptr_t b = atomic_load(&preparing);
            int rc = b ? pagealloc_try_free(pa, b, 1) : EINVAL;
            if (rc != EINVAL) {
                fprintf(stderr, "free of %#lx in the range being prepared: %d\n",
                        (unsigned long)b, rc);
                atomic_fetch_add(&errors, 1);
            }
        } else if (what < 99) {
            (void)pagealloc_scavenge(pa, (size_t)(1 + rng_xorshift_below(&rng, 64)) * PAGE);
        } else if (op % 8 == 0) {
            char msg[256];
            if (pagealloc_check(pa, msg, sizeof msg) != 0) {
                fprintf(stderr, "pagealloc_check: %s\n", msg);
                atomic_fetch_add(&errors, 1);
            }
        }
        pthread_mutex_unlock(&mu);
    }
    pthread_mutex_lock(&mu);
    for (int i = 0; i < HELD; i++)
        if (held[i])
            pagealloc_free(pa, held[i], heldn[i]);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void test_allocator_grow_race(void **state)
{
    (void)state;
    pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 });
    assert_non_null(pa);
    /* One range first, so that readers have something to allocate. */
    assert_int_equal(pagealloc_grow(pa, 64 * CHUNK, 2 * CHUNK), 0);
    published[0].base = 64 * CHUNK;
    published[0].limit = 66 * CHUNK;
    npublished = 1;
    atomic_store(&grower_done, 0);
    atomic_store(&errors, 0);
    pthread_t g, r[NREADERS];
    for (uintptr_t i = 0; i < NREADERS; i++)
        assert_int_equal(pthread_create(&r[i], NULL, reader, (void *)i), 0);
    assert_int_equal(pthread_create(&g, NULL, grower, NULL), 0);
    pthread_join(g, NULL);
    for (int i = 0; i < NREADERS; i++)
        pthread_join(r[i], NULL);
    assert_int_equal(atomic_load(&errors), 0);
    char msg[256];
    if (pagealloc_check(pa, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    pagealloc_stats st;
    pagealloc_get_stats(pa, &st);
    assert_int_equal(st.free_bytes, st.heap_bytes);
    printf("# allocator: %zu ranges, %llu chunks, %llu metadata bytes\n", npublished,
           (unsigned long long)st.chunks, (unsigned long long)st.metadata_bytes);
    assert_true(npublished > 256);      /* the in-use array doubled at least once */
    pagealloc_delete(pa);
}

/* ---- The heap, one shard ---------------------------------------------------- */

#define HGROWS (PA_UNDER_TSAN ? 60 : 150)
#define HOPS   (PA_UNDER_TSAN ? 20000 : 80000)

static pageheap *heap;
static atomic_int heap_grower_done;

static void *heap_grower(void *arg)
{
    (void)arg;
    static uint64_t *runs[HGROWS];
    static size_t lens[HGROWS];
    rng_xorshift rng = {42};
    for (int i = 0; i < HGROWS; i++) {
        lens[i] = 600 + rng_xorshift_below(&rng, 1400);
        runs[i] = pageheap_alloc(heap, lens[i]);
        if (!runs[i]) {
            atomic_fetch_add(&errors, 1);
            continue;
        }
        runs[i][0] = 0xB16B00B5ull + (uint64_t)i;
    }
    for (int i = 0; i < HGROWS; i++) {
        if (!runs[i])
            continue;
        if (runs[i][0] != 0xB16B00B5ull + (uint64_t)i)
            atomic_fetch_add(&errors, 1);
        pageheap_free(heap, runs[i], lens[i]);
    }
    atomic_store(&heap_grower_done, 1);
    return NULL;
}

static void *heap_worker(void *arg)
{
    uint64_t id = (uintptr_t)arg + 1;
    rng_xorshift rng = {id * 77};
    uint64_t *held[HELD] = { 0 };
    size_t n[HELD] = { 0 };
    for (int op = 0; op < HOPS || !atomic_load(&heap_grower_done); op++) {
        unsigned k = (unsigned)rng_xorshift_below(&rng, HELD);
        if (held[k]) {
            for (size_t p = 0; p < n[k]; p++)
                if (held[k][p * (PAGE / 8)] != (id << 32 | k))
                    atomic_fetch_add(&errors, 1);
            pageheap_free(heap, held[k], n[k]);
            held[k] = NULL;
        } else {
            n[k] = 1 + rng_xorshift_below(&rng, 40);
            held[k] = pageheap_alloc(heap, n[k]);
            if (!held[k]) {
                atomic_fetch_add(&errors, 1);
                continue;
            }
            for (size_t p = 0; p < n[k]; p++)
                held[k][p * (PAGE / 8)] = id << 32 | k;
        }
    }
    for (int k = 0; k < HELD; k++)
        if (held[k])
            pageheap_free(heap, held[k], n[k]);
    return NULL;
}

static void test_heap_grow_race(void **state)
{
    (void)state;
    heap = pageheap_new(&(pageheap_options){ .shards = 1, .background_scavenger = 1,
                                             .scavenger_poll_ns = 1000000,
                                             .arena_bytes = 8u << 20 });
    assert_non_null(heap);
    atomic_store(&errors, 0);
    atomic_store(&heap_grower_done, 0);
    pthread_t g, w[2];
    for (uintptr_t i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&w[i], NULL, heap_worker, (void *)i), 0);
    assert_int_equal(pthread_create(&g, NULL, heap_grower, NULL), 0);
    pthread_join(g, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i], NULL);
    assert_int_equal(atomic_load(&errors), 0);
    pageheap_flush_caches(heap);
    char msg[512];
    if (pageheap_check(heap, msg, sizeof msg))
        fail_msg("%s", msg);
    pageheap_stats s;
    pageheap_get_stats(heap, &s);
    assert_int_equal(s.in_use_bytes, 0);
    assert_true(s.grows >= HGROWS / 4);
    printf("# heap: %llu grows, %llu allocs\n", (unsigned long long)s.grows,
           (unsigned long long)s.allocs);
    pageheap_delete(heap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocator_grow_race),
        cmocka_unit_test(test_heap_grow_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
