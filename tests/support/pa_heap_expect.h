/*
 * pa_heap_expect.h - the one cmocka assertion the page heap's unit tests
 * share: the heap's own invariant checker (pageheap_check) passes, and
 * when it does not, the test fails with the checker's message, which
 * names the address and the broken invariant. Include it after <cmocka.h>.
 */
#ifndef PA_HEAP_EXPECT_H
#define PA_HEAP_EXPECT_H

#include <pagealloc/pageheap.h>

static inline void pa_expect_heap_ok(pageheap *h)
{
    char msg[512];
    if (pageheap_check(h, msg, sizeof msg) != 0)
        fail_msg("pageheap_check: %s", msg);
}

#endif /* PA_HEAP_EXPECT_H */
