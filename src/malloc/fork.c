/*
 * fork.c - the object allocator across fork() (pthread_atfork).
 *
 * Before fork the forking thread takes every lock of the allocator, of its
 * page heap and of the OS layer, in their lock order (mheap.h, heap.h,
 * registry.h), so no other thread is inside any of them at the moment of
 * the fork. The parent then releases them. The child, whose only thread
 * is the one that forked, makes every lock new, and drops the other
 * threads' caches from the registry: their spans stay theirs (owned by a
 * cache nobody will use again), so their free objects are not reused in
 * the child but every object stays valid and freeable (a free from the
 * child is a remote free). The background scavenger, whose thread does
 * not exist in the child, is started again at the next span refill.
 */
#include <pthread.h>

#include "malloc/mheap.h"
#include "os/registry.h"
#include "pageheap/heap.h"

static pa_mheap *fork_mh;                /* the allocator the handlers guard */

static void prepare(void)
{
    pa_mheap *mh = fork_mh;
    pthread_mutex_lock(&mh->caches_mu);
    for (unsigned c = 0; c < PA_NCLASSES; c++)
        pthread_mutex_lock(&mh->central[c].mu);
    pa_spanmap_fork(0);
    pthread_mutex_lock(&mh->span_recs.mu);
    pthread_mutex_lock(&mh->tcache_recs.mu);
    ph_fork_prepare(mh->pages);
    sm_fork_prepare();
}

static void parent(void)
{
    pa_mheap *mh = fork_mh;
    sm_fork_parent();
    ph_fork_parent(mh->pages);
    pthread_mutex_unlock(&mh->tcache_recs.mu);
    pthread_mutex_unlock(&mh->span_recs.mu);
    pa_spanmap_fork(1);
    for (unsigned c = PA_NCLASSES; c-- > 0;)
        pthread_mutex_unlock(&mh->central[c].mu);
    pthread_mutex_unlock(&mh->caches_mu);
}

static void child(void)
{
    pa_mheap *mh = fork_mh;
    int scav_was_on = mh->pages->scav_on;
    sm_fork_child();
    ph_fork_child(mh->pages);
    pthread_mutex_init(&mh->span_recs.mu, NULL);
    pthread_mutex_init(&mh->tcache_recs.mu, NULL);
    pa_spanmap_fork(2);
    for (unsigned c = 0; c < PA_NCLASSES; c++)
        pthread_mutex_init(&mh->central[c].mu, NULL);
    pthread_mutex_init(&mh->caches_mu, NULL);
    /* Only this thread's cache is live in the child. */
    pa_tcache *me = (uintptr_t)pa_tcp > 1 ? pa_tcp : NULL;
    mh->caches = me;
    if (me)
        me->next = me->prev = NULL;
    mh->restart_scavenger = scav_was_on;
}

void pa_malloc_fork_init(pa_mheap *mh)
{
    fork_mh = mh;
    (void)pthread_atfork(prepare, parent, child);
}
