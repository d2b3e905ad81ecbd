/*
 * checklevel.h - graduated run-time checking, a shared service of every
 * layer (the levels are documented for users in <pagealloc/errors.h>).
 *
 * Level 0 (default): cheap validation of caller input only: a free reads
 *   the bitmap of the pages it frees, a cache flush the word it returns,
 *   every heap call the handle's magic word. Always on, release builds
 *   included.
 * Level 1: also the internal and cross-structure checks that cost more
 *   than a bitmap read, e.g. a heap free of pages that a page cache owns
 *   (the allocator sees them as allocated) is refused.
 * Level 2: also the full invariant checker of the layer concerned after
 *   every mutating call (pagealloc/debug.h for the page allocator); a
 *   broken invariant is reported through the error handler.
 *
 * The level comes from the environment variable PAGEALLOC_CHECK (0, 1 or
 * 2), read once, at the first call that asks; pagealloc_set_check_level
 * overrides it at any time (a negative level goes back to the
 * environment). Reading the level costs one relaxed load.
 */
#ifndef PAGEALLOC_BASE_CHECKLEVEL_H
#define PAGEALLOC_BASE_CHECKLEVEL_H

#define PA_CHECK_CHEAP     0
#define PA_CHECK_INTERNAL  1
#define PA_CHECK_FULL      2

/* The level in force; -1 until read from the environment. Relaxed
 * atomics: racing first readers compute the same value. Defined in
 * checklevel.c. Hidden (the library's own, never exported): under -fPIC
 * a default-visibility extern is read through the GOT, an address load
 * before the value's (pageheap_free's fast path reads it every call). */
extern int pa_check_level_v __attribute__((visibility("hidden")));

/* The level PAGEALLOC_CHECK asks for (0 when unset or not a number),
 * clamped to [0, 2]. */
int pa_check_level_env(void);

static inline int pa_check_level(void)
{
    int l = __atomic_load_n(&pa_check_level_v, __ATOMIC_RELAXED);
    if (__builtin_expect(l < 0, 0)) {
        l = pa_check_level_env();
        __atomic_store_n(&pa_check_level_v, l, __ATOMIC_RELAXED);
    }
    return l;
}

#endif /* PAGEALLOC_BASE_CHECKLEVEL_H */
