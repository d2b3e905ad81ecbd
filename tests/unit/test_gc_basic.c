/*
 * test_gc_basic.c - the collector's reachability rules and object calls
 * (include/pagealloc/gc.h): objects reached only from a stack, a register,
 * a global, a dlopen'd library's global, an added root, an interior
 * pointer or an uncollectable object survive many collections intact;
 * unreachable, hidden and atomic-only-referenced objects are reclaimed; a
 * long churn keeps the heap bounded; fork; the full heap check after each
 * test.
 *
 * Reclamation is observed through pa_gc_base on a hidden pointer after
 * pa_gc_collect (which finishes the sweep): a reclaimed object is no
 * allocated object any more. Conservative scanning may keep an odd object
 * through a stale stack word, so "reclaimed" asserts count a batch of
 * objects and allow a few to stay.
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
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pa_clear_stack.h"
#include "pa_skip.h"
#include "pagealloc/gc.h"
#include "pa_heap_expect.h"

#define BATCH 64

static void *global_slot;
static pa_gc_hidden_ptr hidden[BATCH];

static void collect(void)
{
    pa_clear_stack();
    pa_gc_collect();
}

static void fill(void *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)p)[i] = (unsigned char)(seed + i * 7);
}

static int intact(const void *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != (unsigned char)(seed + i * 7))
            return 0;
    return 1;
}

/* Make BATCH scanned objects reachable only through hidden[] (no
 * collection meanwhile, so no address of the batch is reused in it). */
static __attribute__((noinline)) void make_hidden(size_t size)
{
    pa_gc_disable();
    for (int i = 0; i < BATCH; i++) {
        void *p = pa_gc_malloc(size);
        assert_non_null(p);
        hidden[i] = PA_GC_HIDE(p);
    }
    pa_gc_enable();
}

static int count_alive(void)
{
    int n = 0;
    for (int i = 0; i < BATCH; i++)
        n += pa_gc_base(PA_GC_REVEAL(hidden[i])) != NULL;
    return n;
}

static void test_kinds(void **state)
{
    (void)state;
    char *p = pa_gc_malloc(100);
    assert_non_null(p);
    for (int i = 0; i < 100; i++)
        assert_int_equal(p[i], 0);
    assert_true(pa_gc_is_heap_ptr(p));
    assert_ptr_equal(pa_gc_base(p + 57), p);
    assert_true(pa_gc_size(p) >= 100);
    assert_int_equal(pa_gc_size(p + 1), 0);
    void *big = pa_gc_malloc_atomic(100000);
    assert_non_null(big);
    assert_ptr_equal(pa_gc_base((char *)big + 99999), big);
    assert_true(pa_gc_size(big) >= 100000);
    void *a = pa_gc_memalign(256, 300);
    assert_non_null(a);
    assert_int_equal((uintptr_t)a % 256, 0);
    char *s = pa_gc_strdup("hello");
    assert_string_equal(s, "hello");
    fill(p, 100, 3);
    char *q = pa_gc_realloc(p, 5000);
    assert_non_null(q);
    assert_true(intact(q, 100, 3));
    for (int i = 100; i < 5000; i++)
        assert_int_equal(q[i], 0);
    assert_null(pa_gc_base(p));                     /* the old object went */
    assert_null(pa_gc_realloc(q, 0));
    int x;
    assert_false(pa_gc_is_heap_ptr(&x));
    assert_null(pa_gc_base(&x));
    pa_gc_free(big);
    pa_gc_free(a);
    pa_gc_free(s);
    pa_gc_free(NULL);
    pa_expect_gc_ok();
}

static __attribute__((noinline)) void *make_list(int n, unsigned seed)
{
    void **head = NULL;
    for (int i = 0; i < n; i++) {
        void **node = pa_gc_malloc(64);
        assert_non_null(node);
        fill(node + 1, 64 - sizeof(void *), seed + (unsigned)i);
        node[0] = head;
        head = node;
    }
    return head;
}

static int list_intact(void **head, int n, unsigned seed)
{
    for (int i = n - 1; i >= 0; i--) {
        if (!head || !intact(head + 1, 64 - sizeof(void *), seed + (unsigned)i))
            return 0;
        head = head[0];
    }
    return head == NULL;
}

static __attribute__((noinline)) void churn(size_t bytes)
{
    for (size_t done = 0; done < bytes; done += 256)
        assert_non_null(pa_gc_malloc(256));
}

