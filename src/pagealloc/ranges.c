/*
 * ranges.c - sorted, coalesced address ranges. See ranges.h.
 */
#include <errno.h>
#include <string.h>

#include "pagealloc/ranges.h"

void pa_ranges_destroy(pa_ranges *s, sysmem_stat *stat)
{
    if (s->r)
        sysmem_free(s->r, s->cap * sizeof(pa_range), stat);
    if (s->spare)
        sysmem_free(s->spare, s->spare_cap * sizeof(pa_range), stat);
    pa_ranges_release_old(s, stat);
    memset(s, 0, sizeof(*s));
}

size_t pa_ranges_find_succ(const pa_ranges *s, uintptr_t addr)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->r[mid].base > addr)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int pa_ranges_overlaps(const pa_ranges *s, uintptr_t base, uintptr_t limit)
{
    size_t i = pa_ranges_find_succ(s, base);
    if (i > 0 && s->r[i - 1].limit > base)
        return 1;
    return i < s->n && s->r[i].base < limit;
}

int pa_ranges_contains(const pa_ranges *s, uintptr_t base, uintptr_t limit)
{
    size_t i = pa_ranges_find_succ(s, base);
    return i > 0 && s->r[i - 1].limit >= limit;
}

uintptr_t pa_ranges_addr_ge(const pa_ranges *s, uintptr_t addr, uintptr_t none_value)
{
    size_t i = pa_ranges_find_succ(s, addr);
    if (i > 0 && s->r[i - 1].limit > addr)
        return addr;
    return i < s->n ? s->r[i].base : none_value;
}

int pa_ranges_prepare(pa_ranges *s, sysmem_stat *stat)
{
    if (s->n < s->cap || s->spare)
        return 0;
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    size_t cap = s->cap ? s->cap * 2 : caps.page_size / sizeof(pa_range);
    void *mem;
    int err = sysmem_alloc(cap * sizeof(pa_range), stat, &mem);
    if (err)
        return err;
    s->spare = mem;
    s->spare_cap = cap;
    return 0;
}

/* r is full: continue in the spare (memory writes only). */
static void switch_to_spare(pa_ranges *s)
{
    if (s->r)
        memcpy(s->spare, s->r, s->n * sizeof(pa_range));
    s->old = s->r;
    s->old_cap = s->cap;
    s->r = s->spare;
    s->cap = s->spare_cap;
    s->spare = NULL;
    s->spare_cap = 0;
}

void pa_ranges_release_old(pa_ranges *s, sysmem_stat *stat)
{
    if (s->old)
        sysmem_free(s->old, s->old_cap * sizeof(pa_range), stat);
    s->old = NULL;
    s->old_cap = 0;
}

void pa_ranges_add(pa_ranges *s, uintptr_t base, uintptr_t limit)
{
    if (s->n == s->cap)
        switch_to_spare(s);
    size_t i = pa_ranges_find_succ(s, base);
    int join_prev = i > 0 && s->r[i - 1].limit == base;
    int join_next = i < s->n && s->r[i].base == limit;
    if (join_prev && join_next) {
        s->r[i - 1].limit = s->r[i].limit;
        memmove(&s->r[i], &s->r[i + 1], (s->n - i - 1) * sizeof(pa_range));
        s->n--;
    } else if (join_prev) {
        s->r[i - 1].limit = limit;
    } else if (join_next) {
        s->r[i].base = base;
    } else {
        memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(pa_range));
        s->r[i] = (pa_range){ .base = base, .limit = limit };
        s->n++;
    }
}
