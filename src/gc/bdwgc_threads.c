/*
 * bdwgc_threads.c - the bdwgc face's threads: registration calls and the
 * GC_pthread_* wrappers that GC_THREADS redirects pthread_create, join,
 * detach, cancel and exit to.
 *
 * A thread's result. bdwgc keeps what a thread returned in its thread
 * record, which it scans, so the result stays alive until pthread_join
 * hands it over. The collector's own wrapper (pa_gc_pthread_create)
 * unregisters the thread when its start routine returns; the result then
 * sits in the C library's thread descriptor, which no collection scans.
 * So the face gives each thread it creates a record of its own, an
 * uncollectable object (a root): the start routine and argument until the
 * thread runs, then its result (returned or passed to GC_pthread_exit)
 * until GC_pthread_join takes it or the thread is detached. Records are on
 * one list under threads_mu, searched linearly by pthread_t (the cost is
 * the number of live face threads per join or detach). A record goes when
 *   - GC_pthread_join returns 0 for its thread, or
 *   - its thread is detached (GC_pthread_detach or a detached attribute)
 *     and has finished, whichever comes last.
 * A thread that leaves by a plain pthread_exit or by cancellation is
 * marked finished by a cleanup handler (its value is then not kept).
 */
#include <errno.h>
#include <pthread.h>

#include "gc/bdwgc.h"

#define FACE __attribute__((visibility("default")))

typedef struct face_thread {
    void *(*start)(void *);
    void *arg;
    void *result;              /* what the thread returned: a root */
    pthread_t id;              /* set by the creator, under threads_mu */
    int detached;              /* under threads_mu */
    int finished;              /* under threads_mu */
    struct face_thread *next;  /* under threads_mu */
} face_thread;

static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static face_thread *threads;              /* under threads_mu */
static __thread face_thread *self;        /* this thread's record, if any */

/* Unlinks rec from the list; threads_mu held. */
static void unlink_rec(face_thread *rec)
{
    for (face_thread **pp = &threads; *pp; pp = &(*pp)->next)
        if (*pp == rec) {
            *pp = rec->next;
            return;
        }
}

/* The record of thread t; threads_mu held. */
static face_thread *find_rec(pthread_t t)
{
    for (face_thread *r = threads; r; r = r->next)
        if (!r->detached && pthread_equal(r->id, t))
            return r;
    return NULL;
}

/* The thread of rec ends with result (once; later calls do nothing). */
static void finish(face_thread *rec, void *result, int keep)
{
    int drop = 0;
    pthread_mutex_lock(&threads_mu);
    if (!rec->finished) {
        rec->finished = 1;
        rec->result = keep ? result : NULL;
        drop = rec->detached;
        if (drop)
            unlink_rec(rec);
    }
    pthread_mutex_unlock(&threads_mu);
    if (drop)
        pa_gc_free(rec);
}

static void on_exit_unknown(void *p)
{
    finish(p, NULL, 0);
}

static void *trampoline(void *p)
{
    face_thread *rec = p;
    self = rec;
    void *result;
    pthread_cleanup_push(on_exit_unknown, rec);
    result = rec->start(rec->arg);
    finish(rec, result, 1);
    pthread_cleanup_pop(0);
    return result;
}

FACE int GC_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                           void *(*start)(void *), void *arg)
{
    gc_bdwgc_ensure_init();
    face_thread *rec = pa_gc_malloc_uncollectable(sizeof *rec);
    if (rec == NULL)
        return EAGAIN;
    int state = PTHREAD_CREATE_JOINABLE;
    if (attr != NULL)
        (void)pthread_attr_getdetachstate(attr, &state);
    rec->start = start;
    rec->arg = arg;
    rec->detached = state == PTHREAD_CREATE_DETACHED;
    pthread_t id;
    pthread_mutex_lock(&threads_mu);
    rec->next = threads;
    threads = rec;
    pthread_mutex_unlock(&threads_mu);
    int err = pa_gc_pthread_create(&id, attr, trampoline, rec);
    int drop = 0;
    pthread_mutex_lock(&threads_mu);
    if (err != 0) {
        unlink_rec(rec);
        drop = 1;
    } else {
        rec->id = id;
        *thread = id;
    }
    pthread_mutex_unlock(&threads_mu);
    if (drop)
        pa_gc_free(rec);
    return err;
}

FACE int GC_pthread_join(pthread_t thread, void **retval)
{
    int err = pa_gc_pthread_join(thread, retval);
    if (err != 0)
        return err;
    pthread_mutex_lock(&threads_mu);
    face_thread *rec = find_rec(thread);
    if (rec)
        unlink_rec(rec);
    pthread_mutex_unlock(&threads_mu);
    if (rec)
        pa_gc_free(rec);
    return 0;
}

FACE int GC_pthread_detach(pthread_t thread)
{
    pthread_mutex_lock(&threads_mu);
    face_thread *rec = find_rec(thread);
    int err = pa_gc_pthread_detach(thread);
    int drop = 0;
    if (err == 0 && rec) {
        rec->detached = 1;
        drop = rec->finished;
        if (drop)
            unlink_rec(rec);
    }
    pthread_mutex_unlock(&threads_mu);
    if (drop)
        pa_gc_free(rec);
    return err;
}

/* A cancelled thread's cleanup handler marks its record finished; the
 * collector unregisters it by its thread-specific destructor. */
FACE int GC_pthread_cancel(pthread_t thread)
{
    return pthread_cancel(thread);
}

FACE void GC_pthread_exit(void *retval)
{
    if (self)
        finish(self, retval, 1);
    pa_gc_pthread_exit(retval);
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

