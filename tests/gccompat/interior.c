/*
 * interior.c - GC_set_all_interior_pointers(0) before GC_INIT: a pointer
 * to the start keeps an object alive, a pointer only into its middle
 * does not (its disappearing link is cleared).
 */
#include <gc.h>

#include "compat.h"

#define N 500
#define SIZE 256

static void **links;
static char *middle[N];          /* .bss roots holding interior pointers */
static char *start[N];

static __attribute__((noinline)) void build(void)
{
    for (int i = 0; i < N; i++) {
        char *o = GC_MALLOC(SIZE);
        links[i] = o;
        if (GC_general_register_disappearing_link(&links[i], o) == GC_UNIMPLEMENTED)
            compat_skip("disappearing links are not implemented by this collector");
        if (i % 2)
            middle[i] = o + SIZE / 2;
        else
            start[i] = o;
    }
}

int main(void)
{
    GC_set_all_interior_pointers(0);
    GC_INIT();
    if (GC_get_all_interior_pointers() != 0)
        compat_skip("this collector cannot switch interior pointers off");
    compat_check("interior pointers off", GC_get_all_interior_pointers() == 0);
    links = calloc(N, sizeof *links);
    build();
    compat_clear_stack();
    GC_gcollect();
    int starts = 1, middles = 0;
    for (int i = 0; i < N; i++)
        if (i % 2)
            middles += links[i] == NULL;
        else
            starts &= links[i] == start[i];
    compat_check("base pointers keep objects", starts);
    compat_check("interior-only objects reclaimed: 90%+", middles >= N / 2 * 9 / 10);
    free(links);
    return compat_done();
}
