/*
 * test_stack.c - the stack layer (<pagealloc/stack.h>): sizes, rounding
 * and alignment; guard pages that fault (in a child process); lazy commit
 * and release read from the kernel (mincore, tests/support/sysmem_kview);
 * high-water marks; stacks freed by another thread; bad frees reported;
 * statistics and JSON; the overflow handler's one line and its chaining
 * (forked children that really overflow a stack under ucontext).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "pagealloc/stack.h"
#include "pa_child.h"
#include "pa_json.h"
#include "pa_skip.h"
#include "sysmem_kview.h"
#include "pa_heap_expect.h"

#define PAGE ((size_t)PAGEALLOC_PAGE_SIZE)
#define KiB ((size_t)1 << 10)

/* ---- Reports caught by a test error handler ------------------------------ */

static char last_report[256];
static int reports;

static void catch_report(const char *msg, void *arg)
{
    (void)arg;
    snprintf(last_report, sizeof last_report, "%s", msg);
    reports++;
}

static int setup(void **state)
{
    (void)state;
    pagealloc_set_error_handler(catch_report, NULL);
    reports = 0;
    last_report[0] = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pagealloc_set_error_handler(NULL, NULL);
    return 0;
}

static pa_stack_allocator *new_alloc(void)
{
    pa_stack_allocator *a = pa_stack_allocator_new(NULL);
    assert_non_null(a);
    return a;
}

/* ---- Sizes, rounding, alignment ---------------------------------------------- */

static void test_sizes_and_rounding(void **state)
{
    (void)state;
    pa_stack_allocator *a = new_alloc();
    static const struct { size_t ask, want; } cases[] = {
        { 1, 8 * KiB },           { 8 * KiB, 8 * KiB },    { 8 * KiB + 1, 16 * KiB },
        { 20 * KiB, 32 * KiB },   { 33 * KiB, 64 * KiB },  { 64 * KiB, 64 * KiB },
        { 64 * KiB + 1, 72 * KiB }, { 100 * KiB, 104 * KiB }, { 1024 * KiB, 1024 * KiB },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pa_stack s;
        assert_int_equal(pa_stack_alloc(a, cases[i].ask, &s), 0);
        assert_int_equal(s.size, cases[i].want);
        assert_ptr_equal((char *)s.lo + s.size, s.hi);
        assert_int_equal((uintptr_t)s.lo % PAGE, 0);
        assert_int_equal((uintptr_t)s.sp % 16, 0);
        assert_ptr_equal(s.sp, s.hi);
        assert_ptr_equal((char *)s.guard + PAGE, s.lo);
        assert_true(s.id > 0);
        /* The whole stack is usable; the guard is Reserved. */
        ((volatile char *)s.lo)[0] = 1;
        ((volatile char *)s.hi)[-1] = 1;
        assert_int_equal(sysmem_state_of(s.guard), SYSMEM_RESERVED);
        assert_int_equal(sysmem_state_of(s.lo), SYSMEM_READY);
        pa_stack_free(a, &s);
    }
    pa_stack s;
    assert_int_equal(pa_stack_alloc(a, 0, &s), EINVAL);
    assert_int_equal(pa_stack_alloc(a, ((size_t)1 << 30) + 1, &s), EINVAL);
    assert_int_equal(pa_stack_alloc(NULL, 8 * KiB, &s), EINVAL);
    assert_int_equal(pa_stack_alloc(a, 8 * KiB, NULL), EINVAL);
    assert_int_equal(reports, 0);
    pa_stack_allocator_delete(a);
}

static void test_guard_option(void **state)
{
    (void)state;
    pa_stack_allocator *a = pa_stack_allocator_new(&(pa_stack_options){ .guard_bytes = 20 * KiB });
    assert_non_null(a);
    pa_stack s;
    assert_int_equal(pa_stack_alloc(a, 16 * KiB, &s), 0);
    assert_int_equal((char *)s.lo - (char *)s.guard, 24 * KiB);
    for (char *p = s.guard; p < (char *)s.lo; p += PAGE)
        assert_int_equal(sysmem_state_of(p), SYSMEM_RESERVED);
    pa_stack_free(a, &s);
    pa_stack_allocator_delete(a);
    errno = 0;
    assert_null(pa_stack_allocator_new(&(pa_stack_options){ .guard_bytes = (2u << 20) }));
    assert_int_equal(errno, EINVAL);
}

/* ---- Guard pages fault --------------------------------------------------------- */

static void write_byte(void *p)
{
    *(volatile char *)p = 42;
}

static void test_guard_faults(void **state)
{
    (void)state;
    pa_stack_allocator *a = new_alloc();
    size_t sizes[] = { 8 * KiB, 64 * KiB, 256 * KiB };
    for (size_t i = 0; i < 3; i++) {
        pa_stack s;
        assert_int_equal(pa_stack_alloc(a, sizes[i], &s), 0);
        uintptr_t addr = 0;
        char *below = (char *)s.lo - 1;
        assert_int_equal(pa_run_in_child(write_byte, below, &addr), SIGSEGV);
        assert_int_equal(addr, (uintptr_t)below);
        assert_int_equal(pa_run_in_child(write_byte, s.guard, &addr), SIGSEGV);
        assert_int_equal(addr, (uintptr_t)s.guard);
        assert_int_equal(pa_run_in_child(write_byte, s.lo, &addr), 0);
        pa_stack_free(a, &s);
    }
    /* A pooled stack handed out again still has its guard. */
    pa_stack s;
    assert_int_equal(pa_stack_alloc(a, 8 * KiB, &s), 0);
    uintptr_t addr = 0;
    assert_int_equal(pa_run_in_child(write_byte, (char *)s.lo - 8, &addr), SIGSEGV);
    pa_stack_free(a, &s);
    pa_stack_allocator_delete(a);
}

