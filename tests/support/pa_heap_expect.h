/*
 * pa_heap_expect.h - the cmocka assertions the unit tests share on a
 * heap's own invariant checker: pageheap_check for a page heap and
 * pa_gc_check for the collector's heap. Each passes, or the test fails
 * with the checker's message, which names the address and the broken
 * invariant. Include it after <cmocka.h>.
 */
#ifndef PA_HEAP_EXPECT_H
#define PA_HEAP_EXPECT_H

#include <pagealloc/gc.h>
#include <pagealloc/pageheap.h>

static inline void pa_expect_heap_ok(pageheap *h)
{
    char msg[512];
    if (pageheap_check(h, msg, sizeof msg) != 0)
        fail_msg("pageheap_check: %s", msg);
}

static inline void pa_expect_gc_ok(void)
{
    char msg[512] = "";
    if (pa_gc_check(msg, sizeof msg) != 0)
        fail_msg("pa_gc_check: %s", msg);
}

#endif /* PA_HEAP_EXPECT_H */
