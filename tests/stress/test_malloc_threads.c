/*
 * test_malloc_threads.c - the object allocator's threaded semantics at
 * full size, under TSan in `make test` (label stress):
 *   - the suite's producer/consumer (8 threads, every free remote), thread
 *     exit with a full cache, fork from a threaded process
 *     (tests/support/pa_malloc_sem.h);
 *   - the model (tests/support/pa_mmodel.h) on 4 threads that hand live
 *     objects to each other, so frees, sized frees and reallocs of an
 *     object happen on another thread than its allocation; every object's
 *     pattern is checked by the thread that frees it.
 * PAGEALLOC_TEST_SEED replays the model's draws (the interleaving is the
 * scheduler's); PAGEALLOC_TEST_SCALE scales the work.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "pa_skip.h"
#include "pa_testutil.h"
#include "pa_mmodel.h"

#include "pa_malloc_sem_api.h"

/* TSan options (TSAN_OPTIONS still override them):
 *   die_after_fork=0   the fork test's children allocate, and a child's
 *                      first span refill restarts the allocator's
 *                      background scavenger thread (fork.c);
 *   detect_deadlocks=0 the fork handler holds every lock of the
 *                      allocator at once (66 central mutexes and more),
 *                      beyond the 64 TSan's deadlock detector can track
 *                      (it fails a CHECK and hangs). */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0:detect_deadlocks=0";
}

static void test_cross_thread(void **state)
{
    (void)state;
    sem_cross_thread((size_t)(40000 * pa_test_scale()) + 100);
}

static void test_thread_exit(void **state)
{
    (void)state;
    sem_thread_exit((size_t)(2000 * pa_test_scale()) + 50, 4);
}

static void test_fork_threaded(void **state)
{
    (void)state;
    sem_fork_threaded(20);
}

/* ---- The model on 4 threads ----------------------------------------------------------- */

enum { MT = 4, INBOX = 256 };

typedef struct mt_inbox {
    pthread_mutex_t mu;
    mm_obj obj[INBOX];
    size_t n;
} mt_inbox;

typedef struct mt_shared {
    mt_inbox inbox[MT];
    pthread_barrier_t done;
    uint64_t seed;
    size_t steps, target;
} mt_shared;

typedef struct mt_thread {
    mt_shared *sh;
    unsigned id;
    mm_state m;
    uint64_t sent, received;
} mt_thread;

/* Take the objects other threads sent: checked, then this thread's. */
static void mt_receive(mt_thread *t)
{
    mt_inbox *in = &t->sh->inbox[t->id];
    mm_obj got[INBOX];
    pthread_mutex_lock(&in->mu);
    size_t n = in->n;
    memcpy(got, in->obj, n * sizeof(mm_obj));
    in->n = 0;
    pthread_mutex_unlock(&in->mu);
    for (size_t i = 0; i < n; i++) {
        if (!mm_verify(&t->m, &got[i], "received"))
            return;
        t->m.live[t->m.nlive++] = got[i];       /* mm_step grows nothing: make room */
        if (t->m.nlive == t->m.cap) {
            mm_obj o = mm_take(&t->m, 0);
            mm_free_obj(&t->m, o);
        }
        t->received++;
    }
}

static void mt_send(mt_thread *t)
{
    if (t->m.nlive == 0)
        return;
    unsigned to = (t->id + 1 + (unsigned)rng_xoshiro_below(t->m.rng, MT - 1)) % MT;
    mt_inbox *out = &t->sh->inbox[to];
    size_t i = (size_t)rng_xoshiro_below(t->m.rng, t->m.nlive);
    pthread_mutex_lock(&out->mu);
    if (out->n < INBOX) {
        out->obj[out->n++] = mm_take(&t->m, i);
        t->sent++;
    }
    pthread_mutex_unlock(&out->mu);
}

static void *mt_main(void *arg)
{
    mt_thread *t = arg;
    mt_shared *sh = t->sh;
    mm_init(&t->m, sh->seed, t->id + 1, sh->target);
    for (size_t i = 0; i < sh->steps && !t->m.err[0]; i++) {
        mm_step(&t->m);
        uint64_t r = rng_xoshiro_below(t->m.rng, 8);
        if (r == 0)
            mt_send(t);
        if (i % 16 == 0)
            mt_receive(t);
    }
    /* Nobody sends after the barrier: take the last objects, free all. */
    pthread_barrier_wait(&sh->done);
    mt_receive(t);
    mm_drain(&t->m);
    free(t->m.live);
    return NULL;
}

static void test_model_threads(void **state)
{
    (void)state;
    static mt_shared sh;
    memset(&sh, 0, sizeof sh);
    sh.seed = pa_test_seed();
    sh.steps = (size_t)(100000 * pa_test_scale()) + 2000;
    sh.target = 1000;
    print_message("seed %#llx (PAGEALLOC_TEST_SEED), %d threads x %zu steps\n",
                  (unsigned long long)sh.seed, MT, sh.steps);
    for (int i = 0; i < MT; i++)
        pthread_mutex_init(&sh.inbox[i].mu, NULL);
    pthread_barrier_init(&sh.done, NULL, MT);
    pa_free(pa_malloc(1));
    uint64_t start = mm_objects_in_use();
    static mt_thread th[MT];
    pthread_t tid[MT];
    for (unsigned i = 0; i < MT; i++) {
        th[i] = (mt_thread){ .sh = &sh, .id = i };
        assert_int_equal(pthread_create(&tid[i], NULL, mt_main, &th[i]), 0);
    }
    uint64_t sent = 0, received = 0;
    for (unsigned i = 0; i < MT; i++) {
        pthread_join(tid[i], NULL);
        sent += th[i].sent;
        received += th[i].received;
    }
    for (unsigned i = 0; i < MT; i++)
        if (th[i].m.err[0])
            fail_msg("thread %u (seed %#llx): %s", i, (unsigned long long)sh.seed, th[i].m.err);
    assert_int_equal(sent, received);
    print_message("%llu objects handed between threads\n", (unsigned long long)sent);
    assert_int_equal(mm_objects_in_use(), start);
    pthread_barrier_destroy(&sh.done);
    for (int i = 0; i < MT; i++)
        pthread_mutex_destroy(&sh.inbox[i].mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_thread),
        cmocka_unit_test(test_thread_exit),
        cmocka_unit_test(test_fork_threaded),
        cmocka_unit_test(test_model_threads),
    };
    return PA_RUN_GROUP_TESTS(tests, NULL, NULL);
}
