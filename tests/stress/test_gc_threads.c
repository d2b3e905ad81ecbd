/*
 * test_gc_threads.c - the collector under threads (label stress; TSan in
 * `make test`), with the full heap check after every cycle
 * (options.check_heap):
 *   - workers (registered through pa_gc_pthread_create) build lists whose
 *     only roots are their stacks, churn garbage and check every list's
 *     contents after many collections, some of them started by several
 *     threads at once (pa_gc_collect from every worker);
 *   - short-lived threads, detached or joined, are created and exit while
 *     collections run;
 *   - a thread that registers and unregisters itself by hand;
 *   - two threads creating and joining threads as fast as they can while
 *     a third collects: joins race creations for recycled thread ids;
 *   - fork from the threaded process: the child allocates and collects;
 *   - helper markers made while registered threads create and join
 *     threads as fast as they can: made before the world stops, they never
 *     wait for a lock of glibc's thread creation that a stopped thread
 *     holds (a helper made in the pause could hang the collection: the
 *     child of a fork makes its helpers again, up to 15 of them here);
 *   - statistics snapshots taken while spans are made and released keep
 *     their free bytes within their heap bytes.
 * PAGEALLOC_TEST_SCALE scales the work. Under TSan the world stops too:
 * threads blocked on a collector lock park instead of taking the signal
 * TSan would hold back (src/gc/world.c).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pa_skip.h"
#include "base/tsan.h"
#include "pagealloc/gc.h"

const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    /* The fork test's child runs the collector; the fork handler holds
     * every collector lock at once (more than TSan's deadlock detector
     * tracks). */
    return "die_after_fork=0:detect_deadlocks=0";
}

static int scale(void)
{
    const char *s = getenv("PAGEALLOC_TEST_SCALE");
    int n = s ? atoi(s) : 1;
    return n < 1 ? 1 : n;
}

typedef struct node {
    struct node *next;
    uint64_t tag;
    uint64_t check;
} node;

static node *build(int n, uint64_t tag)
{
    node *head = NULL;
    for (int i = 0; i < n; i++) {
        node *x = pa_gc_malloc(sizeof *x);
        if (!x)
            return NULL;
        x->next = head;
        x->tag = tag;
        x->check = tag * 31 + (uint64_t)i;
        head = x;
    }
    return head;
}

static int verify(const node *head, int n, uint64_t tag)
{
    for (int i = n - 1; i >= 0; i--, head = head->next)
        if (!head || head->tag != tag || head->check != tag * 31 + (uint64_t)i)
            return 0;
    return head == NULL;
}

static atomic_int bad;
static atomic_int stop_spawning;

static void *worker(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    int rounds = 30 * scale();
    for (int r = 0; r < rounds; r++) {
        uint64_t tag = id * 1000003u + (uint64_t)r;
        node *volatile keep = build(500, tag);
        for (int k = 0; k < 2000; k++)
            if (!pa_gc_malloc(16 + (k % 7) * 48))
                atomic_store(&bad, 1);
        if (r % 5 == (int)id % 5)
            pa_gc_collect();                     /* several threads at once */
        if (!verify(keep, 500, tag))
            atomic_store(&bad, 2);
    }
    return NULL;
}

/* Under TSan, a new thread's start (TSan's own bookkeeping) walks the
 * loaded objects with dl_iterate_phdr, holding the dynamic loader's lock;
 * a fork at that moment leaves the lock held in the child, whose first
 * collection (the roots walk uses dl_iterate_phdr too) then waits for it
 * forever. glibc's own thread start does not do this, so only the TSan
 * build keeps forks and thread starts apart: the spawner holds fork_mu
 * from pthread_create until the new thread runs its function. Both waits
 * spin with sched_yield: a thread blocked inside a TSan interceptor would
 * hold back the collector's stop signal. */
static pthread_mutex_t fork_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int child_started;

static void tsan_fork_lock(void)
{
    if (PA_UNDER_TSAN)
        while (pthread_mutex_trylock(&fork_mu) != 0)
            sched_yield();
}

static void tsan_fork_unlock(void)
{
    if (PA_UNDER_TSAN)
        pthread_mutex_unlock(&fork_mu);
}

static void *short_lived(void *arg)
{
    atomic_store(&child_started, 1);
    node *volatile l = build(50, (uintptr_t)arg);
    if (!verify(l, 50, (uintptr_t)arg))
        atomic_store(&bad, 3);
    return NULL;
}

static void *spawner(void *arg)
{
    (void)arg;
    uintptr_t k = 0;
    while (!atomic_load(&stop_spawning)) {
        pthread_t t;
        tsan_fork_lock();
        atomic_store(&child_started, 0);
        if (pa_gc_pthread_create(&t, NULL, short_lived, (void *)++k) != 0) {
            tsan_fork_unlock();
            continue;
        }
        while (PA_UNDER_TSAN && !atomic_load(&child_started))
            sched_yield();
        tsan_fork_unlock();
        if (k & 1)
            pa_gc_pthread_detach(t);
        else
            pa_gc_pthread_join(t, NULL);
    }
    return NULL;
}