/* ---- Lazy commit, high water, release ---------------------------------------- */

static void touch_down(const pa_stack *s, size_t depth)
{
    for (size_t off = 1; off <= depth; off += 512)
        ((volatile char *)s->hi)[-(ptrdiff_t)off] = 7;
    ((volatile char *)s->hi)[-(ptrdiff_t)depth] = 7;
}

static void test_lazy_commit_and_high_water(void **state)
{
    (void)state;
    pa_stack_allocator *a = new_alloc();
    pa_stack s;
    assert_int_equal(pa_stack_alloc(a, 64 * KiB, &s), 0);
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    assert_int_equal(sysmem_kv_resident(s.lo, s.size), 0);
    size_t hw = 1;
    assert_int_equal(pa_stack_high_water(a, &s, &hw), 0);
    assert_int_equal(hw, 0);
    touch_down(&s, 4 * KiB);
    assert_int_equal(sysmem_kv_resident(s.lo, s.size), (4 * KiB + ps - 1) / ps);
    assert_int_equal(pa_stack_high_water(a, &s, &hw), 0);
    assert_int_equal(hw, 4 * KiB > ps ? 4 * KiB : ps);
    touch_down(&s, 40 * KiB);
    assert_int_equal(pa_stack_high_water(a, &s, &hw), 0);
    assert_int_equal(hw, (40 * KiB + ps - 1) / ps * ps);
    pa_stack_stats st;
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.resident_bytes, (40 * KiB + ps - 1) / ps * ps);
    /* Not live: EINVAL. */
    pa_stack_free(a, &s);
    assert_int_equal(pa_stack_high_water(a, &s, &hw), EINVAL);
    pa_stack_allocator_delete(a);
}

static void test_release_drops_residency(void **state)
{
    (void)state;
    pa_stack_allocator *a = new_alloc();
    enum { N = 64 };
    static pa_stack s[N];
    size_t sizes[] = { 8 * KiB, 16 * KiB, 32 * KiB, 64 * KiB, 200 * KiB };
    for (int i = 0; i < N; i++) {
        assert_int_equal(pa_stack_alloc(a, sizes[i % 5], &s[i]), 0);
        touch_down(&s[i], s[i].size);
    }
    for (int i = 0; i < N; i++)
        pa_stack_free(a, &s[i]);
    pa_stack_stats st;
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.live, 0);
    assert_true(st.cached + st.pooled > 0);
    assert_true(st.resident_bytes > 0);
    size_t released = pa_stack_release(a);
    assert_true(released > 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(sysmem_kv_resident(s[i].guard, (size_t)((char *)s[i].hi - (char *)s[i].guard)), 0);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.cached, 0);
    assert_int_equal(st.pooled, 0);
    assert_int_equal(st.resident_bytes, 0);
    assert_int_equal(st.guard_bytes, 0);
    assert_int_equal(st.released_bytes, released);
    assert_int_equal(st.heap_allocs, st.heap_frees);
    /* Nothing held: the heap's books agree with the OS's. */
    pa_expect_heap_ok(pa_stack_heap(a));
    pa_stack_allocator_delete(a);
}

/* ---- Caches and pools ---------------------------------------------------------- */

