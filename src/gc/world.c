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
 * its stack pointer, posts ack_sem and waits on the restart_gen futex
 * until restart_gen reaches the stop it answered. Start: restart_gen =
 * stop_gen and a futex wake for all, which ends the pause; then, with
 * threads_mu still held but the other collector locks released, one ack
 * per thread again (gc_world_start_wait), so that no thread is still
 * inside the old handler when the next stop comes. No
 * restart signal: a futex word cannot be lost the way a signal sent
 * before the wait could, and under TSan a restart signal would be run by
 * TSan's deferred-signal code nested inside the deferred suspend handler,
 * which leaves the thread with every signal blocked (seen: the next
 * suspend signal then stays pending forever). A thread that has not
 * answered within 50 ms is signalled again (TSan was seen to lose a
 * signal now and then); the handler ignores a repeat of a stop it
 * answered and a signal that comes when no stop signalled it (park).
 *
 * Parking (ThreadSanitizer builds). TSan runs the handler of an
 * asynchronous signal only when the thread next passes one of its
 * interceptors; a thread blocked in pthread_mutex_lock or sem_wait never
 * does, so a stop would wait for it forever. Under TSan every collector
 * lock goes through gc_mutex_lock_parked (gcint.h), and a thread waiting
 * for the thread it created to register through gc_sem_wait_parked (the
 * same protocol around sem_wait): when the lock is busy, a
 * registered thread spills its registers, publishes its sp and parks
 * (park: RUNNING -> PARKED) before it blocks, and unparks (PARKED ->
 * RUNNING) once it holds the lock. The stopper claims a parked thread
 * (PARKED -> STOPPED_PARKED) instead of signalling it: it can only be
 * blocked on a lock the collection holds, or about to, and touches no
 * heap object until it has the lock, which the collection releases only
 * after the restart (which turns it back to PARKED). A thread found
 * RUNNING is signalled (-> SIGNALLED; the handler sets RUNNING again when
 * it leaves); if it then tries to park, it first sleeps (nanosleep, where
 * TSan delivers the signal) until its handler has run. Without TSan no
 * thread parks and these states only record who was signalled.
 *
 * Stacks are scanned from the saved sp to the stack's top (stack_hi). The
 * collecting thread scans its own stack from the frame of the collection's
 * caller up, plus the registers it had when the collection began (a
 * setjmp buffer; cycle.c): the collector's own frames hold stale words of
 * earlier calls (heap addresses it worked on) that would otherwise keep
 * garbage alive, and no object the caller needs lives only there.
 *
 * Signal stacks. A thread stopped while it runs on its sigaltstack has its
 * sp outside its stack bounds; the handler then asks sigaltstack where the
 * signal stack ends, and finds the normal stack's sp in the frame of the
 * signal that switched stacks: the kernel put that frame at the top of the
 * signal stack, and its ucontext records the signal stack (uc_stack) and
 * the interrupted registers. Both [sp, signal stack top) and [normal sp,
 * stack_hi) are scanned. If the frame is not found (an altstack with
 * SS_AUTODISARM, another architecture), the whole normal stack is scanned
 * when it is known to be mapped (any thread but the first), else only the
 * signal stack. A thread on a stack of its own making (swapcontext) that is
 * neither is scanned from nowhere: register such stacks as roots.
 *
 * Thread-local storage. At registration the thread lists its TLS blocks
 * (dl_iterate_phdr's dlpi_tls_data, sized by the module's PT_TLS), keeping
 * those outside its stack mapping (glibc puts a created thread's static
 * TLS at the top of its stack mapping, already scanned; the first thread's
 * is elsewhere). So the static TLS of every module loaded before the
 * thread registered is scanned for every registered thread, and a
 * collection also scans every TLS block its collecting thread has at that
 * moment (roots.c). Not covered: a module loaded after a thread registered
 * and whose block (dynamic TLS, allocated on the thread's first use) holds
 * the only pointer in a thread other than the collecting one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/futex.h"
#include "gc/gcint.h"
#include "gc/markq.h"

/* The signal frames searched by outer_sp are the kernel's: under valgrind
 * they count as undefined memory (mark.c does the same for what it scans). */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define WORLD_MAKE_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#endif
#endif
#ifndef WORLD_MAKE_DEFINED
#define WORLD_MAKE_DEFINED(p, n) ((void)(p), (void)(n))
#endif

static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static gc_thread *threads;                        /* threads_mu */
static uint32_t nthreads;                         /* threads_mu */
static pa_fixalloc thread_recs;
static pthread_key_t self_key;
static __thread gc_thread *self __attribute__((tls_model("initial-exec")));
static sem_t ack_sem;
static _Atomic uint32_t stop_gen, restart_gen;
static uint32_t nstopped;                         /* collector only */

/* The normal stack's sp when t entered its signal stack ss (see the file
 * comment), or 0. Reads the kernel's signal frames on the signal stack. */
GC_NO_SANITIZE
static uintptr_t outer_sp(const gc_thread *t, uintptr_t sp, const stack_t *ss)
{
#if defined(__x86_64__) || defined(__aarch64__)
    uintptr_t hi = ((uintptr_t)ss->ss_sp + ss->ss_size) & ~(uintptr_t)7;
    size_t off = offsetof(ucontext_t, uc_stack);
    if (sp < hi)
        WORLD_MAKE_DEFINED((void *)sp, hi - sp);
    for (uintptr_t a = hi - sizeof(stack_t); a >= sp + off; a -= sizeof(uintptr_t)) {
        const volatile stack_t *c = (const volatile stack_t *)a;
        if (c->ss_sp != ss->ss_sp || c->ss_size != ss->ss_size)
            continue;
        const ucontext_t *u = (const ucontext_t *)(a - off);
#if defined(__x86_64__)
        const volatile greg_t *r = &u->uc_mcontext.gregs[REG_RSP];
#else
        const volatile unsigned long long *r = &u->uc_mcontext.sp;
#endif
        if ((uintptr_t)(r + 1) > hi)
            continue;
        uintptr_t nsp = (uintptr_t)*r;
        if (nsp >= t->stack_lo && nsp < t->stack_hi)
            return nsp;
    }
#else
    (void)t;
    (void)sp;
    (void)ss;
#endif
    return 0;
}

/* sp is outside t's stack: if it is on the signal stack, its top and the
 * normal stack's sp (0 if not found). Async-signal-safe. */
static void off_stack(const gc_thread *t, uintptr_t sp, uintptr_t *alt_hi, uintptr_t *norm_sp)
{
    stack_t ss;
    *alt_hi = *norm_sp = 0;
    if (sigaltstack(NULL, &ss) != 0 || !(ss.ss_flags & SS_ONSTACK))
        return;
    uintptr_t lo = (uintptr_t)ss.ss_sp, hi = lo + ss.ss_size;
    if (sp < lo || sp >= hi)
        return;
    *alt_hi = hi;
    *norm_sp = outer_sp(t, sp, &ss);
}

static int on_stack(const gc_thread *t, uintptr_t sp)
{
    return sp < t->stack_hi && (sp >= t->stack_lo || !t->stack_lo);
}

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
    if (atomic_load_explicit(&me->park, memory_order_acquire) != GC_SIGNALLED ||
        atomic_load_explicit(&me->acked, memory_order_relaxed) == gen) {
        errno = saved;                        /* a stray or repeated signal */
        return;
    }
    atomic_store_explicit(&me->acked, gen, memory_order_relaxed);
    __builtin_unwind_init();
    volatile uintptr_t here = 0;
    uintptr_t sp = (uintptr_t)&here, alt_hi = 0, norm_sp = 0;
    if (!on_stack(me, sp))
        off_stack(me, sp, &alt_hi, &norm_sp);
    me->alt_hi = alt_hi;
    me->norm_sp = norm_sp;
    atomic_store_explicit(&me->sp, sp, memory_order_release);
    sem_post(&ack_sem);
    uint32_t g;
    while ((g = atomic_load_explicit(&restart_gen, memory_order_acquire)) < gen)
        pa_futex_wait(&restart_gen, g);
    atomic_store_explicit(&me->park, GC_RUNNING, memory_order_release);
    sem_post(&ack_sem);
    errno = saved;
}

