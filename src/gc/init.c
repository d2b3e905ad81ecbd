/*
 * init.c - the collector's life: options and their PAGEALLOC_GC
 * overrides, initialisation (explicit, or implicit at the first
 * allocation), the run-time setters, and fork.
 *
 * Initialisation runs once, under init_mu; gc_g.inited is set (release)
 * when every part is ready, then the calling thread registers. Fork: the
 * forking thread takes every collector lock in the lock order of gcint.h
 * (a client of the OS layer's fork coordinator, os/fork.h, ranked above
 * malloc; the page heap is a client of its own and takes its locks after
 * ours), so the child starts with no lock held by a thread that no longer
 * exists; the child makes every lock new,
 * keeps only itself in the thread registry and forgets the collector's
 * threads (sweeper, markers, finalizer thread: made again when needed;
 * the page heap's scavenger stays off in the child). The OS layer's lock
 * is taken once, by the coordinator, after every client's prepare.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gc/gcint.h"
#include "os/fork.h"
#include "pageheap/heap.h"

static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

static int parse_bytes(const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 0);
    if (errno || end == v)
        return EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B')
        end++;
    if (*end == 'B')
        end++;
    if (*end)
        return EINVAL;
    *out = (uint64_t)n << shift;
    return 0;
}

static void env_item(pa_gc_options *o, const char *name, const char *val, int *sigs)
{
    uint64_t n = 0;
    int bad = 0;
    if (!strcmp(name, "percent")) {
        if (!strcmp(val, "off"))
            o->percent = PA_GC_PERCENT_OFF;
        else if (!(bad = parse_bytes(val, &n)))
            o->percent = n == 0 ? 1 : (int)(n > 100000 ? 100000 : n);
    } else if (!strcmp(name, "finalize")) {
        if (!strcmp(val, "auto"))
            o->finalize = PA_GC_FINALIZE_AUTO;
        else if (!strcmp(val, "demand"))
            o->finalize = PA_GC_FINALIZE_ON_DEMAND;
        else if (!strcmp(val, "thread"))
            o->finalize = PA_GC_FINALIZE_THREAD;
        else
            bad = 1;
    } else if ((bad = parse_bytes(val, &n)) != 0) {
        /* reported below */
    } else if (!strcmp(name, "limit")) {
        o->memory_limit = n;
    } else if (!strcmp(name, "hard_limit")) {
        o->hard_limit = n != 0;
    } else if (!strcmp(name, "initial")) {
        o->initial_heap = (size_t)n;
    } else if (!strcmp(name, "markers")) {
        o->markers = (unsigned)(n > 16 ? 16 : n);
    } else if (!strcmp(name, "interior")) {
        o->no_interior_pointers = n == 0;
    } else if (!strcmp(name, "find_leak")) {
        o->find_leak = n != 0;
    } else if (!strcmp(name, "trace")) {
        o->trace = n != 0;
    } else if (!strcmp(name, "sweeper")) {
        o->no_background_sweeper = n == 0;
    } else if (!strcmp(name, "check")) {
        o->check_heap = n != 0;
    } else if (!strcmp(name, "static_roots")) {
        o->no_static_roots = n == 0;
    } else if (!strcmp(name, "sig_suspend") && n > 0 && n < 65) {
        sigs[0] = (int)n;
    } else if (!strcmp(name, "sig_restart") && n > 0 && n < 65) {
        sigs[1] = (int)n;
    } else {
        bad = 1;
    }
    if (bad)
        fprintf(stderr, "pagealloc gc: PAGEALLOC_GC: ignored %s=%s\n", name, val);
}

static void env_options(pa_gc_options *o, int *sigs)
{
    const char *env = getenv("PAGEALLOC_GC");
    if (!env)
        return;
    char buf[512];
    strncpy(buf, env, sizeof buf - 1);
    buf[sizeof buf - 1] = 0;
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq) {
            fprintf(stderr, "pagealloc gc: PAGEALLOC_GC: ignored %s\n", item);
            continue;
        }
        *eq = 0;
        env_item(o, item, eq + 1, sigs);
    }
}

