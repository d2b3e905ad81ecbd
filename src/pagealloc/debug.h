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

/* Run the full checker on pa after call(addr, npages) changed it; report
 * the first broken invariant. The caller serialises calls on pa. */
static inline void pa_debug_verify(const pagealloc *pa, const char *call, uintptr_t addr,
                                   size_t npages)
{
    char msg[160], rule[200];
    if (pagealloc_check(pa, msg, sizeof msg) != 0) {
        snprintf(rule, sizeof rule, "invariant broken after the call: %s", msg);
        pa_report(call, addr, npages, rule);
    }
}

/* The hook placed at the end of mutating calls. */
#define PA_DEBUG_AFTER(pa, call, addr, npages)                                 \
    do {                                                                       \
        if (__builtin_expect(pa_check_level() >= PA_CHECK_FULL, 0))            \
            pa_debug_verify((pa), (call), (uintptr_t)(addr), (size_t)(npages)); \
    } while (0)

#endif /* PAGEALLOC_PAGEALLOC_DEBUG_H */
