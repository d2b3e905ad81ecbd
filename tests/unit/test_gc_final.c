/*
 * test_gc_final.c - finalizers and disappearing links (gc.h): the four
 * orderings (ordered chains finalize one link per cycle, no-order at once,
 * ordered self-cycles never, ignore-self ones do; mixed pairs as bdwgc
 * orders them, UNREACHABLE behind a no-order object), the previous finalizer
 * returned, removal, on-demand mode and the pending query, the finalizer
 * thread mode, finalizers run once with their object intact; short links
 * cleared before finalization, long links only after the object is
 * reclaimed; the link calls' codes.
 * Link cells live in libc memory, which the collector does not scan.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pa_clear_stack.h"
#include "pa_skip.h"
#include "pagealloc/gc.h"

static char order[64];                 /* names of finalized objects, in order */
static int nfin;
static void **cells;                   /* libc memory: [0] short link, [1] long link */
static pa_gc_hidden_ptr seen_short, seen_long;   /* the links as the finalizer saw them */
static int contents_ok;
static void *resurrected;
static pa_gc_hidden_ptr hidden_l;

static void collect(void)
{
    pa_clear_stack();
    pa_gc_collect();
    pa_gc_invoke_finalizers();
}

typedef struct node {
    struct node *next;
    char name;
    char pad[23];
} node;

static void record(void *obj, void *arg)
{
    node *n = obj;
    (void)arg;
    order[nfin++] = n->name;
    order[nfin] = 0;
    contents_ok = 1;
    for (int i = 0; i < 23; i++)
        contents_ok &= n->pad[i] == (char)(n->name + i);
}

static node *mk(char name)
{
    node *n = pa_gc_malloc(sizeof *n);
    assert_non_null(n);
    n->name = name;
    for (int i = 0; i < 23; i++)
        n->pad[i] = (char)(name + i);
    return n;
}

static void reset(void)
{
    nfin = 0;
    order[0] = 0;
}

/* Objects are made on a short-lived registered thread, so that no stale
 * copy of their addresses stays in this thread's registers or stack,
 * which a conservative collector would rightly take as a root. */
typedef struct job {
    void (*fn)(int);
    int arg;
} job;

static void *job_main(void *p)
{
    job *j = p;
    j->fn(j->arg);
    return NULL;
}

static void on_thread(void (*fn)(int), int arg)
{
    job j = { fn, arg };
    pthread_t t;
    assert_int_equal(pa_gc_pthread_create(&t, NULL, job_main, &j), 0);
    assert_int_equal(pa_gc_pthread_join(t, NULL), 0);
}

static __attribute__((noinline)) void make_chain(int o)
{
    node *a = mk('A'), *b = mk('B');
    a->next = b;
    assert_int_equal(pa_gc_register_finalizer(a, record, NULL, (pa_gc_finalize_order)o, NULL, NULL), 0);
    assert_int_equal(pa_gc_register_finalizer(b, record, NULL, (pa_gc_finalize_order)o, NULL, NULL), 0);
}

static void test_ordered_chain(void **state)
{
    (void)state;
    reset();
    on_thread(make_chain, PA_GC_ORDERED);
    collect();
    assert_string_equal(order, "A");
    assert_true(contents_ok);
    collect();
    assert_string_equal(order, "AB");
    collect();
    assert_int_equal(nfin, 2);                       /* once each */
}

static void test_no_order(void **state)
{
    (void)state;
    reset();
    on_thread(make_chain, PA_GC_NO_ORDER);
    collect();
    assert_int_equal(nfin, 2);                       /* both in one cycle */
    assert_non_null(strchr(order, 'A'));
    assert_non_null(strchr(order, 'B'));
}

/* Two objects, first -> second, with orders o1 and o2 (packed o1 * 4 + o2)
 * and names 'a' + 2 * o1 and the next letter, e.g. "ab", "cd". */
static __attribute__((noinline)) void make_pair(int orders)
{
    int o1 = orders / 4, o2 = orders % 4;
    node *a = mk((char)('A' + 2 * (o1 * 4 + o2))), *b = mk((char)('A' + 2 * (o1 * 4 + o2) + 1));
    a->next = b;
    assert_int_equal(pa_gc_register_finalizer(a, record, NULL, (pa_gc_finalize_order)o1, NULL, NULL), 0);
    assert_int_equal(pa_gc_register_finalizer(b, record, NULL, (pa_gc_finalize_order)o2, NULL, NULL), 0);
}

static int finalized(char name)
{
    return strchr(order, name) != NULL;
}

/* An object's order says whether its own pointers hold back what it
 * reaches (bdwgc's rules, gc.h): ordered -> no-order finalizes the first
 * only; no-order -> ordered both at once; UNREACHABLE waits behind a
 * no-order object being finalized, and alone runs at once. */
