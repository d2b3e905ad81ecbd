/*
 * lock.h - the shard lock (heap.h, ph_shard.mu; docs/heap.md "Locks and
 * their order").
 *
 * What it is. One atomic 32-bit word: 0 free, 1 held, 2 held and a taker
 * may be asleep on it. Taking a free lock is one compare-and-swap 0 -> 1;
 * giving it back is one exchange to 0, followed by a futex wake only when
 * the word was 2. A taker that finds the lock held spins on plain loads
 * (with the CPU's pause hint) for a while, as a short holder is the
 * common case; then it marks the word 2 and sleeps on it in the kernel
 * (base/futex.h) until a give-back wakes it, so a long holder
 * (ph_rm_trim, the checker) costs its waiters no CPU.
 * (The three-state futex lock: a taker that wakes sets 2 again, since it
 * cannot know whether others still sleep; at worst one wake too many.)
 *
 * Why not a pthread mutex. The shard lock is taken on every run-cache
 * miss, every free that goes to the allocator and every split's tail: a
 * third of W1's steps. Uncontended, glibc's lock and unlock cost 57
 * instructions a pair (callgrind: 31 + 26) against a handful here. It is
 * almost never contended: each thread allocates from its own shard, and
 * frees of another shard's runs, the background scavenger, flushes and
 * the checker are rare next to that.
 *
 * Invariants. Acquire on taking, release on giving back, so that what
 * one holder wrote is visible to the next. Not recursive; no owner is
 * recorded (a give-back by a thread that does not hold it is a bug the
 * lock cannot see). After fork the child makes it free (ph_lock_init).
 */
#ifndef PAGEALLOC_PAGEHEAP_LOCK_H
#define PAGEALLOC_PAGEHEAP_LOCK_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/futex.h"
#include "base/pause.h"

typedef struct ph_lock {
    _Atomic uint32_t held;            /* 0 free, 1 held, 2 held, maybe sleepers */
} ph_lock;

static inline void ph_lock_init(ph_lock *l)
{
    atomic_store_explicit(&l->held, 0, memory_order_relaxed);
}

/* The contended path: spin on loads for a short holder, then sleep.
 * Out of line (a copy per file that takes the lock), so that the fast
 * path stays a call-free compare-and-swap. */
static __attribute__((noinline, cold, unused)) void ph_lock_wait(ph_lock *l)
{
    for (unsigned n = 0; n < 100; n++) {
        uint32_t free_ = 0;
        if (!atomic_load_explicit(&l->held, memory_order_relaxed) &&
            atomic_compare_exchange_weak_explicit(&l->held, &free_, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        pa_spin_pause();
    }
    while (atomic_exchange_explicit(&l->held, 2, memory_order_acquire) != 0)
        pa_futex_wait(&l->held, 2);
}

static inline void ph_lock_take(ph_lock *l)
{
    uint32_t free_ = 0;
    if (!atomic_compare_exchange_strong_explicit(&l->held, &free_, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        ph_lock_wait(l);
}

static inline void ph_lock_give(ph_lock *l)
{
    if (atomic_exchange_explicit(&l->held, 0, memory_order_release) == 2)
        pa_futex_wake(&l->held, 1);
}

#endif /* PAGEALLOC_PAGEHEAP_LOCK_H */
