/*
 * links.c - disappearing links: a short link is cleared before the
 * object's finalizer can see it; a long link only once the object is
 * gone for good (after its finalizer ran); the registration calls
 * return bdwgc's result codes (duplicate, not found, moved).
 */
#include <gc.h>

#include "compat.h"

static void **slots;                 /* libc memory: links the GC never scans */
static int finalized;
static int short_was_clear_in_finalizer;

static void fin(void *obj, void *cd)
{
    (void)obj;
    finalized++;
    short_was_clear_in_finalizer = slots[0] == NULL;
    (void)cd;
}

static __attribute__((noinline)) void build(void)
{
    void *o = GC_MALLOC(32);
    slots[0] = o;
    slots[1] = o;
    int rc = GC_general_register_disappearing_link(&slots[0], o);
    if (rc == GC_UNIMPLEMENTED)
        compat_skip("disappearing links are not implemented by this collector");
    compat_check("register short link", rc == GC_SUCCESS);
    compat_check("register long link", GC_register_long_link(&slots[1], o) == GC_SUCCESS);
    compat_check("duplicate short link", GC_general_register_disappearing_link(&slots[0], o)
                                             == GC_DUPLICATE);
    compat_check("duplicate long link", GC_register_long_link(&slots[1], o) == GC_DUPLICATE);
    GC_REGISTER_FINALIZER_NO_ORDER(o, fin, NULL, NULL, NULL);

    /* The result codes of move and unregister, on a second object. */
    void *p = GC_MALLOC(32);
    slots[2] = p;
    slots[4] = p;
    GC_general_register_disappearing_link(&slots[2], p);
    GC_general_register_disappearing_link(&slots[4], p);
    compat_check("move to itself finds it", GC_move_disappearing_link(&slots[2], &slots[2])
                                                == GC_SUCCESS);
    compat_check("move", GC_move_disappearing_link(&slots[2], &slots[3]) == GC_SUCCESS);
    compat_check("move from an empty place",
                 GC_move_disappearing_link(&slots[2], &slots[5]) == GC_NOT_FOUND);
    compat_check("move onto another link",
                 GC_move_disappearing_link(&slots[3], &slots[4]) == GC_DUPLICATE);
    compat_check("unregister a registered link", GC_unregister_disappearing_link(&slots[4]) == 1);
    compat_check("unregister it again", GC_unregister_disappearing_link(&slots[4]) == 0);
    compat_check("long link: move to nowhere",
                 GC_move_long_link(&slots[6], &slots[7]) == GC_NOT_FOUND);
    compat_check("long link: unregister unknown", GC_unregister_long_link(&slots[6]) == 0);
    slots[2] = NULL;                  /* the moved link lives in slots[3] */
    slots[3] = p;
}

int main(void)
{
    GC_set_finalize_on_demand(1);
    GC_INIT();
    slots = calloc(8, sizeof *slots);
    build();
    compat_clear_stack();
    GC_gcollect();
    compat_check("short link cleared by the collection", slots[0] == NULL);
    compat_check("long link kept while the finalizer is due", slots[1] != NULL);
    compat_check("moved link cleared at its new place", slots[3] == NULL);
    compat_check("unregistered link left alone", slots[4] != NULL);
    GC_invoke_finalizers();
    compat_check("finalizer ran once", finalized == 1);
    compat_check("finalizer saw the short link cleared", short_was_clear_in_finalizer);
    compat_clear_stack();
    GC_gcollect();
    compat_check("long link cleared after finalization", slots[1] == NULL);
    compat_check("finalizer did not run again", finalized == 1);
    free(slots);
    return compat_done();
}
