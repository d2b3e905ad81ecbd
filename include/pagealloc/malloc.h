/*
 * malloc.h - the object allocator: Go's mallocgc (size classes, spans,
 * per-thread caches, central lists) on the page heap, with explicit free,
 * as a prefixed API usable beside libc's malloc (the role of mi_malloc).
 * build/libpagealloc-malloc.so puts the same allocator behind the
 * standard names (malloc, free, ...) for LD_PRELOAD or linking.
 *
 * Guarantees:
 *   - every pointer is 16-byte aligned (glibc's x86-64 guarantee); the
 *     aligned calls take any power of two up to 1 GiB;
 *   - objects up to 32 KiB come from size classes (Go's, 16-byte
 *     multiples), larger ones are whole pages of their own;
 *   - memory goes back: a span whose objects are all free returns to the
 *     page heap, whose scavenger returns its pages to the OS;
 *   - bad frees are caught, always: a pointer the allocator never returned,
 *     an interior pointer, or a double free is reported through the error
 *     handler (<pagealloc/errors.h>) as one line naming the call, the
 *     address, the size class and the rule; the free then does nothing;
 *   - failure returns NULL with errno ENOMEM (EINVAL for a bad alignment);
 *     success leaves errno alone;
 *   - thread-safe; frees from any thread (no lock per object).
 *
 * The allocator is one per process, made at first use. Its page heap
 * reads PAGEALLOC_MALLOC_LIMIT (bytes, 0: none; a hard limit),
 * PAGEALLOC_MALLOC_SCAVENGER (0 turns the background scavenger off) and
 * PAGEALLOC_CHECK at that moment.
 */
#ifndef PAGEALLOC_MALLOC_H
#define PAGEALLOC_MALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

void  *pa_malloc(size_t size);
void   pa_free(void *p);
void  *pa_calloc(size_t count, size_t size);
/* realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns NULL
 * (glibc's behaviour). Contents are kept up to the smaller size. */
void  *pa_realloc(void *p, size_t size);
/* alignment: a power of two (EINVAL otherwise); size need not be a
 * multiple of it. */
void  *pa_aligned_alloc(size_t alignment, size_t size);
/* 0, EINVAL (alignment not a power of two multiple of sizeof(void *)) or
 * ENOMEM; *out untouched on error. */
int    pa_posix_memalign(void **out, size_t alignment, size_t size);
/* Bytes usable at p (its class's size, or its pages); 0 for NULL. */
size_t pa_usable_size(const void *p);
/* A free that also checks the size, which must be one p could have been
 * allocated with: for a small object at most its usable size and not of a
 * larger class (a smaller class is accepted: an aligned request may be
 * served from a larger class than its size needs); for a large object the
 * same page count. Otherwise the free is reported and does nothing. */
void   pa_free_sized(void *p, size_t size);
/* Put the objects on the calling thread's recent-free stacks back into
 * their spans, then return the pages of wholly free spans and every free
 * page to the OS; bytes released. */
size_t pa_malloc_trim(void);

/* Statistics. */
#define PA_MALLOC_STATS_VERSION 1
#define PA_MALLOC_CLASSES 66          /* class 0: large objects */
typedef struct pa_malloc_class_stats {
    uint32_t size;                    /* bytes per object (0 for large) */
    uint64_t objects;                 /* objects in use */
    uint64_t bytes;                   /* bytes in use (objects * size; large: pages) */
    uint64_t spans;                   /* spans of this class */
    uint64_t cached_bytes;            /* free object bytes in those spans */
    uint64_t allocs, frees;           /* since start */
} pa_malloc_class_stats;
typedef struct pa_malloc_stats {
    uint32_t version;                 /* PA_MALLOC_STATS_VERSION */
    uint64_t in_use_bytes;            /* sum over classes */
    uint64_t span_bytes;              /* pages held by spans and large objects */
    uint64_t metadata_bytes;          /* span records, span map, the allocator */
    uint64_t threads;                 /* live thread caches */
    pa_malloc_class_stats cls[PA_MALLOC_CLASSES];
} pa_malloc_stats;
void   pa_malloc_get_stats(pa_malloc_stats *out);
/* The statistics as JSON (with the page heap's), to f. 0 or an errno. */
int    pa_malloc_stats_json(FILE *f);

/* Walking the spans (docs/malloc.md, "Walking the spans"): fn is called
 * once per span, in address order, with a copy of what its record says.
 * A span is a run of pages holding objects of one size class (1..65), or
 * one large object (class 0, pages of its own). */
typedef struct pa_malloc_span {
    uintptr_t base;                   /* its first page */
    size_t    pages;
    unsigned  size_class;             /* 0: a large object */
    size_t    object_size;            /* bytes per object (large: pages * page size) */
    uint32_t  objects;                /* objects it holds (large: 1) */
    uint32_t  allocated;              /* of them, allocated and not freed (an
                                       * object freed to a thread's cache of
                                       * recent frees counts as freed) */
} pa_malloc_span;
typedef void (*pa_malloc_span_fn)(void *arg, const pa_malloc_span *span);
/* The number of spans reported (0 before the allocator's first use). No
 * lock is held while fn runs, so fn may call the allocator (spans it
 * makes or frees may or may not be reported). The walk takes no lock and
 * never blocks malloc or free: it reads the span map and the span
 * records, which stay mapped for the life of the process, so it never
 * faults. It is exact when no other thread allocates or frees during it.
 * Otherwise each span reported was a span at some moment of the walk,
 * but its allocated count may be from the middle of a change (remote
 * frees are counted as soon as they are made), a span made or released
 * during the walk may be missed, and a record read while it is being
 * reused is skipped by consistency checks that catch most, not all, torn
 * reads; such a walk is a data race in the C sense (a race detector
 * reports it). */
size_t pa_malloc_visit_spans(pa_malloc_span_fn fn, void *arg);
/* The allocator's own page heap (its spans' and large objects' pages;
 * <pagealloc/pageheap.h>), for inspection only: pageheap_visit,
 * pageheap_get_stats, pageheap_stats_json, pageheap_check. Never allocate
 * from, free to or delete it (pa_malloc_trim releases its free pages).
 * NULL before the allocator's first use. */
struct pageheap;
struct pageheap *pa_malloc_pageheap(void);

#ifdef __cplusplus
}
#endif
#endif /* PAGEALLOC_MALLOC_H */
