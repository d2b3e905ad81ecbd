/*
 * walk.c - the object allocator seen from outside (<pagealloc/malloc.h>):
 * a walk over its spans (pa_malloc_visit_spans) and its page heap for
 * inspection (pa_malloc_pageheap), for tools that draw or audit the heap,
 * such as `pagealloc run`'s map coloured by size class (docs/malloc.md,
 * "Walking the spans").
 *
 * The walk reads the span map in address order (spanmap.c's
 * pa_spanmap_walk: a run of pages mapping to one record is one span; a
 * large span maps its first page only and its record gives its length)
 * and copies each record's figures into a pa_malloc_span for the caller.
 *
 * What a walk may meet while other threads allocate and free. It takes
 * no lock, so malloc and free never wait for it. The span map's second
 * levels and the span records (os/fixalloc blocks) are never unmapped
 * while the process lives, so every read is of mapped memory. But a
 * record may be changing under the walk: a span being made (its fields
 * set before it is mapped, published with a release store the walk reads
 * with acquire: seen whole, or not at all), a span being released (state
 * DEAD, then unmapped, then base cleared and the record freed), and a
 * freed record being reused for another span (fields re-set one by one).
 * So a record is reported only if it is consistent: not DEAD, its base is
 * the page the map gave, its class is valid and, for a small class, its
 * pages and object count are the class's; a large one must still be
 * LARGE. A record torn in a way these checks cannot see (a reuse for a
 * span of the same class at the same address during the read) may still
 * be reported with figures mixed from its two lives. The allocated count
 * is nalloc minus the remote frees not yet collected and minus the
 * objects held on the owner's recent-free stack (held bits), clamped to
 * the span's objects: exact when the owner is not mid-change. Quiescent
 * callers (the tool walks after its workers stopped) get an exact view.
 */
#include "base/export.h"
#include "malloc/mheap.h"

typedef struct walk_ctx {
    pa_malloc_span_fn fn;
    void *arg;
    size_t n;
} walk_ctx;

static void one_span(void *arg, uintptr_t page, pa_span *s)
{
    walk_ctx *w = arg;
    uint8_t state = atomic_load_explicit(&s->state, memory_order_acquire);
    unsigned cls = __atomic_load_n(&s->cls, __ATOMIC_RELAXED);
    if (state == PA_SPAN_DEAD || s->base != page || cls >= PA_NCLASSES)
        return;
    pa_malloc_span info = { .base = page, .pages = s->npages, .size_class = cls };
    if (cls == 0) {
        if (state != PA_SPAN_LARGE || info.pages == 0)
            return;
        info.object_size = info.pages * PA_PAGE;
        info.objects = 1;
        info.allocated =
            (uint32_t)(atomic_load_explicit(&s->words[0].alloc, memory_order_relaxed) & 1);
    } else {
        const pa_class_info *ci = &pa_classes[cls];
        if (info.pages != ci->npages || s->nelems != ci->nelems)
            return;
        info.object_size = ci->size;
        info.objects = ci->nelems;
        uint32_t n = atomic_load_explicit(&s->nalloc, memory_order_relaxed);
        uint32_t r = atomic_load_explicit(&s->remote_count, memory_order_relaxed);
        /* Objects on the owner's recent-free stack keep their alloc bit
         * (and their place in nalloc) but are freed: their held bits. */
        for (uint32_t k = 0; k < (ci->nelems + 63) / 64; k++)
            r += (uint32_t)pa_popcount64(
                atomic_load_explicit(&s->words[k].held, memory_order_relaxed));
        n = n > r ? n - r : 0;
        info.allocated = n < ci->nelems ? n : ci->nelems;
    }
    w->n++;
    w->fn(w->arg, &info);
}

PA_API size_t pa_malloc_visit_spans(pa_malloc_span_fn fn, void *arg)
{
    if (!fn || !atomic_load_explicit(&pa_mh, memory_order_acquire))
        return 0;
    walk_ctx w = { .fn = fn, .arg = arg };
    pa_spanmap_walk(one_span, &w);
    return w.n;
}

PA_API struct pageheap *pa_malloc_pageheap(void)
{
    pa_mheap *mh = atomic_load_explicit(&pa_mh, memory_order_acquire);
    return mh ? mh->pages : NULL;
}
