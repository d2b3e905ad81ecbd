/*
 * stack_pair.c - one create+destroy pair in a loop, for instruction counts
 * under callgrind (deterministic, unlike timings on a shared machine):
 *
 *   pagealloc-bench-stack-pair IMPL KIB N
 *     IMPL 0 pa_stack_alloc/free, 1 glibc malloc/free, 2 mimalloc
 *     (dlopen'd RTLD_LOCAL, as in stack.c); KIB the stack size; N pairs.
 *
 * Each pair touches the top 64 bytes, as stack.c's pairs do. Instructions
 * per pair: run it under `valgrind --tool=callgrind` with two values of N
 * and divide the difference of the totals by the difference of N (start-up
 * cancels out); bench/README.md has the command.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagealloc/stack.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s IMPL(0 pagealloc, 1 glibc, 2 mimalloc) KIB N\n", argv[0]);
        return 2;
    }
    int impl = atoi(argv[1]);
    size_t size = (size_t)atol(argv[2]) << 10;
    long n = atol(argv[3]);
    pa_stack_allocator *a = pa_stack_allocator_new(NULL);
    void *(*mi_malloc_fn)(size_t) = NULL;
    void (*mi_free_fn)(void *) = NULL;
    if (impl == 2) {
        void *lib = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
        if (lib) {
            mi_malloc_fn = (void *(*)(size_t))dlsym(lib, "mi_malloc");
            mi_free_fn = (void (*)(void *))dlsym(lib, "mi_free");
        }
    }
    if (!a || size == 0 || impl < 0 || impl > 2 || (impl == 2 && (!mi_malloc_fn || !mi_free_fn))) {
        fprintf(stderr, "%s: cannot run implementation %d\n", argv[0], impl);
        return 1;
    }
    for (long i = 0; i < n; i++) {
        char *hi;
        pa_stack s;
        void *p = NULL;
        if (impl == 0) {
            if (pa_stack_alloc(a, size, &s))
                return 1;
            hi = s.hi;
        } else {
            p = impl == 1 ? malloc(size) : mi_malloc_fn(size);
            if (!p)
                return 1;
            hi = (char *)p + size;
        }
        memset(hi - 64, 1, 64);
        if (impl == 0)
            pa_stack_free(a, &s);
        else if (impl == 1)
            free(p);
        else
            mi_free_fn(p);
    }
    pa_stack_allocator_delete(a);
    return 0;
}