static void test_mixed_orders(void **state)
{
    (void)state;
    static const int pairs[][3] = {
        /* o1, o2, second finalized in the first cycle too */
        { PA_GC_ORDERED, PA_GC_NO_ORDER, 0 },
        { PA_GC_NO_ORDER, PA_GC_ORDERED, 1 },
        { PA_GC_IGNORE_SELF, PA_GC_NO_ORDER, 0 },
        { PA_GC_NO_ORDER, PA_GC_UNREACHABLE, 0 },
        { PA_GC_UNREACHABLE, PA_GC_NO_ORDER, 0 },
        { PA_GC_UNREACHABLE, PA_GC_ORDERED, 0 },
        { PA_GC_NO_ORDER, PA_GC_NO_ORDER, 1 },
    };
    enum { NP = sizeof pairs / sizeof pairs[0] };
    reset();
    for (int k = 0; k < NP; k++)
        on_thread(make_pair, pairs[k][0] * 4 + pairs[k][1]);
    collect();
    for (int k = 0; k < NP; k++) {
        char first = (char)('A' + 2 * (pairs[k][0] * 4 + pairs[k][1]));
        if (!finalized(first) || finalized((char)(first + 1)) != pairs[k][2])
            fail_msg("orders %d -> %d: after one cycle finalized \"%s\"", pairs[k][0],
                     pairs[k][1], order);
    }
    collect();
    assert_int_equal(nfin, 2 * NP);                 /* every second one now */
}

static __attribute__((noinline)) void make_lone_unreachable(int unused)
{
    (void)unused;
    node *a = mk('U');
    assert_int_equal(pa_gc_register_finalizer(a, record, NULL, PA_GC_UNREACHABLE, NULL, NULL), 0);
}

static void test_unreachable_order_alone(void **state)
{
    (void)state;
    reset();
    on_thread(make_lone_unreachable, 0);
    collect();
    assert_string_equal(order, "U");
    assert_true(contents_ok);
    node *x = mk('X');
    assert_int_equal(pa_gc_register_finalizer(x, record, NULL, (pa_gc_finalize_order)4, NULL, NULL),
                     EINVAL);
}

/* PA_GC_FINALIZE_THREAD: the finalizer runs by itself, once, on a thread
 * that is not the collecting one, and may allocate there. */
static atomic_int thread_fins;
static atomic_int thread_fin_elsewhere;
static atomic_int thread_fin_allocated;
static pthread_t collecting_thread;

static void on_fin_thread(void *obj, void *arg)
{
    (void)arg;
    record(obj, NULL);
    atomic_store(&thread_fin_elsewhere, !pthread_equal(pthread_self(), collecting_thread));
    atomic_store(&thread_fin_allocated, pa_gc_malloc(64) != NULL);
    atomic_fetch_add(&thread_fins, 1);
}

static __attribute__((noinline)) void make_for_thread(int unused)
{
    (void)unused;
    node *a = mk('T');
    assert_int_equal(pa_gc_register_finalizer(a, on_fin_thread, NULL, PA_GC_ORDERED, NULL, NULL), 0);
}

static void test_finalizer_thread(void **state)
{
    (void)state;
    reset();
    pa_gc_set_finalize_mode(PA_GC_FINALIZE_THREAD);
    collecting_thread = pthread_self();
    on_thread(make_for_thread, 0);
    pa_clear_stack();
    pa_gc_collect();
    /* Wait for the finalizer thread (a liveness bound, not a timing:
     * about a minute before giving up). */
    for (int i = 0; i < 6000 && atomic_load(&thread_fins) == 0; i++)
        nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    assert_int_equal(atomic_load(&thread_fins), 1);
    assert_true(atomic_load(&thread_fin_elsewhere));
    assert_true(atomic_load(&thread_fin_allocated));
    assert_string_equal(order, "T");
    assert_true(contents_ok);
    pa_clear_stack();
    pa_gc_collect();                                 /* not again */
    pa_gc_collect();
    assert_int_equal(atomic_load(&thread_fins), 1);
    pa_gc_set_finalize_mode(PA_GC_FINALIZE_AUTO);
}

static __attribute__((noinline)) void make_self(int o)
{
    node *a = mk('S');
    a->next = a;
    assert_int_equal(pa_gc_register_finalizer(a, record, NULL, (pa_gc_finalize_order)o, NULL, NULL), 0);
}

static void test_self_cycles(void **state)
{
    (void)state;
    reset();
    on_thread(make_self, PA_GC_ORDERED);
    for (int k = 0; k < 3; k++)
        collect();
    assert_int_equal(nfin, 0);                       /* ordered: never */
    on_thread(make_self, PA_GC_IGNORE_SELF);
    collect();
    assert_string_equal(order, "S");
}

static void other(void *obj, void *arg)
{
    (void)obj;
    (void)arg;
}

