/*
 * sizeclass.h - the object allocator's size classes (docs/malloc.md,
 * "Size classes"): Go's 67 classes (runtime/sizeclasses.go, produced by
 * mksizeclasses.go's rules: tail waste and internal waste each bounded by
 * about 12.5 %, spans of 1 to 10 pages) with the two that are not
 * multiples of 16 bytes (8 and 24) removed, so that every object a class
 * holds is 16-byte aligned, as glibc's malloc guarantees on x86-64. A
 * request of 1..16 bytes goes to the 16-byte class, 17..32 to 32, and so
 * on; classes keep Go's pages per span.
 *
 *   class:  1   2   3   4 ...  31    32 ...  65
 *   bytes: 16  32  48  64 ... 1024 1152 ... 32768
 *
 * Class 0 is "large": one object of whole pages, its own span.
 *
 * Lookup (pa_size_class): sizes up to 1024 index a table by 16-byte steps,
 * sizes up to 32768 a second table by 128-byte steps (Go's two tables,
 * with 16 in place of Go's 8). Object index from an offset: a 32-bit
 * reciprocal multiply (Go's divMagic), checked exact for every offset of
 * a span when the tables are built.
 */
#ifndef PAGEALLOC_MALLOC_SIZECLASS_H
#define PAGEALLOC_MALLOC_SIZECLASS_H

#include <stddef.h>
#include <stdint.h>

#define PA_NCLASSES       66u         /* 0 (large) + 65 small classes */
#define PA_MAX_SMALL      32768u
#define PA_SMALL_STEP_MAX 1024u

typedef struct pa_class_info {
    uint32_t size;        /* bytes per object */
    uint32_t npages;      /* pages per span */
    uint32_t nelems;      /* objects per span */
    uint32_t divmagic;    /* offset * divmagic >> 32 == offset / size */
    uint32_t lifo_cap;    /* a thread's recent-free stack: objects kept (mheap.h) */
} pa_class_info;

/* The most objects a thread's recent-free stack keeps per class: up to
 * PA_LIFO_BYTES of them, at least 2 and at most PA_LIFO_MAX. */
#define PA_LIFO_MAX   128u
#define PA_LIFO_BYTES 16384u

extern pa_class_info pa_classes[PA_NCLASSES];
extern uint8_t pa_class_by16[PA_SMALL_STEP_MAX / 16 + 1];
extern uint8_t pa_class_by128[(PA_MAX_SMALL - PA_SMALL_STEP_MAX) / 128 + 1];

/* Build the tables (idempotent; call before any lookup). */
void pa_sizeclass_init(void);

/* The class for an n-byte request, n <= PA_MAX_SMALL (0 is class 1). */
static inline unsigned pa_size_class(size_t n)
{
    if (n <= PA_SMALL_STEP_MAX)
        return pa_class_by16[(n + 15) >> 4];
    return pa_class_by128[(n - PA_SMALL_STEP_MAX + 127) >> 7];
}

#endif /* PAGEALLOC_MALLOC_SIZECLASS_H */
