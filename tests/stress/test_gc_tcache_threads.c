/*
 * test_gc_tcache_threads.c - the per-thread allocation caches under
 * collections that stop threads at any instruction (label stress), with
 * the full heap check after every cycle (options.check_heap):
 *   - hammer: one thread collects over and over while workers allocate
 *     tiny scanned and atomic objects from their caches, keep the last N
 *     in a stack array (scanned nodes also chain to the previous one) and
 *     check every kept object before they drop it, so an object handed
 *     out while a collection stopped its thread inside the allocation
 *     must survive that collection intact;
 *   - churn: short-lived registered threads fill a cache and exit while
 *     collections run, so caches go back in the middle of cycles.
 * PAGEALLOC_TEST_SCALE scales the work.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pa_skip.h"
#include "pagealloc/gc.h"

const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    /* A collection holds every collector lock at once, more than TSan's
     * deadlock detector tracks. */
    return "detect_deadlocks=0";
}

static int scale(void)
{
    const char *s = getenv("PAGEALLOC_TEST_SCALE");
    int n = s ? atoi(s) : 1;
    return n < 1 ? 1 : n;
}

/* A scanned node: its predecessor in the ring, its identity and a check
 * word; an atomic node: identity and check only. */
typedef struct node {
    struct node *prev;
    uint64_t tag;
    uint64_t check;
} node;

#define KEEP 128

static atomic_int bad, done;
static atomic_ulong collections;

static uint64_t mix(uint64_t tag)
{
    return tag * 0x9e3779b97f4a7c15ull ^ 0x5bd1e995u;
}

static void *hammer(void *arg)
{
    uint64_t id = (uintptr_t)arg;
    node *volatile ring[KEEP];
    uint64_t *volatile raw[KEEP];
    memset((void *)ring, 0, sizeof ring);
    memset((void *)raw, 0, sizeof raw);
    node *last = NULL;
    long n = 1000000L * scale();
    for (long i = 0; i < n; i++) {
        uint64_t tag = id << 40 | (uint64_t)i;
        unsigned k = (unsigned)(i % KEEP);
        node *old = ring[k];
        if (old && (old->tag != (id << 40 | (uint64_t)(i - KEEP)) || old->check != mix(old->tag) ||
                    (old->prev && old->prev->check != mix(old->prev->tag))))
            atomic_store(&bad, 1);
        uint64_t *o = raw[k];
        if (o && (o[0] != (id << 40 | (uint64_t)(i - KEEP)) || o[1] != mix(o[0])))
            atomic_store(&bad, 2);
        node *x = pa_gc_malloc(sizeof *x);
        uint64_t *y = pa_gc_malloc_atomic(16);
        if (!x || !y) {
            atomic_store(&bad, 3);
            break;
        }
        if (x->prev || x->tag || x->check)
            atomic_store(&bad, 4);                /* scanned memory reads zero */
        x->prev = last;
        x->tag = tag;
        x->check = mix(tag);
        y[0] = tag;
        y[1] = mix(tag);
        ring[k] = x;
        raw[k] = y;
        last = x;
        if (old)
            old->prev = NULL;                     /* keep the chain KEEP long */
        if (i % 997 == 0)
            (void)pa_gc_malloc(48 + (size_t)(i % 5) * 200);   /* other classes */
    }
    return NULL;
}

static void *collector(void *arg)
{
    (void)arg;
    while (!atomic_load(&done)) {
        pa_gc_collect();
        atomic_fetch_add(&collections, 1);
    }
    return NULL;
}

static void *short_lived(void *arg)
{
    node *volatile head = NULL;
    for (int i = 0; i < 300; i++) {
        node *x = pa_gc_malloc(sizeof *x);
        if (!x)
            return NULL;
        x->prev = head;
        x->tag = (uintptr_t)arg;
        x->check = mix(x->tag + (uint64_t)i);
        head = x;
    }
    for (int i = 299; i >= 0; i--, head = head->prev)
        if (!head || head->check != mix((uintptr_t)arg + (uint64_t)i))
            atomic_store(&bad, 5);
    return NULL;
}

static void *churn(void *arg)
{
    (void)arg;
    uintptr_t k = 0;
    while (!atomic_load(&done)) {
        pthread_t t;
        if (pa_gc_pthread_create(&t, NULL, short_lived, (void *)++k) == 0)
            pa_gc_pthread_join(t, NULL);
    }
    return NULL;
}

static void test_hammer(void **state)
{
    (void)state;
    enum { W = 3 };
    pthread_t w[W], col, ch;
    assert_int_equal(pa_gc_pthread_create(&col, NULL, collector, NULL), 0);
    assert_int_equal(pa_gc_pthread_create(&ch, NULL, churn, NULL), 0);
    for (uintptr_t i = 0; i < W; i++)
        assert_int_equal(pa_gc_pthread_create(&w[i], NULL, hammer, (void *)(i + 1)), 0);
    for (int i = 0; i < W; i++)
        assert_int_equal(pa_gc_pthread_join(w[i], NULL), 0);
    atomic_store(&done, 1);
    assert_int_equal(pa_gc_pthread_join(col, NULL), 0);
    assert_int_equal(pa_gc_pthread_join(ch, NULL), 0);
    if (atomic_load(&bad))
        fail_msg("check %d failed", atomic_load(&bad));
    assert_true(atomic_load(&collections) > 10);
    char msg[256];
    if (pa_gc_check(msg, sizeof msg) != 0)
        fail_msg("heap check: %s", msg);
}

int main(void)
{
    pa_gc_options o = { .check_heap = 1, .markers = 2 };
    assert_int_equal(pa_gc_init(&o), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hammer),
    };
    return pa_test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
