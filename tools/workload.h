/*
 * workload.h - the tool's workloads as streams of events.
 *
 * A workload is a sequence of events on numbered slots: allocate npages
 * pages into a slot, free the slot's allocation, release memory to the OS.
 * The engine (engine.h) replays a stream on a real heap; the trace writer
 * (trace.h) prints it as a trace file; a parsed trace file is a stream
 * too. Slots are small dense indices (at most wl_gen_slots), so replay
 * keeps a flat table; trace files name allocations by arbitrary ids
 * instead, and the trace code maps between the two.
 *
 * The generators:
 *   churn  the default: W1's size mix on 1024 slots whose live count
 *          drifts between 10 % and 100 % of the slots (a raised cosine of
 *          the run's progress: up, down, up, and half-way down at the
 *          end), so the heap grows, shrinks and regrows, the scavenger has
 *          something to release, and the final heap has live data and
 *          holes. At 100 % a thread holds about 100 MiB.
 *          Each step picks a random slot: a live one is freed (and, below
 *          the target, refilled at once with a new size); an empty one is
 *          filled while below the target.
 *   W1..W4 the core benchmark workloads (workloads/wlgen.h), exactly:
 *          the same draws from xorshift64* seeded 42 in the same order,
 *          on the real heap instead of a bare allocator. W4's page cache is the
 *          heap's own: its one-page allocations go through the heap's
 *          per-thread page caches.
 *   objects          object workloads, run on the process's object
 *   objects-xthread  allocator (pa_malloc/pa_free) instead of a page heap;
 *          an allocation's arg is then bytes, not pages. objects: small-
 *          object churn (16 B - 32 KiB skewed small, 0.5 % large objects
 *          of 32 KiB - 512 KiB) on 32768 slots filled in order, the
 *          live count following churn's raised cosine (10 - 100 %): above
 *          the target the oldest objects die (so whole spans empty and the
 *          scavenger gets their pages), at it a random live one dies and a
 *          new one is made. About 100 MiB per thread at the top.
 *          objects-xthread: producer/consumer, each thread allocating
 *          messages (16 B - 4 KiB skewed small, 2 % 4 - 32 KiB, 0.2 %
 *          64 - 256 KiB) and sending them to the next thread, which frees
 *          them (WL_SEND, WL_RECV): every free is a remote one. The
 *          number in flight follows the same cosine between 10 % and
 *          100 % of 65536 per thread.
 *   coroutines  not an event stream: ucontext coroutines on pa_stack
 *          stacks, created and destroyed in churn (coro.h runs it).
 * Thread t of a multi-threaded run uses seed 42 + t (wlgen.h's W6).
 */
#ifndef PAGEALLOC_TOOL_WORKLOAD_H
#define PAGEALLOC_TOOL_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "wlgen.h"

typedef enum wl_op { WL_ALLOC = 0, WL_FREE = 1, WL_RELEASE = 2, WL_SEND = 3, WL_RECV = 4 } wl_op;

/* WL_ALLOC: arg = pages (>= 1; object workloads: bytes) into slot, which
 * is empty. WL_FREE: the slot's allocation (arg unused). WL_RELEASE: arg =
 * bytes, UINT64_MAX for all free memory (slot unused). Object workloads
 * only: WL_SEND hands the slot's object to the next thread (the slot is
 * empty after); WL_RECV frees the oldest object sent to this thread, if
 * any (slot and arg unused). */
typedef struct wl_event {
    uint32_t op;
    uint32_t slot;
    uint64_t arg;
} wl_event;

#define WL_RELEASE_ALL UINT64_MAX

typedef enum wl_kind { WL_CHURN, WL_W1, WL_W2, WL_W3, WL_W4, WL_OBJECTS, WL_OBJECTS_XTHREAD,
                       WL_COROUTINES, WL_KIND_COUNT } wl_kind;

/* Workload by name: "churn", "W1".."W4", "objects", "objects-xthread",
 * "coroutines" (any case); WL_KIND_COUNT if none. */
wl_kind     wl_lookup(const char *name);
const char *wl_name(wl_kind k);
/* One line describing the workload. */
const char *wl_title(wl_kind k);
/* Whether k runs on the object allocator (sizes in bytes). */
int         wl_is_objects(wl_kind k);
/* Whether k runs coroutines on pa_stack stacks (coro.h): no event stream,
 * so no trace form and no heap map; wl_gen_init refuses it. */
int         wl_is_stacks(wl_kind k);

/* A generator: its state, opaque to callers but for the fields below. */
typedef struct wl_gen {
    wl_kind  kind;
    uint32_t slots;          /* slot indices are < slots */
    uint64_t total;          /* events in the whole workload; 0: endless (churn) */
    /* Private state. */
    rng_xorshift rng;
    uint64_t step, index;
    uint64_t head, tail;     /* objects: the window of slots in allocation order */
    uint64_t sent, recvs;    /* objects-xthread: the in-flight estimate */
    int      phase, round;
    int      pending;        /* an allocation to emit next */
    wl_event next_ev;
    uint32_t live_n;
    uint8_t *live;           /* churn, objects: slot is live */
    uint32_t *perm;          /* W2: the five permutations */
} wl_gen;

/* Start workload k with the given seed (WLGEN_SEED, 42, for the
 * benchmarks'). 0 or ENOMEM. */
int  wl_gen_init(wl_gen *g, wl_kind k, uint64_t seed);
void wl_gen_destroy(wl_gen *g);
/* The next event into *ev: 1, or 0 at the end. progress in [0, 1] is how
 * far the run is (only churn uses it: its live-set target). */
int  wl_gen_next(wl_gen *g, double progress, wl_event *ev);

#endif /* PAGEALLOC_TOOL_WORKLOAD_H */
