/*
 * release.c - memory going back, and what the allocator can tell:
 * pa_stack_release, pa_stack_high_water, the statistics and their JSON
 * (the allocator's own object, and the same object as the "stacks" section
 * of its heap's JSON: st_stats_section, attached by life.c).
 *
 * Release drains the caller's cache and every pool onto a private list
 * (other threads' caches are flagged and flush at their next call),
 * gives each run back to the heap (run.c: guard mapped again, then
 * pageheap_free) with no lock held, and has the heap release all its
 * free pages (pageheap_release(SIZE_MAX)): afterwards no free stack holds
 * a resident page. Go frees stack spans to the heap at collections and
 * its scavenger returns them; here the caller picks the moment.
 *
 * The high-water mark is read from the kernel (sysmem_resident, mincore
 * on Linux): the lowest resident page of [lo, hi), asked a window of 512
 * OS pages at a time from the bottom up. Stacks grow down from hi, so the
 * lowest touched page is the deepest point reached since the pages were
 * last released. Resident bytes in the stats walk the `all` list under
 * all_mu with one query per held stack.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/export.h"
#include "stack/stacks.h"

PA_API size_t pa_stack_release(pa_stack_allocator *a)
{
    if (!st_live(a))
        return 0;
    st_run_put_list(a, st_threads_drain(a));
    st_run_put_list(a, st_pool_drain(a));
    size_t n = pageheap_release(a->heap, SIZE_MAX);
    atomic_fetch_add_explicit(&a->released_bytes, n, memory_order_relaxed);
    return n;
}

#define WINDOW 512u

/* Bytes resident in [lo, hi) (count) and the lowest resident address
 * (*lowest, hi if none). 0 or an errno value. */
static int residency(uintptr_t lo, uintptr_t hi, uint64_t *count, uintptr_t *lowest)
{
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    size_t ps = caps.page_size;
    unsigned char vec[WINDOW];
    *count = 0;
    *lowest = hi;
    for (uintptr_t a = lo; a < hi; a += WINDOW * ps) {
        size_t n = hi - a < WINDOW * ps ? hi - a : WINDOW * ps;
        int err = sysmem_resident((void *)a, n, vec);
        if (err)
            return err;
        for (size_t i = 0; i < n / ps; i++) {
            if (vec[i]) {
                if (*lowest == hi)
                    *lowest = a + i * ps;
                *count += ps;
            }
        }
    }
    return 0;
}

PA_API int pa_stack_high_water(pa_stack_allocator *a, const pa_stack *s, size_t *bytes)
{
    if (!st_live(a) || !s || !bytes)
        return EINVAL;
    uintptr_t lo = (uintptr_t)s->lo, hi = (uintptr_t)s->hi;
    st_rec *r = st_map_get(lo);
    if (!r || r->owner != a || r->lo != lo || r->hi != hi ||
        atomic_load_explicit(&r->state, memory_order_acquire) != ST_LIVE)
        return EINVAL;
    uint64_t count;
    uintptr_t lowest;
    int err = residency(lo, hi, &count, &lowest);
    if (err)
        return err;
    *bytes = hi - lowest;
    return 0;
}

PA_API pageheap *pa_stack_heap(pa_stack_allocator *a)
{
    return st_live(a) ? a->heap : NULL;
}

