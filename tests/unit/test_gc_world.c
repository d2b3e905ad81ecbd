/*
 * test_gc_world.c - the collector's stopped world and thread roots:
 *   - the collection events come in their documented order, one cycle at
 *     a time;
 *   - a finished thread's result (returned, or passed to
 *     pa_gc_pthread_exit) is a root until pa_gc_pthread_join hands it
 *     over, through collections between the thread's end and the join; a
 *     detached thread's result is not kept;
 *   - thread-local variables of the program and of a shared library
 *     linked with it (static TLS) hold the only pointer to a list, for the
 *     main thread while another thread collects, for a created thread
 *     while the main thread collects, and for the collecting thread
 *     itself, also in a library loaded later (dynamic TLS);
 *   - a thread stopped while it runs a handler on its sigaltstack keeps
 *     alive a list only its normal stack holds and one only the signal
 *     stack holds.
 *   - a thread stopped while it holds the OS layer's lock does not hang
 *     a collection whose mark needs more work-list blocks than ever
 *     before (they come from the OS layer before the stop, never during
 *     it; src/gc/markq.c);
 *   - helper markers are made before the world stops, never while it is
 *     stopped (pthread_create can need a lock a stopped thread holds:
 *     src/gc/par.c): no thread appears between the stop and the restart
 *     when more markers are asked for.
 * Collections run with the full heap check (options.check_heap).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>

#include <unistd.h>

#include "os/registry.h"
#include "pa_clear_stack.h"
#include "pa_skip.h"
#include "pagealloc/gc.h"
#include "pa_heap_expect.h"

/* tests/gc_lib/pa_gc_tls_lib.c, linked with this program. */
void **pa_gc_tls_lib_slot(void);

typedef struct node {
    struct node *next;
    uint64_t check;
} node;

#define LEN 300

static __attribute__((noinline)) node *make_list(int n, uint64_t tag)
{
    node *head = NULL;
    for (int i = 0; i < n; i++) {
        node *x = pa_gc_malloc(sizeof *x);
        assert_non_null(x);
        x->next = head;
        x->check = tag * 1000003u + (uint64_t)i;
        head = x;
    }
    return head;
}

/* Every node still an allocated object, with its contents. */
static int list_intact(const node *head, int n, uint64_t tag)
{
    for (int i = n - 1; i >= 0; i--, head = head->next)
        if (!head || pa_gc_base(head) != head || head->check != tag * 1000003u + (uint64_t)i)
            return 0;
    return head == NULL;
}

/* Garbage of about bytes in nodes, so the memory of reclaimed nodes is
 * reused (and overwritten) by new ones. */
static __attribute__((noinline)) void churn(size_t bytes)
{
    for (size_t k = 0; k < bytes / sizeof(node); k++) {
        node *x = pa_gc_malloc(sizeof(node));
        assert_non_null(x);
        x->check = ~(uint64_t)k;
    }
}

static void collect_churn(int rounds)
{
    for (int r = 0; r < rounds; r++) {
        churn(1 << 18);
        pa_clear_stack();
        pa_gc_collect();
    }
}

/* ---- events --------------------------------------------------------- */

static pa_gc_event seen[64];
static int nseen;

static void on_event(pa_gc_event ev, void *arg)
{
    (void)arg;
    if (nseen < 64)
        seen[nseen++] = ev;
}

static void test_events(void **state)
{
    (void)state;
    static const pa_gc_event order[] = {
        PA_GC_EVENT_START, PA_GC_EVENT_WORLD_STOPPING, PA_GC_EVENT_WORLD_STOPPED,
        PA_GC_EVENT_WORLD_RESTARTING, PA_GC_EVENT_WORLD_RESTARTED, PA_GC_EVENT_MARK_END,
        PA_GC_EVENT_END,
    };
    enum { N = sizeof order / sizeof order[0] };
    /* The stable numbers of the public enum. */
    assert_int_equal(PA_GC_EVENT_WORLD_STOPPED, 3);
    assert_int_equal(PA_GC_EVENT_WORLD_RESTARTING, 4);
    pa_gc_stats before, after;
    assert_int_equal(pa_gc_get_stats(&before), 0);
    nseen = 0;
    pa_gc_set_event_handler(on_event, NULL);
    pa_gc_collect();
    pa_gc_collect();
    pa_gc_set_event_handler(NULL, NULL);
    assert_int_equal(pa_gc_get_stats(&after), 0);
    assert_int_equal(after.collections - before.collections, 2);
    assert_int_equal(nseen, 2 * N);
    for (int i = 0; i < nseen; i++)
        assert_int_equal(seen[i], order[i % N]);
    pa_gc_collect();
    assert_int_equal(nseen, 2 * N);                 /* removed */
}

