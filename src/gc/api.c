/*
 * api.c - the calls of <pagealloc/gc.h> that may initialise the collector
 * or start a collection, over alloc.c, cycle.c and world.c: the four
 * kinds, aligned allocation, strings, realloc, the object queries,
 * collect, enable/disable, the lock call and the thread calls.
 *
 * An allocation checks the pacer when it took a new span or a large
 * object; one that fails for memory collects once and retries, then asks
 * the out-of-memory handler.
 */
#include <errno.h>
#include <string.h>

#include "gc/gcint.h"

void *gc_alloc(size_t size, unsigned kind)
{
    if (!gc_g.inited && gc_ensure_init() != 0)
        return NULL;
    for (int attempt = 0;; attempt++) {
        int refilled = 0;
        void *p = gc_alloc_raw(size, kind, &refilled);
        if (p) {
            if (refilled)
                gc_maybe_collect(p);              /* p is only in this frame */
            return p;
        }
        if (errno != ENOMEM || attempt > 0)
            break;
        gc_collect(2, 1, NULL);                           /* a last collection, then retry */
    }
    if (gc_g.oom)
        return gc_g.oom(size);
    errno = ENOMEM;
    return NULL;
}

/* A registered thread's small scanned or atomic object from its cache,
 * else gc_alloc. */
static inline void *alloc_fast(size_t size, unsigned kind)
{
    gc_tcache *t = gc_tc_self;
    if (__builtin_expect(t != NULL && size <= PA_MAX_SMALL, 1)) {
        void *p = gc_tc_pop(t, gc_size_class(size), kind);
        if (p)
            return p;
    }
    return gc_alloc(size, kind);
}

PA_API void *pa_gc_malloc(size_t size) { return alloc_fast(size, 0); }
PA_API void *pa_gc_malloc_atomic(size_t size) { return alloc_fast(size, GC_KIND_NOSCAN); }
PA_API void *pa_gc_malloc_uncollectable(size_t size) { return gc_alloc(size, GC_KIND_UNCOLL); }
PA_API void *pa_gc_malloc_atomic_uncollectable(size_t size)
{
    return gc_alloc(size, GC_KIND_UNCOLL | GC_KIND_NOSCAN);
}

PA_API void *pa_gc_memalign(size_t alignment, size_t size)
{
    if (alignment == 0 || (alignment & (alignment - 1)) || alignment > GC_PAGE) {
        errno = EINVAL;
        return NULL;
    }
    if (alignment <= 16 || size > PA_MAX_SMALL)
        return gc_alloc(size, 0);                  /* classes: 16; large: pages */
    /* A class whose size is a multiple of alignment: spans start on a page,
     * so every object of it is aligned. Powers of two up to 8 KiB are
     * classes, so one exists. */
    if (!gc_g.inited && gc_ensure_init() != 0)
        return NULL;
    size_t n = size < alignment ? alignment : size;
    for (unsigned c = gc_size_class(n); c < GC_NCLASSES; c++)
        if (gc_classes[c].size % alignment == 0)
            return gc_alloc(gc_classes[c].size, 0);
    return gc_alloc(PA_MAX_SMALL + 1, 0);
}

PA_API char *pa_gc_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = gc_alloc(len + 1, GC_KIND_NOSCAN);
    if (p) {
        memcpy(p, s, len);
        p[len] = 0;
    }
    return p;
}

PA_API char *pa_gc_strdup(const char *s)
{
    return pa_gc_strndup(s, SIZE_MAX);
}

PA_API void pa_gc_free(void *p)
{
    if (p)
        gc_free_obj(p, "pa_gc_free");
}

/* Size and kind of the object whose base is p; 0 if none. */
static size_t obj_info(const void *p, unsigned *kind)
{
    uintptr_t a = (uintptr_t)p;
    gc_span *s = gc_span_lock(a);
    if (!s)
        return 0;
    uint32_t i = gc_obj_index(s, a);
    size_t size = 0;
    if (i < s->nelems && a == s->base + (uintptr_t)i * s->size && gc_bit(s->alloc, i) &&
        !gc_cached(s, i)) {
        size = s->size;
        if (kind)
            *kind = s->spc & (GC_KINDS - 1);
    }
    gc_span_unlock(s);
    return size;
}

PA_API void *pa_gc_realloc(void *p, size_t size)
{
    if (!p)
        return gc_alloc(size, 0);
    unsigned kind = 0;
    size_t old = obj_info(p, &kind);
    if (!old) {
        pa_report("pa_gc_realloc", (uintptr_t)p, 0, "not the start of an object");
        errno = EINVAL;
        return NULL;
    }
    if (size == 0) {
        gc_free_obj(p, "pa_gc_realloc");
        return NULL;
    }
    if (size <= old && size > old / 2) {
        if (!(kind & GC_KIND_NOSCAN))
            memset((char *)p + size, 0, old - size);   /* stale pointers go */
        return p;
    }
    void *q = gc_alloc(size, kind);
    if (!q)
        return NULL;
    memcpy(q, p, size < old ? size : old);
    gc_free_obj(p, "pa_gc_realloc");
    return q;
}

PA_API void *pa_gc_base(const void *p)
{
    gc_span *s = gc_span_lock((uintptr_t)p);
    if (!s)
        return NULL;
    uintptr_t b = gc_base_unlocked((uintptr_t)p);
    gc_span_unlock(s);
    return (void *)b;
}

PA_API size_t pa_gc_size(const void *p)
{
    return obj_info(p, NULL);
}

PA_API int pa_gc_is_heap_ptr(const void *p)
{
    return gc_g.inited && gc_span_of((uintptr_t)p) != NULL;
}

PA_API void pa_gc_collect(void)
{
    if (gc_ensure_init() == 0) {
        gc_tcache_flush(0);                       /* the caller's cached objects go back */
        gc_collect(1, 0, NULL);
    }
}

PA_API void pa_gc_collect_and_release(void)
{
    if (gc_ensure_init() == 0) {
        gc_tcache_flush(0);
        gc_collect(1, 1, NULL);
    }
}

PA_API void pa_gc_disable(void)
{
    atomic_fetch_add(&gc_g.disabled, 1);
}

PA_API void pa_gc_enable(void)
{
    int d = atomic_load(&gc_g.disabled);
    while (d > 0 && !atomic_compare_exchange_weak(&gc_g.disabled, &d, d - 1))
        ;
}

PA_API int pa_gc_is_disabled(void)
{
    return atomic_load(&gc_g.disabled) > 0;
}

PA_API void *pa_gc_call_with_lock(void *(*fn)(void *arg), void *arg)
{
    if (!gc_g.inited && gc_ensure_init() != 0)
        return fn(arg);
    gc_lock(&gc_g.collect_mu);
    void *r = fn(arg);
    pthread_mutex_unlock(&gc_g.collect_mu);
    return r;
}

PA_API int pa_gc_register_thread(const void *stack_base)
{
    if (!gc_g.inited) {
        int err = gc_ensure_init();                 /* registers this thread */
        if (err)
            return err;
        if (gc_self_registered() && !stack_base)
            return 0;
    }
    return gc_thread_register(stack_base);
}

PA_API int pa_gc_unregister_thread(void)
{
    return gc_thread_unregister();
}

PA_API int pa_gc_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                                void *(*start)(void *), void *arg)
{
    int err = gc_ensure_init();
    return err ? err : gc_thread_create(thread, attr, start, arg);
}
