/*
 * stack.h - stacks for coroutines and fibers: Go's stack allocator
 * (runtime/stack.go) over the page heap, with a guard region below every
 * stack and memory that goes back to the OS. docs/stack.md has the design.
 *
 * What you get. pa_stack_alloc hands out a stack of at least the size
 * asked for, as a pa_stack: the usable range [lo, hi), the initial stack
 * pointer sp (= hi, 16-byte aligned; stacks grow down), and the guard
 * range [guard, lo) just below it, which faults on any access (the OS
 * layer's Reserved state), so running off the bottom of a stack is a
 * fault at a known address, never a silent write into a neighbour.
 * Sizes are rounded up: up to 64 KiB to a power of two of 8 KiB pages
 * (the orders 8, 16, 32, 64 KiB), above it to whole 8 KiB pages. A stack's
 * pages become resident only when touched (lazy commit).
 *
 * Go's structure, adapted. Free stacks of the four small orders are kept
 * in a per-thread cache per order (Go's per-P stackcache): an empty cache
 * refills half its capacity from the shared pool of that order, a full
 * one gives half back, each pool under its own lock (Go's stackpool and
 * stackcacherefill / stackcacherelease). An empty pool takes a fresh
 * stack from the page heap. Pools are bounded (options.pool_bytes); what
 * would exceed the bound goes back to the heap. Large stacks (over
 * 64 KiB) have no thread cache: a free one waits in the large pool (Go's
 * stackLarge, bounded by pool_bytes in all) for a request of exactly its
 * size; otherwise they come from the heap and go back to it.
 *
 * Guard pages and the heap's books. A stack is one run of heap pages:
 * the guard, then the stack. The heap cannot be told that some of its
 * in-use pages are inaccessible, so this layer keeps the rule:
 *   - a stack's guard is made Reserved (sysmem_fault, no caller counter)
 *     when the run is taken from the heap, stays Reserved while the stack
 *     is live, cached or pooled, and is mapped again (sysmem_map +
 *     sysmem_used, no counter) before the run is freed to the heap;
 *   - so the heap's own counters never move (the run is in use for it the
 *     whole time) and the OS layer's totals stay exact; the heap's view
 *     differs from the OS's only in the guard pages of the runs this
 *     allocator holds (pa_stack_stats.guard_bytes; pageheap_check reports
 *     them as in-use pages that are not Ready while any stack is held, so
 *     check a shared heap after pa_stack_release with no stack live).
 * If the guard cannot be mapped again (the OS refuses), the run is kept,
 * faulted, and counted in lost_bytes: the heap never gets a page back
 * that it believes Ready and is not.
 *
 * Memory goes back. pa_stack_free keeps a stack (cache or pool; a large
 * one in a short per-thread list of at most 4 stacks and 16 * cache_bytes,
 * then the large pool) with its touched pages resident, for the next
 * coroutine.
 * pa_stack_release empties the caller's cache and every pool into the
 * heap and has the heap release every free page to the OS: afterwards no
 * stack freed to the pools or the caller's cache holds a resident page
 * (other threads' caches, bounded by cache_bytes, follow at their next
 * call). Stacks freed beyond the pools' bound
 * go back to the heap at once, where the heap's background scavenger
 * returns their pages (when the allocator made its heap). Each guarded
 * stack costs the kernel two mappings (guard and stack) while held: at the
 * default vm.max_map_count of 65530 about 32,000 stacks can be held at a
 * time, then pa_stack_alloc fails with ENOMEM.
 *
 * High-water mark. pa_stack_high_water reports how deep a live stack has
 * been used: from hi down to its lowest resident page, asked of the
 * kernel (sysmem_resident). It counts pages touched since they were last
 * released, so a stack reused from a cache or pool reports at least the
 * depth its previous users reached; pa_stack_release resets that.
 *
 * Overflow. pa_stack_overflow_install (optional) installs a SIGSEGV
 * handler running on an alternate signal stack: a fault in the guard of a
 * stack of any allocator prints one line,
 *     pagealloc: stack overflow: stack ID [LO, HI) fault at ADDR
 * and the process dies of that SIGSEGV; any other fault goes to the
 * handler that was installed before (or the default action). Signal
 * stacks are per thread: the installing thread gets one, and every thread
 * gets one when it first allocates a stack after the install.
 *
 * Threads. Every function is thread-safe; a stack may be freed by any
 * thread. A thread's cache is given back to the pools when it exits.
 *
 * Fork. A child forked while other threads use an allocator can allocate,
 * free and release stacks and delete the allocator: the allocator and its
 * heap hold their locks across fork (the fork waits for runs being taken
 * from or given to the heap). In the child, the stacks other threads had
 * cached stay held until delete, live stacks stay valid and freeable, and
 * the heap's background scavenger does not run (pa_stack_release works).
 *
 * Errors. Calls that can fail return 0 or an errno value and change
 * nothing on failure (the pointer-returning pa_stack_allocator_new: NULL
 * and errno). A free of something that is not a live stack of this
 * allocator (never allocated, already freed, another allocator's, a
 * pa_stack whose fields were changed) is reported through the error
 * handler (<pagealloc/errors.h>) as one line naming the call and the
 * address, and the free does nothing. Not detectable: a double free after
 * the stack was handed out again (it frees the new owner's stack).
 */
#ifndef PAGEALLOC_STACK_H
#define PAGEALLOC_STACK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pageheap.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pa_stack_allocator pa_stack_allocator;

