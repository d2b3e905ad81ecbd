/*
 * busy.h - a thread record's busy flag (heap.h, ph_thread): the lock that
 * hands the thread's page cache and run cache over between their owner
 * (the thread itself, on every cached allocation and free) and a remote
 * taker (a flusher, the checker, the level-1 free check, thread exit,
 * fork: rare). docs/heap.md "The busy flag" has the protocol's proof.
 *
 * Two protocols; `asym` (constant from the record's creation) says which.
 *
 * Symmetric (asym 0): both sides take `own` with an atomic exchange and
 * give it back with a release store; `remote` is unused. A locked
 * instruction (a full barrier on x86, about 20 cycles) per take. Used
 * when membarrier(2) is not usable (os/membarrier.h: old kernels,
 * seccomp, valgrind, PAGEALLOC_MEMBARRIER=0) and under ThreadSanitizer,
 * which can check it (it cannot see membarrier's ordering).
 *
 * Asymmetric (asym 1), after user-space RCU and Linux's membarrier idiom:
 *   owner take:  own = 1 (relaxed); compiler barrier; if remote (acquire)
 *                is 0, held; else own = 0 (release), wait for remote 0,
 *                and try again.
 *   owner give:  own = 0 (release).
 *   remote take: exchange remote 1 until it was 0 (remotes exclude each
 *                other); sm_membarrier(); wait for own 0 (acquire).
 *   remote give: remote = 0 (release).
 * No locked instruction on the owner's side: the store-to-load order that
 * Dekker's handshake needs (own = 1 before reading remote; remote = 1
 * before reading own) is the remote's membarrier on both sides: it runs a
 * full barrier on the owner's CPU at a point B between the remote's store
 * and its load. If the owner read `remote` after B, it read 1 and backs
 * off; if before B, its earlier store own = 1 was visible to all at B, so
 * the remote reads 1 and waits, until the owner's release store of 0,
 * which its acquire load then synchronises with. Either way no two hold
 * the flag at once, and each holder sees its predecessor's writes (the
 * release/acquire pairs own and remote). The owner may be starved while
 * remotes keep coming: they are rare.
 *
 * Who is which: the owner side is only ever the record's own thread,
 * through ph_last or ph_thread_get (alloc.c, free.c, runcache.c's
 * allocation calls); every other taker uses the remote side, the owner
 * thread too when it acts on every record (a flush, thread exit).
 */
#ifndef PAGEALLOC_PAGEHEAP_BUSY_H
#define PAGEALLOC_PAGEHEAP_BUSY_H

#include <sched.h>
#include <stdatomic.h>

#include "os/membarrier.h"

#if defined(__SANITIZE_THREAD__)
#define PH_BUSY_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PH_BUSY_TSAN 1
#endif
#endif
#ifndef PH_BUSY_TSAN
#define PH_BUSY_TSAN 0
#endif

typedef struct ph_busy {
    atomic_int own;                     /* 1: the owner holds it (or tries) */
    atomic_int remote;                  /* asym: 1 while a remote holds it (or tries) */
    int asym;                           /* constant: the protocol */
} ph_busy;

/* The protocol for a new record: asymmetric if membarrier works here. */
static inline int ph_busy_asym_usable(void)
{
    return !PH_BUSY_TSAN && sm_membarrier_usable();
}

/* The owner's attempt; 1 if held. */
static inline __attribute__((always_inline)) int ph_busy_own_try(ph_busy *b)
{
    if (!b->asym)
        return !atomic_exchange_explicit(&b->own, 1, memory_order_acquire);
    atomic_store_explicit(&b->own, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);     /* the store before the load */
    if (!atomic_load_explicit(&b->remote, memory_order_acquire))
        return 1;
    atomic_store_explicit(&b->own, 0, memory_order_release);
    return 0;
}

static inline void ph_busy_own(ph_busy *b)
{
    while (!ph_busy_own_try(b)) {
        while (b->asym && atomic_load_explicit(&b->remote, memory_order_relaxed))
            sched_yield();
        if (!b->asym)
            sched_yield();
    }
}

static inline __attribute__((always_inline)) void ph_busy_own_give(ph_busy *b)
{
    atomic_store_explicit(&b->own, 0, memory_order_release);
}

/* The remote take in two halves, so that a taker of many flags makes one
 * membarrier for all (threads.c, ph_busy_lock_all): mark each (the
 * symmetric protocol takes it whole here), one sm_membarrier() if any is
 * asymmetric, then settle each (wait for its owner to leave). */
static inline void ph_busy_mark(ph_busy *b)
{
    atomic_int *w = b->asym ? &b->remote : &b->own;
    while (atomic_exchange_explicit(w, 1, memory_order_acquire))
        sched_yield();
}

static inline void ph_busy_settle(ph_busy *b)
{
    while (b->asym && atomic_load_explicit(&b->own, memory_order_acquire))
        sched_yield();
}

static inline void ph_busy_remote(ph_busy *b)
{
    ph_busy_mark(b);
    if (b->asym)
        sm_membarrier();
    ph_busy_settle(b);
}

static inline void ph_busy_remote_give(ph_busy *b)
{
    atomic_store_explicit(b->asym ? &b->remote : &b->own, 0, memory_order_release);
}

/* After fork, in the child (one thread): nobody holds it. */
static inline void ph_busy_reset(ph_busy *b)
{
    atomic_store_explicit(&b->own, 0, memory_order_relaxed);
    atomic_store_explicit(&b->remote, 0, memory_order_relaxed);
}

/* On a thread record t (heap.h, ph_thread, its member `busy`): the
 * owner's side by t's own thread only, busy_lock and busy_unlock (the
 * remote side) by anyone else, and by t's thread when it acts on all. */
#define busy_own_try(t)  ph_busy_own_try(&(t)->busy)
#define busy_own(t)      ph_busy_own(&(t)->busy)
#define busy_own_give(t) ph_busy_own_give(&(t)->busy)
#define busy_lock(t)     ph_busy_remote(&(t)->busy)
#define busy_unlock(t)   ph_busy_remote_give(&(t)->busy)

#endif /* PAGEALLOC_PAGEHEAP_BUSY_H */