static void test_cache_reuse_and_bounds(void **state)
{
    (void)state;
    pa_stack_allocator *a = pa_stack_allocator_new(&(pa_stack_options){
        .cache_bytes = 4 * 8 * KiB, .pool_bytes = 8 * 8 * KiB });
    assert_non_null(a);
    pa_stack s;
    assert_int_equal(pa_stack_alloc(a, 8 * KiB, &s), 0);
    void *lo = s.lo;
    uint64_t id = s.id;
    pa_stack_free(a, &s);
    assert_int_equal(pa_stack_alloc(a, 8 * KiB, &s), 0);
    assert_ptr_equal(s.lo, lo);              /* LIFO: the warm stack */
    assert_true(s.id != id);
    pa_stack_free(a, &s);
    enum { N = 40 };
    pa_stack v[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(pa_stack_alloc(a, 8 * KiB, &v[i]), 0);
    for (int i = 0; i < N; i++)
        pa_stack_free(a, &v[i]);
    pa_stack_stats st;
    pa_stack_get_stats(a, &st);
    assert_true(st.cached <= 4);
    assert_true(st.pooled <= 8);
    assert_true(st.flushes > 0);
    assert_int_equal(st.heap_allocs - st.heap_frees, st.cached + st.pooled);
    pa_stack_allocator_delete(a);
}

static void test_large_pool(void **state)
{
    (void)state;
    /* A thread's large list holds 16 * cache_bytes = 128 KiB of stacks:
     * none of these, so every free goes to the large pool. */
    pa_stack_allocator *a = pa_stack_allocator_new(
        &(pa_stack_options){ .cache_bytes = 8 * KiB, .pool_bytes = 512 * KiB });
    assert_non_null(a);
    pa_stack s, t, u;
    assert_int_equal(pa_stack_alloc(a, 200 * KiB, &s), 0);
    void *lo = s.lo;
    pa_stack_free(a, &s);
    pa_stack_stats st;
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.pooled, 1);
    assert_int_equal(st.pooled_bytes, 200 * KiB);
    /* Another size does not take it; the same size does. */
    assert_int_equal(pa_stack_alloc(a, 208 * KiB, &t), 0);
    assert_ptr_not_equal(t.lo, lo);
    assert_int_equal(pa_stack_alloc(a, 200 * KiB, &u), 0);
    assert_ptr_equal(u.lo, lo);
    assert_int_equal(sysmem_state_of(u.guard), SYSMEM_RESERVED);
    pa_stack_free(a, &u);
    pa_stack_free(a, &t);
    /* The bound: 512 KiB of large stacks at most. */
    pa_stack v[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pa_stack_alloc(a, 256 * KiB, &v[i]), 0);
    for (int i = 0; i < 4; i++)
        pa_stack_free(a, &v[i]);
    pa_stack_get_stats(a, &st);
    assert_true(st.pooled_bytes <= 512 * KiB);
    assert_int_equal(st.heap_allocs - st.heap_frees, st.pooled + st.cached);
    pa_stack_release(a);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.pooled, 0);
    assert_int_equal(st.heap_allocs, st.heap_frees);
    pa_stack_allocator_delete(a);
}

/* The thread's large list: exact-size hits, the count and byte bounds
 * (oldest evicted to the large pool), stacks over the bound straight to
 * the pool, a remote free cached by the freeing thread and flushed at its
 * exit, release emptying it, a double free of a cached stack reported. */
struct large_free {
    pa_stack_allocator *a;
    pa_stack s;
    pa_stack_stats in_thread;
};

static void *free_large(void *arg)
{
    struct large_free *f = arg;
    pa_stack_free(f->a, &f->s);
    pa_stack_get_stats(f->a, &f->in_thread);
    return NULL;
}

static void test_large_cache(void **state)
{
    (void)state;
    /* cache_bytes 64 KiB: a large list of at most 1 MiB and 4 stacks. */
    pa_stack_allocator *a = pa_stack_allocator_new(
        &(pa_stack_options){ .cache_bytes = 64 * KiB, .pool_bytes = 4096 * KiB });
    assert_non_null(a);
    pa_stack s, t, v[5];
    pa_stack_stats st;
    assert_int_equal(pa_stack_alloc(a, 1024 * KiB, &s), 0);
    memset((char *)s.hi - 4096, 1, 4096);
    void *lo = s.lo;
    pa_stack_free(a, &s);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.cached, 1);
    assert_int_equal(st.cached_bytes, 1024 * KiB);
    assert_int_equal(st.pooled, 0);
    uint64_t runs = st.heap_allocs, flushes = st.flushes;
    /* Hit: the same stack, no heap call, the guard still faulted. */
    assert_int_equal(pa_stack_alloc(a, 1024 * KiB, &s), 0);
    assert_ptr_equal(s.lo, lo);
    assert_int_equal(sysmem_state_of(s.guard), SYSMEM_RESERVED);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.heap_allocs, runs);
    assert_int_equal(st.cached, 0);
    assert_int_equal(st.live, 1);
    pa_stack_free(a, &s);
    pa_stack_free(a, &s);                 /* cached now: a double free */
    assert_int_equal(reports, 1);
    assert_non_null(strstr(last_report, "double free"));
    /* Another size misses; its free makes 1 MiB + 128 KiB: the oldest
     * (the 1 MiB stack) goes to the large pool. */
    assert_int_equal(pa_stack_alloc(a, 128 * KiB, &t), 0);
    assert_ptr_not_equal(t.lo, lo);
    pa_stack_free(a, &t);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.cached, 1);
    assert_int_equal(st.cached_bytes, 128 * KiB);
    assert_int_equal(st.pooled, 1);
    assert_int_equal(st.pooled_bytes, 1024 * KiB);
    assert_true(st.flushes > flushes);
    /* The count bound: 4 stacks; the 5th free evicts the oldest. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(pa_stack_alloc(a, 72 * KiB, &v[i]), 0);
    for (int i = 0; i < 5; i++)
        pa_stack_free(a, &v[i]);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.cached, 4);
    assert_int_equal(st.cached_bytes, 4 * 72 * KiB);
    assert_int_equal(st.pooled, 3);       /* 1 MiB, 128 KiB, v[0] */
    assert_int_equal(st.heap_allocs - st.heap_frees, st.cached + st.pooled);
    /* Over the list's bound: straight to the pool. */
    assert_int_equal(pa_stack_alloc(a, 2048 * KiB, &s), 0);
    pa_stack_free(a, &s);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.cached, 4);
    assert_int_equal(st.pooled, 4);
    /* A remote free: cached by the freeing thread, pooled at its exit. */
    static struct large_free f;
    f.a = a;
    assert_int_equal(pa_stack_alloc(a, 512 * KiB, &f.s), 0);
    lo = f.s.lo;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, free_large, &f), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(f.in_thread.cached, 5);
    assert_int_equal(f.in_thread.cached_bytes, 4 * 72 * KiB + 512 * KiB);
    assert_int_equal(f.in_thread.live, 0);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.threads, 1);
    assert_int_equal(st.cached, 4);
    assert_int_equal(st.pooled, 5);
    assert_int_equal(pa_stack_alloc(a, 512 * KiB, &s), 0);
    assert_ptr_equal(s.lo, lo);           /* from the large pool */
    pa_stack_free(a, &s);
    assert_int_equal(reports, 1);
    /* Release empties the caller's list and the pool. */
    pa_stack_release(a);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.cached, 0);
    assert_int_equal(st.cached_bytes, 0);
    assert_int_equal(st.pooled, 0);
    assert_int_equal(st.heap_allocs, st.heap_frees);
    pa_expect_heap_ok(pa_stack_heap(a));
    /* Delete with stacks on the list. */
    assert_int_equal(pa_stack_alloc(a, 256 * KiB, &s), 0);
    pa_stack_free(a, &s);
    pa_stack_allocator_delete(a);
}

