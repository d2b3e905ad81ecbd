/*
 * cycle.c - one collection and the pacer (Go's gcStart/gcMarkDone/
 * gcMarkTermination and mgcpacer.go, with the world stopped for the whole
 * mark).
 *
 * A cycle, under collect_mu: finish the previous sweep; list the loaded
 * objects' static segments; take every class lock, fin_mu, roots_mu and
 * threads_mu (so no thread we stop holds one); stop the world; mark from
 * uncollectable objects, queued finalizable objects, static data, added
 * ranges and every registered thread's stack and registers; drain (with
 * helper markers, gc_mark_parallel); redo from the marked objects while
 * the work list overflowed; finalization (final.c); advance sweepgen and
 * reset each class's current span and sweep cursor, so every span is
 * unswept; restart the world (wake the stopped threads), release the
 * locks but threads_mu, wait until every stopped thread has left its
 * signal handler, release threads_mu. The pause is the time the world is
 * stopped, from the WORLD_STOPPING event to the WORLD_RESTARTED one (the
 * wake).
 *
 * Pacer. heap in use = marked bytes of the last cycle + bytes allocated
 * since - bytes freed explicitly since. The goal of the next cycle is
 *     max(live * (100 + percent) / 100, 4 MiB * percent / 100, initial heap)
 * capped by the memory limit (15/16 of it, less the metadata, but never
 * below live + 1/16). Allocation checks it when it takes a new span or a
 * large object (gc_maybe_collect), so a check costs nothing on the fast path.
 * Once a cycle's sweep is done, free pages above the new goal go back to
 * the OS (gc_heap_pace, spans.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <string.h>
#include <time.h>

#include "gc/gcint.h"
#include "gc/markq.h"

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t gc_heap_in_use(void)
{
    uint64_t a = gc_ld(&gc_g.live_marked) + gc_ld(&gc_g.alloc_since);
    uint64_t f = gc_ld(&gc_g.freed_since);
    return a > f ? a - f : 0;
}

static uint64_t compute_goal(uint64_t live)
{
    int pct = atomic_load_explicit(&gc_g.percent, memory_order_relaxed);
    uint64_t p = pct < 0 ? 100 : (uint64_t)pct;
    uint64_t goal = live + live / 100 * p + (live % 100) * p / 100;
    uint64_t min = GC_MIN_GOAL * p / 100;
    if (goal < min)
        goal = min;
    if (goal < gc_g.initial_heap)
        goal = gc_g.initial_heap;
    uint64_t limit = gc_ld(&gc_g.limit);
    if (limit) {
        uint64_t cap = limit / 16 * 15;
        uint64_t meta = sysmem_stat_load(&gc_g.meta);
        cap = cap > meta ? cap - meta : 0;
        uint64_t floor = live + live / 16;
        if (cap < floor)
            cap = floor;
        if (goal > cap)
            goal = cap;
    }
    return goal;
}

static int should_collect(void)
{
    if (atomic_load_explicit(&gc_g.disabled, memory_order_relaxed) > 0)
        return 0;
    if (atomic_load_explicit(&gc_g.percent, memory_order_relaxed) < 0 && !gc_ld(&gc_g.limit))
        return 0;
    return gc_heap_in_use() >= gc_ld(&gc_g.goal);
}

void gc_maybe_collect(void *keep)
{
    if (should_collect())
        gc_collect(0, 0, keep);
}

static void event(pa_gc_event ev)
{
    if (gc_g.event_fn)
        gc_g.event_fn(ev, gc_g.event_arg);
}

/* Where a pause went (gc_now_ns stamps), for the trace line (docs/gc.md
 * "A collection"): the stop began at t_stop0 and every thread had answered
 * at t[0]; the roots (and the objects kept by caches, uncollectable and
 * pending ones) were pushed at t[1]; the drain ended at t[2];
 * finalization and the new sweep cycle were done at t[3]; every stopped
 * thread was woken at t[4]. */
typedef struct pause_parts {
    uint64_t t_stop0, t[5];
} pause_parts;