static void *self_registering(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20 * scale(); i++) {
        if (pa_gc_register_thread(NULL) != 0)
            atomic_store(&bad, 4);
        node *volatile l = build(100, 777 + (uint64_t)i);
        pa_gc_collect();
        if (!verify(l, 100, 777 + (uint64_t)i))
            atomic_store(&bad, 5);
        if (pa_gc_unregister_thread() != 0)
            atomic_store(&bad, 6);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    enum { W = 4 };
    pthread_t w[W], sp, sr;
    assert_int_equal(pa_gc_pthread_create(&sp, NULL, spawner, NULL), 0);
    assert_int_equal(pthread_create(&sr, NULL, self_registering, NULL), 0);
    for (uintptr_t i = 0; i < W; i++)
        assert_int_equal(pa_gc_pthread_create(&w[i], NULL, worker, (void *)(i + 1)), 0);
    for (int i = 0; i < W; i++)
        assert_int_equal(pa_gc_pthread_join(w[i], NULL), 0);
    assert_int_equal(pthread_join(sr, NULL), 0);
    atomic_store(&stop_spawning, 1);
    assert_int_equal(pa_gc_pthread_join(sp, NULL), 0);
    if (atomic_load(&bad))
        fail_msg("worker check %d failed", atomic_load(&bad));
    pa_gc_stats st;
    pa_gc_get_stats(&st);
    assert_true(st.collections > 20);
    char msg[256];
    if (pa_gc_check(msg, sizeof msg) != 0)
        fail_msg("heap check: %s", msg);
}

/* A thread's result: a list tagged with its argument. */
static void *returns_list(void *arg)
{
    return build(8, (uintptr_t)arg);
}

static atomic_int stop_collecting;

static void *collector(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_collecting))
        pa_gc_collect();
    return NULL;
}

/* Create a thread and join it, again and again: glibc hands a joined
 * thread's id to the next thread created anywhere, so with two of these
 * loops a join races the other loop's creation for the same id. */
static void *create_join_loop(void *arg)
{
    uint64_t base = (uintptr_t)arg;
    for (int i = 0; i < 1500 * scale(); i++) {
        pthread_t t;
        void *ret = NULL;
        uint64_t tag = base + (uint64_t)i;
        if (pa_gc_pthread_create(&t, NULL, returns_list, (void *)(uintptr_t)tag) != 0)
            continue;
        if (pa_gc_pthread_join(t, &ret) != 0 || !verify(ret, 8, tag))
            atomic_store(&bad, 7);
    }
    return NULL;
}

/* Joins racing creations (a join once looked its thread's result record
 * up by id after pthread_join returned, and could take the record of a
 * new thread that had just been given the same id: the record list then
 * looped and a collection spun in it). Each joined result must come back
 * intact, collections meanwhile, and the process must not hang. */
static void test_join_races_create(void **state)
{
    (void)state;
    atomic_store(&bad, 0);
    atomic_store(&stop_collecting, 0);
    pthread_t c, l[2];
    assert_int_equal(pa_gc_pthread_create(&c, NULL, collector, NULL), 0);
    for (uintptr_t i = 0; i < 2; i++)
        assert_int_equal(pa_gc_pthread_create(&l[i], NULL, create_join_loop,
                                              (void *)((i + 1) << 32)), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pa_gc_pthread_join(l[i], NULL), 0);
    atomic_store(&stop_collecting, 1);
    assert_int_equal(pa_gc_pthread_join(c, NULL), 0);
    if (atomic_load(&bad))
        fail_msg("a joined result was lost or damaged (check %d)", atomic_load(&bad));
    char msg[256];
    if (pa_gc_check(msg, sizeof msg) != 0)
        fail_msg("heap check: %s", msg);
}

