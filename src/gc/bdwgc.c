/*
 * bdwgc.c - the bdwgc face's start-up, knobs, allocation, collection,
 * statistics and collection events, each a thin call into the collector
 * (<pagealloc/gc.h>).
 *
 * Start-up. bdwgc lets a program set some things only before GC_INIT
 * (interior pointers, leak finding, markers); they are kept in `early`
 * until gc_bdwgc_start builds the collector's options from them. Every
 * allocation entry checks gc_bdwgc_started first (one acquire load), so a
 * program that allocates without GC_INIT gets the same settings and the
 * face's leak handler. After start-up the setters go to the collector's
 * run-time setters, which accept any time.
 *
 * Pacing. bdwgc collects after about heap/divisor bytes of allocation
 * (divisor 3 by default); the collector paces by Go's percent. A divisor
 * d is mapped to the percent 300/d, which makes the two defaults meet.
 *
 * Events. The collector tells of each moment bdwgc's callback knows
 * (gc.h, pa_gc_event); the face passes each on as the bdwgc events true at
 * that moment, in bdwgc's order:
 *   START                 START
 *   WORLD_STOPPING        PRE_STOP_WORLD
 *   WORLD_STOPPED         POST_STOP_WORLD, MARK_START
 *   WORLD_RESTARTING      MARK_END, PRE_START_WORLD
 *   WORLD_RESTARTED       POST_START_WORLD
 *   MARK_END (the core's) RECLAIM_START (sweeping follows)
 *   END                   RECLAIM_END, END
 * so PRE_STOP_WORLD -> POST_START_WORLD is exactly the pause the
 * collector counts (pa_gc_stats.pause_*). The thread events
 * (THREAD_SUSPENDED, THREAD_UNSUSPENDED) are never sent.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "gc/bdwgc.h"

#define FACE __attribute__((visibility("default")))

int gc_bdwgc_started;

/* Settings made before start-up. Written by the program's thread before
 * GC_INIT (bdwgc's rule); read once by gc_bdwgc_start under start_mu. */
static struct {
    int interior_off;      /* GC_set_all_interior_pointers(0); after start-up
                            * still the program's setting (start_mu) */
    int find_leak;         /* GC_set_find_leak(1) */
    unsigned markers;      /* GC_set_markers_count; 0: default */
    int on_demand;         /* GC_set_finalize_on_demand(1) */
    GC_word max_heap;      /* GC_set_max_heap_size; 0: none */
    int percent;           /* from GC_set_free_space_divisor; 0: default */
} early;
static int displaced;                 /* GC_register_displacement(n > 0) seen; start_mu */
static GC_word divisor = 3;           /* the last divisor set (bdwgc's default) */
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static GC_on_collection_event_proc event_proc; /* atomic pointer */

static void on_event(pa_gc_event ev, void *arg)
{
    (void)arg;
    GC_on_collection_event_proc fn = __atomic_load_n(&event_proc, __ATOMIC_ACQUIRE);
    if (fn == NULL)
        return;
    switch (ev) {
    case PA_GC_EVENT_START:
        fn(GC_EVENT_START);
        break;
    case PA_GC_EVENT_WORLD_STOPPING:
        fn(GC_EVENT_PRE_STOP_WORLD);
        break;
    case PA_GC_EVENT_WORLD_STOPPED:
        fn(GC_EVENT_POST_STOP_WORLD);
        fn(GC_EVENT_MARK_START);
        break;
    case PA_GC_EVENT_WORLD_RESTARTING:
        fn(GC_EVENT_MARK_END);
        fn(GC_EVENT_PRE_START_WORLD);
        break;
    case PA_GC_EVENT_WORLD_RESTARTED:
        fn(GC_EVENT_POST_START_WORLD);
        break;
    case PA_GC_EVENT_MARK_END:
        fn(GC_EVENT_RECLAIM_START);
        break;
    case PA_GC_EVENT_END:
        fn(GC_EVENT_RECLAIM_END);
        fn(GC_EVENT_END);
        break;
    }
}