/* Mark everything reachable, then finalization; the world stopped. */
static void mark_all(void *keep, uintptr_t own_lo, uintptr_t regs, uintptr_t regs_end,
                     pause_parts *pp)
{
    gc_mark_init();
    gc_tcache_mark();                            /* thread caches' objects stay */
    if (keep)
        gc_mark_word((uintptr_t)keep);
    gc_mark_uncollectable();
    gc_mark_drain();
    gc_mark_pending();
    gc_mark_drain();
    gc_scan_roots();
    gc_scan_threads(own_lo, regs, regs_end);
    gc_scan_results();
    pp->t[1] = gc_now_ns();
    gc_mark_parallel();
    while (atomic_exchange_explicit(&gc_mark_overflow, 0, memory_order_relaxed)) {
        /* The work list lost ranges: rescan every marked scanned object. */
        for (unsigned i = 0; i < GC_NSPC; i++) {
            if (i & GC_KIND_NOSCAN)
                continue;
            for (gc_span *s = gc_g.cls[i].spans; s; s = s->next)
                for (uint32_t k = 0; k < s->nelems; k++)
                    if (gc_bit(s->mark, k)) {
                        uintptr_t b = s->base + (uintptr_t)k * s->size;
                        gc_mark_range(b, b + s->size);
                        gc_mark_drain();
                    }
        }
    }
    pp->t[2] = gc_now_ns();
    gc_finalize_after_mark();
}

/* Every span becomes unswept; each class starts its sweep from its head. */
static void new_sweep_cycle(void)
{
    uint64_t spans = 0;
    atomic_fetch_add_explicit(&gc_g.sweepgen, 2, memory_order_relaxed);
    for (unsigned i = 0; i < GC_NSPC; i++) {
        gc_class *c = &gc_g.cls[i];
        c->cur = NULL;
        c->sweep_pos = c->spans;
        spans += c->nspans;
    }
    atomic_store_explicit(&gc_g.unswept, spans, memory_order_relaxed);
}

extern uint64_t gc_helper_cpu_ns;
extern uint64_t gc_par_idle_ns;

static void trace_line(uint64_t n, const pause_parts *pp, uint64_t cpu, uint64_t before,
                       uint64_t live, uint64_t roots, uint64_t goal, unsigned markers)
{
    double mb = 1024.0 * 1024.0, ms = 1e6;
    const uint64_t *t = pp->t;
    fprintf(stderr,
            "gc %llu @%.3fs: %.3f ms pause (stop %.3f, roots %.3f, drain %.3f (idle %.3f), "
            "fin %.3f, restart %.3f), %.3f ms mark cpu, %.1f->%.1f MB, %.1f MB goal, %llu KB roots, "
            "%u markers (helpers marked %.0f%%)\n",
            (unsigned long long)n, (double)(pp->t_stop0 - gc_g.t0_ns) / 1e9,
            (double)(t[4] - pp->t_stop0) / ms, (double)(t[0] - pp->t_stop0) / ms,
            (double)(t[1] - t[0]) / ms, (double)(t[2] - t[1]) / ms, (double)gc_par_idle_ns / ms,
            (double)(t[3] - t[2]) / ms,
            (double)(t[4] - t[3]) / ms, (double)cpu / ms, (double)before / mb,
            (double)live / mb, (double)goal / mb, (unsigned long long)(roots >> 10), markers,
            live ? 100.0 * (double)gc_helper_marked_bytes() / (double)live : 0.0);
}


/* Show and free the objects leak-finding found unreachable. */
static void leaks_report(void)
{
    uintptr_t obj;
    size_t size;
    while (gc_leak_pop(&obj, &size)) {
        gc_add(&gc_g.leaks_found, 1);
        if (gc_g.leak_fn)
            gc_g.leak_fn((void *)obj, size, gc_g.leak_arg);
        else
            fprintf(stderr, "pagealloc gc: leaked %zu bytes at %p\n", size, (void *)obj);
        gc_free_obj((void *)obj, "pa_gc_leak");
    }
}

/* The caller made sure the collector is initialised.
 * forced: 0 paced (collect only if the pacer says so), 1 pa_gc_collect, 2 an
 * allocation that failed. */
