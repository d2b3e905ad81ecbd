/*
 * ranges.h - a sorted set of address ranges (Go's addrRanges, mranges.go):
 * the parts of the address space a page allocator has grown into.
 *
 * r[0..n) are [base, limit) pairs, sorted by base, non-empty, and
 * coalesced: r[i].limit < r[i+1].base (touching ranges are merged). The
 * array is memory from the OS-memory layer, charged to a caller's stat,
 * doubled when full (the old array is given back).
 *
 * Doubling in three steps, so that a caller whose readers hold a lock
 * makes no system call under it (docs/pagealloc.md, "Growth"): prepare
 * maps the larger array (`spare`) and touches nothing a reader reads;
 * add, when the array is full, copies into the spare and switches to it
 * (memory writes only), keeping the replaced array in `old`; release_old
 * unmaps that once no reader can still hold it. Invariant: spare, when
 * set, has room for n + 1.
 */
#ifndef PAGEALLOC_RANGES_H
#define PAGEALLOC_RANGES_H

#include <stddef.h>
#include <stdint.h>

#include "pagealloc/sysmem.h"

typedef struct pa_range { uintptr_t base, limit; } pa_range;

typedef struct pa_ranges {
    pa_range *r;
    size_t    n;      /* ranges in use */
    size_t    cap;    /* capacity of r */
    pa_range *spare;  /* prepared larger array, or NULL; only prepare and add use it */
    size_t    spare_cap;
    pa_range *old;    /* array replaced by add, not yet unmapped, or NULL */
    size_t    old_cap;
} pa_ranges;

/* Release the array. */
void      pa_ranges_destroy(pa_ranges *s, sysmem_stat *stat);
/* Index of the first range whose base is > addr (0..n). */
size_t    pa_ranges_find_succ(const pa_ranges *s, uintptr_t addr);
/* Whether [base, limit) overlaps any range. */
int       pa_ranges_overlaps(const pa_ranges *s, uintptr_t base, uintptr_t limit);
/* Whether [base, limit) lies inside one range. */
int       pa_ranges_contains(const pa_ranges *s, uintptr_t base, uintptr_t limit);
/* Smallest address >= addr that lies in a range, or none_value if none. */
uintptr_t pa_ranges_addr_ge(const pa_ranges *s, uintptr_t addr, uintptr_t none_value);
/* Make room for one more range (so a later add cannot fail): maps the
 * spare array if r is full. Changes nothing a reader of r reads. 0 or
 * errno (nothing changed). */
int       pa_ranges_prepare(pa_ranges *s, sysmem_stat *stat);
/* Add [base, limit), which overlaps no range; coalesces with neighbours.
 * Requires a prior successful prepare; no system call. */
void      pa_ranges_add(pa_ranges *s, uintptr_t base, uintptr_t limit);
/* Unmap the array add replaced, if any (after the readers' lock). */
void      pa_ranges_release_old(pa_ranges *s, sysmem_stat *stat);

#endif /* PAGEALLOC_RANGES_H */
