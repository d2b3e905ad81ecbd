/*
 * test_stack_threads.c - stress test of the stack layer, not a benchmark.
 *
 * More threads than cores allocate stacks of every order and some large
 * ones (two sizes, through the threads' large lists) from one allocator, stamp the top and bottom word of each with
 * their id, check the stamps before freeing, and hand some stacks to a
 * shared exchange from which other threads free them (remote frees into
 * their own caches). Meanwhile a pest thread calls pa_stack_release and
 * reads the statistics. A stack handed to two owners shows up as a
 * foreign stamp. At the end everything is freed and released: the stats
 * must balance, no guard may be held, and the heap's books must agree
 * with the OS (pageheap_check). Op counts are scaled down under TSan.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "pagealloc/stack.h"


#include "base/tsan.h"

#define KiB ((size_t)1 << 10)
#define THREADS 6
#define HELD 64
#define XCHG 32
#define OPS (PA_UNDER_TSAN ? 20000 : 200000)

static pa_stack_allocator *A;
static pthread_mutex_t xmu = PTHREAD_MUTEX_INITIALIZER;
static pa_stack xchg[XCHG];
static int nx;
static atomic_int done;
static atomic_int bad;

static void stamp(const pa_stack *s)
{
    ((uint64_t *)s->hi)[-1] = s->id;
    ((uint64_t *)s->lo)[0] = s->id;
}

static void check_and_free(const pa_stack *s)
{
    if (((uint64_t *)s->hi)[-1] != s->id || ((uint64_t *)s->lo)[0] != s->id) {
        fprintf(stderr, "stack %llu [%p, %p): foreign stamp %llu / %llu\n",
                (unsigned long long)s->id, s->lo, s->hi,
                (unsigned long long)((uint64_t *)s->hi)[-1], (unsigned long long)((uint64_t *)s->lo)[0]);
        atomic_fetch_add(&bad, 1);
    }
    pa_stack_free(A, s);
}

static void *worker(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    pa_stack held[HELD];
    int n = 0;
    for (int op = 0; op < OPS; op++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned r = (unsigned)(seed >> 33);
        if (n < HELD && (r & 1)) {
            /* Two large sizes: 96 and 400 KiB against a thread's large
             * list of 4 stacks and 1 MiB (cache_bytes 64 KiB), so both of
             * its bounds evict into the large pool. */
            static const size_t sizes[] = { 8 * KiB, 16 * KiB, 32 * KiB, 64 * KiB, 400 * KiB,
                                            16 * KiB, 96 * KiB, 4 * KiB };
            int e = pa_stack_alloc(A, sizes[(r >> 1) & 7], &held[n]);
            if (e != 0) {
                fprintf(stderr, "alloc: %d\n", e);
                atomic_fetch_add(&bad, 1);
                continue;
            }
            stamp(&held[n++]);
        } else if (n > 0) {
            int i = (int)((r >> 4) % (unsigned)n);
            pa_stack s = held[i];
            held[i] = held[--n];
            if ((r >> 12) % 4 == 0) {   /* hand over; free what was waiting */
                pa_stack got;
                int have = 0;
                pthread_mutex_lock(&xmu);
                if (nx == XCHG) {
                    got = xchg[--nx];
                    have = 1;
                }
                xchg[nx++] = s;
                pthread_mutex_unlock(&xmu);
                if (have)
                    check_and_free(&got);
            } else {
                check_and_free(&s);
            }
        }
    }
    while (n > 0)
        check_and_free(&held[--n]);
    return NULL;
}

static void *pest(void *arg)
{
    (void)arg;
    while (!atomic_load(&done)) {
        pa_stack_release(A);
        pa_stack_stats st;
        pa_stack_get_stats(A, &st);
        if (st.version != PA_STACK_STATS_VERSION)
            atomic_fetch_add(&bad, 1);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    A = pa_stack_allocator_new(&(pa_stack_options){ .cache_bytes = 64 * KiB,
                                                    .pool_bytes = 1024 * KiB });
    assert_non_null(A);
    pthread_t t[THREADS], p;
    assert_int_equal(pthread_create(&p, NULL, pest, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1)), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    atomic_store(&done, 1);
    assert_int_equal(pthread_join(p, NULL), 0);
    for (int i = 0; i < nx; i++)
        check_and_free(&xchg[i]);
    assert_int_equal(atomic_load(&bad), 0);

    pa_stack_stats st;
    pa_stack_get_stats(A, &st);
    assert_int_equal(st.live, 0);
    assert_int_equal(st.live_bytes, 0);
    assert_int_equal(st.allocs, st.frees);
    assert_int_equal(st.threads, 1);  /* every worker exited; main freed the exchange */
    assert_int_equal(st.heap_allocs - st.heap_frees, st.pooled + st.cached);
    pa_stack_release(A);
    pa_stack_get_stats(A, &st);
    assert_int_equal(st.pooled + st.cached, 0);
    assert_int_equal(st.guard_bytes, 0);
    assert_int_equal(st.resident_bytes, 0);
    assert_int_equal(st.heap_allocs, st.heap_frees);
    char msg[512];
    if (pageheap_check(pa_stack_heap(A), msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    if (sysmem_check(msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    print_message("allocs %llu, refills %llu, flushes %llu, heap runs %llu\n",
                  (unsigned long long)st.allocs, (unsigned long long)st.refills,
                  (unsigned long long)st.flushes, (unsigned long long)st.heap_allocs);
    pa_stack_allocator_delete(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