/* A short sleep: under TSan, where a held-back signal is delivered. */
static void nap(void)
{
    struct timespec ts = { 0, 20000 };
    nanosleep(&ts, NULL);
}

/* Park me (RUNNING -> PARKED) with sp published: the stopper then claims
 * me without a signal. A stop that signalled me first is answered in the
 * nap, where TSan delivers the signal. */
static void park(gc_thread *me, uintptr_t sp)
{
    int st = GC_RUNNING;
    for (;;) {
        atomic_store_explicit(&me->sp, sp, memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&me->park, &st, GC_PARKED,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire))
            return;
        nap();                                /* SIGNALLED: let the handler run */
        st = GC_RUNNING;
    }
}

/* PARKED -> RUNNING, after the restart if a stop claimed me meanwhile. */
static void unpark(gc_thread *me)
{
    int st = GC_PARKED;
    while (!atomic_compare_exchange_strong_explicit(&me->park, &st, GC_RUNNING,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire)) {
        nap();                                /* STOPPED_PARKED until the restart */
        st = GC_PARKED;
    }
}

int gc_mutex_lock_parked(pthread_mutex_t *m)
{
    if (pthread_mutex_trylock(m) == 0)
        return 0;
    gc_thread *me = self;
    if (!me)
        return pthread_mutex_lock(m);
    __builtin_unwind_init();                  /* callee-saved registers: here */
    volatile uintptr_t here = 0;
    park(me, (uintptr_t)&here);
    int err = pthread_mutex_lock(m);
    unpark(me);
    __asm__ volatile("" : : "r"(&here) : "memory");
    return err;
}

