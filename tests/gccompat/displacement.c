/*
 * displacement.c - GC_set_all_interior_pointers(0) before GC_INIT, then
 * GC_REGISTER_DISPLACEMENT(16): an object whose only reference points 16
 * bytes past its start survives collections with its contents intact (its
 * disappearing link stays), as does one referenced at its start; the
 * interior-pointer setting still reads as off.
 */
#include <gc.h>

#include "compat.h"

#define N 400
#define SIZE 128
#define OFFSET 16

static void **links;
static char *at_offset[N];       /* .bss roots: start + OFFSET */
static char *at_start[N];

static __attribute__((noinline)) void build(void)
{
    for (int i = 0; i < N; i++) {
        char *o = GC_MALLOC(SIZE);
        compat_fill(o, SIZE, (unsigned)i);
        links[i] = o;
        if (GC_general_register_disappearing_link(&links[i], o) == GC_UNIMPLEMENTED)
            compat_skip("disappearing links are not implemented by this collector");
        if (i % 2)
            at_offset[i] = o + OFFSET;
        else
            at_start[i] = o;
    }
}

int main(void)
{
    GC_set_all_interior_pointers(0);
    GC_INIT();
    if (GC_get_all_interior_pointers() != 0)
        compat_skip("this collector cannot switch interior pointers off");
    GC_REGISTER_DISPLACEMENT(OFFSET);
    compat_check("interior pointers still read as off", GC_get_all_interior_pointers() == 0);
    links = calloc(N, sizeof *links);
    build();
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 20000; i++)
            (void)GC_MALLOC(SIZE);                   /* garbage to reuse freed space */
        compat_clear_stack();
        GC_gcollect();
    }
    int offsets = 1, starts = 1;
    for (int i = 0; i < N; i++) {
        char *o = i % 2 ? at_offset[i] - OFFSET : at_start[i];
        int kept = links[i] == o && compat_intact(o, SIZE, (unsigned)i);
        if (i % 2)
            offsets &= kept;
        else
            starts &= kept;
    }
    compat_check("objects referenced at the registered displacement kept, intact", offsets);
    compat_check("objects referenced at their start kept, intact", starts);
    free(links);
    return compat_done();
}