PA_API void pa_stack_get_stats(pa_stack_allocator *a, pa_stack_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!st_live(a))
        return;
    out->version = PA_STACK_STATS_VERSION;
    st_threads_stats(a, out);
    uint64_t da = atomic_load_explicit(&a->direct_allocs, memory_order_relaxed);
    uint64_t df = atomic_load_explicit(&a->direct_frees, memory_order_relaxed);
    uint64_t dab = atomic_load_explicit(&a->direct_alloc_bytes, memory_order_relaxed);
    uint64_t dfb = atomic_load_explicit(&a->direct_free_bytes, memory_order_relaxed);
    out->allocs += da;
    out->frees += df;
    out->live += da - df;
    out->live_bytes += dab - dfb;
    for (unsigned o = 0; o < ST_ORDERS; o++) {
        pthread_mutex_lock(&a->pools[o].mu);
        out->pooled += a->pools[o].count;
        out->pooled_bytes += (uint64_t)a->pools[o].count * st_order_pages(o) * ST_PAGE;
        pthread_mutex_unlock(&a->pools[o].mu);
    }
    pthread_mutex_lock(&a->large.mu);
    out->pooled += a->large.count;
    out->pooled_bytes += a->large.bytes;
    pthread_mutex_unlock(&a->large.mu);
    pthread_mutex_lock(&a->all_mu);
    for (st_rec *r = a->all; r; r = r->all_next) {
        uint64_t c;
        uintptr_t lowest;
        if (residency(r->lo, r->hi, &c, &lowest) == 0)
            out->resident_bytes += c;
    }
    out->lost_bytes = a->lost_bytes;
    pthread_mutex_unlock(&a->all_mu);
    out->guard_bytes = atomic_load_explicit(&a->guard_bytes, memory_order_relaxed);
    out->released_bytes = atomic_load_explicit(&a->released_bytes, memory_order_relaxed);
    out->heap_allocs = atomic_load_explicit(&a->heap_allocs, memory_order_relaxed);
    out->heap_frees = atomic_load_explicit(&a->heap_frees, memory_order_relaxed);
}

/* Append name: v to buf (snprintf semantics at *len), after ind. */
static void put(char *buf, size_t size, size_t *len, const char *ind, const char *name,
                uint64_t v)
{
    int n = snprintf(*len < size ? buf + *len : NULL, *len < size ? size - *len : 0,
                     "%s\n%s\"%s\": %llu", *len > 1 ? "," : "", ind, name,
                     (unsigned long long)v);
    if (n > 0)
        *len += (size_t)n;
}

/* The stats as one JSON object, members indented by ind and the closing
 * brace by close, no trailing newline. */
static size_t format(const pa_stack_stats *s, const char *ind, const char *close, char *buf,
                     size_t size)
{
    size_t len = 0;
    if (size)
        buf[0] = 0;
    int n = snprintf(buf, size, "{");
    len = (size_t)n;
#define U(name) put(buf, size, &len, ind, #name, s->name)
    U(version);
    U(threads);
    U(live);
    U(live_bytes);
    U(cached);
    U(cached_bytes);
    U(pooled);
    U(pooled_bytes);
    U(guard_bytes);
    U(resident_bytes);
    U(lost_bytes);
    U(released_bytes);
    U(allocs);
    U(frees);
    U(refills);
    U(flushes);
    U(heap_allocs);
    U(heap_frees);
#undef U
    n = snprintf(len < size ? buf + len : NULL, len < size ? size - len : 0, "\n%s}", close);
    if (n > 0)
        len += (size_t)n;
    return len;
}

size_t st_stats_section(void *arg, char *buf, size_t size)
{
    pa_stack_stats s;
    pa_stack_get_stats(arg, &s);
    return format(&s, "    ", "  ", buf, size);
}

PA_API size_t pa_stack_stats_json_buf(pa_stack_allocator *a, char *buf, size_t size)
{
    pa_stack_stats s;
    pa_stack_get_stats(a, &s);
    size_t len = format(&s, "  ", "", buf, size);
    int n = snprintf(len < size ? buf + len : NULL, len < size ? size - len : 0, "\n");
    return len + (n > 0 ? (size_t)n : 0);
}

PA_API int pa_stack_stats_json(pa_stack_allocator *a, FILE *f)
{
    char text[4096];
    size_t n = pa_stack_stats_json_buf(a, text, sizeof text);
    if (n >= sizeof text)
        return EOVERFLOW;
    return fwrite(text, 1, n, f) == n ? 0 : EIO;
}
