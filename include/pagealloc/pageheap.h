/*
 * pageheap.h - the thread-safe page heap: Go's mheap (runtime/mheap.go)
 * over the page allocator, with growth from the OS, per-thread page
 * caches, a memory limit, a background scavenger and statistics.
 *
 * A pageheap hands out runs of 8 KiB pages (PAGEALLOC_PAGE_SIZE), aligned
 * to 8 KiB, always Ready (mapped, usable). It owns all of its memory: it
 * reserves address space in arenas (at Go-like hints starting at
 * 0x00c000000000, going up, else anywhere), maps it in 4 MiB chunks and
 * gives it to page allocators (pagealloc.h) in unbacked mode, so every
 * OS-memory transition (sysmem.h) of heap memory is made by the heap
 * itself, and never under the allocators' (shard) locks: releasing and
 * re-using pages, the hot transitions, run with no heap lock held; growth
 * runs under the heap's growth lock, and commits the allocators' own
 * metadata under the grown shard's lock.
 *
 * Threads. Every function is thread-safe unless it says otherwise.
 * Requests of fewer than 16 pages are served from a per-thread page cache
 * (a 64-page block taken from the allocator at once) without the heap
 * lock. The heap is split into shards (options.shards), each a page
 * allocator with its own lock; a thread is bound to one shard when it first
 * uses the heap (the least used one), and a free goes to the shard that
 * owns the address, whichever thread makes it. With one shard the heap
 * answers exactly as Go's single mheap does (address-ordered first fit);
 * with more, first fit holds within each shard.
 *
 * Memory limit. A byte limit on the heap's Ready memory, metadata included
 * (Go's memory limit, without a GC). When an allocation would make pages
 * Ready beyond it, the heap first flushes the page caches and scavenges
 * (releases free pages) to make room. Soft limit (default): the allocation
 * then succeeds even if the heap stays over. Hard limit: it fails with
 * ENOMEM, the heap is unchanged and usable, and the same allocation
 * succeeds once memory is freed or the limit raised.
 *
 * Resident ceiling (options.resident_ceiling = c per mille; 0, the
 * default: off). The heap's Ready memory never exceeds the highest in-use it
 * has seen by more than c per mille of it (4 MiB at least): when pages
 * become Ready beyond that, it releases free pages at once, highest
 * addresses first. Peak RSS stays near peak in-use without a fixed limit;
 * the price is a page fault for every released page reused later
 * (docs/heap.md "The resident ceiling" measures both).
 *
 * Error convention: functions returning a pointer return NULL and set
 * errno on failure; functions returning int return 0 or an errno value and
 * change nothing on error. Invalid frees (outside the heap, unaligned, not
 * allocated, double) are reported through pagealloc_set_error_handler
 * (default: one line on stderr, then abort); if the handler returns, the
 * free does nothing.
 *
 * Handles. Every call checks that its handle is a live heap (a magic word
 * at its start, cleared by pageheap_delete): a NULL handle, or a pointer
 * to readable memory that is not a heap, makes calls that return an error
 * fail with EINVAL (NULL and errno for the allocations, EINVAL from
 * pageheap_check), and the others report "not a live pageheap" through the
 * error handler and do nothing (returning 0; get_stats zeroes *out;
 * pageheap_delete(NULL) stays a silent no-op). Not detectable: a deleted
 * heap's memory is returned to the OS, so using it usually faults at the
 * handle's address (8 bytes past it in a thread, not the deleting one,
 * that used the heap last); if the address was reused by a new heap, the
 * stale handle silently uses the new heap. A pointer to unreadable memory
 * faults.
 *
 * Check level (pagealloc_set_check_level, PAGEALLOC_CHECK): at level 1 a
 * free of pages that a thread's page cache owns (never handed out; the
 * allocator sees them as allocated) is reported as a bad free, which level
 * 0 cannot detect; at level 2 every shard's allocator is checked in full
 * after each change, as pagealloc.h describes.
 */
#ifndef PAGEALLOC_PAGEHEAP_H
#define PAGEALLOC_PAGEHEAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pagealloc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pageheap pageheap;

/* Transparent huge pages. */
typedef enum pageheap_huge_policy {
    PAGEHEAP_HUGE_OFF = 0,     /* no hints (Go 1.19): released partial huge
                                * pages are marked no-huge by sysmem_unused */
    PAGEHEAP_HUGE_GO = 1,      /* chunks with >= 496 of 512 pages in use are
                                * never scavenged, so they keep huge pages */
    PAGEHEAP_HUGE_ALWAYS = 2   /* as GO, and every grown chunk is advised
                                * MADV_HUGEPAGE */
} pageheap_huge_policy;

