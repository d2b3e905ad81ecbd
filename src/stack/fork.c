/*
 * fork.c - the stack layer across fork(): every allocator, and the
 * layer's process-wide locks, are clients of the OS layer's fork
 * coordinator (os/fork.h), which runs them after the layers above (the
 * object allocator) and before the page heaps and the OS layer below.
 *
 * Before any layer takes its locks, each allocator's quiesce takes
 * threads_mu and waits until no thread is taking a run from the heap or
 * giving one back (run.c counts them in in_heap; new ones wait on
 * threads_mu while `forking` is set), so the child finds no run half way
 * between the heap and this layer. Then the forking thread takes the rest
 * of each allocator's locks in their order (stacks.h: the pools, the
 * large pool, all_mu, then the two fixed-size allocators' mutexes), and
 * the address map's and the overflow handler's install lock; the parent
 * releases them all.
 *
 * The child makes them new and drops the other threads' caches (their
 * threads do not exist there): their counters join the exited threads',
 * the stacks they cached stay held (on `all`, given back at delete) and
 * are counted nowhere else, and their lists are not walked, since an
 * owner may have been in the middle of changing one (a thread cache has
 * no lock). Live stacks stay live and can be freed by the child. The
 * heap's background scavenger does not run in the child (heap.h);
 * pa_stack_release still returns memory there.
 */
#include <pthread.h>
#include <sched.h>

#include "stack/stacks.h"

/* Before any layer's locks are taken: keep runs from being taken from or
 * given to the heap, and wait for those under way (they may need a
 * malloc's locks, e.g. in pthread_setspecific). */
static void quiesce(void *arg)
{
    pa_stack_allocator *a = arg;
    pthread_mutex_lock(&a->threads_mu);
    atomic_store(&a->forking, 1);
    while (atomic_load(&a->in_heap))
        sched_yield();
}

static void prepare(void *arg)
{
    pa_stack_allocator *a = arg;
    for (unsigned o = 0; o < ST_ORDERS; o++)
        pthread_mutex_lock(&a->pools[o].mu);
    pthread_mutex_lock(&a->large.mu);
    pthread_mutex_lock(&a->all_mu);
    pthread_mutex_lock(&a->recs.mu);
    pthread_mutex_lock(&a->tcaches.mu);
}

static void parent(void *arg)
{
    pa_stack_allocator *a = arg;
    pthread_mutex_unlock(&a->tcaches.mu);
    pthread_mutex_unlock(&a->recs.mu);
    pthread_mutex_unlock(&a->all_mu);
    pthread_mutex_unlock(&a->large.mu);
    for (unsigned o = ST_ORDERS; o-- > 0;)
        pthread_mutex_unlock(&a->pools[o].mu);
    atomic_store(&a->forking, 0);
    pthread_mutex_unlock(&a->threads_mu);
}

static void child(void *arg)
{
    pa_stack_allocator *a = arg;
    pthread_mutex_init(&a->tcaches.mu, NULL);
    pthread_mutex_init(&a->recs.mu, NULL);
    pthread_mutex_init(&a->all_mu, NULL);
    pthread_mutex_init(&a->large.mu, NULL);
    for (unsigned o = 0; o < ST_ORDERS; o++)
        pthread_mutex_init(&a->pools[o].mu, NULL);
    pthread_mutex_init(&a->threads_mu, NULL);
    atomic_store(&a->forking, 0);
    atomic_store(&a->in_heap, 0);            /* 0 already: quiesce waited */
    st_threads_after_fork(a);
}

/* The process-wide locks: the address map's and the install lock. */
static void global_prepare(void *arg)
{
    (void)arg;
    st_overflow_fork(0);
    st_map_fork(0);
}

static void global_parent(void *arg)
{
    (void)arg;
    st_map_fork(1);
    st_overflow_fork(1);
}

static void global_child(void *arg)
{
    (void)arg;
    st_map_fork(2);
    st_overflow_fork(2);
}

static sm_fork_client global = {
    .prepare = global_prepare, .parent = global_parent, .child = global_child,
    .rank = SM_FORK_RANK_STACK_GLOBAL,
};
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_register(void)
{
    sm_fork_register(&global);
}

void st_fork_register(pa_stack_allocator *a)
{
    pthread_once(&global_once, global_register);
    a->fork = (sm_fork_client){ .quiesce = quiesce, .prepare = prepare, .parent = parent, .child = child, .arg = a,
                                .rank = SM_FORK_RANK_STACK };
    sm_fork_register(&a->fork);
    (void)sm_fork_install();
}

void st_fork_unregister(pa_stack_allocator *a)
{
    sm_fork_unregister(&a->fork);
}
