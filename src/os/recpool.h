/*
 * recpool.h - fixed-size records whose empty pages go back to the OS: the
 * allocator for metadata whose count rises and falls with a heap (the
 * collector's span records, docs/gc.md "Giving memory back"). fixalloc.h
 * keeps every block until it is destroyed; this pool tracks its records
 * per OS page, so that a page whose records are all free can be returned
 * (sysmem_unused) and made Ready again when it is needed.
 *
 * How it is represented. Memory comes from the OS layer (sysmem_alloc,
 * charged to the caller's sysmem_stat) in blocks of PA_RECPOOL_PAGES
 * physical pages; a block is never unmapped before pa_recpool_destroy, so
 * a record's address stays readable for the life of the pool. Each block
 * has a descriptor (pa_recblock, from a fixalloc of the pool) with one
 * pa_recpage per page: its free records (a LIFO list threaded through
 * their first word), how many are free, and `carved`, the records handed
 * out at least once since the page was fresh or released: records at or
 * above it are untouched, so a fresh or released page is not written
 * before it is used (a record is zeroed when handed out: memory released
 * with MADV_FREE may still hold old bytes). `blocks` lists the descriptors sorted by address, for
 * the lookup of a freed record (a binary search).
 *
 * Every page is on exactly one of these (its `list`):
 *   FULL      no free record; on no list;
 *   PARTIAL   some records in use, some free: allocation takes from here
 *             first, so that records gather on fewer pages;
 *   EMPTY     every record free, Ready (touched, or never touched);
 *   RELEASED  every record free, Prepared (returned by a trim) or Ready
 *             and never touched (a fresh block); `prepared` says whether
 *             it needs sysmem_used before use.
 * Allocation prefers PARTIAL, then EMPTY, then RELEASED, then a new block.
 * pa_recpool_trim returns EMPTY pages that were touched, in address order,
 * until the free records on resident pages are at most the given count.
 *
 * Invariants: `inuse` = records handed out and not freed; `resident` =
 * pages with carved > 0 (touched since they were fresh or released), the
 * pages the pool may hold in RAM; `prepared` = pages with prepared set;
 * nfree = per_page - (records in use on the page).
 * A freed record keeps its address mapped: a reader that may hold a stale
 * pointer (with its own check afterwards, as gc_span_lock) reads the old
 * contents or zero, never faults.
 *
 * Threads: every call takes the pool's mutex; a trim holds it across its
 * sysmem_unused calls (one per run of adjacent pages), an allocation
 * across sysmem_used or a new block. Lock order: callers' locks -> mu ->
 * the OS layer's.
 */
#ifndef PAGEALLOC_OS_RECPOOL_H
#define PAGEALLOC_OS_RECPOOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "os/fixalloc.h"
#include "pagealloc/sysmem.h"

#define PA_RECPOOL_PAGES 256u

enum { PA_RP_FULL = 0, PA_RP_PARTIAL, PA_RP_EMPTY, PA_RP_RELEASED, PA_RP_NLISTS };

typedef struct pa_recpage {
    struct pa_recpage *next, *prev;   /* the list it is on (not FULL) */
    char *mem;                        /* the page; constant */
    void *free;                       /* free records below carved */
    uint32_t nfree;                   /* free records (carved or not) */
    uint32_t carved;                  /* records handed out since zero */
    uint8_t list;                     /* PA_RP_* */
    uint8_t prepared;                 /* Prepared: sysmem_used before use */
} pa_recpage;

typedef struct pa_recblock {
    char *mem;                        /* PA_RECPOOL_PAGES pages; constant */
    pa_recpage page[PA_RECPOOL_PAGES];
} pa_recblock;

typedef struct pa_recpool {
    pthread_mutex_t mu;
    size_t size;                      /* record size, a multiple of align; constant */
    size_t page;                      /* physical page size; constant */
    uint32_t per_page;                /* records per page; constant */
    sysmem_stat *stat;                /* charged with blocks and descriptors */
    pa_fixalloc descs;                /* the pa_recblock descriptors */
    pa_recpage *head[PA_RP_NLISTS];   /* the lists (head[FULL] unused) */
    pa_recblock **blocks;             /* sorted by mem; OS memory */
    size_t nblocks, cap;
    uint64_t inuse;                   /* records handed out */
    uint64_t resident;                /* pages with carved > 0 */
    uint64_t prepared;                /* pages Prepared (trimmed, not reused) */
} pa_recpool;

/* Set up p for records of size bytes aligned to align (a power of two, 0
 * means 16); size rounded up must fit in a page. No memory is taken yet.
 * EINVAL for a bad size or alignment. */
int      pa_recpool_init(pa_recpool *p, size_t size, size_t align, sysmem_stat *stat);
/* A zeroed record, or NULL with the OS layer's error in *err (may be NULL). */
void    *pa_recpool_alloc(pa_recpool *p, int *err);
/* Give back a record of p (NULL: nothing). */
void     pa_recpool_free(pa_recpool *p, void *r);
/* Return touched empty pages to the OS until at most keep free records
 * sit on resident pages; the bytes returned. */
size_t   pa_recpool_trim(pa_recpool *p, uint64_t keep);
/* The pool's use now: records handed out, bytes of pages touched since
 * they were fresh or released (what it may hold in RAM), bytes of pages
 * returned by trims and not taken again (Prepared: mapped, so still in the
 * caller's sysmem_stat, but not resident). */
typedef struct pa_recpool_stats {
    uint64_t inuse;
    uint64_t resident_bytes;
    uint64_t prepared_bytes;
} pa_recpool_stats;
void     pa_recpool_usage(pa_recpool *p, pa_recpool_stats *out);
/* Return every block to the OS; every record of p becomes invalid. */
void     pa_recpool_destroy(pa_recpool *p);

#endif /* PAGEALLOC_OS_RECPOOL_H */