static void test_stack_and_global(void **state)
{
    (void)state;
    void *volatile on_stack = make_list(1000, 11);
    global_slot = make_list(1000, 22);
    for (int k = 0; k < 10; k++) {
        churn((size_t)1 << 20);
        collect();
        assert_true(list_intact(on_stack, 1000, 11));
        assert_true(list_intact(global_slot, 1000, 22));
    }
    global_slot = NULL;
    on_stack = NULL;
    pa_expect_gc_ok();
}

static void test_unreachable_and_hidden(void **state)
{
    (void)state;
    make_hidden(48);
    collect();
    assert_true(count_alive() <= 2);
    make_hidden(100000);                         /* large objects */
    collect();
    assert_true(count_alive() <= 2);
    pa_expect_gc_ok();
}

static void test_added_roots_and_interior(void **state)
{
    (void)state;
    void **area = malloc(BATCH * sizeof(void *));   /* libc memory: not scanned */
    assert_non_null(area);
    make_hidden(32);
    for (int i = 0; i < BATCH; i++)
        area[i] = (char *)PA_GC_REVEAL(hidden[i]) + 17;   /* interior */
    assert_int_equal(pa_gc_add_roots(area, area + BATCH), 0);
    for (int k = 0; k < 5; k++) {
        collect();
        assert_int_equal(count_alive(), BATCH);
    }
    pa_gc_set_interior_pointers(0);
    collect();
    assert_true(count_alive() <= 2);
    pa_gc_set_interior_pointers(1);
    /* Base pointers keep objects with interior pointers off. */
    make_hidden(32);
    for (int i = 0; i < BATCH; i++)
        area[i] = PA_GC_REVEAL(hidden[i]);
    pa_gc_set_interior_pointers(0);
    collect();
    assert_int_equal(count_alive(), BATCH);
    pa_gc_set_interior_pointers(1);
    assert_int_equal(pa_gc_remove_roots(area, area + BATCH), 0);
    collect();
    assert_true(count_alive() <= 2);
    free(area);
    pa_expect_gc_ok();
}

static void test_uncollectable_and_atomic(void **state)
{
    (void)state;
    void **u = pa_gc_malloc_uncollectable(sizeof(void *) * BATCH);
    assert_non_null(u);
    pa_gc_hidden_ptr hu = PA_GC_HIDE(u);
    make_hidden(80);
    for (int i = 0; i < BATCH; i++)
        u[i] = PA_GC_REVEAL(hidden[i]);
    u = NULL;
    for (int k = 0; k < 5; k++) {
        collect();
        assert_int_equal(count_alive(), BATCH);
    }
    /* Pointers kept only in an atomic object do not count. */
    void **at = pa_gc_malloc_atomic(sizeof(void *) * BATCH);
    assert_non_null(at);
    memcpy(at, PA_GC_REVEAL(hu), sizeof(void *) * BATCH);
    pa_gc_free(PA_GC_REVEAL(hu));
    global_slot = at;
    collect();
    assert_non_null(pa_gc_base(at));               /* the atomic object lives */
    assert_true(count_alive() <= 2);
    global_slot = NULL;
    pa_expect_gc_ok();
}

static void *dl_handle;
static void test_shared_library_global(void **state)
{
    (void)state;
#ifdef PA_GC_TEST_SO_PATH
    const char *so = PA_GC_TEST_SO_PATH;         /* the build's test library */
#else
    const char *so = getenv("PA_GC_TEST_SO");
#endif
    if (!so) {
        PA_SKIP("no test library (PA_GC_TEST_SO_PATH at build time, or PA_GC_TEST_SO)");
        return;
    }
    dl_handle = dlopen(so, RTLD_NOW);
    assert_non_null(dl_handle);
    void **slot = dlsym(dl_handle, "pa_gc_test_slot");
    assert_non_null(slot);
    *slot = make_list(500, 33);
    for (int k = 0; k < 5; k++) {
        churn((size_t)1 << 19);
        collect();
        assert_true(list_intact(*slot, 500, 33));
    }
    *slot = NULL;
    pa_expect_gc_ok();
}

#if defined(__x86_64__)
static volatile int reg_go, reg_ready;
static void *reg_thread(void *arg)
{
    pa_gc_hidden_ptr h = *(pa_gc_hidden_ptr *)arg;
    *(pa_gc_hidden_ptr *)arg = 0;
    register uintptr_t r asm("r12") = ~h;          /* revealed only in r12 */
    __asm__ volatile("" : "+r"(r));
    reg_ready = 1;
    while (!reg_go)
        __asm__ volatile("pause" : "+r"(r));
    return (void *)r;
}
#endif

