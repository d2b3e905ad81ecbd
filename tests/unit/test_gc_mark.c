/*
 * test_gc_mark.c - the mark phase's work list and markers (src/gc/mark.c,
 * markq.c, par.c) through the public API: a list 300000 nodes long;
 * a two-level tree of 512-pointer arrays over nodes with a payload each,
 * whose first scans push more ranges than one work-list block holds; one
 * array of 2^18 pointers to such nodes
 * (a long range split into chunks and shared between markers); a random
 * graph; each with one, two and four markers, and the full heap check
 * after every collection. Interior pointers held in heap objects keep
 * their target when interior pointers are on, and do not when off.
 *
 * "Survives" is checked on the contents: every node carries a value from
 * its position, and a reclaimed node would be reused (zeroed) by the
 * allocations made after the collection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pa_clear_stack.h"
#include "pagealloc/gc.h"
#include "pa_heap_expect.h"

typedef struct node {
    struct node *next;
    uintptr_t value;
} node;

#define MAGIC ((uintptr_t)0x5a5a0000u)
#define FANOUT 512
#define BIG (1u << 18)

static void *root;                       /* the one root of each test */
static const unsigned marker_counts[] = { 1, 2, 4 };

/* Collect, then allocate about as much again, so a reclaimed object of
 * the structure would be handed out again and zeroed. */
static void collect_and_churn(size_t bytes)
{
    pa_clear_stack();
    pa_gc_collect();
    pa_expect_gc_ok();
    for (size_t n = 0; n < bytes; n += 64)
        assert_non_null(pa_gc_malloc(64));
}

static uint64_t live_after_mark(void)
{
    pa_gc_stats st = { .version = PA_GC_STATS_VERSION };
    assert_int_equal(pa_gc_get_stats(&st), 0);
    return st.live_after_mark;
}

static unsigned last_markers(void)
{
    pa_gc_stats st = { .version = PA_GC_STATS_VERSION };
    assert_int_equal(pa_gc_get_stats(&st), 0);
    return st.markers;
}

static __attribute__((noinline)) void make_list(size_t n)
{
    node *head = NULL;
    for (size_t i = n; i-- > 0;) {
        node *x = pa_gc_malloc(sizeof *x);
        assert_non_null(x);
        x->next = head;
        x->value = MAGIC ^ i;
        head = x;
    }
    root = head;
}

static int list_ok(size_t n)
{
    size_t i = 0;
    for (const node *x = root; x; x = x->next, i++)
        if (x->value != (MAGIC ^ i))
            return 0;
    return i == n;
}

static void test_deep_list(void **state)
{
    (void)state;
    const size_t n = 300000;
    make_list(n);
    for (size_t k = 0; k < sizeof marker_counts / sizeof marker_counts[0]; k++) {
        assert_int_equal(pa_gc_set_markers(marker_counts[k]), 0);
        collect_and_churn(n * sizeof(node));
        assert_true(list_ok(n));
        assert_true(live_after_mark() >= n * sizeof(node));
    }
    root = NULL;
}

/* A node whose next is a payload node: marking it must scan it, so a
 * range lost from the work list loses the payload. */
static node *with_payload(uintptr_t v)
{
    node *x = pa_gc_malloc(sizeof *x), *p = pa_gc_malloc(sizeof *p);
    assert_non_null(x);
    assert_non_null(p);
    x->value = v;
    p->value = ~v;
    x->next = p;
    return x;
}

static int payload_ok(const node *x, uintptr_t v)
{
    return x && x->value == v && x->next && x->next->value == ~v && !x->next->next;
}

/* root -> FANOUT arrays -> FANOUT nodes each -> a payload each. */
static __attribute__((noinline)) void make_wide(void)
{
    node ***top = pa_gc_malloc(FANOUT * sizeof *top);
    assert_non_null(top);
    for (size_t i = 0; i < FANOUT; i++) {
        top[i] = pa_gc_malloc(FANOUT * sizeof *top[i]);
        assert_non_null(top[i]);
        for (size_t j = 0; j < FANOUT; j++)
            top[i][j] = with_payload(MAGIC ^ (i * FANOUT + j));
    }
    root = top;
}

static int wide_ok(void)
{
    node ***top = root;
    for (size_t i = 0; i < FANOUT; i++)
        for (size_t j = 0; j < FANOUT; j++)
            if (!payload_ok(top[i][j], MAGIC ^ (i * FANOUT + j)))
                return 0;
    return 1;
}

static void test_wide_tree_overflows_a_block(void **state)
{
    (void)state;
    make_wide();
    size_t bytes = FANOUT * FANOUT * 2 * sizeof(node) + FANOUT * FANOUT * sizeof(void *);
    for (size_t k = 0; k < sizeof marker_counts / sizeof marker_counts[0]; k++) {
        assert_int_equal(pa_gc_set_markers(marker_counts[k]), 0);
        collect_and_churn(bytes);
        assert_true(wide_ok());
        assert_true(live_after_mark() >= bytes);
    }
    root = NULL;
}

