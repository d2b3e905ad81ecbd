/*
 * fresh.h - the untouched pages of the fresh windows (fresh.c has the
 * design; docs/heap.md "Page caches"). Every call under shard s's mu.
 */
#ifndef PAGEHEAP_FRESH_H
#define PAGEHEAP_FRESH_H

#include "pageheap/heap.h"

/* A window made [lo, hi) of shard s Ready and handed none of it out. */
void ph_fresh_add(pageheap *h, ph_shard *s, uintptr_t lo, uintptr_t hi);
/* [lo, hi) is handed out (or released): none of it is untouched any more. */
void ph_fresh_cut_slow(pageheap *h, ph_shard *s, uintptr_t lo, uintptr_t hi);
/* ph_fresh_cut_slow over [base, base+bytes) when s has a range (the
 * allocation paths: one test of a word of the shard's line). */
static inline void ph_fresh_cut(pageheap *h, ph_shard *s, uintptr_t base, size_t bytes)
{
    if (__builtin_expect(s->nfresh != 0, 0))
        ph_fresh_cut_slow(h, s, base, base + bytes);
}
/* A run [lo, hi) taken for scavenging: [*flo, *fhi) receives its longest
 * untouched part (empty: *flo == *fhi), and the whole run leaves the
 * ranges. */
void ph_fresh_take(pageheap *h, ph_shard *s, uintptr_t lo, uintptr_t hi, uintptr_t *flo,
                   uintptr_t *fhi);
/* Whether page a is in one of s's ranges (pageheap_check). */
int ph_fresh_has(pageheap *h, ph_shard *s, uintptr_t a);

#endif