static __attribute__((noinline)) void make_replaced(int unused)
{
    (void)unused;
    node *a = mk('R');
    pa_gc_finalizer_fn ofn;
    void *oarg;
    int tag;
    assert_int_equal(pa_gc_register_finalizer(a, other, &tag, PA_GC_ORDERED, &ofn, &oarg), 0);
    assert_null(ofn);
    assert_int_equal(pa_gc_register_finalizer(a, record, NULL, PA_GC_ORDERED, &ofn, &oarg), 0);
    assert_ptr_equal(ofn, other);
    assert_ptr_equal(oarg, &tag);
    node *b = mk('X');
    assert_int_equal(pa_gc_register_finalizer(b, record, NULL, PA_GC_ORDERED, NULL, NULL), 0);
    assert_int_equal(pa_gc_register_finalizer(b, NULL, NULL, PA_GC_ORDERED, &ofn, NULL), 0);
    assert_ptr_equal(ofn, record);                   /* removed */
    int x;
    assert_int_equal(pa_gc_register_finalizer(&x, record, NULL, PA_GC_ORDERED, NULL, NULL),
                     EINVAL);
    assert_int_equal(pa_gc_register_finalizer((char *)a + 1, record, NULL, PA_GC_ORDERED, NULL,
                                              NULL), EINVAL);
}

static void test_replace_remove_demand(void **state)
{
    (void)state;
    reset();
    pa_gc_set_finalize_mode(PA_GC_FINALIZE_ON_DEMAND);
    on_thread(make_replaced, 0);
    pa_clear_stack();
    pa_gc_collect();
    assert_true(pa_gc_finalizers_pending());
    assert_int_equal(nfin, 0);                       /* on demand: not yet */
    assert_int_equal(pa_gc_invoke_finalizers(), 1);
    assert_string_equal(order, "R");
    assert_false(pa_gc_finalizers_pending());
    pa_gc_set_finalize_mode(PA_GC_FINALIZE_AUTO);
}

static void look_at_links(void *obj, void *arg)
{
    (void)obj;
    (void)arg;
    seen_short = PA_GC_HIDE(cells[0]);
    seen_long = PA_GC_HIDE(cells[1]);
    resurrected = obj;                               /* brought back once */
    nfin++;
}

static __attribute__((noinline)) void make_linked(int unused)
{
    (void)unused;
    node *a = mk('L');
    hidden_l = PA_GC_HIDE(a);
    cells[0] = a;
    cells[1] = a;
    assert_int_equal(pa_gc_register_link(&cells[0], a), 0);
    assert_int_equal(pa_gc_register_link(&cells[0], a), EEXIST);
    assert_int_equal(pa_gc_register_long_link(&cells[1], a), 0);
    assert_int_equal(pa_gc_register_finalizer(a, look_at_links, NULL, PA_GC_ORDERED, NULL,
                                              NULL), 0);
}

static void test_links(void **state)
{
    (void)state;
    reset();
    cells = calloc(4, sizeof(void *));
    assert_non_null(cells);
    on_thread(make_linked, 0);
    collect();
    assert_int_equal(nfin, 1);
    assert_true(seen_short == PA_GC_HIDE(NULL));     /* short: cleared before */
    assert_true(seen_long == hidden_l);              /* long: still there */
    assert_true(cells[0] == NULL);
    assert_true(PA_GC_HIDE(cells[1]) == hidden_l);
    resurrected = NULL;                              /* now really unreachable */
    collect();
    assert_null(cells[1]);                           /* reclaimed: cleared */
    assert_int_equal(nfin, 1);                       /* finalizers run once */
    assert_int_equal(pa_gc_unregister_long_link(&cells[1]), ENOENT);

    /* Registration calls. */
    node *b = mk('M');
    cells[2] = b;
    assert_int_equal(pa_gc_register_link(&cells[2], b), 0);
    assert_int_equal(pa_gc_move_link(&cells[2], &cells[3]), 0);
    assert_int_equal(pa_gc_move_link(&cells[2], &cells[3]), ENOENT);
    assert_int_equal(pa_gc_register_link(&cells[2], b), 0);
    assert_int_equal(pa_gc_move_link(&cells[2], &cells[3]), EEXIST);
    assert_int_equal(pa_gc_unregister_link(&cells[2]), 0);
    assert_int_equal(pa_gc_unregister_link(&cells[3]), 0);
    assert_int_equal(pa_gc_unregister_link(&cells[3]), ENOENT);
    assert_int_equal(pa_gc_register_link((void **)((char *)cells + 1), b), EINVAL);
    int x;
    assert_int_equal(pa_gc_register_link(&cells[2], &x), EINVAL);
    free(cells);
    char msg[256];
    assert_int_equal(pa_gc_check(msg, sizeof msg), 0);
}

int main(void)
{
    pa_gc_options o = { .check_heap = 1 };
    assert_int_equal(pa_gc_init(&o), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordered_chain),
        cmocka_unit_test(test_no_order),
        cmocka_unit_test(test_mixed_orders),
        cmocka_unit_test(test_unreachable_order_alone),
        cmocka_unit_test(test_self_cycles),
        cmocka_unit_test(test_replace_remove_demand),
        cmocka_unit_test(test_links),
        cmocka_unit_test(test_finalizer_thread),
    };
    return pa_test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