static void test_fork_threaded(void **state)
{
    (void)state;
    atomic_store(&stop_spawning, 0);
    pthread_t sp;
    assert_int_equal(pa_gc_pthread_create(&sp, NULL, spawner, NULL), 0);
    for (int k = 0; k < 3; k++) {
        node *volatile l = build(200, 4242);
        tsan_fork_lock();
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid != 0)
            tsan_fork_unlock();
        if (pid == 0) {
            for (int i = 0; i < 5; i++) {
                if (!build(2000, 1))
                    _exit(2);
                pa_gc_collect();
            }
            _exit(verify(l, 200, 4242) ? 0 : 1);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    atomic_store(&stop_spawning, 1);
    assert_int_equal(pa_gc_pthread_join(sp, NULL), 0);
}

static atomic_int churn_stop;

/* Registered, creating and joining registered threads without a pause:
 * often inside pthread_create or pthread_join when the world stops. Big
 * stacks overflow glibc's cache of stacks (40 MiB), so a join unmaps
 * stacks while it holds the cache's lock, which a pthread_create needs:
 * a collection that made a helper while the world was stopped hung here
 * (within seconds, before helpers were made ahead of the stop). */
static void *create_join_churn(void *arg)
{
    (void)arg;
    pthread_attr_t at;
    pthread_attr_init(&at);
    if (!PA_UNDER_TSAN)                     /* TSan clears a dead stack's shadow: slow */
        pthread_attr_setstacksize(&at, (size_t)24 << 20);
    while (!atomic_load(&churn_stop)) {
        pthread_t t;
        if (pa_gc_pthread_create(&t, &at, short_lived, (void *)(uintptr_t)9) == 0)
            pa_gc_pthread_join(t, NULL);
    }
    pthread_attr_destroy(&at);
    return NULL;
}

static void on_alarm(int sig)
{
    (void)sig;
    _exit(3);                               /* hung: the parent reports it */
}

static void test_helpers_made_while_threads_churn(void **state)
{
    (void)state;
    for (int k = 0; k < (PA_UNDER_TSAN ? 2 : 10) * scale(); k++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            signal(SIGALRM, on_alarm);
            alarm(PA_UNDER_TSAN ? 240 : 60);
            enum { C = 6 };
            pthread_t c[C];
            atomic_store(&churn_stop, 0);
            for (int i = 0; i < C; i++)
                if (pa_gc_pthread_create(&c[i], NULL, create_join_churn, NULL) != 0)
                    _exit(2);
            for (unsigned m = 2; m <= 16; m++) {  /* a new helper every cycle */
                pa_gc_set_markers(m);
                pa_gc_collect();
            }
            atomic_store(&churn_stop, 1);
            for (int i = 0; i < C; i++)
                pa_gc_pthread_join(c[i], NULL);
            pa_gc_stats st;
            pa_gc_get_stats(&st);
            _exit(atomic_load(&bad) ? 1 : st.markers == 16 ? 0 : 4);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 3)
            fail_msg("a collection hung while threads were being created and joined");
        assert_int_equal(WEXITSTATUS(status), 0);
    }
}

/* Statistics read while spans are made and released: every snapshot's
 * free bytes are within its heap bytes (a snapshot once read the two
 * figures apart, and a span released in between could show more free
 * bytes than heap; the bdwgc face's GC_get_heap_usage_safe reports both
 * from one snapshot). Allocators of many sizes, large ones included, make
 * spans; their collections and the background sweeper release them.
 * The old window was a few instructions wide: this test did not catch it
 * in four runs (one of them 20 times longer), so it guards the invariant
 * rather than proving the fix; the argument is in src/gc/stats.c. */
static atomic_int snap_stop;

static void *garbage_maker(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    for (int r = 0; r < 40 * scale(); r++) {
        for (int k = 0; k < 3000; k++) {
            size_t n = 16 + (size_t)((k * 7919 + (int)id * 31) % 2000);
            if (k % 97 == 0)
                n = 40000 + (size_t)(k % 5) * 16384;   /* spans of their own */
            if (!pa_gc_malloc(n))
                atomic_store(&bad, 8);
        }
        if ((r + (int)id) % 3 == 0)
            pa_gc_collect();
    }
    return NULL;
}

static void *snapshot_reader(void *arg)
{
    uint64_t *seen = arg;
    while (!atomic_load(&snap_stop)) {
        pa_gc_stats st;
        if (pa_gc_get_stats(&st) != 0 || st.free_bytes > st.heap_bytes)
            atomic_store(&bad, 9);
        seen[0]++;
    }
    return NULL;
}

static void test_stats_snapshot_consistent(void **state)
{
    (void)state;
    atomic_store(&bad, 0);
    atomic_store(&snap_stop, 0);
    uint64_t seen = 0;
    pthread_t rd, g[2];
    assert_int_equal(pthread_create(&rd, NULL, snapshot_reader, &seen), 0);
    for (uintptr_t i = 0; i < 2; i++)
        assert_int_equal(pa_gc_pthread_create(&g[i], NULL, garbage_maker, (void *)(i + 1)), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pa_gc_pthread_join(g[i], NULL), 0);
    atomic_store(&snap_stop, 1);
    assert_int_equal(pthread_join(rd, NULL), 0);
    if (atomic_load(&bad) == 9)
        fail_msg("a statistics snapshot showed more free bytes than heap bytes");
    assert_int_equal(atomic_load(&bad), 0);
    assert_true(seen > 100);
    char msg[256];
    if (pa_gc_check(msg, sizeof msg) != 0)
        fail_msg("heap check: %s", msg);
}

int main(void)
{
    pa_gc_options o = { .check_heap = 1, .markers = 2 };
    assert_int_equal(pa_gc_init(&o), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_join_races_create),
        cmocka_unit_test(test_fork_threaded),
        cmocka_unit_test(test_helpers_made_while_threads_churn),
        cmocka_unit_test(test_stats_snapshot_consistent),
    };
    return pa_test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
