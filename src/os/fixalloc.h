/*
 * fixalloc.h - the library's own allocator for its metadata of variable
 * count (the role of Go's fixalloc and persistentalloc): objects of one
 * fixed size, carved from blocks of OS memory. The library never calls
 * libc's malloc; a heap that did could not become malloc.
 *
 * How it is represented. A pa_fixalloc hands out objects of `size` bytes
 * (rounded up to `align`, a power of two). Memory comes from the OS layer
 * (sysmem_alloc) in blocks of PA_FIXALLOC_BLOCK bytes, or one object when
 * an object is larger, charged to the caller's sysmem_stat, so the bytes
 * show up in the owner's statistics as metadata. Each block starts with a
 * header that links it into `blocks`; objects are carved from the newest
 * block at `cur` (`left` bytes remain) and freed objects go on a LIFO free
 * list threaded through their first word. Nothing is returned to the OS
 * before pa_fixalloc_destroy, which returns every block: like Go's, the
 * allocator is for metadata whose count stays modest (thread records,
 * range lists).
 *
 * Invariants: every object on the free list or handed out lies in one of
 * `blocks`, inside the part already carved; `inuse` = objects handed out
 * and not freed. An object is zero when pa_fixalloc_alloc returns it.
 *
 * Threads: calls on one pa_fixalloc are serialised by its own mutex;
 * alloc makes a system call only when it needs a new block, and then
 * holds the mutex across it (growth is rare: one block per 64 KiB).
 */
#ifndef PAGEALLOC_OS_FIXALLOC_H
#define PAGEALLOC_OS_FIXALLOC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "pagealloc/sysmem.h"

#define PA_FIXALLOC_BLOCK ((size_t)64 << 10)

typedef struct pa_fixalloc {
    pthread_mutex_t mu;
    size_t size;          /* object size, a multiple of align; constant */
    size_t align;         /* constant */
    sysmem_stat *stat;    /* charged with every block; constant */
    void *free_list;      /* freed objects; mu */
    struct pa_fixblock *blocks;   /* newest first; mu */
    char *cur;            /* next object to carve; mu */
    size_t left;          /* bytes left at cur; mu */
    uint64_t inuse;       /* objects handed out; mu */
} pa_fixalloc;

/* Set up f for objects of size bytes aligned to align (a power of two of
 * at most 4096; 0 means 16), charging stat (may be NULL). No memory is
 * taken yet. EINVAL for a bad size or alignment. */
int   pa_fixalloc_init(pa_fixalloc *f, size_t size, size_t align, sysmem_stat *stat);
/* A zeroed object, or NULL with the OS layer's error in *err (if not NULL). */
void *pa_fixalloc_alloc(pa_fixalloc *f, int *err);
/* The same, but a recycled object is not zeroed: for records that other
 * threads may still read (with atomic loads) after they were freed, which
 * the caller initialises field by field with atomic stores. Fresh objects
 * are zero. */
void *pa_fixalloc_alloc_raw(pa_fixalloc *f, int *err);
/* Give back an object of f (NULL: nothing). */
void  pa_fixalloc_free(pa_fixalloc *f, void *p);
/* Return every block to the OS; every object of f becomes invalid. */
void  pa_fixalloc_destroy(pa_fixalloc *f);

#endif /* PAGEALLOC_OS_FIXALLOC_H */