struct handoff {
    pa_stack_allocator *a;
    pa_stack s[256];
    int n;
};

static void *free_all(void *arg)
{
    struct handoff *h = arg;
    for (int i = 0; i < h->n; i++)
        pa_stack_free(h->a, &h->s[i]);
    return NULL;
}

static void *alloc_all(void *arg)
{
    struct handoff *h = arg;
    for (int i = 0; i < h->n; i++)
        if (pa_stack_alloc(h->a, (size_t)(i % 4 + 1) * 16 * KiB, &h->s[i]) != 0)
            abort();
    return NULL;
}

static void test_free_on_another_thread(void **state)
{
    (void)state;
    static struct handoff h;
    h.a = new_alloc();
    h.n = 256;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, alloc_all, &h), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    pa_stack_stats st;
    pa_stack_get_stats(h.a, &st);
    assert_int_equal(st.live, 256);
    assert_int_equal(st.threads, 0);   /* the allocating thread exited */
    assert_int_equal(pthread_create(&t, NULL, free_all, &h), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    pa_stack_get_stats(h.a, &st);
    assert_int_equal(st.live, 0);
    assert_int_equal(st.live_bytes, 0);
    assert_int_equal(st.allocs, 256);
    assert_int_equal(st.frees, 256);
    assert_int_equal(st.cached, 0);     /* exited: its cache went to the pools */
    assert_int_equal(st.heap_allocs - st.heap_frees, st.pooled);
    assert_int_equal(reports, 0);
    pa_stack_allocator_delete(h.a);
}

/* Another thread's cache is its own: release flags it, and the thread
 * empties it into the pools at its next call. */
static pthread_mutex_t step_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t step_cv = PTHREAD_COND_INITIALIZER;
static int step;

static void wait_step(int want)
{
    pthread_mutex_lock(&step_mu);
    while (step < want)
        pthread_cond_wait(&step_cv, &step_mu);
    pthread_mutex_unlock(&step_mu);
}

static void set_step(int v)
{
    pthread_mutex_lock(&step_mu);
    step = v;
    pthread_cond_broadcast(&step_cv);
    pthread_mutex_unlock(&step_mu);
}

static void *cache_owner(void *arg)
{
    pa_stack_allocator *a = arg;
    pa_stack s[4];
    for (int i = 0; i < 4; i++)
        if (pa_stack_alloc(a, 16 * KiB, &s[i]) != 0)
            abort();
    for (int i = 0; i < 4; i++)
        pa_stack_free(a, &s[i]);
    set_step(1);
    wait_step(2);
    pa_stack t;                       /* the next call honours the request */
    if (pa_stack_alloc(a, 8 * KiB, &t) != 0)
        abort();
    pa_stack_free(a, &t);
    set_step(3);
    wait_step(4);
    return NULL;
}

/* Another thread's large list: flagged by release, flushed to the large
 * pool at its next call. */
static void *large_owner(void *arg)
{
    pa_stack_allocator *a = arg;
    pa_stack s, t;
    if (pa_stack_alloc(a, 256 * KiB, &s) != 0)
        abort();
    pa_stack_free(a, &s);
    set_step(1);
    wait_step(2);
    if (pa_stack_alloc(a, 8 * KiB, &t) != 0)
        abort();
    pa_stack_free(a, &t);
    set_step(3);
    wait_step(4);
    return NULL;
}

static void test_release_flags_large_lists(void **state)
{
    (void)state;
    pa_stack_allocator *a = new_alloc();
    step = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, large_owner, a), 0);
    wait_step(1);
    pa_stack_stats st;
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.cached, 1);
    assert_int_equal(st.cached_bytes, 256 * KiB);
    pa_stack_release(a);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.cached_bytes, 256 * KiB);
    set_step(2);
    wait_step(3);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.cached, 1);   /* the 8 KiB one */
    assert_int_equal(st.cached_bytes, 8 * KiB);
    assert_int_equal(st.pooled, 1);
    assert_int_equal(st.pooled_bytes, 256 * KiB);
    pa_stack_release(a);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.pooled, 0);
    set_step(4);
    assert_int_equal(pthread_join(t, NULL), 0);
    pa_stack_allocator_delete(a);
}

