/*
 * fork.c - the object allocator across fork() (pthread_atfork).
 *
 * The allocator is a client of the OS layer's fork coordinator (os/fork.h),
 * which runs the handlers of every layer in rank order: before fork the
 * forking thread takes every lock of the allocator (here), then the
 * coordinator has its page heap and the OS layer take theirs, in their
 * lock order (mheap.h, heap.h, registry.h), so no other thread is inside
 * any of them at the moment of the fork. The parent then releases them. The child, whose only thread
 * is the one that forked, makes every lock new, and drops the other
 * threads' caches from the registry: their spans stay theirs (owned by a
 * cache nobody will use again), so their free objects are not reused in
 * the child but every object stays valid and freeable (a free from the
 * child is a remote free). The background scavenger, whose thread does
 * not exist in the child, is started again at the next span refill.
 */
#include <pthread.h>

#include "malloc/mheap.h"
#include "os/fork.h"
#include "pageheap/heap.h"

static sm_fork_client fork_client;       /* arg: the allocator the handlers guard */
static int fork_scav_was_on;             /* the heap's scavenger, at prepare */

static void prepare(void *arg)
{
    pa_mheap *mh = arg;
    pthread_mutex_lock(&mh->caches_mu);
    for (unsigned c = 0; c < PA_NCLASSES; c++)
        pthread_mutex_lock(&mh->central[c].mu);
    pa_spanmap_fork(0);
    pthread_mutex_lock(&mh->span_recs.mu);
    pthread_mutex_lock(&mh->tcache_recs.mu);
    /* Read before the heap's child handler marks it stopped. */
    fork_scav_was_on = mh->pages->scav_on;
}

static void parent(void *arg)
{
    pa_mheap *mh = arg;
    pthread_mutex_unlock(&mh->tcache_recs.mu);
    pthread_mutex_unlock(&mh->span_recs.mu);
    pa_spanmap_fork(1);
    for (unsigned c = PA_NCLASSES; c-- > 0;)
        pthread_mutex_unlock(&mh->central[c].mu);
    pthread_mutex_unlock(&mh->caches_mu);
}

static void child(void *arg)
{
    pa_mheap *mh = arg;
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
    mh->restart_scavenger = fork_scav_was_on;
}

void pa_malloc_fork_init(pa_mheap *mh)
{
    fork_client = (sm_fork_client){ .prepare = prepare, .parent = parent, .child = child,
                                    .arg = mh, .rank = SM_FORK_RANK_MALLOC };
    sm_fork_register(&fork_client);
    (void)sm_fork_install();
}
