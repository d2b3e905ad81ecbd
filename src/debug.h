/*
 * debug.h - graduated run-time checking (STYLE habit 7).
 *
 * Level 0 (default): cheap validation of caller input only: a free reads
 *   the bitmap of the pages it frees, a cache flush the word it returns,
 *   every heap call the handle's magic word. Always on, release builds
 *   included.
 * Level 1: also the internal and cross-structure checks that cost more
 *   than a bitmap read, e.g. a heap free of pages that a page cache owns
 *   (the allocator sees them as allocated) is refused.
 * Level 2: also pagealloc_check (the full invariant checker, cost
 *   proportional to the heap) after every mutating call; a broken
 *   invariant is reported through the error handler, naming the call,
 *   its address and page count and the invariant.
 *
 * The level comes from the environment variable PAGEALLOC_CHECK (0, 1 or
 * 2), read once, at the first call that asks; pagealloc_set_check_level
 * overrides it at any time (a negative level goes back to the
 * environment). Reading the level costs one relaxed load.
 *
 * Everything here is static inline, so no separate object is needed; the
 * one variable, pa_check_level_v, is defined in pagealloc.c.
 */
#ifndef PAGEALLOC_DEBUG_H
#define PAGEALLOC_DEBUG_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "pagealloc/pagealloc.h"
#include "report.h"

#define PA_CHECK_CHEAP     0
#define PA_CHECK_INTERNAL  1
#define PA_CHECK_FULL      2

/* The level in force; -1 until read from the environment. Relaxed
 * atomics: racing first readers compute the same value. */
extern int pa_check_level_v;

/* PAGEALLOC_CHECK as a level (0 when unset or not a number), clamped to
 * [0, 2]. */
static inline int pa_check_level_env(void)
{
    const char *s = getenv("PAGEALLOC_CHECK");
    if (!s || !*s)
        return PA_CHECK_CHEAP;
    long v = strtol(s, NULL, 10);
    return v < PA_CHECK_CHEAP ? PA_CHECK_CHEAP : v > PA_CHECK_FULL ? PA_CHECK_FULL : (int)v;
}

static inline int pa_check_level(void)
{
    int l = __atomic_load_n(&pa_check_level_v, __ATOMIC_RELAXED);
    if (__builtin_expect(l < 0, 0)) {
        l = pa_check_level_env();
        __atomic_store_n(&pa_check_level_v, l, __ATOMIC_RELAXED);
    }
    return l;
}

/* Level 2: run the full checker on pa after call(addr, npages) changed it;
 * report the first broken invariant. The caller holds pa's lock. */
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

#endif /* PAGEALLOC_DEBUG_H */