static void test_register_root(void **state)
{
    (void)state;
#if defined(__x86_64__)
    void *p = make_list(100, 44);
    pa_gc_hidden_ptr h = PA_GC_HIDE(p);
    p = NULL;
    pthread_t t;
    assert_int_equal(pa_gc_pthread_create(&t, NULL, reg_thread, &h), 0);
    while (!reg_ready)
        sched_yield();
    for (int k = 0; k < 5; k++) {
        churn((size_t)1 << 19);
        collect();
    }
    reg_go = 1;
    void *back;
    assert_int_equal(pa_gc_pthread_join(t, &back), 0);
    assert_true(list_intact(back, 100, 44));
    pa_expect_gc_ok();
#else
    PA_SKIP("the register test forces a value into r12 (x86-64 only)");
#endif
}

static void test_bounded_churn(void **state)
{
    (void)state;
    global_slot = make_list(16384, 55);           /* ~1 MiB live */
    pa_gc_stats st;
    uint64_t max_heap = 0;
    for (int k = 0; k < 64; k++) {
        churn((size_t)4 << 20);
        pa_gc_get_stats(&st);
        if (st.heap_bytes > max_heap)
            max_heap = st.heap_bytes;
    }
    assert_true(list_intact(global_slot, 16384, 55));
    assert_true(st.collections >= 10);            /* 256 MiB through a small goal */
    assert_true(max_heap < ((uint64_t)48 << 20));
    global_slot = NULL;
    pa_expect_gc_ok();
}

static int nleaked;
static void on_leak(void *obj, size_t size, void *arg)
{
    (void)arg;
    for (int i = 0; i < BATCH; i++)
        if (PA_GC_REVEAL(hidden[i]) == obj && size >= 48)
            nleaked++;
}

/* Leak-finding mode reports unreachable objects (then frees them); the
 * statistics and their JSON follow the cycles. */
static void test_leaks_and_stats(void **state)
{
    (void)state;
    pa_gc_stats a, b;
    assert_int_equal(pa_gc_get_stats(&a), 0);
    assert_int_equal(a.version, PA_GC_STATS_VERSION);
    pa_gc_set_leak_handler(on_leak, NULL);
    pa_gc_set_find_leak(1);
    make_hidden(48);
    collect();
    pa_gc_set_find_leak(0);
    pa_gc_set_leak_handler(NULL, NULL);
    assert_true(nleaked >= BATCH - 2);
    assert_true(count_alive() <= 2);                /* freed after the report */
    assert_int_equal(pa_gc_get_stats(&b), 0);
    assert_true(b.collections == a.collections + 1);
    assert_true(b.forced_collections == a.forced_collections + 1);
    assert_true(b.leaks_found >= a.leaks_found + BATCH - 2);
    assert_true(b.total_allocated >= a.total_allocated + BATCH * 48);
    assert_true(b.pause_total_ns >= a.pause_total_ns && b.pause_max_ns >= b.pause_last_ns);
    char json[2048];
    size_t n = pa_gc_stats_json_buf(json, sizeof json);
    assert_true(n > 0 && n < sizeof json);
    assert_non_null(strstr(json, "\"collections\":"));
    assert_non_null(strstr(json, "\"heap_goal\":"));
    pa_expect_gc_ok();
}

static void test_fork(void **state)
{
    (void)state;
    global_slot = make_list(100, 66);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        churn((size_t)8 << 20);
        pa_gc_collect();
        char msg[256];
        int ok = list_intact(global_slot, 100, 66) && pa_gc_check(msg, sizeof msg) == 0;
        _exit(ok ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    global_slot = NULL;
}

int main(void)
{
    pa_gc_options o = { .check_heap = 1 };
    assert_int_equal(pa_gc_init(&o), 0);
    assert_int_equal(pa_gc_init(&o), EALREADY);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_stack_and_global),
        cmocka_unit_test(test_unreachable_and_hidden),
        cmocka_unit_test(test_added_roots_and_interior),
        cmocka_unit_test(test_uncollectable_and_atomic),
        cmocka_unit_test(test_shared_library_global),
        cmocka_unit_test(test_register_root),
        cmocka_unit_test(test_bounded_churn),
        cmocka_unit_test(test_leaks_and_stats),
        cmocka_unit_test(test_fork),
    };
    return pa_test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
