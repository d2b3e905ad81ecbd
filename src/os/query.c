/*
 * query.c - the OS-memory layer's read side (<pagealloc/sysmem.h>): the
 * totals and per-stat loads, which state a page is in and how far that
 * state runs, the release mode and the primitive table in use, and
 * sysmem_check, which recounts every region's page states against the
 * totals. The operations that change states are in sysmem.c; the books
 * both files read are declared in registry.h.
 *
 * Consistency. The totals and stats are loaded one word at a time without
 * the lock (relaxed atomics): each word is exact, but two loads taken
 * together may straddle an operation. The state walk and the checker hold
 * the registry lock, so what they report was true at one instant.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/export.h"
#include "os/registry.h"

/* ---- Queries and settings ------------------------------------------------------ */

PA_API uint64_t sysmem_stat_load(const sysmem_stat *s)
{
    return s ? __atomic_load_n(&s->bytes, __ATOMIC_RELAXED) : 0;
}

PA_API void sysmem_get_totals(sysmem_totals *t)
{
    t->reserved = atomic_load_explicit(&sm_bytes[SYSMEM_RESERVED], memory_order_relaxed);
    t->prepared = atomic_load_explicit(&sm_bytes[SYSMEM_PREPARED], memory_order_relaxed);
    t->ready = atomic_load_explicit(&sm_bytes[SYSMEM_READY], memory_order_relaxed);
    t->stat_errors = atomic_load_explicit(&sm_stat_errors, memory_order_relaxed);
}

PA_API uint64_t sysmem_ready_bytes(void)
{
    return atomic_load_explicit(&sm_bytes[SYSMEM_READY], memory_order_relaxed);
}

PA_API uint64_t sysmem_metadata_bytes(void)
{
    return atomic_load_explicit(&sm_meta_bytes, memory_order_relaxed);
}

PA_API size_t sysmem_state_span(const void *addr, size_t max, sysmem_state *state)
{
    struct sm_binding b = sm_binding();
    uintptr_t a = (uintptr_t)addr & ~(uintptr_t)(b.caps.page_size - 1);
    if (max > UINTPTR_MAX - a)
        max = UINTPTR_MAX - a;
    uintptr_t end = sm_align_down(a + max, b.caps.page_size);
    sm_reg_lock();
    struct region *r = sm_reg_containing(a);
    sysmem_state s = r ? sm_st_get(r, (a - r->base) >> b.shift) : SYSMEM_NONE;
    uintptr_t x = a;
    while (x < end) {
        if (!r || x - r->base >= sm_span_bytes(r))
            r = sm_reg_containing(x);
        sysmem_state sx = r ? sm_st_get(r, (x - r->base) >> b.shift) : SYSMEM_NONE;
        if (sx != s)
            break;
        x += b.caps.page_size;
    }
    sm_reg_unlock();
    if (state)
        *state = s;
    return x - a;
}

PA_API sysmem_state sysmem_state_of(const void *addr)
{
    sysmem_state s;
    (void)sysmem_state_span(addr, 0, &s);
    return s;
}

PA_API void sysmem_set_release_mode(sysmem_release_mode m)
{
    if (m == SYSMEM_RELEASE_DONTNEED || m == SYSMEM_RELEASE_FREE)
        atomic_store_explicit(&sm_release_mode, (int)m, memory_order_relaxed);
}

PA_API const sysmem_os *sysmem_os_get(void)
{
    return sm_binding().os;
}

PA_API const sysmem_os *sysmem_os_set(const sysmem_os *os)
{
    const sysmem_os *prev = sm_binding().os;
    sm_bind_table(os ? os : sysmem_os_default());
    return prev;
}

PA_API void sysmem_get_caps(sysmem_caps *out)
{
    *out = sm_binding().caps;
    /* MADV_FREE'd pages may keep their contents until the kernel needs them. */
    if (atomic_load_explicit(&sm_release_mode, memory_order_relaxed) != SYSMEM_RELEASE_DONTNEED)
        out->released_reads_zero = 0;
}

/* ---- Invariant checker ----------------------------------------------------------- */

static int check_fail(char *msg, size_t size, const char *what, uintptr_t addr)
{
    if (msg && size)
        snprintf(msg, size, "sysmem_check: %s (at %#lx)", what, (unsigned long)addr);
    return EFAULT;
}

PA_API int sysmem_check(char *msg, size_t msg_size)
{
    (void)sm_binding();
    size_t sum[4] = { 0 };
    int err = 0;
    sm_reg_lock();
    if (sm_reg.count + sm_reg.held > sm_reg.cap)
        err = check_fail(msg, msg_size, "more regions and promised slots than table slots", 0);
    for (size_t i = 0; i < sm_reg.count && !err; i++) {
        const struct region *r = sm_reg.tab[i];
        size_t c[4] = { 0 };
        if (r->npages == 0 || r->first + r->npages > r->nslots ||
            (r->base & (sm_bind.caps.page_size - 1)))
            err = check_fail(msg, msg_size, "region span empty, unaligned or beyond its array",
                             r->base);
        else if (i > 0 && sm_reg.tab[i - 1]->base + sm_span_bytes(sm_reg.tab[i - 1]) > r->base)
            err = check_fail(msg, msg_size, "regions not sorted or overlapping", r->base);
        if (err)
            break;
        sm_st_count(r, 0, r->npages, c);
        if (r->live != r->npages - c[SYSMEM_NONE])
            err = check_fail(msg, msg_size, "region live count differs from its states", r->base);
        else if (sm_st_get(r, 0) == SYSMEM_NONE || sm_st_get(r, r->npages - 1) == SYSMEM_NONE)
            err = check_fail(msg, msg_size, "region span starts or ends with a None page",
                             r->base);
        for (unsigned s = 0; s < 4; s++)
            sum[s] += c[s];
    }
    for (unsigned s = SYSMEM_RESERVED; s <= SYSMEM_READY && !err; s++)
        if (((uint64_t)sum[s] << sm_bind.shift) !=
            atomic_load_explicit(&sm_bytes[s], memory_order_relaxed))
            err = check_fail(msg, msg_size, "totals differ from the page states", s);
    sm_reg_unlock();
    return err;
}

