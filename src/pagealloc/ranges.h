/*
 * ranges.h - a sorted set of address ranges (Go's addrRanges, mranges.go):
 * the parts of the address space a page allocator has grown into.
 *
 * r[0..n) are [base, limit) pairs, sorted by base, non-empty, and
 * coalesced: r[i].limit < r[i+1].base (touching ranges are merged). The
 * array is memory from the OS-memory layer, charged to a caller's stat,
 * doubled when full (the old array is given back).
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
/* Make room for one more range (so a later add cannot fail). 0 or errno. */
int       pa_ranges_reserve(pa_ranges *s, sysmem_stat *stat);
/* Add [base, limit), which overlaps no range; coalesces with neighbours.
 * Requires a prior successful pa_ranges_reserve. */
void      pa_ranges_add(pa_ranges *s, uintptr_t base, uintptr_t limit);

#endif /* PAGEALLOC_RANGES_H */