/* Which freed runs a run cache gives to the allocator, to merge there with
 * a free neighbour, rather than keeping them (docs/heap.md, "Merging
 * frees"). The neighbours are read from the heap's run map without a
 * lock: a guess, never a correctness matter. */
typedef enum pageheap_run_merge {
    PAGEHEAP_MERGE_DEFAULT = 0,    /* PAGEHEAP_MERGE_NEXT */
    PAGEHEAP_MERGE_NEXT = 1,       /* runs whose next page is free */
    PAGEHEAP_MERGE_BOTH = 2,       /* runs whose next or previous page seems
                                    * free: fewer pages touched, more
                                    * allocations from the allocator */
    PAGEHEAP_MERGE_OFF = 3         /* none: the cache keeps every run that fits */
} pageheap_run_merge;

/* A monotonic clock in nanoseconds, injected so that the scavenger's
 * pacing can be tested with fake time. */
typedef struct pageheap_clock {
    uint64_t (*now_ns)(void *arg);
    void *arg;
} pageheap_clock;

/* Options; zero (or a NULL pointer) means the default for every field. Use
 * designated initialisers: (pageheap_options){ .limit = 1 << 30 }. */
typedef struct pageheap_options {
    uint64_t limit;                  /* bytes of Ready memory; 0: no limit */
    int      hard_limit;             /* nonzero: fail with ENOMEM at the limit */
    int      background_scavenger;   /* nonzero: start the scavenger thread */
    double   scavenger_cpu_fraction; /* of one core; 0: 0.01 (Go's 1%) */
    uint64_t scavenger_poll_ns;      /* idle re-check period; 0: 100 ms */
    pageheap_huge_policy huge_pages; /* default PAGEHEAP_HUGE_OFF */
    unsigned shards;                 /* 0: one per online CPU, at most 16;
                                      * 1: a single allocator, as Go */
    size_t   arena_bytes;            /* address space reserved at a time,
                                      * rounded to 4 MiB; 0: 64 MiB */
    const pageheap_clock *clock;     /* NULL: CLOCK_MONOTONIC */
    int      guard;                  /* nonzero: guard mode (below) */
    int      no_run_cache;           /* nonzero: no run caches (below) */
    pageheap_run_merge run_cache_merge; /* default PAGEHEAP_MERGE_NEXT (below) */
    unsigned resident_ceiling;       /* per mille, at most 1000000; 0: off
                                      * (below) */
} pageheap_options;

/* Run caches (on unless options.no_run_cache, guard mode, or a heap made
 * for a malloc). Each thread keeps up to 64 runs (at most 4 MiB) that it
 * freed in its own shard, plus one run of 513..4096 pages (32 MiB), still
 * allocated there, and serves its next allocations of the same lengths
 * (or, from 9 pages, the head of a longer run) from them without a lock.
 * The runs go back to the allocator when the
 * thread exits, on pageheap_flush_caches, pageheap_release and at the
 * memory limit, and when the background scavenger finds nothing else to
 * release; they count in cache_bytes and run_cache_bytes. With run caches
 * on, a free must name exactly a run as it was allocated (its first page
 * and page count); anything else is reported, double frees of cached runs
 * included. With no_run_cache and shards = 1 the heap answers exactly as
 * Go's mheap (first fit, frees of parts of runs allowed). A freed run that
 * has a free neighbour (options.run_cache_merge says which neighbours
 * count) goes to the allocator, where it merges, rather than into the run
 * cache: fewer holes form, and the heap touches fewer pages. */

/* Guard mode (a debugging aid, options.guard). A free makes its pages
 * inaccessible (sysmem_fault: Reserved) until an allocation reuses them,
 * so a use after free faults at the freed address instead of corrupting
 * whoever gets the pages next. Costs two system calls per free and reuse;
 * no page caches are used (every allocation takes the shard lock). Guarded
 * pages are free in the allocator and scavenged, and count in
 * reserved_bytes (not mapped). If the OS refuses to protect the pages, the
 * free still happens, unguarded. */

/* NULL and errno (EINVAL for bad options, ENOMEM, EAGAIN: no thread key
 * or thread) on failure. NULL options: defaults. The OS primitives are
 * injected below the heap, process-wide, with sysmem_os_set. */
