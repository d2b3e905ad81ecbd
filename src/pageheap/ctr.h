/*
 * ctr.h - the heap's statistics counters' updates (heap.h has the
 * counters; docs/heap.md "Statistics"). Any thread reads a counter with
 * a relaxed atomic load, at any time, so every write must be one store
 * of the whole word; how it is made differs by who writes:
 * - ctr_add / ctr_sub: any thread (the heap's own figures): an atomic
 *   read-modify-write.
 * - ctr_own_add: one writer at a time, under a flag or lock that orders
 *   it against the others (the page cache's published figures and the
 *   run cache's totals, written by the owner and by flushers under the
 *   busy flag): as ctr_stat_add, one unlocked `add` on x86-64 (issue 11:
 *   the run cache's two totals on every hit and keep). The asm is
 *   volatile and names the counter as a memory operand, so the compiler
 *   keeps it between the flag's acquire and release like any access to
 *   the counter; the portable form is a relaxed atomic load and store.
 * - ctr_stat_add: the one thread that ever writes it (a thread record's
 *   ph_counters, on its owner's alloc and free paths; folded by that
 *   thread at its exit), where nothing orders against it: on x86-64 one
 *   unlocked `add` to memory, a single aligned 8-byte store as far as
 *   another core's load sees (never torn), one instruction instead of
 *   three (W1: four counters a step); base/ownadd.h has the one asm,
 *   and the portable form elsewhere and under ThreadSanitizer.
 */
#ifndef PAGEALLOC_PAGEHEAP_CTR_H
#define PAGEALLOC_PAGEHEAP_CTR_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/ownadd.h"

static inline __attribute__((always_inline)) void ctr_own_add(_Atomic uint64_t *c, uint64_t v)
{
    pa_own_add(c, v);
}

static inline __attribute__((always_inline)) void ctr_own_sub(_Atomic uint64_t *c, uint64_t v)
{
    pa_own_sub(c, v);
}

static inline __attribute__((always_inline)) void ctr_stat_add(_Atomic uint64_t *c, uint64_t v)
{
    pa_own_add(c, v);
}

static inline void ctr_add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static inline void ctr_sub(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_sub_explicit(c, v, memory_order_relaxed);
}

#endif /* PAGEALLOC_PAGEHEAP_CTR_H */
