/*
 * limit.c - giving memory back: two-phase scavenging for release, the
 * memory limit, the resident ceiling and the background scavenger;
 * admission of newly Ready bytes against the limit; the scavenger's goal
 * (heap.h has the rules).
 */
#include <errno.h>
#include <string.h>

#include "pagealloc/debug.h"
#include "pageheap/fresh.h"
#include "pageheap/heap.h"

/* Release the run [base, base+bytes) taken for scavenging, whose part
 * [flo, fhi) (maybe empty) is untouched fresh-window pages (fresh.c):
 * that part moves to Prepared with no system call, the rest is released.
 * At most three parts, in address order; the first refusal stops it.
 * part[i] receives each part's base and length, ok[i] whether it was
 * released; returns the number of parts. No lock held. */
static unsigned scav_release(uintptr_t base, size_t bytes, uintptr_t flo, uintptr_t fhi,
                             uintptr_t part[3][2], int ok[3])
{
    uintptr_t end = base + bytes;
    unsigned n = 0;
    if (flo < fhi) {
        if (base < flo)
            part[n][0] = base, part[n][1] = flo - base, n++;
        part[n][0] = flo, part[n][1] = fhi - flo, n++;
        if (fhi < end)
            part[n][0] = fhi, part[n][1] = end - fhi, n++;
    } else {
        part[n][0] = base, part[n][1] = bytes, n++;
    }
    int failed = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned fl = part[i][0] == flo && flo < fhi ? SYSMEM_UNUSED_UNTOUCHED : 0;
        ok[i] = !failed && sysmem_unused_ex((void *)part[i][0], part[i][1], fl) == 0;
        failed |= !ok[i];
    }
    return n;
}

/* Release at least want bytes of free resident memory (two-phase, no lock
 * across the system call); returns the bytes released. No lock held. */
size_t ph_scavenge(pageheap *h, size_t want)
{
    size_t done = 0;
    for (unsigned k = 0; k < h->nshards && done < want; k++) {
        ph_shard *s = &h->shards[h->nshards - 1 - k];
        while (done < want) {
            size_t np;
            uintptr_t flo = 0, fhi = 0;
            ph_lock_take(&s->mu);
            uintptr_t base = pagealloc_scavenge_take(s->pa, want - done, &np);
            if (base) {
                ctr_add(&s->inflight, np * PH_PAGE);
                if (s->nfresh)
                    ph_fresh_take(h, s, base, base + np * PH_PAGE, &flo, &fhi);
            }
            PA_DEBUG_AFTER(s->pa, "pagealloc_scavenge_take", base, np);
            ph_lock_give(&s->mu);
            if (!base)
                break;
            size_t bytes = np * PH_PAGE, freed = 0;
            uintptr_t part[3][2];
            int ok[3];
            unsigned n = scav_release(base, bytes, flo, fhi, part, ok);
            for (unsigned i = 0; i < n; i++)
                freed += ok[i] ? part[i][1] : 0;
            if (freed)
                ctr_sub(&h->ready, freed);
            ph_lock_take(&s->mu);
            for (unsigned i = 0; i < n; i++) {
                pagealloc_scavenge_done(s->pa, part[i][0], part[i][1] / PH_PAGE, ok[i]);
                PA_DEBUG_AFTER(s->pa, "pagealloc_scavenge_done", part[i][0], part[i][1] / PH_PAGE);
            }
            ctr_sub(&s->inflight, bytes);
            ph_lock_give(&s->mu);
            if (freed) {
                ctr_add(&h->scavenges, 1);
                ctr_add(&h->scavenged_bytes, freed);
                done += freed;
            }
            if (freed < bytes)
                break;
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