static unsigned default_markers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 16 ? 16 : (unsigned)n;
}

static sm_fork_client fork_client;      /* registered once, at init */

static void fork_prepare(void *arg)
{
    (void)arg;
    gc_lock(&gc_g.collect_mu);
    gc_lock_classes();
    gc_fin_lock();
    gc_roots_lock();
    gc_threads_lock();
    for (unsigned k = 0; k < GC_REC_POOLS; k++)
        gc_lock(&gc_g.span_recs[k].mu);
    gc_lock(&gc_g.map_mu);
}

static void fork_parent(void *arg)
{
    (void)arg;
    pthread_mutex_unlock(&gc_g.map_mu);
    for (unsigned k = GC_REC_POOLS; k-- > 0;)
        pthread_mutex_unlock(&gc_g.span_recs[k].mu);
    gc_threads_unlock();
    gc_roots_unlock();
    gc_fin_unlock();
    gc_unlock_classes();
    pthread_mutex_unlock(&gc_g.collect_mu);
}

static void fork_child(void *arg)
{
    (void)arg;
    pthread_mutex_init(&gc_g.map_mu, NULL);
    for (unsigned k = 0; k < GC_REC_POOLS; k++)
        pthread_mutex_init(&gc_g.span_recs[k].mu, NULL);
    gc_world_fork_child();
    gc_results_fork_child();
    gc_roots_fork_child();
    gc_fin_fork_child();
    for (unsigned i = 0; i < GC_NSPC; i++)
        pthread_mutex_init(&gc_g.cls[i].mu, NULL);
    pthread_mutex_init(&gc_g.collect_mu, NULL);
    gc_sweep_fork_child();
    gc_par_fork_child();
}

static int do_init(const pa_gc_options *opts, int explicit_call)
{
    gc_lock(&init_mu);
    if (gc_g.inited) {
        pthread_mutex_unlock(&init_mu);
        return explicit_call ? EALREADY : 0;
    }
    pa_gc_options o = opts ? *opts : (pa_gc_options){ 0 };
    int sigs[2] = { SIGPWR, SIGXCPU };
    env_options(&o, sigs);
    atomic_store(&gc_g.percent, o.percent == 0 ? 100 : o.percent < 0 ? PA_GC_PERCENT_OFF : o.percent);
    atomic_store(&gc_g.limit, o.memory_limit);
    gc_g.hard_limit = o.hard_limit;
    gc_g.initial_heap = o.initial_heap;
    gc_g.markers = o.markers ? o.markers : default_markers();
    atomic_store(&gc_g.interior, !o.no_interior_pointers);
    atomic_store(&gc_g.find_leak, o.find_leak);
    atomic_store(&gc_g.trace, o.trace);
    atomic_store(&gc_g.finalize_mode, (int)o.finalize);
    gc_g.bg_sweeper = !o.no_background_sweeper;
    gc_g.check_heap = o.check_heap;
    gc_g.static_roots = !o.no_static_roots;
    gc_g.sig_suspend = sigs[0];
    gc_g.sig_restart = sigs[1];
    pthread_mutex_init(&gc_g.collect_mu, NULL);
    atomic_store(&gc_g.sweepgen, 2);
    int err = gc_heap_init();
    if (!err)
        err = gc_world_init();
    if (!err)
        err = gc_results_init();
    if (err) {
        pthread_mutex_unlock(&init_mu);
        return err;
    }
    gc_g.t0_ns = gc_now_ns();
    uint64_t goal = GC_MIN_GOAL * (uint64_t)(o.percent > 0 ? o.percent : 100) / 100;
    if (goal < o.initial_heap)
        goal = o.initial_heap;
    atomic_store(&gc_g.goal, goal);
    fork_client = (sm_fork_client){ .prepare = fork_prepare, .parent = fork_parent,
                                    .child = fork_child, .rank = SM_FORK_RANK_GC };
    sm_fork_register(&fork_client);
    (void)sm_fork_install();
    __atomic_store_n(&gc_g.inited, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&init_mu);
    err = gc_thread_register(NULL);
    return err == EALREADY ? 0 : err;
}

