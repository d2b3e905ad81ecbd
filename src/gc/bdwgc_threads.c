/*
 * bdwgc_threads.c - the bdwgc face's threads: registration calls and the
 * GC_pthread_* wrappers that GC_THREADS redirects pthread_create, join,
 * detach, cancel and exit to.
 *
 * GC_pthread_sigmask keeps the collector's suspend signal out of any mask
 * a program blocks or sets (pa_gc_get_signals).
 *
 * Each wrapper is the collector's own (pa_gc_pthread_*): a thread it makes
 * is registered for its whole life, and what it returns (or passes to
 * GC_pthread_exit) stays a root until GC_pthread_join hands it over or the
 * thread is detached, as bdwgc keeps it in its thread record
 * (src/gc/threads.c).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>

#include "gc/bdwgc.h"

#define FACE __attribute__((visibility("default")))

FACE int GC_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                           void *(*start)(void *), void *arg)
{
    gc_bdwgc_ensure_init();
    return pa_gc_pthread_create(thread, attr, start, arg);
}

FACE int GC_pthread_join(pthread_t thread, void **retval)
{
    return pa_gc_pthread_join(thread, retval);
}

FACE int GC_pthread_detach(pthread_t thread)
{
    return pa_gc_pthread_detach(thread);
}

/* A cancelled thread is unregistered by the collector's thread-specific
 * destructor, and its result record marked finished (no value). */
FACE int GC_pthread_cancel(pthread_t thread)
{
    return pthread_cancel(thread);
}

FACE void GC_pthread_exit(void *retval)
{
    pa_gc_pthread_exit(retval);
}

/* bdwgc's rule: blocking or setting a mask leaves the collector's signals
 * out of it, so a registered thread can always be stopped. */
FACE int GC_pthread_sigmask(int how, const sigset_t *set, sigset_t *oset)
{
    gc_bdwgc_ensure_init();
    int suspend, restart;
    if (set == NULL || how == SIG_UNBLOCK || pa_gc_get_signals(&suspend, &restart) != 0)
        return pthread_sigmask(how, set, oset);
    sigset_t mine = *set;
    sigdelset(&mine, suspend);
    if (restart > 0)
        sigdelset(&mine, restart);
    return pthread_sigmask(how, &mine, oset);
}

/* ---- threads ------------------------------------------------------- */

/* The collector accepts registrations from any thread at any time. */
FACE void GC_allow_register_threads(void)
{
    gc_bdwgc_ensure_init();
}

FACE int GC_register_my_thread(const struct GC_stack_base *sb)
{
    gc_bdwgc_ensure_init();
    int err = pa_gc_register_thread(sb ? sb->mem_base : NULL);
    return err == 0 ? GC_SUCCESS : err == EALREADY ? GC_DUPLICATE : GC_NO_MEMORY;
}

/* bdwgc documents GC_SUCCESS as the only answer; so is ours (a thread
 * that was not registered has nothing to undo). */
FACE int GC_unregister_my_thread(void)
{
    if (GC_is_init_called())
        (void)pa_gc_unregister_thread();
    return GC_SUCCESS;
}

FACE int GC_thread_is_registered(void)
{
    return GC_is_init_called() && pa_gc_thread_is_registered();
}

FACE int GC_get_stack_base(struct GC_stack_base *sb)
{
    return pa_gc_get_stack_base(&sb->mem_base) == 0 ? GC_SUCCESS : GC_UNIMPLEMENTED;
}