/* ---- results -------------------------------------------------------- */

static atomic_int finishing;

static void *returns_list(void *arg)
{
    node *l = make_list(LEN, (uintptr_t)arg);
    atomic_fetch_add(&finishing, 1);
    if ((uintptr_t)arg & 1)
        pa_gc_pthread_exit(l);
    return l;
}

/* Wait until the threads made since `registered` was read have gone. */
static void wait_unregistered(uint32_t registered)
{
    for (;;) {
        pa_gc_stats st;
        pa_gc_get_stats(&st);
        if (st.threads <= registered)
            return;
        sched_yield();
    }
}

static void test_result_is_root(void **state)
{
    (void)state;
    enum { T = 4 };
    pa_gc_stats st;
    pa_gc_get_stats(&st);
    pthread_t t[T];
    for (uintptr_t i = 0; i < T; i++)      /* odd: pa_gc_pthread_exit */
        assert_int_equal(pa_gc_pthread_create(&t[i], NULL, returns_list, (void *)(i + 10)), 0);
    wait_unregistered(st.threads);         /* every thread has ended */
    collect_churn(6);                      /* their results' only roots: the records */
    for (uintptr_t i = 0; i < T; i++) {
        void *ret = NULL;
        assert_int_equal(pa_gc_pthread_join(t[i], &ret), 0);
        assert_true(list_intact(ret, LEN, i + 10));
    }
    pa_expect_gc_ok();
}

static pa_gc_hidden_ptr dropped[16];

static void *returns_object(void *arg)
{
    void *p = pa_gc_malloc(256);
    dropped[(uintptr_t)arg] = PA_GC_HIDE(p);
    return p;
}

static void test_detached_result_dropped(void **state)
{
    (void)state;
    enum { T = 16 };
    pa_gc_stats st;
    pa_gc_get_stats(&st);
    pthread_t t[T];
    for (uintptr_t i = 0; i < T; i++) {
        assert_int_equal(pa_gc_pthread_create(&t[i], NULL, returns_object, (void *)i), 0);
        if (i & 1)
            assert_int_equal(pa_gc_pthread_detach(t[i]), 0);  /* maybe before its end */
    }
    wait_unregistered(st.threads);
    for (uintptr_t i = 0; i < T; i += 2)
        assert_int_equal(pa_gc_pthread_detach(t[i]), 0);      /* after its end */
    collect_churn(3);
    int alive = 0;
    for (int i = 0; i < T; i++)
        alive += pa_gc_base(PA_GC_REVEAL(dropped[i])) != NULL;
    assert_true(alive <= 2);               /* a stale word may keep one */
    pa_expect_gc_ok();
}

/* ---- thread-local storage -------------------------------------------- */

static __thread node *tls_slot;

static atomic_int tls_stage;
static atomic_int tls_ok;

/* Collects while the main thread waits in join (stopped, so its roots
 * are its stack and its TLS). */
static void *collector(void *arg)
{
    (void)arg;
    collect_churn(5);
    return NULL;
}

/* Holds lists in its own TLS (the program's and the library's) while the
 * main thread collects. */
static void *tls_holder(void *arg)
{
    (void)arg;
    tls_slot = make_list(LEN, 71);
    *pa_gc_tls_lib_slot() = make_list(LEN, 72);
    pa_clear_stack();
    atomic_store(&tls_stage, 1);
    while (atomic_load(&tls_stage) != 2)
        sched_yield();
    atomic_store(&tls_ok, list_intact(tls_slot, LEN, 71) &&
                              list_intact(*pa_gc_tls_lib_slot(), LEN, 72));
    tls_slot = NULL;
    *pa_gc_tls_lib_slot() = NULL;
    return NULL;
}

static __attribute__((noinline)) void fill_main_tls(void)
{
    tls_slot = make_list(LEN, 61);
    *pa_gc_tls_lib_slot() = make_list(LEN, 62);
}

static void test_tls_roots(void **state)
{
    (void)state;
    /* The main thread's TLS while it is stopped. */
    fill_main_tls();
    pa_clear_stack();
    pthread_t t;
    assert_int_equal(pa_gc_pthread_create(&t, NULL, collector, NULL), 0);
    assert_int_equal(pa_gc_pthread_join(t, NULL), 0);
    assert_true(list_intact(tls_slot, LEN, 61));
    assert_true(list_intact(*pa_gc_tls_lib_slot(), LEN, 62));
    /* The collecting thread's own TLS. */
    collect_churn(4);
    assert_true(list_intact(tls_slot, LEN, 61));
    assert_true(list_intact(*pa_gc_tls_lib_slot(), LEN, 62));
    tls_slot = NULL;
    *pa_gc_tls_lib_slot() = NULL;
    /* A created thread's TLS while the main thread collects. */
    atomic_store(&tls_stage, 0);
    assert_int_equal(pa_gc_pthread_create(&t, NULL, tls_holder, NULL), 0);
    while (atomic_load(&tls_stage) != 1)
        sched_yield();
    collect_churn(4);
    atomic_store(&tls_stage, 2);
    assert_int_equal(pa_gc_pthread_join(t, NULL), 0);
    assert_true(atomic_load(&tls_ok));
    pa_expect_gc_ok();
}

