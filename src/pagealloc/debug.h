/*
 * debug.h - the page allocator's level-2 hook (base/checklevel.h): after
 * every mutating call, at check level 2, the full invariant checker runs
 * and a broken invariant is reported through the error handler, naming
 * the call, its address and page count and the invariant.
 *
 * Used by the allocator's own calls and by the heap, which runs it after
 * the allocator calls it makes under a shard lock.
 */
#ifndef PAGEALLOC_PAGEALLOC_DEBUG_H
#define PAGEALLOC_PAGEALLOC_DEBUG_H

#include <stdint.h>
#include <stdio.h>

#include "base/checklevel.h"
#include "base/report.h"
#include "pagealloc/pagealloc.h"

/* The hook's rare path (check.c): the level not yet read from the
 * environment (-1), or level 2. If the level is 2, run the full checker
 * on pa after call(addr, npages) changed it and report the first broken
 * invariant. The caller serialises calls on pa. Out of line, so that the
 * hook in line is one compare and branch. */
__attribute__((cold)) void pa_debug_after_slow(const pagealloc *pa, const char *call,
                                               uintptr_t addr, size_t npages);

/* The hook placed at the end of mutating calls: the level read raw, and
 * compared unsigned, so that -1 (not yet read) goes to the rare path
 * with level 2, which reads it (issue 11: two instructions where
 * pa_check_level's two tests took five, several times a heap W1 step). */
#define PA_DEBUG_AFTER(pa, call, addr, npages)                                     \
    do {                                                                           \
        if (__builtin_expect((unsigned)__atomic_load_n(&pa_check_level_v,          \
                                                       __ATOMIC_RELAXED) >=        \
                                 PA_CHECK_FULL, 0))                                \
            pa_debug_after_slow((pa), (call), (uintptr_t)(addr), (size_t)(npages)); \
    } while (0)

#endif /* PAGEALLOC_PAGEALLOC_DEBUG_H */
