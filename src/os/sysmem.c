/*
 * sysmem.c - the OS-memory layer's operations (<pagealloc/sysmem.h>): each
 * validates against the registry of page states (registry.h), calls the
 * OS primitive table (src/os/linux.c by default) without the lock, and
 * commits the new states and totals. The queries, settings and the
 * invariant checker are in query.c.
 *
 * What is managed. Every physical page (sysmem_caps.page_size) the layer
 * has obtained with sysmem_reserve or sysmem_alloc and not yet freed, in one
 * of the states Reserved, Prepared or Ready (sysmem.h has the state table);
 * every other page of the address space is None.
 *
 * Errors. Every error return leaves the page states, the totals, the
 * caller's stat and the kernel's mappings as they were. Deliberate limits:
 * a growth of the region table that completed is kept when a later step of
 * the same call fails (only capacity differs, and the next call would grow
 * it again); a metadata block whose unmap fails is leaked and stays counted
 * in sysmem_metadata_bytes(); and if undoing a fresh mapping fails after a
 * later step failed (two failures in one call), that mapping leaks,
 * unregistered. Best-effort calls (hints, returning blocks) never make an
 * operation fail. The layer never prints and never aborts; the assertions
 * that check its lock discipline exist only in debug builds.
 *
 * Primitive calls, in order, per operation (H = huge page size; "best
 * effort" calls have their errors ignored; tests count these):
 *   alloc    alloc(n), then, unless the mapping fell into a hole of a
 *            region, [table growth] the state block (regpool.c): a
 *            large array's alloc(its pages), then alloc(pool page) if
 *            no slot of the class is free; if one of those fails:
 *            unmap(v, n) to undo the mapping.
 *   reserve  as alloc, with reserve(hint, n) in place of alloc(n). The
 *            mapping comes first so that no metadata of ours can take the
 *            place the hint asks for.
 *   free     unmap(v, n); then, for each region that became empty,
 *            unmap(its array's pages) if large and unmap(pool page) if
 *            that was the page's last slot, best effort.
 *   map      commit(v, n).          fault   decommit(v, n).
 *   used     huge(whole huge pages inside, 1) if H and any, best effort.
 *   unused   release(v, n, mode); then huge(.., 0), best effort, on the
 *            huge pages holding each unaligned end of the range: one call
 *            for both when they are adjacent, else one per end; each window
 *            is clipped to the memory the layer owns around the range.
 *            Go advises before releasing; we release first so that a failed
 *            release leaves the VMA flags untouched (the advice cannot be
 *            undone exactly). The price is a window of a few instructions
 *            in which khugepaged could collapse the released huge page.
 *   huge_page    huge(whole huge pages inside [v, v+n), 1) if H and any.
 *   no_huge_page huge(huge pages touched by [v, v+n), clipped to owned
 *                memory, 0) if H.
 *   Table growth: alloc(new table); unmap(old table), best effort.
 * No other call is made; validation failures make none.
 *
 * Where it stops scaling. One lock for the whole process: fine for the
 * page heap, which calls in a few times per megabyte. A region costs a
 * pool slot (128 bytes and up) or a header slot and pages of its own,
 * and the table is one pointer per region; the kernel's limit on mappings (vm.max_map_count,
 * 65530 by default) bounds the number of regions long before either
 * matters. State arrays of trimmed or holed regions are not shrunk.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/export.h"
#include "os/registry.h"

/* ---- Operations ------------------------------------------------------------- */

/* Checks a range for the state-changing operations: non-NULL, non-empty,
 * page aligned, not wrapping. */
static int check_range(const struct sm_binding *b, const void *v, size_t n, uintptr_t *pa,
                       uintptr_t *pb)
{
    uintptr_t a = (uintptr_t)v, m = b->caps.page_size - 1;
    if (!v || n == 0 || (a & m) || (n & m) || n > UINTPTR_MAX - a)
        return EINVAL;
    *pa = a;
    *pb = a + n;
    return 0;
}

