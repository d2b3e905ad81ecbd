/*
 * world.c - registered threads and stopping the world (bdwgc's
 * pthread_stop_world.c idea, written for this collector).
 *
 * Registry: a list of gc_thread records (fixed-size records from the OS
 * layer) under threads_mu; a thread finds its own record through an
 * initial-exec thread-local pointer (readable in a signal handler) and a
 * pthread key whose destructor unregisters a thread that exits registered.
 *
 * Stop: the collector (holding threads_mu, so the list cannot change)
 * bumps stop_gen and sends the suspend signal to every registered thread
 * but itself, then waits on ack_sem once per thread. The handler, running
 * on the stopped thread, spills its registers (__builtin_unwind_init; the
 * kernel also saved them in the signal frame, on the same stack), stores
 * its stack pointer, posts ack_sem and waits in sigsuspend until
 * restart_gen reaches the stop it answered. Start: restart_gen = stop_gen,
 * the restart signal to every thread, and one ack per thread again, so
 * that no thread is still inside the old handler when the next stop
 * comes. The restart signal is blocked in the suspend handler except
 * inside sigsuspend, so it cannot be lost before the wait.
 *
 * Stacks are scanned from the saved sp to the stack's top (stack_hi). The
 * collecting thread scans its own stack from the frame of the collection's
 * caller up, plus the registers it had when the collection began (a
 * setjmp buffer; cycle.c): the collector's own frames hold stale words of
 * earlier calls (heap addresses it worked on) that would otherwise keep
 * garbage alive, and no object the caller needs lives only there. TLS
 * blocks and the signal alternate stack are not scanned.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>

#include "gc/gcint.h"

static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static gc_thread *threads;                        /* threads_mu */
static uint32_t nthreads;                         /* threads_mu */
static pa_fixalloc thread_recs;
static pthread_key_t self_key;
static __thread gc_thread *self __attribute__((tls_model("initial-exec")));
static sem_t ack_sem;
static _Atomic uint32_t stop_gen, restart_gen;
static uint32_t nstopped;                         /* collector only */

static void suspend_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    int saved = errno;
    gc_thread *me = self;
    if (!me) {
        errno = saved;
        return;
    }
    uint32_t gen = atomic_load_explicit(&stop_gen, memory_order_acquire);
    __builtin_unwind_init();
    volatile uintptr_t here = 0;
    atomic_store_explicit(&me->sp, (uintptr_t)&here, memory_order_release);
    sem_post(&ack_sem);
    sigset_t wait;
    sigfillset(&wait);
    sigdelset(&wait, gc_g.sig_restart);
    while (atomic_load_explicit(&restart_gen, memory_order_acquire) < gen)
        sigsuspend(&wait);
    sem_post(&ack_sem);
    errno = saved;
}

static void restart_handler(int sig)
{
    (void)sig;
}

static void thread_exit_destructor(void *arg)
{
    (void)arg;
    if (self)
        (void)gc_thread_unregister();
}

int gc_world_init(void)
{
    int err = pa_fixalloc_init(&thread_recs, sizeof(gc_thread), 64, &gc_g.meta);
    if (err)
        return err;
    if (sem_init(&ack_sem, 0, 0) != 0)
        return errno;
    if ((err = pthread_key_create(&self_key, thread_exit_destructor)) != 0)
        return err;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_flags = SA_RESTART | SA_SIGINFO;
    sa.sa_sigaction = suspend_handler;
    sigfillset(&sa.sa_mask);
    sigdelset(&sa.sa_mask, SIGSEGV);
    sigdelset(&sa.sa_mask, SIGBUS);
    if (sigaction(gc_g.sig_suspend, &sa, NULL) != 0)
        return errno;
    memset(&sa, 0, sizeof sa);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = restart_handler;
    sigfillset(&sa.sa_mask);
    if (sigaction(gc_g.sig_restart, &sa, NULL) != 0)
        return errno;
    return 0;
}

void gc_threads_lock(void)
{
    pthread_mutex_lock(&threads_mu);
}

void gc_threads_unlock(void)
{
    pthread_mutex_unlock(&threads_mu);
}

uint32_t gc_thread_count(void)
{
    pthread_mutex_lock(&threads_mu);
    uint32_t n = nthreads;
    pthread_mutex_unlock(&threads_mu);
    return n;
}

int gc_self_registered(void)
{
    return self != NULL;
}

PA_API int pa_gc_get_stack_base(void **base)
{
    if (!base)
        return EINVAL;
    pthread_attr_t at;
    int err = pthread_getattr_np(pthread_self(), &at);
    if (err)
        return err;
    void *lo;
    size_t size;
    err = pthread_attr_getstack(&at, &lo, &size);
    pthread_attr_destroy(&at);
    if (err)
        return err;
    *base = (char *)lo + size;
    return 0;
}