/* sem_wait, parked under TSan (which holds a signal back from a thread
 * blocked in sem_wait, as in pthread_mutex_lock): a registered thread
 * waiting for the thread it created to register (threads.c) would never
 * answer a stop, while the new thread waits for threads_mu, which the
 * stopper holds (stress/test_gc_threads hung so). The waiter touches no
 * heap object until it unparks. */
int gc_sem_wait_parked(sem_t *sem)
{
    gc_thread *me = GC_UNDER_TSAN ? self : NULL;
    if (!me) {
        int err;
        while ((err = sem_wait(sem)) != 0 && errno == EINTR)
            ;
        return err;
    }
    __builtin_unwind_init();
    volatile uintptr_t here = 0;
    park(me, (uintptr_t)&here);
    int err;
    while ((err = sem_wait(sem)) != 0 && errno == EINTR)
        ;
    unpark(me);
    __asm__ volatile("" : : "r"(&here) : "memory");
    return err;
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
    return 0;
}

void gc_threads_lock(void)
{
    gc_lock(&threads_mu);
}

void gc_threads_unlock(void)
{
    pthread_mutex_unlock(&threads_mu);
}

uint32_t gc_thread_count(void)
{
    gc_lock(&threads_mu);
    uint32_t n = nthreads;
    pthread_mutex_unlock(&threads_mu);
    return n;
}

int gc_self_registered(void)
{
    return self != NULL;
}

/* The calling thread's stack mapping [*lo, *hi); 0 or an errno. */
static int stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
    pthread_attr_t at;
    int err = pthread_getattr_np(pthread_self(), &at);
    if (err)
        return err;
    void *addr;
    size_t size;
    err = pthread_attr_getstack(&at, &addr, &size);
    pthread_attr_destroy(&at);
    if (err)
        return err;
    *lo = (uintptr_t)addr;
    *hi = (uintptr_t)addr + size;
    return 0;
}

PA_API int pa_gc_get_stack_base(void **base)
{
    if (!base)
        return EINVAL;
    uintptr_t lo, hi;
    int err = stack_bounds(&lo, &hi);
    if (err)
        return err;
    *base = (void *)hi;
    return 0;
}

/* dl_iterate_phdr: the calling thread's TLS blocks outside its stack
 * mapping, this library's own excepted when it is a shared object. */
static int tls_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    gc_thread *t = arg;
    if (!info->dlpi_tls_data)
        return 0;
    int main_prog = !info->dlpi_name || !info->dlpi_name[0];
    uintptr_t me = (uintptr_t)&gc_g;
    uintptr_t lo = 0, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t seg = info->dlpi_addr + ph->p_vaddr;
        if (!main_prog && ph->p_type == PT_LOAD && me >= seg && me < seg + ph->p_memsz)
            return 0;                              /* this library */
        if (ph->p_type == PT_TLS) {
            lo = (uintptr_t)info->dlpi_tls_data;
            hi = lo + ph->p_memsz;
        }
    }
    if (lo < hi && !(lo >= t->stack_lo && hi <= t->stack_hi) && t->ntls < GC_THREAD_TLS) {
        t->tls[t->ntls][0] = lo;
        t->tls[t->ntls][1] = hi;
        t->ntls++;
    }
    return 0;
}

int gc_thread_register(const void *stack_base)
{
    if (self)
        return EALREADY;
    uintptr_t lo = 0, hi = (uintptr_t)stack_base, map_lo, map_hi;
    int err = stack_bounds(&map_lo, &map_hi);
    if (err && !hi)
        return err;
    if (!err) {
        if (!hi)
            hi = map_hi;
        if (map_lo < hi && hi <= map_hi)
            lo = map_lo;
    }
    gc_thread *t = pa_fixalloc_alloc(&thread_recs, &err);
    if (!t)
        return err ? err : ENOMEM;
    memset(t, 0, sizeof *t);
    t->tid = pthread_self();
    t->stack_hi = hi;
    t->stack_lo = lo;
    t->main_thread = getpid() == (pid_t)syscall(SYS_gettid);
    dl_iterate_phdr(tls_cb, t);
    pthread_setspecific(self_key, t);
    /* Make sure the suspend signal is not blocked in this thread. */
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, gc_g.sig_suspend);
    pthread_sigmask(SIG_UNBLOCK, &m, NULL);
    gc_lock(&threads_mu);
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
    gc_lock(&threads_mu);
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