/* Checks a hint range (any alignment) and returns the pages it touches. */
static int check_hint_range(const struct sm_binding *b, const void *v, size_t n, uintptr_t *pa,
                            uintptr_t *pb)
{
    uintptr_t a = (uintptr_t)v;
    size_t slack = 2 * (b->caps.huge_page_size > b->caps.page_size ? b->caps.huge_page_size
                                                                   : b->caps.page_size);
    if (!v || n == 0 || a > UINTPTR_MAX - slack || n > UINTPTR_MAX - slack - a)
        return EINVAL;
    *pa = sm_align_down(a, b->caps.page_size);
    *pb = sm_align_up(a + n, b->caps.page_size);
    return 0;
}

/* Masks of page states, for in_states(). */
#define STATE_BIT(s)  (1u << (s))
#define STATES_MAPPED (STATE_BIT(SYSMEM_PREPARED) | STATE_BIT(SYSMEM_READY))

/* Whether the pages counted in c are all in states of the mask `ok`. */
static int in_states(const size_t c[4], unsigned ok)
{
    for (unsigned s = 0; s < 4; s++)
        if (c[s] && !(ok & STATE_BIT(s)))
            return 0;
    return 1;
}

/* Phase 1's checks for an operation that only reads the page states
 * there: the range (check_range, or with `hint` check_hint_range: the
 * pages it touches) into [*pa, *pb), then EINVAL unless every page of it
 * is in a state of `ok`. sm_reg.lock not held. */
static int check_states(const struct sm_binding *b, const void *v, size_t n, int hint,
                        unsigned ok, uintptr_t *pa, uintptr_t *pb)
{
    int err = hint ? check_hint_range(b, v, n, pa, pb) : check_range(b, v, n, pa, pb);
    if (err)
        return err;
    size_t c[4];
    sm_reg_lock();
    sm_range_count(*pa, *pb, c);
    sm_reg_unlock();
    return in_states(c, ok) ? 0 : EINVAL;
}

/* The body of sysmem_map and sysmem_fault, the operations that move a
 * whole range from one set of states to one state with one primitive
 * call: phase 1, every page of [v, v+n) in a state of `from` (else
 * EINVAL) and the caller's stat changed by n (add: up, else down;
 * EOVERFLOW); phase 2, prim(v, n); phase 3, the stat restored if prim
 * failed, else every page moved to `to`. sm_reg.lock not held. */
static int transition(const struct sm_binding *b, void *v, size_t n, sysmem_stat *stat,
                      unsigned from, int add, int (*prim)(void *, size_t), sysmem_state to)
{
    uintptr_t a, e;
    int err = check_states(b, v, n, 0, from, &a, &e);
    if (err == 0)
        err = sm_stat_change(stat, n, add);
    if (err)
        return err;
    err = prim(v, n);
    if (err) {
        sm_stat_undo(stat, n, add);
        return err;
    }
    sm_reg_lock();
    sm_range_move(a, e, to);
    sm_reg_unlock();
    return 0;
}

enum placement { PLACE_NEW, PLACE_ABSORBED, PLACE_STALE };

/* Where a fresh mapping [a, a+n) goes: inside a hole of a region (it is
 * absorbed there and then: its pages take state `init` and the totals
 * grow), over pages the registry still believes owned (stale), or into a
 * new region at table index *at. Waits first for in-flight frees that
 * overlap it. sm_reg.lock held. */
static enum placement place(uintptr_t a, size_t n, sysmem_state init, size_t *at)
{
    unsigned sh = sm_bind.shift;
    size_t npages = n >> sh;
    while (sm_inflight_overlaps(a, a + n, INFLIGHT_FREE))
        sm_reg_wait_settled();
    size_t i = sm_reg_upper(a);
    struct region *prev = i ? sm_reg.tab[i - 1] : NULL;
    if (prev && a - prev->base < sm_span_bytes(prev)) {
        size_t c[4] = { 0 };
        size_t idx = (a - prev->base) >> sh;
        if (n > sm_span_bytes(prev) - (a - prev->base))
            return PLACE_STALE;     /* spans end in owned, mapped pages */
        sm_st_count(prev, idx, npages, c);
        if (c[SYSMEM_NONE] != npages)
            return PLACE_STALE;
        sm_st_set(prev, idx, npages, init);
        prev->live += npages;
        atomic_fetch_add_explicit(&sm_bytes[init], (uint64_t)n, memory_order_relaxed);
        return PLACE_ABSORBED;
    }
    if (i < sm_reg.count && sm_reg.tab[i]->base - a < n)
        return PLACE_STALE;
    *at = i;
    return PLACE_NEW;
}