/* A library loaded after the threads registered: its TLS block is made on
 * first use (dynamic TLS); the collecting thread's own is scanned. */
static void test_dynamic_tls_collecting_thread(void **state)
{
    (void)state;
#ifdef PA_GC_TEST_SO_PATH
    void *h = dlopen(PA_GC_TEST_SO_PATH, RTLD_NOW);
    assert_non_null(h);
    void **(*slot)(void) = (void **(*)(void))dlsym(h, "pa_gc_test_tls_slot");
    assert_non_null(slot);
    *slot() = make_list(LEN, 81);
    collect_churn(4);
    assert_true(list_intact(*slot(), LEN, 81));
    *slot() = NULL;
    pa_expect_gc_ok();
#else
    PA_SKIP("no test library (PA_GC_TEST_SO_PATH at build time)");
#endif
}

/* ---- signal alternate stack ------------------------------------------ */

static atomic_int alt_stage;
static atomic_int alt_ok_a, alt_ok_b;
static pa_gc_hidden_ptr alt_give;

static void alt_handler(int sig)
{
    (void)sig;
    node *volatile b = PA_GC_REVEAL(alt_give);   /* only here, on the signal stack */
    alt_give = 0;
    atomic_store(&alt_stage, 1);
    while (atomic_load(&alt_stage) != 2)
        sched_yield();
    atomic_store(&alt_ok_b, list_intact(b, LEN, 92));
}

static __attribute__((noinline)) void give_b(void)
{
    alt_give = PA_GC_HIDE(make_list(LEN, 92));
}

static void *alt_thread(void *arg)
{
    (void)arg;
    size_t size = 256 << 10;
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return NULL;
    stack_t ss = { .ss_sp = mem, .ss_size = size, .ss_flags = 0 }, old;
    struct sigaction sa, olds;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = alt_handler;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaltstack(&ss, &old) != 0 || sigaction(SIGUSR1, &sa, &olds) != 0)
        return NULL;
    node *volatile a = make_list(LEN, 91);          /* only on the normal stack */
    give_b();
    pa_clear_stack();
    pthread_kill(pthread_self(), SIGUSR1);
    atomic_store(&alt_ok_a, list_intact(a, LEN, 91));
    a = NULL;
    sigaction(SIGUSR1, &olds, NULL);
    sigaltstack(&old, NULL);
    munmap(mem, size);
    return (void *)1;
}

static void test_sigaltstack(void **state)
{
    (void)state;
    atomic_store(&alt_stage, 0);
    pthread_t t;
    assert_int_equal(pa_gc_pthread_create(&t, NULL, alt_thread, NULL), 0);
    while (atomic_load(&alt_stage) != 1)
        sched_yield();
    collect_churn(5);
    atomic_store(&alt_stage, 2);
    void *ret = NULL;
    assert_int_equal(pa_gc_pthread_join(t, &ret), 0);
    assert_non_null(ret);
    assert_true(atomic_load(&alt_ok_a));
    assert_true(atomic_load(&alt_ok_b));
    pa_expect_gc_ok();
}

/* A comb: COMB_DEPTH scanned 4 KiB nodes in a chain, each also holding
 * 511 scanned 16-byte leaves. The mark scans a node, pushes its leaves and
 * then the next node, which it takes first: the leaves of every level wait
 * on the work list together, about COMB_DEPTH * 511 ranges (~32 blocks). */
#define COMB_FAN 512
#define COMB_DEPTH 256
static void **comb;

static __attribute__((noinline)) void make_comb(void)
{
    void **next = NULL;
    for (int d = 0; d < COMB_DEPTH; d++) {
        void **n = pa_gc_malloc(COMB_FAN * sizeof(void *));
        assert_non_null(n);
        for (int i = 0; i < COMB_FAN - 1; i++) {
            uint64_t *leaf = pa_gc_malloc(16);
            assert_non_null(leaf);
            leaf[1] = (uint64_t)d * COMB_FAN + (uint64_t)i;
            n[i] = leaf;
        }
        n[COMB_FAN - 1] = next;
        next = n;
    }
    comb = next;
}