static void test_release_flags_other_caches(void **state)
{
    (void)state;
    pa_stack_allocator *a = new_alloc();
    step = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cache_owner, a), 0);
    wait_step(1);
    pa_stack_stats st;
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.cached, 4);
    pa_stack_release(a);              /* not ours: flagged, still cached */
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.cached, 4);
    set_step(2);
    wait_step(3);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.cached, 1);   /* flushed; then the 8 KiB one freed */
    assert_int_equal(st.pooled, 4);
    pa_stack_release(a);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.pooled, 0);
    assert_int_equal(st.heap_allocs - st.heap_frees, 1);
    set_step(4);
    assert_int_equal(pthread_join(t, NULL), 0);
    pa_stack_allocator_delete(a);
}

/* ---- Bad frees ------------------------------------------------------------------- */

static void test_bad_frees_reported(void **state)
{
    (void)state;
    pa_stack_allocator *a = new_alloc(), *b = new_alloc();
    pa_stack s, t;
    assert_int_equal(pa_stack_alloc(a, 16 * KiB, &s), 0);
    assert_int_equal(pa_stack_alloc(b, 16 * KiB, &t), 0);

    pa_stack forged = s;
    forged.lo = (char *)s.lo + PAGE;
    pa_stack_free(a, &forged);
    assert_int_equal(reports, 1);
    assert_non_null(strstr(last_report, "pa_stack_free("));
    assert_non_null(strstr(last_report, "not a stack of this allocator"));
    assert_null(strchr(last_report, '\n'));

    forged = s;
    forged.hi = (char *)s.hi + PAGE;
    pa_stack_free(a, &forged);
    assert_int_equal(reports, 2);

    static char not_ours[64];
    forged.lo = not_ours;
    forged.hi = not_ours + 64;
    pa_stack_free(a, &forged);
    assert_int_equal(reports, 3);

    pa_stack_free(a, &t);
    assert_int_equal(reports, 4);
    assert_non_null(strstr(last_report, "another allocator"));

    pa_stack_free(a, NULL);
    assert_int_equal(reports, 5);
    pa_stack_free((pa_stack_allocator *)not_ours, &s);
    assert_int_equal(reports, 6);
    assert_non_null(strstr(last_report, "not a live stack allocator"));

    /* Nothing changed: s is still live and usable. */
    pa_stack_stats st;
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.live, 1);
    ((volatile char *)s.lo)[0] = 1;

    pa_stack_free(a, &s);
    assert_int_equal(reports, 6);
    pa_stack_free(a, &s);
    assert_int_equal(reports, 7);
    assert_non_null(strstr(last_report, "double free"));
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.live, 0);
    assert_int_equal(st.frees, 1);

    pa_stack_free(b, &t);
    pa_stack_allocator_delete(a);
    pa_stack_allocator_delete(b);
}

/* ---- Statistics ------------------------------------------------------------------ */

static void test_stats_and_json(void **state)
{
    (void)state;
    pa_stack_allocator *a = new_alloc();
    pa_stack s[6];
    size_t want_bytes = 0;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(pa_stack_alloc(a, (size_t)(i + 1) * 20 * KiB, &s[i]), 0);
        want_bytes += s[i].size;
    }
    pa_stack_stats st;
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.version, PA_STACK_STATS_VERSION);
    assert_int_equal(st.threads, 1);
    assert_int_equal(st.live, 6);
    assert_int_equal(st.live_bytes, want_bytes);
    assert_int_equal(st.allocs, 6);
    assert_int_equal(st.heap_allocs, 6);
    assert_int_equal(st.guard_bytes, 6 * PAGE);
    assert_int_equal(st.resident_bytes, 0);
    char buf[8192];
    size_t n = pa_stack_stats_json_buf(a, buf, sizeof buf);
    assert_true(n > 0 && n < sizeof buf);
    assert_non_null(strstr(buf, "\"live\": 6,"));
    assert_true(pa_json_valid(buf, NULL));
    assert_null(strstr(buf, "\"heap\""));       /* the heap's JSON holds ours, not the reverse */
    assert_int_equal(buf[n - 1], '\n');
    char small[16];
    assert_int_equal(pa_stack_stats_json_buf(a, small, sizeof small), n);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(pa_stack_stats_json(a, f), 0);
    assert_int_equal((size_t)ftell(f), n);
    fclose(f);
    for (int i = 0; i < 6; i++)
        pa_stack_free(a, &s[i]);
    pa_stack_get_stats(a, &st);
    assert_int_equal(st.live, 0);
    assert_int_equal(st.frees, 6);
    /* Whatever is not cached or pooled went back to the heap. */
    assert_int_equal(st.heap_allocs - st.heap_frees, st.cached + st.pooled);
    assert_int_equal(st.guard_bytes, (st.cached + st.pooled) * PAGE);
    pa_stack_get_stats(NULL, &st);
    assert_int_equal(st.version, 0);
    pa_stack_allocator_delete(a);
}

