/*
 * limit.c - giving memory back: two-phase scavenging for release, the
 * memory limit, the resident ceiling and the background scavenger;
 * admission of newly Ready bytes against the limit; the scavenger's goal
 * (heap.h has the rules).
 */
#include <errno.h>
#include <string.h>

#include "pagealloc/debug.h"
#include "pageheap/heap.h"

/* Release at least want bytes of free resident memory (two-phase, no lock
 * across the system call); returns the bytes released. No lock held. */
size_t ph_scavenge(pageheap *h, size_t want)
{
    size_t done = 0;
    for (unsigned k = 0; k < h->nshards && done < want; k++) {
        ph_shard *s = &h->shards[h->nshards - 1 - k];
        while (done < want) {
            size_t np;
            ph_lock_take(&s->mu);
            uintptr_t base = pagealloc_scavenge_take(s->pa, want - done, &np);
            if (base)
                ctr_add(&s->inflight, np * PH_PAGE);
            PA_DEBUG_AFTER(s->pa, "pagealloc_scavenge_take", base, np);
            ph_lock_give(&s->mu);
            if (!base)
                break;
            size_t bytes = np * PH_PAGE;
            int err = sysmem_unused((void *)base, bytes);
            if (!err)
                ctr_sub(&h->ready, bytes);
            ph_lock_take(&s->mu);
            pagealloc_scavenge_done(s->pa, base, np, err == 0);
            PA_DEBUG_AFTER(s->pa, "pagealloc_scavenge_done", base, np);
            ctr_sub(&s->inflight, bytes);
            ph_lock_give(&s->mu);
            if (err)
                break;
            ctr_add(&h->scavenges, 1);
            ctr_add(&h->scavenged_bytes, bytes);
            done += bytes;
        }
    }
    return done;
}

/* Flush the caches and scavenge want bytes, timed as an assist. */
size_t ph_assist(pageheap *h, size_t want)
{
    uint64_t t0 = now_ns(h);
    pageheap_flush_caches(h);
    size_t r = ph_scavenge(h, want);
    uint64_t t1 = now_ns(h);
    ctr_add(&h->assist_ns, t1 > t0 ? t1 - t0 : 0);
    return r;
}

/* Bytes another thread (the background scavenger, a concurrent release)
 * has taken for scavenging and not yet given back. */
static uint64_t inflight_total(pageheap *h)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < h->nshards; i++)
        n += ld(&h->shards[i].inflight);
    return n;
}

PA_API size_t pageheap_release(pageheap *h, size_t nbytes)
{
    if (ph_heap_bad(h, "pageheap_release", 0, nbytes / PH_PAGE))
        return 0;
    size_t r = ph_assist(h, nbytes);
    /* Free pages another thread is releasing right now were invisible to
     * this scan (taken, so allocated). Wait for those runs to be done, so
     * that on return they are released too; if one came back resident (its
     * system call failed), scan again. Each wait is one system call of the
     * other thread. */
    while (r < nbytes && inflight_total(h) != 0) {
        while (inflight_total(h) != 0)
            sched_yield();
        r += ph_scavenge(h, nbytes - r);
    }
    ph_rm_trim(h);
    return r;
}

/* Bytes by which Ready memory + metadata + extra exceeds the limit. */
uint64_t ph_over_limit(pageheap *h, uint64_t extra)
{
    uint64_t lim = ld(&h->limit);
    if (!lim)
        return 0;
    uint64_t total = ld(&h->ready) + meta_total(h) + extra;
    return total > lim ? total - lim : 0;
}

PA_API size_t pageheap_set_limit(pageheap *h, uint64_t limit)
{
    if (ph_heap_bad(h, "pageheap_set_limit", 0, (size_t)(limit / PH_PAGE)))
        return 0;
    atomic_store_explicit(&h->limit, limit, memory_order_relaxed);
    size_t r = 0;
    uint64_t over = ph_over_limit(h, 0);
    if (over)
        r = ph_assist(h, over);
    if (h->scav_on)
        pa_scavenger_kick(&h->scav);
    return r;
}