static int comb_ok(void)
{
    int d = COMB_DEPTH - 1;
    for (void **n = comb; n; n = n[COMB_FAN - 1], d--)
        for (int i = 0; i < COMB_FAN - 1; i++)
            if (((uint64_t *)n[i])[1] != (uint64_t)d * COMB_FAN + (uint64_t)i)
                return 0;
    return d == -1;
}

/* 0 idle; 1 the collection is about to stop the world and asks the holder
 * to take the OS layer's lock; 2 it holds it; 3 the world restarted. */
static atomic_int os_hold;

static void *os_lock_holder(void *arg)
{
    (void)arg;
    while (atomic_load(&os_hold) != 1)
        sched_yield();
    sm_reg_lock();
    atomic_store(&os_hold, 2);
    while (atomic_load(&os_hold) != 3)
        ;                                   /* stopped here, holding it */
    sm_reg_unlock();
    return NULL;
}

static void os_hold_events(pa_gc_event ev, void *arg)
{
    (void)arg;
    if (ev == PA_GC_EVENT_WORLD_STOPPING && atomic_load(&os_hold) == 0) {
        atomic_store(&os_hold, 1);
        while (atomic_load(&os_hold) != 2)
            ;
    } else if (ev == PA_GC_EVENT_WORLD_RESTARTED && atomic_load(&os_hold) == 2) {
        atomic_store(&os_hold, 3);
    }
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_gc_world: a collection hung with a stopped thread holding "
                              "the OS layer's lock\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(1);
}

static void test_stop_while_os_lock_held(void **state)
{
    (void)state;
    make_comb();
    pthread_t t;
    atomic_store(&os_hold, 0);
    assert_int_equal(pa_gc_pthread_create(&t, NULL, os_lock_holder, NULL), 0);
    pa_gc_set_event_handler(os_hold_events, NULL);
    signal(SIGALRM, on_alarm);
    alarm(120);
    pa_clear_stack();
    pa_gc_collect();
    alarm(0);
    pa_gc_set_event_handler(NULL, NULL);
    assert_int_equal(atomic_load(&os_hold), 3);
    assert_int_equal(pa_gc_pthread_join(t, NULL), 0);
    assert_true(comb_ok());
    pa_gc_collect();                        /* again, with the pool grown */
    assert_true(comb_ok());
    comb = NULL;
}

/* ---- helpers made with the world running ------------------------------ */

/* The process's thread count (field 20 of /proc/self/stat), read with
 * open/read only: it is called with the world stopped. -1 if unreadable. */
static long thread_count(void)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');            /* the command may hold spaces */
    for (int field = 2; p && field < 20; field++)
        p = strchr(p + 1, ' ');
    return p ? strtol(p + 1, NULL, 10) : -1;
}

static long threads_stopped, threads_restarting;

static void count_events(pa_gc_event ev, void *arg)
{
    (void)arg;
    if (ev == PA_GC_EVENT_WORLD_STOPPED)
        threads_stopped = thread_count();
    else if (ev == PA_GC_EVENT_WORLD_RESTARTING)
        threads_restarting = thread_count();
}

static void test_helpers_made_before_stop(void **state)
{
    (void)state;
    long t0 = thread_count();
    if (t0 < 0)
        PA_SKIP("/proc/self/stat is not readable");
    pa_gc_set_event_handler(count_events, NULL);
    for (unsigned m = 3; m <= 6; m++) {
        assert_int_equal(pa_gc_set_markers(m), 0);
        threads_stopped = threads_restarting = -1;
        pa_gc_collect();
        assert_true(threads_stopped > 0);
        /* A helper made in the pause would show here (threads may only
         * end meanwhile: a detached one finishing its exit). */
        assert_true(threads_restarting <= threads_stopped);
    }
    pa_gc_set_event_handler(NULL, NULL);
    pa_gc_stats st;
    assert_int_equal(pa_gc_get_stats(&st), 0);
    assert_int_equal(st.markers, 6);                /* the helpers did come */
    assert_int_equal(pa_gc_set_markers(2), 0);
}

int main(void)
{
    pa_gc_options o = { .check_heap = 1, .markers = 2 };
    assert_int_equal(pa_gc_init(&o), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_result_is_root),
        cmocka_unit_test(test_detached_result_dropped),
        cmocka_unit_test(test_tls_roots),
        cmocka_unit_test(test_dynamic_tls_collecting_thread),
        cmocka_unit_test(test_sigaltstack),
        cmocka_unit_test(test_stop_while_os_lock_held),
        cmocka_unit_test(test_helpers_made_before_stop),
    };
    return pa_test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