/* A shared heap: the heap is the user's and survives the allocator. */
static void test_shared_heap(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    pa_stack_allocator *a = pa_stack_allocator_new(&(pa_stack_options){ .heap = h });
    assert_non_null(a);
    assert_ptr_equal(pa_stack_heap(a), h);
    pa_stack s;
    assert_int_equal(pa_stack_alloc(a, 32 * KiB, &s), 0);
    pageheap_stats hs;
    pageheap_get_stats(h, &hs);
    assert_int_equal(hs.in_use_bytes, 32 * KiB + PAGE);
    pa_stack_allocator_delete(a);   /* live stacks go back too */
    pageheap_get_stats(h, &hs);
    assert_int_equal(hs.in_use_bytes, 0);
    pa_expect_heap_ok(h);
    char msg[256];
    assert_int_equal(sysmem_check(msg, sizeof msg), 0);
    pageheap_delete(h);
}

/* The number of member key in section sec ("stacks") of a heap's JSON;
 * fails if the section or the member is missing. */
static uint64_t section_number(const char *json, const char *sec, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": {", sec);
    const char *at = strstr(json, pat);
    if (!at)
        fail_msg("no section %s in:\n%s", sec, json);
    const char *end = strchr(at, '}');
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *v = strstr(at, pat);
    if (!v || v > end)
        fail_msg("no member %s in section %s of:\n%s", key, sec, json);
    return strtoull(v + strlen(pat), NULL, 10);
}

/* The heap's JSON as text (valid JSON asserted). */
static void heap_json(pageheap *h, char *buf, size_t size)
{
    size_t n = pageheap_stats_json_buf(h, buf, size);
    assert_true(n < size);
    size_t off = 0;
    if (!pa_json_valid(buf, &off))
        fail_msg("not JSON at %zu:\n%s", off, buf);
}

/* A heap shared by stack allocators carries their statistics: "stacks",
 * then "stacks_1" for a second allocator; the figures move as stacks are
 * allocated, touched, freed and released; each section goes with its
 * allocator. */
static void test_stats_in_heap_json(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    pa_stack_allocator *a = pa_stack_allocator_new(&(pa_stack_options){ .heap = h });
    assert_non_null(a);
    static char js[16384];
    heap_json(h, js, sizeof js);
    assert_int_equal(section_number(js, "stacks", "version"), PA_STACK_STATS_VERSION);
    assert_int_equal(section_number(js, "stacks", "live"), 0);
    assert_null(strstr(js, "\"stacks_1\""));

    pa_stack s[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pa_stack_alloc(a, 64 * KiB, &s[i]), 0);
        memset((char *)s[i].hi - 16 * KiB, 0x5a, 16 * KiB);
    }
    heap_json(h, js, sizeof js);
    assert_int_equal(section_number(js, "stacks", "live"), 3);
    assert_int_equal(section_number(js, "stacks", "live_bytes"), 3 * 64 * KiB);
    assert_int_equal(section_number(js, "stacks", "cached"), 0);
    uint64_t resident = section_number(js, "stacks", "resident_bytes");
    size_t hw;
    int has_resident = pa_stack_high_water(a, &s[0], &hw) == 0;   /* else ENOSYS */
    if (has_resident) {
        assert_true(resident >= 3 * 16 * KiB);
        assert_true(resident <= 3 * 64 * KiB);
    }
    /* The heap's own members are there too, and see the runs in use. */
    assert_non_null(strstr(js, "\"in_use_bytes\": "));

    pa_stack_free(a, &s[1]);
    pa_stack_free(a, &s[2]);
    heap_json(h, js, sizeof js);
    assert_int_equal(section_number(js, "stacks", "live"), 1);
    assert_int_equal(section_number(js, "stacks", "cached"), 2);
    assert_int_equal(section_number(js, "stacks", "cached_bytes"), 2 * 64 * KiB);
    if (has_resident)
        assert_int_equal(section_number(js, "stacks", "resident_bytes"), resident);
    assert_int_equal(section_number(js, "stacks", "released_bytes"), 0);

    /* A second allocator on the same heap gets the next name. */
    pa_stack_allocator *b = pa_stack_allocator_new(&(pa_stack_options){ .heap = h });
    assert_non_null(b);
    pa_stack t;
    assert_int_equal(pa_stack_alloc(b, 16 * KiB, &t), 0);
    heap_json(h, js, sizeof js);
    assert_int_equal(section_number(js, "stacks_1", "live"), 1);
    assert_int_equal(section_number(js, "stacks", "live"), 1);
    assert_true(strstr(js, "\"stacks\": {") < strstr(js, "\"stacks_1\": {"));

    size_t released = pa_stack_release(a);
    assert_true(released > 0);
    heap_json(h, js, sizeof js);
    assert_int_equal(section_number(js, "stacks", "cached"), 0);
    assert_int_equal(section_number(js, "stacks", "pooled"), 0);
    assert_int_equal(section_number(js, "stacks", "released_bytes"), released);
    if (has_resident) {
        /* Only the live stack keeps pages. */
        uint64_t r = section_number(js, "stacks", "resident_bytes");
        assert_true(r >= 16 * KiB && r <= 64 * KiB);
    }

    pa_stack_free(a, &s[0]);
    pa_stack_allocator_delete(a);
    heap_json(h, js, sizeof js);
    assert_null(strstr(js, "\"stacks\": {"));
    assert_int_equal(section_number(js, "stacks_1", "live"), 1);
    /* A new allocator takes the free name again. */
    a = pa_stack_allocator_new(&(pa_stack_options){ .heap = h });
    assert_non_null(a);
    heap_json(h, js, sizeof js);
    assert_int_equal(section_number(js, "stacks", "live"), 0);
    pa_stack_allocator_delete(a);
    pa_stack_free(b, &t);
    pa_stack_allocator_delete(b);
    heap_json(h, js, sizeof js);
    assert_null(strstr(js, "\"stacks"));
    pa_expect_heap_ok(h);
    pageheap_delete(h);

    /* An allocator with its own heap attaches to it as well. */
    a = new_alloc();
    heap_json(pa_stack_heap(a), js, sizeof js);
    assert_int_equal(section_number(js, "stacks", "live"), 0);
    pa_stack_allocator_delete(a);
}

