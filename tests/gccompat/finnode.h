/*
 * finnode.h - the finalizable node the finalizer programs (final.c,
 * orders.c) share: a list cell with an id, a finalizer that counts its
 * runs by id, and a collection cycle that runs what is due and prints
 * which ids have run so far. Included after <gc.h> and "compat.h" (a
 * program chooses whether GC_THREADS is defined before <gc.h>).
 */
#ifndef GCCOMPAT_FINNODE_H
#define GCCOMPAT_FINNODE_H

#define FINNODE_IDS 20

struct node {
    struct node *next;
    int id;
};

static char ran[FINNODE_IDS];        /* ran[id]: times finalized */

static void fin(void *obj, void *cd)
{
    struct node *n = obj;
    ran[n->id]++;
    (void)cd;
}

static struct node *node(int id, struct node *next)
{
    struct node *n = GC_NEW(struct node);
    n->id = id;
    n->next = next;
    return n;
}

/* Collects, runs the finalizers that are due, then prints which ids
 * have ever run ("(again!)" marks one finalized twice). */
static void cycle(const char *label)
{
    compat_clear_stack();
    GC_gcollect();
    while (GC_should_invoke_finalizers())
        GC_invoke_finalizers();
    printf("%s:", label);
    for (int i = 1; i < FINNODE_IDS; i++)
        if (ran[i])
            printf(" %d%s", i, ran[i] > 1 ? "(again!)" : "");
    printf("\n");
}

#endif
