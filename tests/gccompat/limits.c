/*
 * limits.c - the compile-time settings of GC_INIT: GC_INITIAL_HEAP_SIZE
 * grows the heap at start-up and GC_MAXIMUM_HEAP_SIZE caps it: keeping
 * everything alive, allocation fails (NULL) before the heap passes the
 * cap; after dropping it all, allocation succeeds again.
 */
#define GC_INITIAL_HEAP_SIZE (8u << 20)
#define GC_MAXIMUM_HEAP_SIZE (32u << 20)
#include <gc.h>

#include "compat.h"

static void **live;

static __attribute__((noinline)) long fill_until_null(void)
{
    long n = 0;
    void **head = NULL;
    for (;;) {
        void **o = GC_MALLOC(4000);
        if (o == NULL)
            break;
        o[0] = head;
        head = o;
        if (++n > (1L << 20))       /* 4 GiB: the cap did not hold */
            break;
    }
    *live = head;
    return n;
}

int main(void)
{
    GC_INIT();
    compat_check("initial heap size reached", GC_get_heap_size() >= (8u << 20));
    live = GC_MALLOC_UNCOLLECTABLE(sizeof(void *));
    long n = fill_until_null();
    compat_check("allocation fails at the cap", n < (32L << 20) / 4000);
    compat_check("a quarter of the cap was usable", n > (8L << 20) / 4000);
    compat_check("heap within the cap", GC_get_heap_size() <= (32u << 20));
    *live = NULL;
    compat_clear_stack();
    GC_gcollect();
    compat_check("allocation works again after the drop", GC_MALLOC(4096) != NULL);
    return compat_done();
}