PA_API int pa_gc_get_signals(int *suspend, int *restart)
{
    if (!__atomic_load_n(&gc_g.inited, __ATOMIC_ACQUIRE))
        return EAGAIN;
    if (suspend)
        *suspend = gc_g.sig_suspend;
    if (restart)
        *restart = 0;
    return 0;
}

/* Wait for n answers. When stopping (resend), a thread that has not
 * answered after a while is signalled again: a signal can get lost (seen
 * under TSan, whose own signal handling stands between the kernel and the
 * handler); the handler ignores a repeat of a stop it answered. */
static void ack_wait(uint32_t n, int resend)
{
    uint32_t k = 0;
    while (k < n) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000;               /* 50 ms */
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (sem_timedwait(&ack_sem, &ts) == 0) {
            k++;
        } else if (errno == ETIMEDOUT && resend) {
            uint32_t gen = atomic_load_explicit(&stop_gen, memory_order_relaxed);
            for (gc_thread *t = threads; t; t = t->next)
                if (t != self &&
                    atomic_load_explicit(&t->park, memory_order_acquire) == GC_SIGNALLED &&
                    atomic_load_explicit(&t->acked, memory_order_relaxed) != gen)
                    pthread_kill(t->tid, gc_g.sig_suspend);
        }
    }
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
        for (;;) {
            int st = GC_PARKED;
            if (atomic_compare_exchange_strong_explicit(&t->park, &st, GC_STOPPED_PARKED,
                                                        memory_order_acq_rel,
                                                        memory_order_acquire))
                break;                        /* blocked on a lock: its sp is set */
            st = GC_RUNNING;
            if (atomic_compare_exchange_strong_explicit(&t->park, &st, GC_SIGNALLED,
                                                        memory_order_acq_rel,
                                                        memory_order_acquire)) {
                atomic_store_explicit(&t->sp, 0, memory_order_relaxed);
                if (pthread_kill(t->tid, gc_g.sig_suspend) == 0)
                    nstopped++;
                else
                    atomic_store_explicit(&t->park, GC_RUNNING, memory_order_release);
                break;
            }
        }
    }
    ack_wait(nstopped, 1);
}

void gc_world_start(void)
{
    for (gc_thread *t = threads; t; t = t->next) {
        int st = GC_STOPPED_PARKED;
        if (t != self)
            atomic_compare_exchange_strong_explicit(&t->park, &st, GC_PARKED,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire);
    }
    atomic_store_explicit(&restart_gen, atomic_load_explicit(&stop_gen, memory_order_relaxed),
                          memory_order_release);
    pa_futex_wake_all(&restart_gen);
}

/* threads_mu held since the stop: the threads woken by gc_world_start run
 * already; wait until each has left its handler (its second answer), so
 * none is still inside it when the next stop comes. Outside the pause: a
 * woken thread waits for a CPU, not for the collector. */
void gc_world_start_wait(void)
{
    ack_wait(nstopped, 0);
}

/* t's stack, stopped at sp (alt_hi, norm_sp: see gc_thread). */
static void scan_stack(const gc_thread *t, uintptr_t sp, uintptr_t alt_hi, uintptr_t norm_sp)
{
    if (on_stack(t, sp)) {
        gc_mark_range(sp, t->stack_hi);
        return;
    }
    if (alt_hi)
        gc_mark_range(sp, alt_hi);
    if (norm_sp)
        gc_mark_range(norm_sp, t->stack_hi);
    else if (t->stack_lo && !t->main_thread)
        gc_mark_range(t->stack_lo, t->stack_hi);   /* mapped, where sp was lost */
}

void gc_scan_threads(uintptr_t own_lo, uintptr_t regs, uintptr_t regs_end)
{
    gc_thread *me = self;
    if (me) {
        uintptr_t alt_hi = 0, norm_sp = 0;
        if (!on_stack(me, own_lo))
            off_stack(me, own_lo, &alt_hi, &norm_sp);
        scan_stack(me, own_lo, alt_hi, norm_sp);
    } else {
        void *b;
        if (pa_gc_get_stack_base(&b) == 0 && own_lo < (uintptr_t)b)
            gc_mark_range(own_lo, (uintptr_t)b);
    }
    gc_mark_range(regs, regs_end);
    for (gc_thread *t = threads; t; t = t->next) {
        for (uint32_t k = 0; k < t->ntls; k++)
            gc_mark_range(t->tls[k][0], t->tls[k][1]);
        if (t == me)
            continue;
        uintptr_t sp = atomic_load_explicit(&t->sp, memory_order_acquire);
        if (sp)
            scan_stack(t, sp, t->alt_hi, t->norm_sp);
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