pageheap *pageheap_new(const pageheap_options *opts);
/* Give all memory back to the OS. No other thread may use h, and threads
 * that used h must not be exiting, during or after the call. */
void      pageheap_delete(pageheap *h);

/* npages Ready pages, 8 KiB aligned. NULL and errno on failure: EINVAL for
 * npages == 0, ENOMEM when the OS refuses memory or a hard limit would be
 * exceeded (the heap is unchanged). Contents are unspecified. */
void     *pageheap_alloc(pageheap *h, size_t npages);
/* As pageheap_alloc, with zeroed contents; pages known to read zero
 * (fresh, or released when sysmem_caps.released_reads_zero) are not
 * written. */
void     *pageheap_alloc_zeroed(pageheap *h, size_t npages);
/* Free npages pages at p, as allocated. (NULL, 0) is a no-op; anything
 * else invalid is reported (see the error convention). */
void      pageheap_free(pageheap *h, void *p, size_t npages);

/* Flush every page cache and return at least nbytes of free memory to the
 * OS now (SIZE_MAX: all free pages); returns bytes released by this call
 * (may exceed nbytes; less when nothing is left). Runs the background
 * scavenger is releasing at the same moment are waited for, so with
 * SIZE_MAX no free page is resident on return (unless freed meanwhile). */
size_t    pageheap_release(pageheap *h, size_t nbytes);
/* Return every thread's page cache to the allocator. */
void      pageheap_flush_caches(pageheap *h);

/* Change the limit (0: none). Lowering it below the Ready memory flushes
 * the caches and scavenges at once; returns the bytes released. */
size_t    pageheap_set_limit(pageheap *h, uint64_t limit);
uint64_t  pageheap_get_limit(const pageheap *h);

/* Statistics. Readable at any time without stopping allocation: every
 * field is exact by itself, and the fields balance exactly when no
 * allocation, free or scavenging is in flight:
 *   ready_bytes + prepared_bytes  = mapped heap bytes
 *     = in_use_bytes + cache_bytes + free_bytes + released_bytes
 *   prepared_bytes = released_bytes + cache_released_bytes
 * Bytes by OS state cover the heap's arenas; metadata (allocator
 * summaries, bitmaps, the heap's own tables; all Ready) is separate. */
#define PAGEHEAP_STATS_VERSION 1
typedef struct pageheap_stats {
    uint32_t version;               /* PAGEHEAP_STATS_VERSION */
    uint32_t shards;
    /* Current state, bytes. */
    uint64_t reserved_bytes;        /* arena address space not mapped */
    uint64_t prepared_bytes;        /* mapped, not resident (released) */
    uint64_t ready_bytes;           /* mapped and usable */
    uint64_t metadata_bytes;        /* Ready, for bookkeeping */
    uint64_t in_use_bytes;          /* handed out and not freed */
    uint64_t free_bytes;            /* free in the allocator, resident */
    uint64_t released_bytes;        /* free in the allocator, released */
    uint64_t cache_bytes;           /* held by page caches (resident or not) */
    uint64_t cache_released_bytes;  /* the part of cache_bytes released */
    uint64_t limit_bytes;           /* 0: none */
    uint32_t hard_limit;
    uint32_t threads;               /* threads with state in the heap */
    /* Event counts since creation. */
    uint64_t allocs, alloc_bytes;   /* successful allocations */
    uint64_t cache_allocs;          /* of which served by a page cache */
    uint64_t frees, freed_bytes;
    uint64_t grows, grow_bytes;     /* chunk ranges mapped and added */
    uint64_t scavenges, scavenged_bytes; /* runs released to the OS */
    uint64_t scavenger_cpu_ns;      /* background scavenger work time */
    uint64_t assist_cpu_ns;         /* scavenging in alloc/release/set_limit */
    uint64_t limit_hits;            /* allocations that found the heap at its limit */
    uint64_t limit_failures;        /* of which failed (hard limit) */
    uint64_t run_cache_bytes;       /* the part of cache_bytes in run caches */
} pageheap_stats;

void      pageheap_get_stats(pageheap *h, pageheap_stats *out);
/* The stats as one JSON object. pageheap_stats_json returns 0 or an errno
 * value; pageheap_stats_json_buf writes at most size bytes (NUL included)
 * and returns the length of the whole text, as snprintf does. */
int       pageheap_stats_json(pageheap *h, FILE *f);
size_t    pageheap_stats_json_buf(pageheap *h, char *buf, size_t size);

