/*
 * final.c - finalizers in every order, each run once: no-order, ordered
 * chains (the referring object first, its target one collection later),
 * ordered cycles (never run), self-references with and without
 * ignore-self, removal, replacement (the old finalizer returned),
 * resurrection (not run again), on demand with GC_invoke_finalizers.
 */
#include <gc.h>

#include "compat.h"
#include "finnode.h"

static struct node *resurrected;

static void fin_resurrect(void *obj, void *cd)
{
    fin(obj, cd);
    resurrected = obj;
}

static void other_fin(void *obj, void *cd)
{
    (void)obj;
    (void)cd;
}

static __attribute__((noinline)) void build(void)
{
    /* 1 -> 2: no order, both go in one collection. */
    struct node *b = node(2, NULL), *a = node(1, b);
    GC_REGISTER_FINALIZER_NO_ORDER(a, fin, NULL, NULL, NULL);
    GC_REGISTER_FINALIZER_NO_ORDER(b, fin, NULL, NULL, NULL);
    /* 3 -> 4 -> 5: ordered, one per collection from the head. */
    struct node *e = node(5, NULL), *d = node(4, e), *c = node(3, d);
    GC_REGISTER_FINALIZER(c, fin, NULL, NULL, NULL);
    GC_REGISTER_FINALIZER(d, fin, NULL, NULL, NULL);
    GC_REGISTER_FINALIZER(e, fin, NULL, NULL, NULL);
    /* 6 <-> 7: an ordered cycle is never finalized. */
    struct node *g = node(7, NULL), *f = node(6, g);
    g->next = f;
    GC_REGISTER_FINALIZER(f, fin, NULL, NULL, NULL);
    GC_REGISTER_FINALIZER(g, fin, NULL, NULL, NULL);
    /* 8 -> 8: ignore-self runs it; 9 -> 9 ordered does not. */
    struct node *h = node(8, NULL), *i = node(9, NULL);
    h->next = h;
    i->next = i;
    GC_REGISTER_FINALIZER_IGNORE_SELF(h, fin, NULL, NULL, NULL);
    GC_REGISTER_FINALIZER(i, fin, NULL, NULL, NULL);
    /* 10: registered then removed; 11: replaced, the old one returned. */
    struct node *j = node(10, NULL), *k = node(11, NULL);
    GC_finalization_proc old = NULL;
    void *old_cd = NULL;
    GC_REGISTER_FINALIZER(j, fin, NULL, NULL, NULL);
    GC_REGISTER_FINALIZER(j, NULL, NULL, &old, &old_cd);
    compat_check("removal returns the old finalizer", old == fin);
    GC_REGISTER_FINALIZER(k, other_fin, (void *)k, NULL, NULL);
    GC_REGISTER_FINALIZER(k, fin, NULL, &old, &old_cd);
    compat_check("replacement returns the old finalizer and data",
                 old == other_fin && old_cd == (void *)k);
    /* 12: resurrects itself; it must not run a second time. */
    GC_REGISTER_FINALIZER(node(12, NULL), fin_resurrect, NULL, NULL, NULL);
}

int main(void)
{
    GC_set_finalize_on_demand(1);
    GC_INIT();
    build();
    cycle("after collection 1");
    compat_check("finalizers wait for GC_invoke_finalizers", !GC_should_invoke_finalizers());
    compat_check("resurrected object intact", resurrected && resurrected->id == 12);
    resurrected = NULL;
    cycle("after collection 2");
    cycle("after collection 3");
    cycle("after collection 4");
    return compat_done();
}