/* ---- Fork ------------------------------------------------------------------------ */

typedef struct fork_worker {
    pa_stack_allocator *a;
    _Atomic int stop;
    _Atomic unsigned long rounds;
} fork_worker;

/* Allocates, touches and frees stacks of every kind until told to stop,
 * releasing now and then: at any fork it may be inside any of it. */
static void *fork_work(void *arg)
{
    fork_worker *w = arg;
    static const size_t sizes[] = { 16 * KiB, 64 * KiB, 8 * KiB, 256 * KiB, 32 * KiB };
    pa_stack held[4];
    unsigned n = 0;
    for (unsigned long r = 0; !atomic_load(&w->stop); r++) {
        size_t size = sizes[r % 5];
        if (n < 4 && pa_stack_alloc(w->a, size, &held[n]) == 0) {
            memset((char *)held[n].hi - 128, 1, 128);
            n++;
        }
        if (n == 4 || r % 3 == 0) {
            while (n)
                pa_stack_free(w->a, &held[--n]);
        }
        if (r % 97 == 0)
            pa_stack_release(w->a);
        atomic_store(&w->rounds, r + 1);
    }
    while (n)
        pa_stack_free(w->a, &held[--n]);
    return NULL;
}

/* In the child: stacks of every kind work, release returns them, and the
 * heap and the OS layer check clean once the allocator is deleted. Exit
 * status: 0, or the number of the step that failed. */
static void fork_child_run(pageheap *h, pa_stack_allocator *a)
{
    alarm(60);                               /* a deadlock ends as SIGALRM */
    pa_stack_stats before, st;
    pa_stack_get_stats(a, &before);
    pa_stack s[40];
    for (int i = 0; i < 40; i++) {
        if (pa_stack_alloc(a, (size_t)(i % 5 + 1) * 24 * KiB, &s[i]) != 0)
            _exit(10);
        memset((char *)s[i].hi - 4 * KiB, 2, 4 * KiB);
    }
    pa_stack_get_stats(a, &st);
    if (st.live != before.live + 40)
        _exit(11);
    for (int i = 0; i < 40; i += 2)
        pa_stack_free(a, &s[i]);
    if (pa_stack_release(a) == 0 && before.live == 0)
        _exit(12);
    for (int i = 1; i < 40; i += 2)
        pa_stack_free(a, &s[i]);
    pa_stack_release(a);
    pa_stack_get_stats(a, &st);
    if (st.live != before.live || st.threads != 1 || st.cached != 0 || st.pooled != 0)
        _exit(13);
    pa_stack_allocator_delete(a);            /* the worker's stacks too */
    char msg[512];
    if (pageheap_check(h, msg, sizeof msg) != 0) {
        fprintf(stderr, "child heap check: %s\n", msg);
        _exit(14);
    }
    pageheap_stats hs;
    pageheap_get_stats(h, &hs);
    if (hs.in_use_bytes != 0)
        _exit(15);
    pageheap_release(h, SIZE_MAX);
    if (sysmem_check(msg, sizeof msg) != 0) {
        fprintf(stderr, "child sysmem check: %s\n", msg);
        _exit(16);
    }
    pageheap_delete(h);
    _exit(0);
}

/* Forks while another thread allocates, frees and releases stacks (and
 * the heap's background scavenger runs): each child allocates, frees and
 * releases stacks, deletes the allocator and passes the heap check. */