int gc_thread_register(const void *stack_base)
{
    if (self)
        return EALREADY;
    void *hi = (void *)stack_base;
    if (!hi) {
        int err = pa_gc_get_stack_base(&hi);
        if (err)
            return err;
    }
    int err = 0;
    gc_thread *t = pa_fixalloc_alloc(&thread_recs, &err);
    if (!t)
        return err ? err : ENOMEM;
    t->tid = pthread_self();
    t->stack_hi = (uintptr_t)hi;
    pthread_setspecific(self_key, t);
    /* Make sure the suspend signal is not blocked in this thread. */
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, gc_g.sig_suspend);
    sigaddset(&m, gc_g.sig_restart);
    pthread_sigmask(SIG_UNBLOCK, &m, NULL);
    pthread_mutex_lock(&threads_mu);
    self = t;
    t->next = threads;
    t->prev = NULL;
    if (threads)
        threads->prev = t;
    threads = t;
    nthreads++;
    pthread_mutex_unlock(&threads_mu);
    return 0;
}

int gc_thread_unregister(void)
{
    gc_thread *t = self;
    if (!t)
        return ENOENT;
    gc_tcache_flush(1);                           /* its cached objects go back */
    pthread_mutex_lock(&threads_mu);
    if (t->prev)
        t->prev->next = t->next;
    else
        threads = t->next;
    if (t->next)
        t->next->prev = t->prev;
    nthreads--;
    self = NULL;
    pthread_mutex_unlock(&threads_mu);
    pthread_setspecific(self_key, NULL);
    pa_fixalloc_free(&thread_recs, t);
    return 0;
}

PA_API int pa_gc_thread_is_registered(void)
{
    return self != NULL;
}

static void ack_wait(uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        while (sem_wait(&ack_sem) != 0 && errno == EINTR)
            ;
}

/* threads_mu held by the caller (the cycle). */
void gc_world_stop(void)
{
    uint32_t gen = atomic_load_explicit(&stop_gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&stop_gen, gen, memory_order_release);
    nstopped = 0;
    for (gc_thread *t = threads; t; t = t->next) {
        if (t == self)
            continue;
        atomic_store_explicit(&t->sp, 0, memory_order_relaxed);
        if (pthread_kill(t->tid, gc_g.sig_suspend) == 0)
            nstopped++;
    }
    ack_wait(nstopped);
}

void gc_world_start(void)
{
    atomic_store_explicit(&restart_gen, atomic_load_explicit(&stop_gen, memory_order_relaxed),
                          memory_order_release);
    uint32_t n = 0;
    for (gc_thread *t = threads; t; t = t->next) {
        if (t == self || atomic_load_explicit(&t->sp, memory_order_acquire) == 0)
            continue;
        if (pthread_kill(t->tid, gc_g.sig_restart) == 0)
            n++;
    }
    ack_wait(n);
}

void gc_scan_threads(uintptr_t own_lo, uintptr_t regs, uintptr_t regs_end)
{
    gc_thread *me = self;
    uintptr_t hi = me ? me->stack_hi : 0;
    void *b;
    if (!hi && pa_gc_get_stack_base(&b) == 0)
        hi = (uintptr_t)b;
    if (own_lo < hi)
        gc_mark_range(own_lo, hi);
    gc_mark_range(regs, regs_end);
    for (gc_thread *t = threads; t; t = t->next) {
        if (t == self)
            continue;
        uintptr_t sp = atomic_load_explicit(&t->sp, memory_order_acquire);
        if (sp && sp < t->stack_hi)
            gc_mark_range(sp, t->stack_hi);
    }
}

void gc_world_fork_child(void)
{
    pthread_mutex_init(&threads_mu, NULL);
    pthread_mutex_init(&thread_recs.mu, NULL);
    gc_thread *me = self;
    threads = me;
    nthreads = me ? 1 : 0;
    if (me)
        me->next = me->prev = NULL;
    sem_destroy(&ack_sem);
    sem_init(&ack_sem, 0, 0);
}

/* ---- pthread wrappers -------------------------------------------------- */

/* The start record lives on the creator's stack, which keeps arg alive
 * (the creator waits) until the new thread is registered and has arg on
 * its own stack. */
typedef struct start_rec {
    void *(*start)(void *);
    void *arg;
    sem_t ready;
} start_rec;

static void *thread_start(void *p)
{
    start_rec *rp = p;
    void *(*start)(void *) = rp->start;
    void *volatile arg = rp->arg;
    (void)gc_thread_register(NULL);
    sem_post(&rp->ready);                          /* rp is gone after this */
    void *ret = start(arg);
    (void)gc_thread_unregister();
    return ret;
}

int gc_thread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                     void *arg)
{
    start_rec r = { start, arg, { { 0 } } };
    if (sem_init(&r.ready, 0, 0) != 0)
        return EAGAIN;
    int err = pthread_create(thread, attr, thread_start, &r);
    if (err == 0)
        while (sem_wait(&r.ready) != 0 && errno == EINTR)
            ;
    sem_destroy(&r.ready);
    return err;
}
