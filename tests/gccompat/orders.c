/*
 * orders.c - finalizable objects of different orders reaching one
 * another. An object's order says whether its own pointers hold back what
 * it reaches: a plain (ordered) one does, whatever the target's order (a
 * no-order target waits too); a no-order one does not (its plain target
 * runs in the same collection). GC_register_finalizer_unreachable (bdwgc's
 * fourth order, for Java-style finalization) orders as plain and also
 * waits while a no-order object being finalized reaches it. Finalizers
 * are run on demand, after each collection; the program prints which ran.
 * The objects are made on a thread that has ended by the first collection,
 * so no stale copy of their addresses on the main stack keeps one (under
 * ASan such copies decided the outcome for either collector).
 */
#define GC_THREADS
#include <gc.h>
#include <pthread.h>

#include "compat.h"
#include "finnode.h"

static __attribute__((noinline)) void build(void)
{
    /* 1 alone: unreachable order, runs at the first collection. */
    struct node *a = node(1, NULL);
    GC_REGISTER_FINALIZER_UNREACHABLE(a, fin, NULL, NULL, NULL);
    /* 2 (no order) -> 3 (unreachable): 2 first, 3 once 2 is gone. */
    struct node *c = node(3, NULL), *b = node(2, c);
    GC_REGISTER_FINALIZER_NO_ORDER(b, fin, NULL, NULL, NULL);
    GC_REGISTER_FINALIZER_UNREACHABLE(c, fin, NULL, NULL, NULL);
    /* 4 (unreachable) -> 5 (no order): 4 first, as a plain one would be. */
    struct node *e = node(5, NULL), *d = node(4, e);
    GC_REGISTER_FINALIZER_UNREACHABLE(d, fin, NULL, NULL, NULL);
    GC_REGISTER_FINALIZER_NO_ORDER(e, fin, NULL, NULL, NULL);
    /* 6 (ordered) -> 7 (unreachable): 6 first, as for two ordered ones. */
    struct node *g = node(7, NULL), *f = node(6, g);
    GC_REGISTER_FINALIZER(f, fin, NULL, NULL, NULL);
    GC_REGISTER_FINALIZER_UNREACHABLE(g, fin, NULL, NULL, NULL);
    /* 8 (unreachable) -> 9 (ordered): 8 first. */
    struct node *i = node(9, NULL), *h = node(8, i);
    GC_REGISTER_FINALIZER_UNREACHABLE(h, fin, NULL, NULL, NULL);
    GC_REGISTER_FINALIZER(i, fin, NULL, NULL, NULL);
    /* 10 (no order) -> 11 (plain, no finalizer) -> 12 (unreachable): the
     * wait holds through objects without finalizers too. */
    struct node *l = node(12, NULL), *k = node(11, l), *j = node(10, k);
    GC_REGISTER_FINALIZER_NO_ORDER(j, fin, NULL, NULL, NULL);
    GC_REGISTER_FINALIZER_UNREACHABLE(l, fin, NULL, NULL, NULL);
    /* 13 (plain) -> 14 (no order): 13 first, 14 a collection later. */
    struct node *n = node(14, NULL), *m = node(13, n);
    GC_REGISTER_FINALIZER(m, fin, NULL, NULL, NULL);
    GC_REGISTER_FINALIZER_NO_ORDER(n, fin, NULL, NULL, NULL);
    /* 15 (no order) -> 16 (plain): both in the same collection. */
    struct node *p = node(16, NULL), *o = node(15, p);
    GC_REGISTER_FINALIZER_NO_ORDER(o, fin, NULL, NULL, NULL);
    GC_REGISTER_FINALIZER(p, fin, NULL, NULL, NULL);
}

static void *build_thread(void *arg)
{
    (void)arg;
    build();
    return NULL;
}

int main(void)
{
    GC_set_finalize_on_demand(1);
    GC_INIT();
    pthread_t t;
    if (pthread_create(&t, NULL, build_thread, NULL) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    for (int round = 1; round <= 4; round++) {
        char label[32];
        snprintf(label, sizeof label, "after collection %d", round);
        cycle(label);
    }
    return compat_done();
}
