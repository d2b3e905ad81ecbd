/*
 * fresh.c - which pages of the fresh windows are still untouched, so that
 * scavenging them makes no system call (docs/heap.md "Page caches").
 *
 * A fresh window (cache_ready_chunk, alloc.c) makes the wholly free, wholly
 * scavenged blocks after a refill's block Ready in the OS layer and not
 * scavenged in the allocator, though nobody has touched them: they hold no
 * physical memory and read as they did when they were Prepared. When the
 * scavenger, a release or the limit takes such pages back before any
 * refill used them, an madvise on them would return nothing; the OS layer
 * can instead move them back to Prepared with no primitive call
 * (sysmem_unused_ex with SYSMEM_UNUSED_UNTOUCHED).
 *
 * Structure: each shard has up to PH_FRESH_SLOTS ranges [lo, hi) (a
 * window lies in one chunk; slots are disjoint, since a window only covers
 * scavenged pages and a slot's pages are not scavenged), in h->fresh[i]
 * apart from the shard's hot line, and in the shard nfresh, the number of
 * non-empty slots, so that the allocation paths test one word of a line
 * they already hold when there is none. All under the shard's mu.
 *
 * Invariant: every page in a slot is free in the shard's allocator, not
 * scavenged, Ready in the OS layer, and was neither handed out nor written
 * by the heap since the window made it Ready. Kept by cutting from the
 * slots every run the allocator hands out under mu (shard_alloc's
 * pa_alloc_bits, a refill's block) and every run taken for scavenging.
 * Losing a range (a full table, a split with no free slot) is always safe:
 * its pages are then released with an madvise, as any others.
 */
#include "pageheap/fresh.h"

/* Shard s's slots. */
static ph_fresh *fresh_of(pageheap *h, ph_shard *s)
{
    return h->fresh[s - h->shards].slot;
}

/* Recount the non-empty slots. */
static void fresh_recount(ph_shard *s, const ph_fresh *fs)
{
    unsigned n = 0;
    for (unsigned i = 0; i < PH_FRESH_SLOTS; i++)
        n += fs[i].lo < fs[i].hi;
    s->nfresh = n;
}

/* An empty slot, or the shortest one (its range is dropped). */
static ph_fresh *fresh_slot(ph_fresh *fs)
{
    ph_fresh *best = &fs[0];
    for (unsigned i = 0; i < PH_FRESH_SLOTS; i++) {
        ph_fresh *f = &fs[i];
        if (f->lo >= f->hi)
            return f;
        if (f->hi - f->lo < best->hi - best->lo)
            best = f;
    }
    return best;
}

void ph_fresh_add(pageheap *h, ph_shard *s, uintptr_t lo, uintptr_t hi)
{
    if (lo >= hi)
        return;
    ph_fresh *fs = fresh_of(h, s);
    ph_fresh *f = fresh_slot(fs);
    f->lo = lo;
    f->hi = hi;
    fresh_recount(s, fs);
}

void ph_fresh_cut_slow(pageheap *h, ph_shard *s, uintptr_t lo, uintptr_t hi)
{
    ph_fresh *fs = fresh_of(h, s);
    for (unsigned i = 0; i < PH_FRESH_SLOTS; i++) {
        ph_fresh *f = &fs[i];
        if (f->lo >= f->hi || hi <= f->lo || f->hi <= lo)
            continue;                       /* empty, or no overlap */
        ph_fresh left = { f->lo, lo > f->lo ? lo : f->lo };
        ph_fresh right = { hi < f->hi ? hi : f->hi, f->hi };
        int has_l = left.lo < left.hi, has_r = right.lo < right.hi;
        if (has_l && has_r) {
            /* Split: the right part into a free slot if there is one
             * (never this one: it is not empty), else the longer part. */
            *f = left;
            ph_fresh *g = fresh_slot(fs);
            if (g->lo >= g->hi)
                *g = right;
            else if (right.hi - right.lo > left.hi - left.lo)
                *f = right;
        } else {
            *f = has_l ? left : has_r ? right : (ph_fresh){ 0, 0 };
        }
    }
    fresh_recount(s, fs);
}

void ph_fresh_take(pageheap *h, ph_shard *s, uintptr_t lo, uintptr_t hi, uintptr_t *flo,
                   uintptr_t *fhi)
{
    const ph_fresh *fs = fresh_of(h, s);
    uintptr_t bl = 0, bh = 0;
    for (unsigned i = 0; i < PH_FRESH_SLOTS; i++) {
        const ph_fresh *f = &fs[i];
        uintptr_t a = f->lo > lo ? f->lo : lo, b = f->hi < hi ? f->hi : hi;
        if (a < b && b - a > bh - bl) {
            bl = a;
            bh = b;
        }
    }
    *flo = bl;
    *fhi = bh;
    if (s->nfresh)
        ph_fresh_cut_slow(h, s, lo, hi);
}

int ph_fresh_has(pageheap *h, ph_shard *s, uintptr_t a)
{
    const ph_fresh *fs = fresh_of(h, s);
    for (unsigned i = 0; s->nfresh && i < PH_FRESH_SLOTS; i++)
        if (fs[i].lo <= a && a < fs[i].hi)
            return 1;
    return 0;
}