PA_API uint64_t pageheap_get_limit(const pageheap *h)
{
    if (ph_heap_bad(h, "pageheap_get_limit", 0, 0))
        return 0;
    return atomic_load_explicit(&((pageheap *)h)->limit, memory_order_relaxed);
}
/* Add bytes to ready if the limit allows (always without a limit). */
int ph_admit(pageheap *h, uint64_t bytes)
{
    uint64_t cur = ld(&h->ready);
    for (;;) {
        uint64_t lim = ld(&h->limit);
        if (lim && cur + bytes + meta_total(h) > lim)
            return 0;
        if (atomic_compare_exchange_weak_explicit(&h->ready, &cur, cur + bytes,
                                                  memory_order_relaxed, memory_order_relaxed))
            return 1;
    }
}
/* ---- The resident ceiling (docs/heap.md "The resident ceiling") ---------------------
 *
 * options.resident_ceiling = c per mille (0: off, the default). Invariant,
 * checked each time bytes become Ready (the only way Ready grows): Ready
 * arena bytes <= hwm + max(hwm * c / 1000, PH_CEIL_SLACK), where hwm is the
 * highest in-use the checks have seen; the excess is scavenged at once,
 * highest addresses first, without flushing any cache (an assist, timed in
 * assist_ns). hwm is refreshed only when Ready is above the ceiling it
 * gives (in-use is a sum over the threads under the registry lock): a
 * stored hwm is never above a fresh one, so Ready within the stored
 * ceiling is within the rule's too. A page-cache refill runs under its thread's busy flag, which
 * comes after the registry lock: it makes its block Ready at once only if
 * that stays under the ceiling, else leaves the pages to the allocations
 * (heap_finish, no lock held), which enforce it.
 */
#define PH_CEIL_SLACK ((uint64_t)4 << 20)   /* small heaps: 4 MiB at least */

static uint64_t ceiling_of(const pageheap *h, uint64_t hwm)
{
    uint64_t slack = hwm / 1000 * h->ceil_pm;
    return hwm + (slack > PH_CEIL_SLACK ? slack : PH_CEIL_SLACK);
}

int ph_ceiling_admits(pageheap *h, uint64_t bytes)
{
    return !h->ceil_pm || ld(&h->ready) + bytes <= ceiling_of(h, ld(&h->in_use_hwm));
}

/* Only with the ceiling on (h->ceil_pm): its one caller, heap_finish,
 * tests that inline, so that a heap without it pays no call. No lock held. */
void ph_ceiling(pageheap *h)
{
    uint64_t hwm = ld(&h->in_use_hwm);
    if (ld(&h->ready) <= ceiling_of(h, hwm))
        return;
    pageheap_stats st;
    ph_stats_fill(h, &st, 0);
    while (st.in_use_bytes > hwm &&
           !atomic_compare_exchange_weak_explicit(&h->in_use_hwm, &hwm, st.in_use_bytes,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    if (st.in_use_bytes > hwm)
        hwm = st.in_use_bytes;
    uint64_t ceil = ceiling_of(h, hwm), ready = ld(&h->ready);
    if (ready <= ceil)
        return;
    uint64_t t0 = now_ns(h);
    ph_scavenge(h, ready - ceil);
    uint64_t t1 = now_ns(h);
    ctr_add(&h->assist_ns, t1 > t0 ? t1 - t0 : 0);
}

/* ---- The background scavenger's view of the heap ------------------------------------ */

uint64_t ph_hook_now(void *arg)
{
    return now_ns(arg);
}

/* Bytes above the scavenger's goal (see the file header). */
size_t ph_excess(void *arg, uint64_t now)
{
    pageheap *h = arg;
    pageheap_stats st;
    ph_stats_fill(h, &st, 0);
    pthread_mutex_lock(&h->goal_mu);
    if (st.in_use_bytes >= h->peak_in_use) {
        h->peak_in_use = st.in_use_bytes;
    } else {
        uint64_t dt = now > h->peak_time ? now - h->peak_time : 0;
        uint64_t gap = h->peak_in_use - st.in_use_bytes;
        if (dt >= PH_PEAK_DECAY_NS)
            h->peak_in_use = st.in_use_bytes;
        else
            h->peak_in_use -= (uint64_t)((double)gap * (double)dt / PH_PEAK_DECAY_NS);
    }
    h->peak_time = now;
    uint64_t peak = h->peak_in_use;
    pthread_mutex_unlock(&h->goal_mu);

    uint64_t goal = peak + peak / 10;
    goal = (goal + h->phys_page - 1) & ~(uint64_t)(h->phys_page - 1);
    uint64_t ex = st.ready_bytes > goal + h->phys_page ? st.ready_bytes - goal : 0;
    if (st.limit_bytes) {
        uint64_t g2 = st.limit_bytes / 100 * 95;
        uint64_t total = st.ready_bytes + st.metadata_bytes;
        if (total > g2 && total - g2 > ex)
            ex = total - g2;
    }
    return ex > SIZE_MAX ? SIZE_MAX : (size_t)ex;
}

/* Release up to max bytes; when the allocators' free pages do not
 * suffice, the run caches are flushed (their runs are free memory the
 * scavenger cannot otherwise see) and scavenging goes on. */
size_t ph_hook_release(void *arg, size_t max)
{
    pageheap *h = arg;
    size_t r = ph_scavenge(h, max);
    if (r < max && ph_rc_flush_all(h))
        r += ph_scavenge(h, max - r);
    return r;
}