/* Options; zero (or a NULL pointer) means the default for every field. */
typedef struct pa_stack_options {
    pageheap *heap;          /* NULL: the allocator makes its own heap
                              * (background scavenger on) and deletes it
                              * with itself; else a heap it shares and
                              * never deletes */
    size_t guard_bytes;      /* guard below each stack, rounded up to
                              * 8 KiB pages, at most 1 MiB; 0: 8 KiB */
    size_t cache_bytes;      /* per thread and order: stack bytes a cache
                              * holds at most; 0: 256 KiB (at least 2 stacks);
                              * a thread's large list: 16 times that (at
                              * most pool_bytes) in at most 4 stacks */
    size_t pool_bytes;       /* per order, and for the large pool: stack
                              * bytes a shared pool holds at most; 0: 16 MiB */
} pa_stack_options;

/* A stack, as handed out. Pass it back unchanged to pa_stack_free. */
typedef struct pa_stack {
    void *lo;                /* lowest usable byte */
    void *hi;                /* one past the highest usable byte */
    void *sp;                /* initial stack pointer: hi, 16-byte aligned */
    size_t size;             /* hi - lo: the request rounded up */
    void *guard;             /* [guard, lo) faults */
    uint64_t id;             /* unique per allocation, names the stack */
} pa_stack;

/* NULL and errno on failure: EINVAL for bad options, ENOMEM, EAGAIN (no
 * thread key). */
pa_stack_allocator *pa_stack_allocator_new(const pa_stack_options *opts);
/* Give every stack, held or live, back to the heap (and delete the heap
 * if the allocator made it). No other thread may use a, and threads that
 * used it must not be exiting, during or after the call; live stacks
 * become invalid. NULL: nothing. */
void pa_stack_allocator_delete(pa_stack_allocator *a);

/* A stack of at least size bytes in *out. 0, EINVAL (size 0 or over
 * 1 GiB, a NULL argument, a handle that is not a live allocator) or
 * ENOMEM (the heap or the OS refused, e.g. the kernel's mapping limit). */
int  pa_stack_alloc(pa_stack_allocator *a, size_t size, pa_stack *out);
/* Free a stack of a (from any thread). Misuse is reported (see Errors). */
void pa_stack_free(pa_stack_allocator *a, const pa_stack *s);

/* Empty the calling thread's cache and every pool into the heap, then
 * release every free page of the heap to the OS (pageheap_release).
 * Returns the bytes the heap released. Other threads' caches belong to
 * them (no lock on their fast path): they are asked to empty theirs into
 * the pools at their next pa_stack_alloc or pa_stack_free, and do so at
 * exit; a later release then returns those stacks too. */
size_t pa_stack_release(pa_stack_allocator *a);

/* Bytes of s used so far: hi minus the start of its lowest resident page
 * (0 if none), in *bytes. 0, EINVAL (not a live stack of a), ENOSYS (the
 * OS table cannot tell residency). */
int  pa_stack_high_water(pa_stack_allocator *a, const pa_stack *s, size_t *bytes);

/* The heap the stacks come from. */
pageheap *pa_stack_heap(pa_stack_allocator *a);

#define PA_STACK_STATS_VERSION 1
typedef struct pa_stack_stats {
    uint32_t version;            /* PA_STACK_STATS_VERSION */
    uint32_t threads;            /* threads with a cache */
    uint64_t live, live_bytes;   /* stacks handed out and not freed */
    uint64_t cached, cached_bytes;   /* free, in thread caches */
    uint64_t pooled, pooled_bytes;   /* free, in the shared and large pools */
    uint64_t guard_bytes;        /* guards of every stack held (Reserved) */
    uint64_t resident_bytes;     /* pages of held stacks in RAM (kernel's
                                  * view, live and free; 0 if unknown) */
    uint64_t lost_bytes;         /* runs kept because a guard could not be
                                  * mapped again */
    uint64_t released_bytes;     /* released by pa_stack_release, total */
    /* Event counts since creation. */
    uint64_t allocs, frees;
    uint64_t refills, flushes;   /* cache <- pool, cache -> pool */
    uint64_t heap_allocs, heap_frees;  /* runs taken from / given to the heap */
} pa_stack_stats;

/* Counts are exact by themselves; resident_bytes walks every held stack
 * (one residency query each). Zeroes *out for a bad handle. */
void   pa_stack_get_stats(pa_stack_allocator *a, pa_stack_stats *out);
/* The stats as one JSON object (one member per field). 0 or an errno
 * value; the _buf form returns the whole length, as snprintf. The same
 * object appears in the heap's JSON (pageheap_stats_json of
 * pa_stack_heap(a)) as the section "stacks": every allocator attaches
 * itself to its heap, own or shared, when made and detaches at delete; a
 * second and third allocator on one heap are "stacks_1", "stacks_2" (and
 * "stacks_3"; past that or when the heap's section slots are full, the
 * allocator works without a section). */
int    pa_stack_stats_json(pa_stack_allocator *a, FILE *f);
size_t pa_stack_stats_json_buf(pa_stack_allocator *a, char *buf, size_t size);

/* Install the overflow handler (see Overflow) and give the calling thread
 * its signal stack. 0 or an errno value; installing again is a no-op. */
int  pa_stack_overflow_install(void);

#ifdef __cplusplus
}
#endif
#endif /* PAGEALLOC_STACK_H */