static __attribute__((noinline)) void make_big_array(void)
{
    node **a = pa_gc_malloc(BIG * sizeof *a);
    assert_non_null(a);
    for (size_t i = 0; i < BIG; i++)
        a[i] = with_payload(MAGIC ^ i);
    root = a;
}

static void test_big_array_many_markers(void **state)
{
    (void)state;
    make_big_array();
    size_t bytes = (size_t)BIG * (2 * sizeof(node) + sizeof(void *));
    for (size_t k = 0; k < sizeof marker_counts / sizeof marker_counts[0]; k++) {
        assert_int_equal(pa_gc_set_markers(marker_counts[k]), 0);
        collect_and_churn(bytes / 4);
        assert_int_equal(last_markers(), marker_counts[k]);
        node **a = root;
        for (size_t i = 0; i < BIG; i++)
            if (!payload_ok(a[i], MAGIC ^ i))
                fail_msg("array element %zu lost with %u markers", i, marker_counts[k]);
        assert_true(live_after_mark() >= bytes);
    }
    root = NULL;
}

/* n nodes, each with a successor chosen by a fixed pseudo-random walk and
 * a value; every node is reachable from node 0 through `next` chains
 * because the walk is a single cycle (a full-period LCG over n = 2^k). */
static __attribute__((noinline)) void make_graph(size_t n)
{
    node **all = pa_gc_malloc_uncollectable(n * sizeof *all);
    assert_non_null(all);
    for (size_t i = 0; i < n; i++) {
        all[i] = pa_gc_malloc(sizeof(node));
        assert_non_null(all[i]);
    }
    for (size_t i = 0; i < n; i++) {
        size_t j = (i * 1103515245u + 12345u) & (n - 1);
        all[i]->next = all[j];
        all[i]->value = MAGIC ^ i;
    }
    root = all[0];
    pa_gc_free(all);
}

static void test_random_graph(void **state)
{
    (void)state;
    const size_t n = 1u << 18;
    make_graph(n);
    for (size_t k = 0; k < sizeof marker_counts / sizeof marker_counts[0]; k++) {
        assert_int_equal(pa_gc_set_markers(marker_counts[k]), 0);
        collect_and_churn(n * sizeof(node));
        /* Follow the cycle: n steps visit every node once. */
        const node *x = root;
        size_t i = 0;
        for (size_t step = 0; step < n; step++) {
            assert_true(x->value == (MAGIC ^ i));
            i = (i * 1103515245u + 12345u) & (n - 1);
            x = x->next;
        }
        assert_ptr_equal(x, root);
    }
    root = NULL;
}

/* holder (the root) holds interior pointers (base + 8) to targets. */
#define TARGETS 64
static pa_gc_hidden_ptr targets[TARGETS];

static __attribute__((noinline)) void make_interior(void)
{
    char **holder = pa_gc_malloc(TARGETS * sizeof *holder);
    assert_non_null(holder);
    for (int i = 0; i < TARGETS; i++) {
        char *t = pa_gc_malloc(32);
        assert_non_null(t);
        memset(t, 0x33, 32);
        holder[i] = t + 8;
        targets[i] = PA_GC_HIDE(t);
    }
    root = holder;
}

static int targets_alive(void)
{
    int alive = 0;
    for (int i = 0; i < TARGETS; i++) {
        void *t = PA_GC_REVEAL(targets[i]);
        if (pa_gc_base(t) == t)
            alive++;
    }
    return alive;
}

static void test_interior_pointers(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof marker_counts / sizeof marker_counts[0]; k++) {
        assert_int_equal(pa_gc_set_markers(marker_counts[k]), 0);
        pa_gc_set_interior_pointers(1);
        make_interior();
        pa_clear_stack();
        pa_gc_collect();
        pa_expect_gc_ok();
        assert_int_equal(targets_alive(), TARGETS);
        for (int i = 0; i < TARGETS; i++)
            assert_int_equal(((char *)PA_GC_REVEAL(targets[i]))[31], 0x33);

        pa_gc_set_interior_pointers(0);
        pa_clear_stack();
        pa_gc_collect();
        pa_expect_gc_ok();
        /* Conservative scanning may keep an odd target through a stale
         * word; nearly all must go. */
        assert_true(targets_alive() <= TARGETS / 8);
        pa_gc_set_interior_pointers(1);
        root = NULL;
    }
}

int main(void)
{
    pa_gc_options o = { .no_background_sweeper = 1 };
    assert_int_equal(pa_gc_init(&o), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_list),
        cmocka_unit_test(test_wide_tree_overflows_a_block),
        cmocka_unit_test(test_big_array_many_markers),
        cmocka_unit_test(test_random_graph),
        cmocka_unit_test(test_interior_pointers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