void gc_bdwgc_start(void)
{
    pthread_mutex_lock(&start_mu);
    if (!__atomic_load_n(&gc_bdwgc_started, __ATOMIC_RELAXED)) {
        pa_gc_options o = {
            .percent = early.percent,
            .memory_limit = early.max_heap,
            .hard_limit = early.max_heap != 0,
            .markers = early.markers,
            .no_interior_pointers = early.interior_off && !displaced,
            .find_leak = early.find_leak,
            .finalize = early.on_demand ? PA_GC_FINALIZE_ON_DEMAND : PA_GC_FINALIZE_AUTO,
        };
        pa_gc_set_leak_handler(gc_bdwgc_report_leak, NULL);
        pa_gc_set_event_handler(on_event, NULL);
        if (pa_gc_init(&o) == EALREADY) {
            /* Started by a pa_gc_ call of the same program: apply what
             * can still be applied. */
            pa_gc_set_interior_pointers(!early.interior_off || displaced);
            pa_gc_set_find_leak(early.find_leak);
            if (early.markers)
                pa_gc_set_markers(early.markers);
            if (early.on_demand)
                pa_gc_set_finalize_mode(PA_GC_FINALIZE_ON_DEMAND);
            if (early.max_heap)
                pa_gc_set_memory_limit(early.max_heap, 1);
            if (early.percent)
                pa_gc_set_percent(early.percent);
        }
        __atomic_store_n(&gc_bdwgc_started, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&start_mu);
}

/* ---- start-up and knobs -------------------------------------------- */

FACE void GC_init(void)
{
    gc_bdwgc_ensure_init();
}

FACE int GC_is_init_called(void)
{
    return __atomic_load_n(&gc_bdwgc_started, __ATOMIC_ACQUIRE);
}

FACE unsigned GC_get_version(void)
{
    return (GC_VERSION_MAJOR << 16) | (GC_VERSION_MINOR << 8) | GC_VERSION_MICRO;
}

FACE void GC_disable(void)
{
    gc_bdwgc_ensure_init();
    pa_gc_disable();
}

FACE void GC_enable(void)
{
    gc_bdwgc_ensure_init();
    pa_gc_enable();
}

FACE int GC_is_disabled(void)
{
    return GC_is_init_called() && pa_gc_is_disabled();
}

FACE void GC_set_free_space_divisor(GC_word d)
{
    if (d == 0)
        d = 1;
    int percent = d >= 300 ? 1 : (int)(300 / d);
    __atomic_store_n(&divisor, d, __ATOMIC_RELAXED);
    if (GC_is_init_called())
        pa_gc_set_percent(percent);
    else
        early.percent = percent;
}

FACE GC_word GC_get_free_space_divisor(void)
{
    return __atomic_load_n(&divisor, __ATOMIC_RELAXED);
}

FACE void GC_set_max_heap_size(GC_word bytes)
{
    if (GC_is_init_called())
        pa_gc_set_memory_limit(bytes, bytes != 0);
    else
        early.max_heap = bytes;
}

FACE int GC_expand_hp(size_t bytes)
{
    gc_bdwgc_ensure_init();
    return pa_gc_expand_heap(bytes) == 0;
}

/* Interior pointers: what the program asked (early.interior_off, which
 * the getter reports) and whether it registered a nonzero displacement
 * (`displaced`).
 * The collector keeps no table of valid offsets, so a displacement makes
 * every interior pointer valid: a superset of bdwgc's rule that may keep
 * more objects, never fewer. The collector's switch is on unless interior
 * pointers were asked off and no displacement was registered. */
static void apply_interior(void)      /* start_mu held, after start-up */
{
    pa_gc_set_interior_pointers(!early.interior_off || displaced);
}

FACE void GC_set_all_interior_pointers(int on)
{
    pthread_mutex_lock(&start_mu);
    early.interior_off = !on;
    if (GC_is_init_called())
        apply_interior();
    pthread_mutex_unlock(&start_mu);
}

FACE int GC_get_all_interior_pointers(void)
{
    pthread_mutex_lock(&start_mu);
    int on = !early.interior_off;
    pthread_mutex_unlock(&start_mu);
    return on;
}

FACE void GC_register_displacement(size_t offset)
{
    if (offset == 0)                  /* the base is always valid */
        return;
    pthread_mutex_lock(&start_mu);
    displaced = 1;
    if (GC_is_init_called())
        apply_interior();
    pthread_mutex_unlock(&start_mu);
}

FACE void GC_debug_register_displacement(size_t offset)
{
    GC_register_displacement(offset);
}

FACE void GC_set_find_leak(int on)
{
    if (GC_is_init_called())
        pa_gc_set_find_leak(on);
    else
        early.find_leak = on != 0;
}

FACE int GC_get_find_leak(void)
{
    return GC_is_init_called() ? pa_gc_get_find_leak() != 0 : early.find_leak;
}

FACE void GC_set_markers_count(unsigned count)
{
    if (GC_is_init_called())
        pa_gc_set_markers(count);
    else
        early.markers = count;
}

FACE void GC_set_finalize_on_demand(int on)
{
    if (GC_is_init_called())
        pa_gc_set_finalize_mode(on ? PA_GC_FINALIZE_ON_DEMAND : PA_GC_FINALIZE_AUTO);
    else
        early.on_demand = on != 0;
}

FACE int GC_get_finalize_on_demand(void)
{
    if (!GC_is_init_called())
        return early.on_demand;
    return pa_gc_get_finalize_mode() == PA_GC_FINALIZE_ON_DEMAND;
}

FACE void GC_enable_incremental(void)
{
    gc_bdwgc_ensure_init();
}

FACE int GC_is_incremental_mode(void)
{
    return 0;
}

static GC_oom_func oom_fn;            /* atomic pointer: what GC_get_oom_fn says */

FACE void GC_set_oom_fn(GC_oom_func fn)
{
    __atomic_store_n(&oom_fn, fn, __ATOMIC_RELEASE);
    pa_gc_set_oom_handler(fn);
}

FACE GC_oom_func GC_get_oom_fn(void)
{
    return __atomic_load_n(&oom_fn, __ATOMIC_ACQUIRE);
}

FACE void *GC_call_with_alloc_lock(GC_fn_type fn, void *client_data)
{
    gc_bdwgc_ensure_init();
    return pa_gc_call_with_lock(fn, client_data);
}

FACE void GC_set_on_collection_event(GC_on_collection_event_proc fn)
{
    __atomic_store_n(&event_proc, fn, __ATOMIC_RELEASE);
}

FACE GC_on_collection_event_proc GC_get_on_collection_event(void)
{
    return __atomic_load_n(&event_proc, __ATOMIC_ACQUIRE);
}

/* ---- allocation ---------------------------------------------------- */

FACE void *GC_malloc(size_t bytes)
{
    gc_bdwgc_ensure_init();
    return pa_gc_malloc(bytes);
}

FACE void *GC_malloc_atomic(size_t bytes)
{
    gc_bdwgc_ensure_init();
    return pa_gc_malloc_atomic(bytes);
}

FACE void *GC_malloc_uncollectable(size_t bytes)
{
    gc_bdwgc_ensure_init();
    return pa_gc_malloc_uncollectable(bytes);
}

FACE void *GC_malloc_atomic_uncollectable(size_t bytes)
{
    gc_bdwgc_ensure_init();
    return pa_gc_malloc_atomic_uncollectable(bytes);
}

/* The off-page hint only matters to bdwgc's blacklisting; ours has none. */
FACE void *GC_malloc_ignore_off_page(size_t bytes)
{
    return GC_malloc(bytes);
}

FACE void *GC_malloc_atomic_ignore_off_page(size_t bytes)
{
    return GC_malloc_atomic(bytes);
}

FACE char *GC_strdup(const char *s)
{
    gc_bdwgc_ensure_init();
    return pa_gc_strdup(s);
}

FACE char *GC_strndup(const char *s, size_t n)
{
    gc_bdwgc_ensure_init();
    return pa_gc_strndup(s, n);
}

FACE void *GC_memalign(size_t align, size_t bytes)
{
    gc_bdwgc_ensure_init();
    return pa_gc_memalign(align, bytes);
}

FACE int GC_posix_memalign(void **out, size_t align, size_t bytes)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    void *p = GC_memalign(align, bytes);
    if (p == NULL)
        return errno == EINVAL ? EINVAL : ENOMEM;
    *out = p;
    return 0;
}