static __attribute__((noinline)) void collect(int forced, int release, void *keep,
                                              uintptr_t own_lo, uintptr_t regs,
                                              uintptr_t regs_end)
{
    gc_lock(&gc_g.collect_mu);
    if (!forced && !should_collect()) {
        pthread_mutex_unlock(&gc_g.collect_mu);
        return;
    }
    event(PA_GC_EVENT_START);
    gc_sweep_all();
    uint64_t before = gc_heap_in_use();
    gc_roots_gather();
    gc_wblock_reserve(gc_g.markers);       /* no OS call once the world stops */
    gc_par_start(gc_g.markers);            /* nor a pthread_create (par.c) */
    gc_lock_classes();
    gc_fin_lock();
    gc_roots_lock();
    gc_threads_lock();
    uint64_t c0 = cpu_ns();
    pause_parts pp;
    event(PA_GC_EVENT_WORLD_STOPPING);
    pp.t_stop0 = gc_now_ns();              /* the events bracket the pause */
    gc_world_stop();
    pp.t[0] = gc_now_ns();
    event(PA_GC_EVENT_WORLD_STOPPED);
    mark_all(keep, own_lo, regs, regs_end, &pp);
    new_sweep_cycle();
    uint64_t cpu = cpu_ns() - c0 + gc_helper_cpu_ns;
    pp.t[3] = gc_now_ns();
    event(PA_GC_EVENT_WORLD_RESTARTING);
    gc_world_start();
    pp.t[4] = gc_now_ns();
    uint64_t pause = pp.t[4] - pp.t_stop0;
    event(PA_GC_EVENT_WORLD_RESTARTED);
    gc_roots_unlock();
    gc_fin_unlock();
    gc_unlock_classes();
    gc_world_start_wait();               /* the woken threads run meanwhile */
    gc_threads_unlock();

    uint64_t live = gc_marked_bytes();
    atomic_store_explicit(&gc_g.live_marked, live, memory_order_relaxed);
    atomic_store_explicit(&gc_g.alloc_since, 0, memory_order_relaxed);
    atomic_store_explicit(&gc_g.freed_since, 0, memory_order_relaxed);
    uint64_t goal = compute_goal(live);
    atomic_store_explicit(&gc_g.goal, goal, memory_order_relaxed);
    uint64_t n = atomic_fetch_add_explicit(&gc_g.collections, 1, memory_order_relaxed) + 1;
    if (forced == 1)
        gc_add(&gc_g.forced, 1);
    gc_add(&gc_g.pause_total, pause);
    atomic_store_explicit(&gc_g.pause_last, pause, memory_order_relaxed);
    if (pause > gc_ld(&gc_g.pause_max))
        atomic_store_explicit(&gc_g.pause_max, pause, memory_order_relaxed);
    gc_add(&gc_g.mark_cpu, cpu);
    if (atomic_load_explicit(&gc_g.trace, memory_order_relaxed))
        trace_line(n, &pp, cpu, before, live, gc_root_bytes(), goal,
                   atomic_load_explicit(&gc_last_markers, memory_order_relaxed));
    event(PA_GC_EVENT_MARK_END);

    int leak = atomic_load_explicit(&gc_g.find_leak, memory_order_relaxed);
    if (forced || leak || gc_g.check_heap || !gc_g.bg_sweeper) {
        gc_sweep_all();
        if (!release)
            gc_heap_pace(forced != 0);
    } else {
        gc_sweeper_start();
        gc_sweeper_kick();                   /* it paces the heap when done */
    }
    if (release)
        gc_heap_release_all();
    if (gc_g.check_heap) {
        char msg[256];
        if (gc_check_locked(msg, sizeof msg) != 0)
            pa_report("pa_gc_check", 0, 0, msg);
    }
    pthread_mutex_unlock(&gc_g.collect_mu);
    if (leak)
        leaks_report();
    event(PA_GC_EVENT_END);
    gc_fin_after_cycle(!forced);
}

/* The collecting thread's roots are this frame and its callers' (the
 * registers spilled here: __builtin_unwind_init saves every callee-saved
 * register in this frame, setjmp copies them once more), not the frames
 * of the collection itself below it, which hold stale heap addresses of
 * the collector's own earlier calls. keep: an object the caller holds
 * only in a frame below this one (api.c). */
__attribute__((noinline)) void gc_collect(int forced, int release, void *keep)
{
    jmp_buf regs;
    volatile uintptr_t here = 0;
    /* setjmp fills only the register words: the rest of the buffer (the
     * signal mask, padding) would be scanned with whatever stale words
     * this stack slot held, e.g. the heap's base, which is the address of
     * the first object ever allocated. */
    memset(&regs, 0, sizeof regs);
    __builtin_unwind_init();
    setjmp(regs);
    uintptr_t lo = (uintptr_t)&here < (uintptr_t)&regs ? (uintptr_t)&here : (uintptr_t)&regs;
    collect(forced, release, keep, lo, (uintptr_t)&regs, (uintptr_t)(&regs + 1));
    __asm__ volatile("" : : "r"(&regs), "r"(&here) : "memory");
}