/* Sections of the layers built on a heap in its JSON. A client (the stack
 * allocator, later the object allocator or a collector) attaches a named
 * section; pageheap_stats_json then ends its object with one member per
 * attached section, in attach order,
 *     "NAME": <what fn wrote>
 * fn writes one JSON value (an object, no trailing newline) for arg, with
 * snprintf semantics: at most size bytes, NUL included, buf NULL when size
 * is 0, returning the length of the whole text. It runs under the heap's
 * section lock and nothing else of the heap's, so it may take its own
 * locks and call pageheap_get_stats, but must not call the JSON functions
 * of h or attach or detach (they would deadlock). Detach waits for a
 * running fn to finish: call it with none of the locks fn takes held.
 * At most PAGEHEAP_STATS_SECTIONS sections; a client detaches its section
 * before it goes away (the stack allocator does at delete).
 * attach: 0, EINVAL (not a live heap, NULL fn, a name that is not 1..31
 * characters of [a-z0-9_] or is a member of the heap's own object),
 * EEXIST (name attached), ENOSPC (every slot taken).
 * detach: 0, EINVAL (not a live heap), ENOENT (no section of that name
 * with that arg). */
#define PAGEHEAP_STATS_SECTIONS 4
typedef size_t (*pageheap_stats_fn)(void *arg, char *buf, size_t size);
int       pageheap_attach_stats(pageheap *h, const char *name, pageheap_stats_fn fn, void *arg);
int       pageheap_detach_stats(pageheap *h, const char *name, void *arg);

/* Full check: pagealloc_check on every shard, the stats against the
 * allocators' bitmaps and page caches, and every heap page's sysmem state
 * against what the allocator says of it (scavenged pages Prepared, the
 * others Ready). Takes every lock of the heap; no allocation or free may be
 * in flight (the background scavenger may run). 0, or EFAULT with a
 * one-line description in msg. Cost: proportional to the heap. */
int       pageheap_check(pageheap *h, char *msg, size_t msg_size);

/* The heap, page by page (for heap maps and fragmentation figures).
 * pageheap_visit calls fn once for every chunk the heap has grown (4 MiB,
 * PAGEALLOC_CHUNK_PAGES pages), with the shard that owns it, its base
 * address and one pageheap_page_state per page (states[i]: the page at
 * chunk_base + i * PAGEALLOC_PAGE_SIZE). Chunks come shard by shard, in no
 * particular order within a shard. Each shard is a consistent snapshot;
 * different shards are seen at different moments.
 *
 * Locking: for each shard in turn, visit takes the registry lock, the busy
 * flag of every thread bound to that shard (so no page cache of the shard
 * changes), the growth lock and the shard's lock, in the heap's lock
 * order, and calls fn for the shard's chunks with all of them held. So fn
 * must not call any pageheap function on h (it would deadlock), and while
 * a shard is visited, allocations, frees and scavenging in that shard,
 * growth, and the calls that take the registry lock (a thread's first use
 * of h or its exit, pageheap_get_stats, pageheap_flush_caches,
 * pageheap_release, pageheap_check; at check level 1, every free) wait;
 * other shards' allocations and frees go on. The background scavenger may run meanwhile; a run it is
 * releasing at that moment shows as in use.
 *
 * Returns 0, or EINVAL (fn never called) for a handle that is not a live
 * heap or a NULL fn. Cost: proportional to the heap (512 states per chunk)
 * plus threads x chunks. */
typedef enum pageheap_page_state {
    PAGEHEAP_PAGE_FREE = 0,      /* free in the allocator, resident (Ready) */
    PAGEHEAP_PAGE_RELEASED = 1,  /* free, returned to the OS (Prepared; or
                                  * Reserved, freed in guard mode) */
    PAGEHEAP_PAGE_IN_USE = 2,    /* handed out and not freed; also a run the
                                  * scavenger is releasing at that moment */
    PAGEHEAP_PAGE_CACHED = 3     /* owned by a thread's page cache (free to
                                  * that thread, allocated to the others;
                                  * resident or released) */
} pageheap_page_state;

typedef void (*pageheap_visit_fn)(void *arg, unsigned shard, uintptr_t chunk_base,
                                  const uint8_t states[PAGEALLOC_CHUNK_PAGES]);
int       pageheap_visit(pageheap *h, pageheap_visit_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* PAGEALLOC_PAGEHEAP_H */