/* None -> `init` (Reserved or Ready) for a fresh mapping: the common body
 * of sysmem_reserve and sysmem_alloc. The mapping is made first, so that
 * nothing of ours occupies the hinted address before it; then, unless it
 * lands in a hole of an existing region, a table slot and a block for the
 * new region. If those fail, the mapping is undone (should that unmap fail
 * too, the mapping leaks: it is neither registered nor counted).
 * sm_reg.lock not held. */
static int new_region(const struct sm_binding *b, void *hint, size_t n, sysmem_state init,
                      void **out)
{
    size_t npages = n >> b->shift;
    size_t words = (npages + FIELDS_PER_WORD - 1) / FIELDS_PER_WORD;
    if (words > (SIZE_MAX - sizeof(struct region) - b->caps.page_size) / sizeof(uint64_t))
        return ENOMEM;

    void *p = NULL;
    int err = init == SYSMEM_READY ? b->os->alloc(n, &p) : b->os->reserve(hint, n, &p);
    if (err)
        return err;
    uintptr_t a = (uintptr_t)p;
    size_t at = 0;

    sm_reg_lock();
    enum placement where = place(a, n, init, &at);
    sm_reg_unlock();
    if (where == PLACE_NEW) {
        struct region *r = NULL;
        err = sm_slot_take(b);
        if (err == 0) {
            err = sm_region_get(b, words, &r);
            if (err)
                sm_slot_give();
        }
        if (err == 0) {
            /* The header is written, and the state array's first pages
             * were faulted in (sm_region_get), before the lock: a first
             * touch under the lock (here, or in the first sysmem_map of
             * the region) is a page fault, which waits for the mm lock
             * behind any other thread's mmap: every heap grow made three
             * of them under the registry lock, and the other thread's
             * refills slept behind it (docs/os-layer.md "Locking"). */
            r->base = a;
            r->npages = npages;
            r->first = 0;
            r->live = npages;
            r->nslots = words * FIELDS_PER_WORD;
            r->key = (unsigned)init;
            r->next_dead = NULL;
            sm_reg_lock();
            where = place(a, n, init, &at);     /* the table may have moved */
            if (where == PLACE_NEW) {
                memmove(&sm_reg.tab[at + 1], &sm_reg.tab[at],
                        (sm_reg.count - at) * sizeof(struct region *));
                sm_reg.tab[at] = r;
                sm_reg.count++;
                atomic_fetch_add_explicit(&sm_bytes[init], (uint64_t)n, memory_order_relaxed);
                r = NULL;
            }
            sm_reg.held--;
            sm_reg_unlock();
            if (r)
                sm_region_put(b, r);
        }
    }
    if (err || where == PLACE_STALE) {
        (void)b->os->unmap(p, n);
        return err ? err : EEXIST;
    }
    *out = p;
    return 0;
}

PA_API int sysmem_alloc(size_t n, sysmem_stat *stat, void **out)
{
    struct sm_binding b = sm_binding();
    if (!out || n == 0 || (n & (b.caps.page_size - 1)))
        return EINVAL;
    int err = sm_stat_change(stat, n, 1);
    if (err)
        return err;
    err = new_region(&b, NULL, n, SYSMEM_READY, out);
    if (err)
        sm_stat_undo(stat, n, 1);
    return err;
}

PA_API int sysmem_reserve(void *hint, size_t n, void **out)
{
    struct sm_binding b = sm_binding();
    if (!out || n == 0 || (n & (b.caps.page_size - 1)))
        return EINVAL;
    return new_region(&b, hint, n, SYSMEM_RESERVED, out);
}

/* Phase 3 of sysmem_free: [a, b) goes to None, touched regions are trimmed
 * and the empty ones removed from the table and returned as a list for the
 * caller to unmap. sm_reg.lock held. */