FACE void GC_free(void *p)
{
    pa_gc_free(p);
}

FACE void *GC_realloc(void *p, size_t bytes)
{
    gc_bdwgc_ensure_init();
    return pa_gc_realloc(p, bytes);
}

FACE void *GC_base(void *p)
{
    return GC_is_init_called() ? pa_gc_base(p) : NULL;
}

FACE int GC_is_heap_ptr(const void *p)
{
    return GC_is_init_called() && pa_gc_is_heap_ptr(p);
}

FACE size_t GC_size(const void *p)
{
    return pa_gc_size(p);
}

/* ---- collection and statistics ------------------------------------- */

/* bdwgc's GC_disable stops explicit collections too (its documentation:
 * even GC_gcollect does nothing while disabled); the collector's own
 * pa_gc_collect works regardless, so the face checks first. */
FACE void GC_gcollect(void)
{
    gc_bdwgc_ensure_init();
    if (!pa_gc_is_disabled())
        pa_gc_collect();
}

FACE void GC_gcollect_and_unmap(void)
{
    gc_bdwgc_ensure_init();
    if (!pa_gc_is_disabled())
        pa_gc_collect_and_release();
}

static pa_gc_stats stats_now(void)
{
    pa_gc_stats s;
    memset(&s, 0, sizeof s);
    if (GC_is_init_called())
        pa_gc_get_stats(&s);
    return s;
}

