/*
 * lock.h - the shard lock (heap.h, ph_shard.mu; docs/heap.md "Locks and
 * their order").
 *
 * What it is. One atomic int: 0 free, 1 held. Taking it is one atomic
 * exchange; giving it back is one release store. A taker that finds it
 * held spins on plain loads (with the CPU's pause hint) for a while, then
 * yields the CPU between looks (sched_yield), as the threads' busy flags
 * do; it never sleeps in the kernel, so a holder's release wakes nobody.
 *
 * Why not a pthread mutex. The shard lock is taken on every run-cache
 * miss, every free that goes to the allocator and every split's tail: a
 * third of W1's steps. Uncontended, glibc's lock and unlock cost 57
 * instructions a pair (callgrind: 31 + 26) against 2 here. It is almost
 * never contended: each thread allocates from its own shard, and frees
 * of another shard's runs, the background scavenger, flushes and the
 * checker are rare next to that.
 *
 * Invariants. Acquire on taking, release on giving back, so that what
 * one holder wrote is visible to the next. Not recursive; no owner is
 * recorded (a give-back by a thread that does not hold it is a bug the
 * lock cannot see). After fork the child makes it free (ph_lock_init).
 */
#ifndef PAGEALLOC_PAGEHEAP_LOCK_H
#define PAGEALLOC_PAGEHEAP_LOCK_H

#include <sched.h>
#include <stdatomic.h>

typedef struct ph_lock {
    atomic_int held;
} ph_lock;

static inline void ph_lock_init(ph_lock *l)
{
    atomic_store_explicit(&l->held, 0, memory_order_relaxed);
}

/* The contended path: spin on loads, then yield between looks. Out of
 * line (a copy per file that takes the lock), so that the fast path
 * stays a call-free exchange. */
static __attribute__((noinline, cold, unused)) void ph_lock_wait(ph_lock *l)
{
    for (unsigned n = 0;; n++) {
        if (!atomic_load_explicit(&l->held, memory_order_relaxed) &&
            !atomic_exchange_explicit(&l->held, 1, memory_order_acquire))
            return;
        if (n < 64) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            sched_yield();
        }
    }
}

static inline void ph_lock_take(ph_lock *l)
{
    if (atomic_exchange_explicit(&l->held, 1, memory_order_acquire))
        ph_lock_wait(l);
}

static inline void ph_lock_give(ph_lock *l)
{
    atomic_store_explicit(&l->held, 0, memory_order_release);
}

#endif /* PAGEALLOC_PAGEHEAP_LOCK_H */