static void test_fork_with_threads(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 2, .background_scavenger = 1 });
    assert_non_null(h);
    pa_stack_allocator *a = pa_stack_allocator_new(&(pa_stack_options){ .heap = h });
    assert_non_null(a);
    fork_worker w = { .a = a };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fork_work, &w), 0);
    int forks = getenv("PAGEALLOC_UNDER_VALGRIND") ? 3 : 12;
    for (int i = 0; i < forks; i++) {
        /* Let the worker get going between forks. */
        unsigned long r0 = atomic_load(&w.rounds);
        while (atomic_load(&w.rounds) < r0 + 50)
            sched_yield();
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            fork_child_run(h, a);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("fork %d: child %s %d", i, WIFEXITED(status) ? "exited" : "died of signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    atomic_store(&w.stop, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(atomic_load(&w.rounds) > 0);
    pa_stack_release(a);
    pa_stack_allocator_delete(a);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* ---- The overflow handler ----------------------------------------------------- */

static ucontext_t main_ctx, co_ctx;
static volatile int depth_reached;

static volatile int keep_going = 1;

/* Recurses until the guard stops it (keep_going is never cleared). */
static int recurse(int n)
{
    volatile char frame[512];
    frame[0] = (char)n;
    depth_reached = n;
    if (!keep_going)
        return frame[0];
    return recurse(n + 1) + frame[0];
}

static void co_main(void)
{
    recurse(0);
    swapcontext(&co_ctx, &main_ctx);
}

static void prev_handler(int sig)
{
    (void)sig;
    static const char msg[] = "previous handler\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(42);
}

/* Child: stderr into fd; mode 0 overflows a coroutine's stack, mode 1
 * touches a guard directly, mode 2 faults elsewhere (chained to a handler
 * installed before). */
static void child_run(int fd, int mode)
{
    dup2(fd, STDERR_FILENO);
    signal(SIGSEGV, mode == 2 ? prev_handler : SIG_DFL);
    if (pa_stack_overflow_install() != 0)
        _exit(3);
    pa_stack_allocator *a = pa_stack_allocator_new(NULL);
    pa_stack s;
    if (!a || pa_stack_alloc(a, 32 * KiB, &s) != 0)
        _exit(4);
    char line[128];
    int n = snprintf(line, sizeof line, "stack %llu [%p, %p)\n", (unsigned long long)s.id, s.lo,
                     s.hi);
    if (write(STDOUT_FILENO, line, (size_t)n) < 0)
        _exit(5);
    if (mode == 0) {
        getcontext(&co_ctx);
        co_ctx.uc_stack.ss_sp = s.lo;
        co_ctx.uc_stack.ss_size = s.size;
        co_ctx.uc_link = &main_ctx;
        makecontext(&co_ctx, co_main, 0);
        swapcontext(&main_ctx, &co_ctx);
    } else if (mode == 1) {
        ((volatile char *)s.lo)[-100] = 1;
    } else {
        void *p;
        if (sysmem_reserve(NULL, PAGE, &p) != 0)
            _exit(6);
        *(volatile char *)p = 1;
    }
    _exit(0);
}

/* Runs child_run(mode); returns its wait status, its stderr in err and
 * its stdout in out. */
static int run_overflow_child(int mode, char *err, size_t errsize, char *out, size_t outsize)
{
    int pe[2], po[2];
    assert_int_equal(pipe(pe), 0);
    assert_int_equal(pipe(po), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pe[0]);
        close(po[0]);
        dup2(po[1], STDOUT_FILENO);
        child_run(pe[1], mode);
    }
    close(pe[1]);
    close(po[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < errsize && (r = read(pe[0], err + n, errsize - 1 - n)) > 0)
        n += (size_t)r;
    err[n] = 0;
    n = 0;
    while (n + 1 < outsize && (r = read(po[0], out + n, outsize - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(pe[0]);
    close(po[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void expect_overflow_line(int mode)
{
    char err[1024], out[256];
    int st = run_overflow_child(mode, err, sizeof err, out, sizeof out);
    if (WIFEXITED(st))
        fail_msg("child exited %d; stderr: %s", WEXITSTATUS(st), err);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSEGV);
    unsigned long long id;
    void *lo, *hi;
    assert_int_equal(sscanf(out, "stack %llu [%p, %p)", &id, &lo, &hi), 3);
    char want[128];
    snprintf(want, sizeof want, "pagealloc: stack overflow: stack %llu [%p, %p) fault at 0x", id,
             lo, hi);
    char *line = strstr(err, "pagealloc: stack overflow");
    if (!line || strncmp(line, want, strlen(want)) != 0)
        fail_msg("want '%s...', stderr: %s", want, err);
    uintptr_t fault = (uintptr_t)strtoull(line + strlen(want) - 2, NULL, 16);
    assert_true(fault < (uintptr_t)lo && fault >= (uintptr_t)lo - PAGE);
    assert_non_null(strchr(line, '\n'));
    assert_null(strchr(strchr(line, '\n') + 1, 'p'));   /* one line */
}

static void test_overflow_real(void **state)
{
    (void)state;
    expect_overflow_line(0);
}

static void test_overflow_guard_touch(void **state)
{
    (void)state;
    expect_overflow_line(1);
}

static void test_overflow_chains(void **state)
{
    (void)state;
    char err[1024], out[256];
    int st = run_overflow_child(2, err, sizeof err, out, sizeof out);
    assert_true(WIFEXITED(st));
    /* valgrind counts the fault as an error and exits with its own code. */
    if (!sysmem_kv_under_valgrind())
        assert_int_equal(WEXITSTATUS(st), 42);
    assert_non_null(strstr(err, "previous handler"));
    assert_null(strstr(err, "stack overflow"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sizes_and_rounding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_option, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy_commit_and_high_water, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_drops_residency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_reuse_and_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_on_another_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_flags_other_caches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_flags_large_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_frees_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_and_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_heap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_in_heap_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_with_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow_real, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow_guard_touch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow_chains, setup, teardown),
    };
    return PA_RUN_GROUP_TESTS(tests, NULL, NULL);
}