/* bdwgc's heap size: every resident heap byte, free pages included
 * (not the collector's metadata, not released pages); its free bytes:
 * free objects in spans and the free pages. */
FACE size_t GC_get_heap_size(void)
{
    pa_gc_stats s = stats_now();
    return (size_t)(s.heap_bytes + s.free_page_bytes);
}

FACE size_t GC_get_free_bytes(void)
{
    pa_gc_stats s = stats_now();
    return (size_t)(s.free_bytes + s.free_page_bytes);
}

FACE size_t GC_get_unmapped_bytes(void)
{
    return (size_t)stats_now().released_bytes;
}

FACE size_t GC_get_bytes_since_gc(void)
{
    return (size_t)stats_now().allocated_since_gc;
}

FACE size_t GC_get_total_bytes(void)
{
    return (size_t)stats_now().total_allocated;
}

FACE size_t GC_get_memory_use(void)
{
    pa_gc_stats s = stats_now();
    return (size_t)(s.heap_bytes - s.free_bytes);
}

FACE void GC_get_heap_usage_safe(GC_word *heap_size, GC_word *free_bytes,
                                 GC_word *unmapped_bytes, GC_word *bytes_since_gc,
                                 GC_word *total_bytes)
{
    pa_gc_stats s = stats_now();
    if (heap_size)
        *heap_size = (GC_word)(s.heap_bytes + s.free_page_bytes);
    if (free_bytes)
        *free_bytes = (GC_word)(s.free_bytes + s.free_page_bytes);
    if (unmapped_bytes)
        *unmapped_bytes = (GC_word)s.released_bytes;
    if (bytes_since_gc)
        *bytes_since_gc = (GC_word)s.allocated_since_gc;
    if (total_bytes)
        *total_bytes = (GC_word)s.total_allocated;
}

FACE GC_word GC_get_gc_no(void)
{
    return (GC_word)stats_now().collections;
}