static struct region *free_commit(uintptr_t a, uintptr_t b)
{
    unsigned sh = sm_bind.shift;
    size_t i0 = sm_reg_first_at(a);
    sm_range_move(a, b, SYSMEM_NONE);
    struct region *dead = NULL;
    size_t k = i0, w = i0;
    for (; k < sm_reg.count && sm_reg.tab[k]->base < b; k++) {
        struct region *r = sm_reg.tab[k];
        if (r->live == 0) {
            r->next_dead = dead;
            dead = r;
            continue;
        }
        size_t lo = sm_st_first_owned(r), hi = sm_st_end_owned(r);
        r->base += (uintptr_t)lo << sh;
        r->first += lo;
        r->npages = hi - lo;
        sm_reg.tab[w++] = r;
    }
    if (w != k) {
        memmove(&sm_reg.tab[w], &sm_reg.tab[k], (sm_reg.count - k) * sizeof(struct region *));
        sm_reg.count -= k - w;
    }
    return dead;
}

PA_API int sysmem_free(void *v, size_t n, sysmem_stat *stat)
{
    struct sm_binding b = sm_binding();
    uintptr_t a, e;
    int err = check_range(&b, v, n, &a, &e);
    if (err)
        return err;
    size_t c[4];
    struct inflight rec;
    sm_reg_lock();
    while (sm_inflight_overlaps(a, e, INFLIGHT_ADVICE))
        sm_reg_wait_settled();
    sm_range_count(a, e, c);
    uint64_t mapped = (uint64_t)(c[SYSMEM_PREPARED] + c[SYSMEM_READY]) << b.shift;
    err = c[SYSMEM_NONE] ? EINVAL : sm_stat_change(stat, mapped, 0);
    if (err == 0)
        sm_inflight_add(&rec, a, e, INFLIGHT_FREE);
    sm_reg_unlock();
    if (err)
        return err;

    err = b.os->unmap(v, n);

    struct region *dead = NULL;
    sm_reg_lock();
    sm_inflight_remove(&rec);
    if (err == 0)
        dead = free_commit(a, e);
    sm_reg_unlock();
    if (err) {
        sm_stat_undo(stat, mapped, 0);
        return err;
    }
    while (dead) {
        struct region *next = dead->next_dead;
        sm_region_put(&b, dead);
        dead = next;
    }
    return 0;
}

PA_API int sysmem_map(void *v, size_t n, sysmem_stat *stat)
{
    struct sm_binding b = sm_binding();
    return transition(&b, v, n, stat, STATE_BIT(SYSMEM_RESERVED), 1, b.os->commit,
                      SYSMEM_PREPARED);
}

PA_API int sysmem_used(void *v, size_t n)
{
    return sysmem_used_ex(v, n, 0);
}

/* Moves [a, e) to state `to` if every page of it is Prepared or Ready,
 * checked and moved in one hold of the registry lock, with no system
 * call: the cheap state changes of sysmem_used_ex (a fresh window made
 * Ready) and sysmem_unused_ex (untouched pages back to Prepared). */
static int move_mapped(uintptr_t a, uintptr_t e, sysmem_state to)
{
    size_t c[4];
    sm_reg_lock();
    sm_range_count(a, e, c);
    int ok = in_states(c, STATES_MAPPED);
    if (ok)
        sm_range_move_counted(a, e, to, c);
    sm_reg_unlock();
    return ok;
}

PA_API int sysmem_used_ex(void *v, size_t n, unsigned flags)
{
    if (flags & ~(unsigned)SYSMEM_USED_NO_HUGE)
        return EINVAL;
    struct sm_binding b = sm_binding();
    uintptr_t a, e;
    int err = check_range(&b, v, n, &a, &e);
    if (err)
        return err;
    if (!move_mapped(a, e, SYSMEM_READY))
        return EINVAL;
    size_t huge = b.caps.huge_page_size;
    if (huge && !(flags & SYSMEM_USED_NO_HUGE)) {
        uintptr_t lo = sm_align_up(a, huge), hi = sm_align_down(e, huge);
        if (lo < hi)
            (void)b.os->huge((void *)lo, hi - lo, 1);   /* a hint: errors ignored */
    }
    return 0;
}

