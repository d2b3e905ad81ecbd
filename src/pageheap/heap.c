/*
 * heap.c - the page heap's life cycle: pageheap_new, pageheap_delete, and
 * the handle check every public call makes (heap.h has the design).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/color.h"
#include "pageheap/heap.h"

/* The struct starts PA_COLOR_BYTES into its mapping (base/color.h): its
 * first lines (the handle check, the run map's root, the merge rule),
 * which every call reads, and the shards' lines are then none of them at
 * a page start, where the users' page-aligned runs keep evicting them. */
_Static_assert(PA_COLOR_BYTES % 512 == 0 && PA_COLOR_BYTES % 4096 >= 64 &&
                   (PA_COLOR_BYTES + offsetof(pageheap, shards)) % 4096 >= 64 &&
                   (PA_COLOR_BYTES + offsetof(pageheap, shards)) % 4096 +
                           sizeof(((pageheap *)0)->shards) <= 4096,
               "a hot line of the heap struct would start a page: change PA_COLOR_BYTES");

static uint64_t monotonic_ns(void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The heap's fork handlers (heap.h, "Fork"). */
static void fork_prepare(void *arg);
static void fork_parent(void *arg);
static void fork_child(void *arg);

PA_API pageheap *pageheap_new(const pageheap_options *opts)
{
    pageheap_options o = { 0 };
    if (opts)
        o = *opts;
    if (o.scavenger_cpu_fraction < 0 || o.scavenger_cpu_fraction > 1 ||
        (unsigned)o.huge_pages > PAGEHEAP_HUGE_ALWAYS || o.shards > PH_MAX_SHARDS ||
        (o.clock && !o.clock->now_ns)) {
        errno = EINVAL;
        return NULL;
    }
    unsigned nshards = o.shards;
    if (nshards == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nshards = n < 1 ? 1 : n > (long)PH_MAX_SHARDS ? PH_MAX_SHARDS : (unsigned)n;
    }
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    sysmem_stat stat = { 0 };
    size_t self = pa_color_map_bytes(sizeof(pageheap), caps.page_size);
    void *mem;
    int err = sysmem_alloc(self, &stat, &mem);
    if (err) {
        errno = err;
        return NULL;
    }
    pageheap *h = pa_color_in(mem);   /* zero-filled */
    h->magic = PH_MAGIC;
    static _Atomic uint64_t next_id = 1;
    h->id = atomic_fetch_add(&next_id, 1);
    h->guard = o.guard != 0;
    h->runcache = !o.guard && !o.no_run_cache;
    h->rc_merge = !h->runcache || o.run_cache_merge == PAGEHEAP_MERGE_OFF ? 0
                  : o.run_cache_merge == PAGEHEAP_MERGE_BOTH ? PAGEHEAP_MERGE_BOTH
                  : PAGEHEAP_MERGE_NEXT;
    h->meta_stat = stat;
    h->self_bytes = self;
    h->nshards = nshards;
    h->hard = o.hard_limit != 0;
    h->reads_zero = caps.released_reads_zero;
    h->phys_page = caps.page_size;
    h->huge = o.huge_pages;
    h->arena_bytes = o.arena_bytes ? (o.arena_bytes + PH_CHUNK - 1) & ~(PH_CHUNK - 1)
                                   : PH_DEFAULT_ARENA;
    h->clock = o.clock ? *o.clock : (pageheap_clock){ .now_ns = monotonic_ns };
    atomic_store(&h->limit, o.limit);
    /* Up to 1000x the peak: hwm / 1000 * ceil_pm cannot overflow. */
    h->ceil_pm = o.resident_ceiling < 1000000u ? o.resident_ceiling : 1000000u;
    pthread_mutex_init(&h->reg_mu, NULL);
    pthread_mutex_init(&h->grow_mu, NULL);
    pthread_mutex_init(&h->goal_mu, NULL);
    pthread_mutex_init(&h->sec_mu, NULL);
    (void)pa_fixalloc_init(&h->thread_recs, sizeof(ph_thread), 64, &h->meta_stat);
    (void)pa_fixalloc_init(&h->range_recs, sizeof(ph_range), 0, &h->meta_stat);
    pagealloc_options po = {
        .unbacked = 1,
        .dense_pages = o.huge_pages == PAGEHEAP_HUGE_OFF ? 0 : PH_DENSE_PAGES,
    };
    unsigned made = 0;
    if (h->runcache && (err = ph_rm_init(h)) != 0)
        made = nshards + 1;             /* skip the shards: fail below */
    for (; made < nshards; made++) {
        ph_lock_init(&h->shards[made].mu);
        h->shards[made].pa = pagealloc_new(&po);
        if (!h->shards[made].pa) {
            err = errno;
            break;
        }
        pagealloc_stats st;
        pagealloc_get_stats(h->shards[made].pa, &st);
        atomic_store(&h->shards[made].meta, st.metadata_bytes);
    }
    if (made == nshards && (err = pthread_key_create(&h->key, ph_thread_exit)) == 0) {
        pa_scav_hooks hooks = {
            .arg = h, .now = ph_hook_now, .excess = ph_excess, .release = ph_hook_release,
        };
        pa_scavenger_init(&h->scav, &hooks,
                          o.scavenger_cpu_fraction > 0 ? o.scavenger_cpu_fraction : 0.01,
                          o.scavenger_poll_ns);
        h->peak_time = now_ns(h);
        h->fork = (sm_fork_client){ .prepare = fork_prepare, .parent = fork_parent,
                                    .child = fork_child, .arg = h, .rank = SM_FORK_RANK_HEAP };
        if (!o.background_scavenger) {
            sm_fork_register(&h->fork);
            return h;
        }
        h->scav_on = 1;                    /* before the thread reads it */
        err = pa_scavenger_start(&h->scav);
        if (err == 0) {
            sm_fork_register(&h->fork);
            return h;
        }
        h->scav_on = 0;
        pa_scavenger_destroy(&h->scav);
        pthread_key_delete(h->key);
    }
    for (unsigned i = 0; i <= made && i < nshards; i++)
        pagealloc_delete(h->shards[i].pa);
    ph_rm_destroy(h);
    pa_fixalloc_destroy(&h->thread_recs);
    pa_fixalloc_destroy(&h->range_recs);
    pthread_mutex_destroy(&h->sec_mu);
    h->magic = 0;
    sysmem_stat last = h->meta_stat;
    sysmem_free(mem, self, &last);
    errno = err ? err : ENOMEM;
    return NULL;
}

void ph_set_threadless(pageheap *h)
{
    h->threadless = 1;
    h->runcache = 0;                    /* frees of parts of runs are allowed */
    ph_last_forget(h);                  /* its rc_id, if this thread set it */
    ph_rm_destroy(h);
}

int ph_start_scavenger(pageheap *h)
{
    if (h->scav_on)
        return 0;
    h->scav_on = 1;                        /* before the thread reads it */
    int err = pa_scavenger_start(&h->scav);
    if (err)
        h->scav_on = 0;
    return err;
}

static void fork_prepare(void *arg)
{
    pageheap *h = arg;
    pthread_mutex_lock(&h->reg_mu);
    for (ph_thread *t = h->threads; t; t = t->next)
        busy_lock(t);
    pthread_mutex_lock(&h->grow_mu);
    for (unsigned i = 0; i < h->nshards; i++) {
        /* A run taken for scavenging comes back under this lock, which is
         * all its scavenger needs: wait for it, so that none is half
         * released in the child. */
        ph_lock_take(&h->shards[i].mu);
        while (ld(&h->shards[i].inflight)) {
            ph_lock_give(&h->shards[i].mu);
            sched_yield();
            ph_lock_take(&h->shards[i].mu);
        }
    }
    pthread_mutex_lock(&h->goal_mu);
    pthread_mutex_lock(&h->thread_recs.mu);
    pthread_mutex_lock(&h->range_recs.mu);
    pthread_mutex_lock(&h->scav.mu);
}

static void fork_parent(void *arg)
{
    pageheap *h = arg;
    pthread_mutex_unlock(&h->scav.mu);
    pthread_mutex_unlock(&h->range_recs.mu);
    pthread_mutex_unlock(&h->thread_recs.mu);
    pthread_mutex_unlock(&h->goal_mu);
    for (unsigned i = h->nshards; i-- > 0;)
        ph_lock_give(&h->shards[i].mu);
    pthread_mutex_unlock(&h->grow_mu);
    for (ph_thread *t = h->threads; t; t = t->next)
        busy_unlock(t);
    pthread_mutex_unlock(&h->reg_mu);
}

static void fork_child(void *arg)
{
    pageheap *h = arg;
    pthread_mutex_init(&h->reg_mu, NULL);
    for (ph_thread *t = h->threads; t; t = t->next)
        busy_unlock(t);
    pthread_mutex_init(&h->grow_mu, NULL);
    for (unsigned i = 0; i < h->nshards; i++) {
        ph_lock_init(&h->shards[i].mu);
        atomic_store(&h->shards[i].inflight, 0);   /* 0 already: prepare waited */
    }
    pthread_mutex_init(&h->goal_mu, NULL);
    pthread_mutex_init(&h->thread_recs.mu, NULL);
    pthread_mutex_init(&h->range_recs.mu, NULL);
    /* Not taken by prepare: a section's function takes its client's locks
     * under it, and clients take theirs before the heap's at a fork. A
     * JSON call in flight at the fork does not exist in the child. */
    pthread_mutex_init(&h->sec_mu, NULL);
    pa_scavenger_after_fork(&h->scav);
    h->scav_on = 0;
}

PA_API void pageheap_delete(pageheap *h)
{
    if (!h || ph_heap_bad(h, "pageheap_delete", (uintptr_t)h, 0))
        return;
    sm_fork_unregister(&h->fork);          /* no fork may take its locks now */
    pa_scavenger_destroy(&h->scav);        /* its thread uses the heap until stopped */
    h->magic = 0;
    ph_last_forget(h);
    if (pthread_getspecific(h->key))
        pthread_setspecific(h->key, NULL);
    pthread_key_delete(h->key);
    for (unsigned i = 0; i < h->nshards; i++)
        pagealloc_delete(h->shards[i].pa);
    ph_grow_destroy(h);
    pa_fixalloc_destroy(&h->thread_recs);   /* every thread record */
    pa_fixalloc_destroy(&h->range_recs);
    pthread_mutex_destroy(&h->reg_mu);
    pthread_mutex_destroy(&h->grow_mu);
    pthread_mutex_destroy(&h->goal_mu);
    pthread_mutex_destroy(&h->sec_mu);
    sysmem_stat last = h->meta_stat;
    sysmem_free(pa_color_out(h), h->self_bytes, &last);
}

