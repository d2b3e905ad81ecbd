/*
 * reach.c - objects reachable only from the stack, a global, a range
 * added with GC_add_roots, an interior pointer and an uncollectable
 * object survive many collections with their contents intact, while a
 * churn of garbage goes on around them; an uncollectable object survives
 * with no pointer to it at all.
 */
#include <gc.h>

#include "compat.h"

#define N 64
#define SIZE 200

struct holder {
    void *slot[N];
};

static void *global_obj[N];          /* .bss: scanned as a root */

/* Garbage between collections: lists of objects dropped at once. */
static __attribute__((noinline)) void churn(unsigned rounds)
{
    for (unsigned r = 0; r < rounds; r++) {
        void **head = NULL;
        for (int i = 0; i < 2000; i++) {
            void **o = GC_MALLOC(48 + (i % 7) * 16);
            o[0] = head;
            head = o;
        }
    }
}

static void fill_all(void **v, unsigned seed)
{
    for (int i = 0; i < N; i++) {
        v[i] = GC_MALLOC(SIZE);
        compat_fill(v[i], SIZE, seed + (unsigned)i);
    }
}

static int all_intact(void *const *v, unsigned seed, size_t offset)
{
    for (int i = 0; i < N; i++)
        if (!compat_intact((char *)v[i] - offset, SIZE, seed + (unsigned)i))
            return 0;
    return 1;
}

/* An uncollectable object no root reaches: only a hidden pointer. */
static __attribute__((noinline)) GC_hidden_pointer lone_uncollectable(void)
{
    void *u = GC_MALLOC_UNCOLLECTABLE(SIZE);
    compat_fill(u, SIZE, 6);
    return GC_HIDE_POINTER(u);
}

int main(void)
{
    GC_INIT();
    void *on_stack[N];
    volatile void **root_range = malloc(N * sizeof(void *)); /* libc: unscanned */
    void *interior[N];
    struct holder *keeper = GC_MALLOC_UNCOLLECTABLE(sizeof *keeper);

    fill_all(on_stack, 1);
    fill_all(global_obj, 2);
    GC_add_roots((void *)root_range, (void *)(root_range + N));
    fill_all((void **)root_range, 3);
    fill_all(interior, 4);
    for (int i = 0; i < N; i++)       /* only pointers into the middle */
        interior[i] = (char *)interior[i] + SIZE / 2;
    fill_all(keeper->slot, 5);
    GC_hidden_pointer lone = lone_uncollectable();

    for (int cycle = 0; cycle < 8; cycle++) {
        churn(4);
        GC_gcollect();
    }
    compat_check("reachable from the stack", all_intact(on_stack, 1, 0));
    compat_check("reachable from a global", all_intact(global_obj, 2, 0));
    compat_check("reachable from an added root", all_intact((void **)root_range, 3, 0));
    compat_check("reachable from an interior pointer", all_intact(interior, 4, SIZE / 2));
    compat_check("reachable from an uncollectable object", all_intact(keeper->slot, 5, 0));
    void *u = GC_REVEAL_POINTER(lone);
    compat_check("an unreachable uncollectable object is kept",
                 GC_base(u) == u && compat_intact(u, SIZE, 6));
    GC_FREE(u);
    compat_check("GC_base of an interior pointer",
                 GC_base(interior[0]) == (char *)interior[0] - SIZE / 2);
    compat_check("collections counted", GC_get_gc_no() >= 8);

    GC_remove_roots((void *)root_range, (void *)(root_range + N));
    GC_FREE(keeper);
    free((void *)root_range);
    return compat_done();
}