int gc_ensure_init(void)
{
    return do_init(NULL, 0);
}

PA_API int pa_gc_init(const pa_gc_options *opts)
{
    return do_init(opts, 1);
}

PA_API int pa_gc_is_initialized(void)
{
    return __atomic_load_n(&gc_g.inited, __ATOMIC_ACQUIRE);
}

PA_API int pa_gc_set_percent(int percent)
{
    if (gc_ensure_init())
        return PA_GC_PERCENT_OFF;
    int old = atomic_exchange(&gc_g.percent, percent < 0 ? PA_GC_PERCENT_OFF : percent);
    atomic_store(&gc_g.goal, 0);                  /* recomputed below */
    uint64_t live = gc_ld(&gc_g.live_marked);
    uint64_t p = percent < 0 ? 100 : (uint64_t)percent;
    uint64_t goal = live + live / 100 * p;
    uint64_t min = GC_MIN_GOAL * p / 100;
    atomic_store(&gc_g.goal, goal > min ? goal : min);
    return old;
}

PA_API int pa_gc_get_percent(void)
{
    return gc_g.inited ? atomic_load(&gc_g.percent) : 100;
}

PA_API int pa_gc_set_memory_limit(uint64_t bytes, int hard)
{
    int err = gc_ensure_init();
    if (err)
        return err;
    atomic_store(&gc_g.limit, bytes);
    gc_g.hard_limit = hard;
    (void)pageheap_set_limit(gc_g.ph, bytes);    /* soft there: it scavenges */
    return 0;
}

PA_API uint64_t pa_gc_get_memory_limit(void)
{
    return gc_ld(&gc_g.limit);
}

PA_API int pa_gc_expand_heap(size_t bytes)
{
    int err = gc_ensure_init();
    if (err)
        return err;
    gc_lock(&gc_g.collect_mu);
    err = gc_heap_expand(bytes);
    if (err) {
        pthread_mutex_unlock(&gc_g.collect_mu);
        return err;
    }
    gc_g.initial_heap += bytes;
    if (gc_ld(&gc_g.goal) < gc_g.initial_heap)
        atomic_store(&gc_g.goal, gc_g.initial_heap);
    pthread_mutex_unlock(&gc_g.collect_mu);
    return 0;
}

PA_API int pa_gc_set_markers(unsigned markers)
{
    int err = gc_ensure_init();
    if (err)
        return err;
    gc_lock(&gc_g.collect_mu);
    gc_g.markers = markers ? (markers > 16 ? 16 : markers) : default_markers();
    pthread_mutex_unlock(&gc_g.collect_mu);
    return 0;
}

PA_API void pa_gc_set_interior_pointers(int on) { atomic_store(&gc_g.interior, on != 0); }
PA_API int pa_gc_get_interior_pointers(void) { return gc_g.inited ? atomic_load(&gc_g.interior) : 1; }
PA_API void pa_gc_set_find_leak(int on) { atomic_store(&gc_g.find_leak, on != 0); }
PA_API int pa_gc_get_find_leak(void) { return atomic_load(&gc_g.find_leak); }
PA_API void pa_gc_set_trace(int on) { atomic_store(&gc_g.trace, on != 0); }
PA_API void pa_gc_set_finalize_mode(pa_gc_finalize_mode m) { atomic_store(&gc_g.finalize_mode, (int)m); }
PA_API pa_gc_finalize_mode pa_gc_get_finalize_mode(void)
{
    return (pa_gc_finalize_mode)atomic_load(&gc_g.finalize_mode);
}
PA_API void pa_gc_set_finalizer_notifier(void (*fn)(void)) { gc_g.fin_notifier = fn; }
PA_API void pa_gc_set_oom_handler(pa_gc_oom_fn fn) { gc_g.oom = fn; }
PA_API void pa_gc_set_leak_handler(pa_gc_leak_fn fn, void *arg)
{
    gc_g.leak_fn = fn;
    gc_g.leak_arg = arg;
}
PA_API void pa_gc_set_event_handler(pa_gc_event_fn fn, void *arg)
{
    gc_g.event_fn = fn;
    gc_g.event_arg = arg;
}