PA_API int sysmem_unused(void *v, size_t n)
{
    return sysmem_unused_ex(v, n, 0);
}

PA_API int sysmem_unused_ex(void *v, size_t n, unsigned flags)
{
    if (flags & ~(unsigned)SYSMEM_UNUSED_UNTOUCHED)
        return EINVAL;
    struct sm_binding b = sm_binding();
    uintptr_t a, e;
    int err;
    if (flags & SYSMEM_UNUSED_UNTOUCHED) {
        /* Nothing to return and no advice to change: the states alone,
         * checked and moved in one hold of the lock (as sysmem_used_ex). */
        err = check_range(&b, v, n, &a, &e);
        if (err)
            return err;
        return move_mapped(a, e, SYSMEM_PREPARED) ? 0 : EINVAL;
    }
    err = check_states(&b, v, n, 0, STATES_MAPPED, &a, &e);
    if (err)
        return err;
    sysmem_release_mode mode =
        (sysmem_release_mode)atomic_load_explicit(&sm_release_mode, memory_order_relaxed);
    err = b.os->release(v, n, mode);
    if (err)
        return err;
    uintptr_t w[2][2];
    struct inflight pin[2];
    int nw = 0;
    sm_reg_lock();
    sm_range_move(a, e, SYSMEM_PREPARED);
    if (b.caps.huge_page_size)
        nw = sm_unused_windows(a, e, b.caps.huge_page_size, w);
    for (int i = 0; i < nw; i++)
        sm_inflight_add(&pin[i], w[i][0], w[i][1], INFLIGHT_ADVICE);
    sm_reg_unlock();
    if (nw == 0)
        return 0;
    for (int i = 0; i < nw; i++)
        (void)b.os->huge((void *)w[i][0], w[i][1] - w[i][0], 0);   /* errors ignored */
    sm_reg_lock();
    for (int i = 0; i < nw; i++)
        sm_inflight_remove(&pin[i]);
    sm_reg_unlock();
    return 0;
}

PA_API int sysmem_fault(void *v, size_t n, sysmem_stat *stat)
{
    struct sm_binding b = sm_binding();
    return transition(&b, v, n, stat, STATES_MAPPED, 0, b.os->decommit, SYSMEM_RESERVED);
}

PA_API int sysmem_huge_page(void *v, size_t n)
{
    struct sm_binding b = sm_binding();
    uintptr_t a, e;
    int err = check_states(&b, v, n, 1, STATES_MAPPED, &a, &e);
    if (err)
        return err;
    size_t huge = b.caps.huge_page_size;
    if (!huge)
        return 0;
    uintptr_t lo = sm_align_up((uintptr_t)v, huge), hi = sm_align_down((uintptr_t)v + n, huge);
    if (lo >= hi)
        return 0;
    return b.os->huge((void *)lo, hi - lo, 1);
}

PA_API int sysmem_no_huge_page(void *v, size_t n)
{
    struct sm_binding b = sm_binding();
    uintptr_t a, e;
    int err = check_hint_range(&b, v, n, &a, &e);
    if (err)
        return err;
    size_t huge = b.caps.huge_page_size;
    size_t c[4];
    uintptr_t lo = 0, hi = 0;
    struct inflight pin;
    sm_reg_lock();
    sm_range_count(a, e, c);
    int ok = in_states(c, STATES_MAPPED);
    if (ok && huge) {
        lo = sm_align_down(a, huge);
        hi = sm_align_up(e, huge);
        sm_clip_to_owned(a, e, &lo, &hi);
        sm_inflight_add(&pin, lo, hi, INFLIGHT_ADVICE);
    }
    sm_reg_unlock();
    if (!ok)
        return EINVAL;
    if (!huge)
        return 0;
    err = b.os->huge((void *)lo, hi - lo, 0);
    sm_reg_lock();
    sm_inflight_remove(&pin);
    sm_reg_unlock();
    return err;
}
