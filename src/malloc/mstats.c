/*
 * mstats.c - the object allocator's statistics (<pagealloc/malloc.h>):
 * per class, objects and bytes in use from the threads' counters (live
 * caches under the registry lock, exited threads folded into `dead`),
 * spans from the central counters; and the JSON form, with the page
 * heap's own statistics inside.
 */
#include <errno.h>
#include <string.h>

#include "base/export.h"
#include "malloc/mheap.h"

static uint64_t ld(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

PA_API void pa_malloc_get_stats(pa_malloc_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->version = PA_MALLOC_STATS_VERSION;
    pa_mheap *mh = atomic_load_explicit(&pa_mh, memory_order_acquire);
    if (!mh)
        return;
    uint64_t lin = 0, lout = 0;
    pthread_mutex_lock(&mh->caches_mu);
    for (pa_tcache *tc = &mh->dead; tc; tc = tc == &mh->dead ? mh->caches : tc->next) {
        for (unsigned c = 0; c < PA_NCLASSES; c++) {
            /* A pop is a malloc and a free; an entry still on the stack
             * is a free (mheap.h, pa_tc_class). */
            uint64_t pops = ld(&tc->cls[c].pops);
            out->cls[c].allocs += ld(&tc->cls[c].allocs) + pops;
            out->cls[c].frees += ld(&tc->frees[c]) + pops +
                                 atomic_load_explicit(&tc->cls[c].nlifo, memory_order_relaxed);
        }
        out->cls[0].allocs += ld(&tc->large_allocs);
        out->cls[0].frees += ld(&tc->large_frees);
        lin += ld(&tc->large_bytes_in);
        lout += ld(&tc->large_bytes_out);
        if (tc != &mh->dead)
            out->threads++;
    }
    pthread_mutex_unlock(&mh->caches_mu);
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        pa_malloc_class_stats *k = &out->cls[c];
        k->size = pa_classes[c].size;
        /* Counters of different threads are read at slightly different
         * moments: clamp a transient negative to zero. */
        k->objects = k->allocs > k->frees ? k->allocs - k->frees : 0;
        if (c == 0) {
            k->bytes = lin > lout ? lin - lout : 0;
            k->spans = k->objects;
        } else {
            k->bytes = k->objects * k->size;
            k->spans = ld(&mh->central[c].spans);
            uint64_t cap = k->spans * pa_classes[c].nelems * (uint64_t)k->size;
            k->cached_bytes = cap > k->bytes ? cap - k->bytes : 0;
            out->span_bytes += k->spans * pa_classes[c].npages * PA_PAGE;
        }
        out->in_use_bytes += k->bytes;
    }
    out->span_bytes += out->cls[0].bytes;
    out->metadata_bytes = sysmem_stat_load(&mh->meta);
}

PA_API int pa_malloc_stats_json(FILE *f)
{
    pa_malloc_stats s;
    pa_malloc_get_stats(&s);
    int ok = fprintf(f, "{\n  \"version\": %u,\n  \"in_use_bytes\": %llu,\n  \"span_bytes\": %llu,\n"
                        "  \"metadata_bytes\": %llu,\n  \"threads\": %llu,\n  \"classes\": [",
                     s.version, (unsigned long long)s.in_use_bytes,
                     (unsigned long long)s.span_bytes, (unsigned long long)s.metadata_bytes,
                     (unsigned long long)s.threads) > 0;
    for (unsigned c = 0; c < PA_NCLASSES && ok; c++) {
        const pa_malloc_class_stats *k = &s.cls[c];
        ok = fprintf(f, "%s\n    {\"class\": %u, \"size\": %u, \"objects\": %llu, \"bytes\": %llu, "
                        "\"spans\": %llu, \"cached_bytes\": %llu, \"allocs\": %llu, \"frees\": %llu}",
                     c ? "," : "", c, k->size, (unsigned long long)k->objects,
                     (unsigned long long)k->bytes, (unsigned long long)k->spans,
                     (unsigned long long)k->cached_bytes, (unsigned long long)k->allocs,
                     (unsigned long long)k->frees) > 0;
    }
    pa_mheap *mh = atomic_load_explicit(&pa_mh, memory_order_acquire);
    if (ok)
        ok = fputs("\n  ],\n  \"pageheap\": ", f) >= 0;
    if (ok && mh)
        ok = pageheap_stats_json(mh->pages, f) == 0;
    else if (ok)
        ok = fputs("null", f) >= 0;
    if (ok)
        ok = fputs("\n}\n", f) >= 0;
    return ok ? 0 : EIO;
}
