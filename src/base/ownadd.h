/*
 * ownadd.h - pa_own_add: add to a 64-bit counter that one thread at a
 * time writes (its one owner, or writers ordered by a flag or lock they
 * take) and any thread may read with a relaxed atomic load, at any time
 * (the page heap's per-thread statistics and run-cache totals,
 * src/pageheap/ctr.h).
 * Readers need every write to be one store of the whole word, never torn;
 * nothing orders against the counter. The portable form is a relaxed
 * atomic load and store (three instructions); on x86-64 one unlocked
 * `add` to memory is the same thing as another core's load sees (an
 * aligned 8-byte access is atomic there) in one instruction. The one
 * place the library names that instruction; under ThreadSanitizer, which
 * cannot see inside an asm, the portable form.
 */
#ifndef PAGEALLOC_OWNADD_H
#define PAGEALLOC_OWNADD_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/tsan.h"

static inline __attribute__((always_inline)) void pa_own_add(_Atomic uint64_t *c, uint64_t v)
{
#if defined(__x86_64__) && !PA_UNDER_TSAN
    __asm__ volatile("addq %1, %0" : "+m"(*(uint64_t *)(void *)c) : "er"(v));
#else
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
#endif
}

/* pa_own_add of -v: a `sub`, so that the caller does not negate v first. */
static inline __attribute__((always_inline)) void pa_own_sub(_Atomic uint64_t *c, uint64_t v)
{
#if defined(__x86_64__) && !PA_UNDER_TSAN
    __asm__ volatile("subq %1, %0" : "+m"(*(uint64_t *)(void *)c) : "er"(v));
#else
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - v,
                          memory_order_relaxed);
#endif
}

#endif /* PAGEALLOC_OWNADD_H */
