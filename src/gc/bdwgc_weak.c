/*
 * bdwgc_weak.c - the bdwgc face's finalizers, disappearing links, roots
 * and dlopen: thin calls into the collector (<pagealloc/gc.h>) whose
 * errno results are turned into bdwgc's result codes:
 *     0 -> GC_SUCCESS, EEXIST/EALREADY -> GC_DUPLICATE,
 *     ENOENT -> GC_NOT_FOUND, ENOMEM -> GC_NO_MEMORY.
 * bdwgc aborts on a link that is NULL or misaligned; the collector returns
 * EINVAL for it (and for an object that is no collectable object's base),
 * which the face reports as misuse (the process's error handler) and then
 * returns GC_NOT_FOUND if the handler lets the program go on. In
 * leak-finding mode the link calls return GC_UNIMPLEMENTED, as bdwgc's do.
 */
#include <dlfcn.h>
#include <errno.h>
#include "gc/bdwgc.h"

#define FACE __attribute__((visibility("default")))

static int result_code(int err, const char *call, const void *addr)
{
    switch (err) {
    case 0:
        return GC_SUCCESS;
    case EEXIST:
    case EALREADY:
        return GC_DUPLICATE;
    case ENOENT:
        return GC_NOT_FOUND;
    case ENOMEM:
        return GC_NO_MEMORY;
    default:
        gc_bdwgc_misuse(call, addr,
                        "the link is NULL or misaligned, or the object is no collectable "
                        "object's base");
        return GC_NOT_FOUND;
    }
}

/* ---- finalizers ---------------------------------------------------- */

static void register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
                               GC_finalization_proc *ofn, void **ocd,
                               pa_gc_finalize_order order)
{
    gc_bdwgc_ensure_init();
    /* bdwgc ignores an object that is not the base of a collectable one;
     * the collector sets the outputs to NULL and returns EINVAL. */
    (void)pa_gc_register_finalizer(obj, fn, cd, order, ofn, ocd);
}

FACE void GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
                                GC_finalization_proc *ofn, void **ocd)
{
    register_finalizer(obj, fn, cd, ofn, ocd, PA_GC_ORDERED);
}

FACE void GC_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
                                            GC_finalization_proc *ofn, void **ocd)
{
    register_finalizer(obj, fn, cd, ofn, ocd, PA_GC_IGNORE_SELF);
}

FACE void GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
                                         GC_finalization_proc *ofn, void **ocd)
{
    register_finalizer(obj, fn, cd, ofn, ocd, PA_GC_NO_ORDER);
}

FACE void GC_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
                                            GC_finalization_proc *ofn, void **ocd)
{
    register_finalizer(obj, fn, cd, ofn, ocd, PA_GC_UNREACHABLE);
}

/* The annotated allocator keeps objects at their base (its record is at
 * the end), so its finalizer calls are the plain ones. */
FACE void GC_debug_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
                                      GC_finalization_proc *ofn, void **ocd)
{
    register_finalizer(obj, fn, cd, ofn, ocd, PA_GC_ORDERED);
}

FACE void GC_debug_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn,
                                                  void *cd, GC_finalization_proc *ofn,
                                                  void **ocd)
{
    register_finalizer(obj, fn, cd, ofn, ocd, PA_GC_IGNORE_SELF);
}

FACE void GC_debug_register_finalizer_no_order(void *obj, GC_finalization_proc fn,
                                               void *cd, GC_finalization_proc *ofn,
                                               void **ocd)
{
    register_finalizer(obj, fn, cd, ofn, ocd, PA_GC_NO_ORDER);
}

FACE void GC_debug_register_finalizer_unreachable(void *obj, GC_finalization_proc fn,
                                                  void *cd, GC_finalization_proc *ofn,
                                                  void **ocd)
{
    register_finalizer(obj, fn, cd, ofn, ocd, PA_GC_UNREACHABLE);
}

FACE int GC_invoke_finalizers(void)
{
    gc_bdwgc_ensure_init();
    return (int)pa_gc_invoke_finalizers();
}

FACE int GC_should_invoke_finalizers(void)
{
    return GC_is_init_called() && pa_gc_finalizers_pending();
}

FACE void GC_set_finalizer_notifier(GC_finalizer_notifier_proc fn)
{
    gc_bdwgc_ensure_init();
    pa_gc_set_finalizer_notifier(fn);
}

/* ---- disappearing links -------------------------------------------- */

FACE int GC_general_register_disappearing_link(void **link, const void *obj)
{
    gc_bdwgc_ensure_init();
    if (pa_gc_get_find_leak())
        return GC_UNIMPLEMENTED;
    return result_code(pa_gc_register_link(link, obj), "GC_general_register_disappearing_link",
                       link);
}

FACE int GC_register_disappearing_link(void **link)
{
    gc_bdwgc_ensure_init();
    void *obj = pa_gc_base(link);
    if (obj == NULL) {
        gc_bdwgc_misuse("GC_register_disappearing_link", link,
                        "the link is not inside a collector object");
        return GC_NOT_FOUND;
    }
    return GC_general_register_disappearing_link(link, obj);
}

FACE int GC_move_disappearing_link(void **link, void **new_link)
{
    gc_bdwgc_ensure_init();
    if (pa_gc_get_find_leak())
        return GC_UNIMPLEMENTED;
    return result_code(pa_gc_move_link(link, new_link), "GC_move_disappearing_link", new_link);
}

FACE int GC_unregister_disappearing_link(void **link)
{
    gc_bdwgc_ensure_init();
    return pa_gc_unregister_link(link) == 0;
}

FACE int GC_register_long_link(void **link, const void *obj)
{
    gc_bdwgc_ensure_init();
    if (pa_gc_get_find_leak())
        return GC_UNIMPLEMENTED;
    return result_code(pa_gc_register_long_link(link, obj), "GC_register_long_link", link);
}

FACE int GC_move_long_link(void **link, void **new_link)
{
    gc_bdwgc_ensure_init();
    if (pa_gc_get_find_leak())
        return GC_UNIMPLEMENTED;
    return result_code(pa_gc_move_long_link(link, new_link), "GC_move_long_link", new_link);
}

FACE int GC_unregister_long_link(void **link)
{
    gc_bdwgc_ensure_init();
    return pa_gc_unregister_long_link(link) == 0;
}

/* ---- roots --------------------------------------------------------- */

FACE void GC_add_roots(void *low, void *high_plus_1)
{
    gc_bdwgc_ensure_init();
    int err = pa_gc_add_roots(low, high_plus_1);
    if (err == EINVAL)
        gc_bdwgc_misuse("GC_add_roots", low, "the range ends before it starts");
    else if (err != 0)
        gc_bdwgc_warn("GC_add_roots: no memory to record the range at %p\n",
                      (GC_word)low);
}

FACE void GC_remove_roots(void *low, void *high_plus_1)
{
    gc_bdwgc_ensure_init();
    (void)pa_gc_remove_roots(low, high_plus_1);
}

FACE void GC_clear_roots(void)
{
    gc_bdwgc_ensure_init();
    pa_gc_clear_roots();
}

FACE void GC_exclude_static_roots(void *start, void *finish)
{
    gc_bdwgc_ensure_init();
    int err = pa_gc_exclude_static_roots(start, finish);
    if (err == EINVAL)
        gc_bdwgc_misuse("GC_exclude_static_roots", start, "the range ends before it starts");
    else if (err != 0)
        gc_bdwgc_warn("GC_exclude_static_roots: no memory to record the range at %p\n",
                      (GC_word)start);
}

FACE void *GC_dlopen(const char *path, int mode)
{
    return dlopen(path, mode);
}
