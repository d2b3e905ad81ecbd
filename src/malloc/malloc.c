/*
 * malloc.c - the object allocator's API (<pagealloc/malloc.h>): the
 * process's allocator made at first use, small objects through the
 * thread cache, large ones as whole pages, aligned requests, realloc,
 * and the bad-free checks (mheap.h has the structures and their rules).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checklevel.h"
#include "base/export.h"
#include "malloc/mheap.h"
#include "pageheap/heap.h"

pa_mheap *_Atomic pa_mh;
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

/* ---- The process's allocator ------------------------------------------------------ */

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    return strtoull(s, NULL, 0);
}

static pa_mheap *mheap_make(void)
{
    pa_sizeclass_init();
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    sysmem_stat st = { 0 };
    size_t self = (sizeof(pa_mheap) + caps.page_size - 1) & ~(caps.page_size - 1);
    void *mem;
    if (sysmem_alloc(self, &st, &mem) != 0)
        return NULL;
    pa_mheap *mh = mem;                           /* zeroed */
    mh->meta = st;
    mh->self_bytes = self;
    uint64_t limit = env_u64("PAGEALLOC_MALLOC_LIMIT", 0);
    pageheap_options o = { .limit = limit, .hard_limit = limit != 0 };
    mh->pages = pageheap_new(&o);                 /* scavenger started later */
    if (!mh->pages || pa_tcache_key_create(mh) != 0) {
        if (mh->pages)
            pageheap_delete(mh->pages);
        sysmem_stat last = mh->meta;
        sysmem_free(mh, self, &last);
        return NULL;
    }
    ph_set_threadless(mh->pages);
    (void)pa_fixalloc_init(&mh->span_recs, sizeof(pa_span), 64, &mh->meta);
    (void)pa_fixalloc_init(&mh->tcache_recs, sizeof(pa_tcache), 64, &mh->meta);
    pthread_mutex_init(&mh->caches_mu, NULL);
    for (unsigned c = 0; c < PA_NCLASSES; c++)
        pthread_mutex_init(&mh->central[c].mu, NULL);
    return mh;
}

pa_mheap *pa_mheap_get(void)
{
    pa_mheap *mh = atomic_load_explicit(&pa_mh, memory_order_acquire);
    if (mh)
        return mh;
    pthread_mutex_lock(&init_mu);
    mh = atomic_load_explicit(&pa_mh, memory_order_relaxed);
    int made = 0;
    if (!mh) {
        mh = mheap_make();
        if (mh) {
            atomic_store_explicit(&pa_mh, mh, memory_order_release);
            made = 1;
        }
    }
    pthread_mutex_unlock(&init_mu);
    if (made && !pa_malloc_dropin_deferred())
        pa_malloc_late_init(mh);
    return mh;
}

/* Not the drop-in: nothing to wait for. (dropin.c has the real one.) */
__attribute__((weak)) int pa_malloc_dropin_deferred(void)
{
    return 0;
}

void pa_malloc_late_init(pa_mheap *mh)
{
    static int done;
    if (!mh || __atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
        return;
    /* The allocator is published: the calls that may allocate (atfork
     * registration, thread creation) are safe now. */
    pa_malloc_fork_init(mh);
    if (env_u64("PAGEALLOC_MALLOC_SCAVENGER", 1) != 0)
        (void)ph_start_scavenger(mh->pages);
}

/* ---- Small objects --------------------------------------------------------------- */

/* Add one to a statistics counter: a thread's own (single writer: a
 * plain load and store) or the shared one of cache-less threads. */
static inline void count(_Atomic uint64_t *c, int own)
{
    if (own)
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* The slow path keeps errno on success (the page heap may set it on
 * the way, e.g. a grow that is retried). */
static void *small_slow_inner(pa_mheap *mh, pa_tcache *tc, unsigned c)
{
    if (!tc)
        return pa_central_alloc_one(mh, c);
    pa_span *s = tc->cls[c].span;
    if (s) {
        void *p = pa_span_alloc_slow(s);
        if (p)
            return p;
    }
    s = pa_tcache_refill(mh, tc, c);
    return s ? pa_span_alloc_slow(s) : NULL;
}

__attribute__((noinline)) static void *small_slow(pa_mheap *mh, pa_tcache *tc, unsigned c)
{
    int saved = errno;
    void *p = small_slow_inner(mh, tc, c);
    if (p)
        errno = saved;
    return p;
}

static inline void *small_alloc(pa_mheap *mh, unsigned c)
{
    pa_tcache *tc = pa_tcache_get(mh);
    void *p = NULL;
    if (tc) {
        p = pa_lifo_pop(tc, c);
        if (p) {
            count(&tc->cls[c].pops, 1);
            return p;
        }
        pa_span *s = tc->cls[c].span;
        if (s)
            p = pa_span_alloc_fast(s);
    }
    if (!p) {
        p = small_slow(mh, tc, c);
        if (!p)
            return NULL;
    }
    count(tc ? &tc->cls[c].allocs : &mh->dead.cls[c].allocs, tc != NULL);
    return p;
}

/* ---- Large objects ------------------------------------------------------------------- */

/* npages pages aligned to align (a power of two >= the page size);
 * zeroed if zero (the page heap skips pages it knows read zero). */
static void *large_alloc(pa_mheap *mh, size_t npages, size_t align, int zero)
{
    pa_span *s = pa_span_record(&mh->span_recs);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    size_t extra = align > PA_PAGE ? align / PA_PAGE - 1 : 0;
    if (npages > ((size_t)1 << 34) - extra) {
        pa_fixalloc_free(&mh->span_recs, s);
        errno = ENOMEM;
        return NULL;
    }
    char *mem = zero ? pageheap_alloc_zeroed(mh->pages, npages + extra)
                     : pageheap_alloc(mh->pages, npages + extra);
    if (!mem) {
        pa_fixalloc_free(&mh->span_recs, s);
        return NULL;
    }
    if (extra) {
        /* Trim the run to the aligned part: give back the head and tail. */
        uintptr_t a = ((uintptr_t)mem + align - 1) & ~(uintptr_t)(align - 1);
        size_t head = (a - (uintptr_t)mem) / PA_PAGE, tail = extra - head;
        if (head)
            pageheap_free(mh->pages, mem, head);
        if (tail)
            pageheap_free(mh->pages, (char *)a + npages * PA_PAGE, tail);
        mem = (char *)a;
    }
    s->base = (uintptr_t)mem;
    s->npages = (uint32_t)npages;
    /* cls stays 0 (large), as pa_span_record set it */
    s->nelems = 1;
    s->elemsize = npages * PA_PAGE > UINT32_MAX ? 0 : (uint32_t)(npages * PA_PAGE);
    s->nwords = 1;
    s->state = PA_SPAN_LARGE;
    atomic_store_explicit(&s->words[0].alloc, 1, memory_order_relaxed);
    atomic_store_explicit(&s->nalloc, 1, memory_order_relaxed);
    if (pa_spanmap_set(mh, s->base, 1, s) != 0) {
        pageheap_free(mh->pages, mem, npages);
        pa_fixalloc_free(&mh->span_recs, s);
        errno = ENOMEM;
        return NULL;
    }
    pa_tcache *tc = pa_tcache_get(mh);
    pa_tcache *ctr = tc ? tc : &mh->dead;
    atomic_fetch_add_explicit(&ctr->large_allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&ctr->large_bytes_in, npages * PA_PAGE, memory_order_relaxed);
    return mem;
}

static void large_free(pa_mheap *mh, pa_span *s, void *p, const char *call)
{
    uint64_t one = 1;
    if (!atomic_compare_exchange_strong_explicit(&s->words[0].alloc, &one, 0, memory_order_acq_rel,
                                                 memory_order_relaxed) ||
        s->base != (uintptr_t)p) {
        pa_malloc_report(call, p, 0, "large object already freed (double free?)");
        return;
    }
    size_t npages = s->npages;
    (void)pa_spanmap_set(mh, s->base, 1, NULL);
    s->base = 0;
    pa_fixalloc_free(&mh->span_recs, s);
    pageheap_free(mh->pages, p, npages);
    pa_tcache *tc = pa_tcache_get(mh);
    pa_tcache *ctr = tc ? tc : &mh->dead;
    atomic_fetch_add_explicit(&ctr->large_frees, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&ctr->large_bytes_out, npages * PA_PAGE, memory_order_relaxed);
}

/* ---- Allocation entry points ---------------------------------------------------------- */

/* size bytes aligned to align (a power of two, at least 16), zeroed if
 * zero; NULL and errno set on failure. */
static void *alloc_aligned_inner(size_t size, size_t align, int zero);

/* The same, errno kept on success. */
__attribute__((noinline)) static void *alloc_aligned(size_t size, size_t align, int zero)
{
    int saved = errno;
    void *p = alloc_aligned_inner(size, align, zero);
    if (p)
        errno = saved;
    return p;
}

static void *alloc_aligned_inner(size_t size, size_t align, int zero)
{
    pa_mheap *mh = pa_mheap_get();
    if (!mh) {
        errno = ENOMEM;
        return NULL;
    }
    if (size == 0)
        size = 1;
    if (size <= PA_MAX_SMALL && align <= PA_PAGE) {
        /* The smallest class whose size is a multiple of align: every
         * object of it is aligned (spans start on a page). */
        for (unsigned c = pa_size_class(size); c < PA_NCLASSES; c++) {
            if (pa_classes[c].size % align == 0) {
                void *p = small_alloc(mh, c);
                if (!p)
                    errno = ENOMEM;
                else if (zero)
                    memset(p, 0, size);
                return p;
            }
        }
    }
    if (size > ((size_t)1 << 46)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t npages = (size + PA_PAGE - 1) / PA_PAGE;
    /* Whole pages: zeroed by the page heap, which skips pages it knows
     * read zero (released ones). */
    void *p = large_alloc(mh, npages, align, zero);
    if (!p)
        errno = ENOMEM;
    return p;
}

/* Everything but a small object from the calling thread's stack or
 * current span. */
__attribute__((noinline)) static void *malloc_slow(size_t size)
{
    pa_mheap *mh = atomic_load_explicit(&pa_mh, memory_order_acquire);
    if (mh != NULL && size <= PA_MAX_SMALL) {
        void *p = small_alloc(mh, pa_size_class(size));   /* 0: class 1 */
        if (!p)
            errno = ENOMEM;
        return p;
    }
    return alloc_aligned(size, 16, 0);
}

PA_API void *pa_malloc(size_t size)
{
    /* A thread with a cache has an allocator: no need to load it. */
    pa_tcache *tc = pa_tcp;
    if (__builtin_expect((uintptr_t)tc > 1 && size <= PA_MAX_SMALL, 1)) {
        size_t c = pa_size_class(size);
        pa_tc_class *k = &tc->cls[c];
        uint32_t n = atomic_load_explicit(&k->nlifo, memory_order_relaxed);
        if (__builtin_expect(n != 0, 1)) {
            void *p = pa_lifo_take(tc, c, n);
            count(&k->pops, 1);
            return p;
        }
        void *p = k->span ? pa_span_alloc_fast(k->span) : NULL;
        if (__builtin_expect(p != NULL, 1)) {
            count(&k->allocs, 1);
            return p;
        }
    }
    return malloc_slow(size);
}

PA_API void *pa_calloc(size_t count, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    if (n > PA_MAX_SMALL)
        return alloc_aligned(n, 16, 1);
    void *p = pa_malloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}

PA_API void *pa_aligned_alloc(size_t alignment, size_t size)
{
    if (alignment == 0 || (alignment & (alignment - 1)) || alignment > ((size_t)1 << 30)) {
        errno = EINVAL;
        return NULL;
    }
    return alloc_aligned(size, alignment < 16 ? 16 : alignment, 0);
}

PA_API int pa_posix_memalign(void **out, size_t alignment, size_t size)
{
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) ||
        alignment > ((size_t)1 << 30))
        return EINVAL;
    int saved = errno;
    void *p = alloc_aligned(size, alignment < 16 ? 16 : alignment, 0);
    if (!p) {
        errno = saved;
        return ENOMEM;
    }
    *out = p;
    return 0;
}

/* ---- Freeing ------------------------------------------------------------------------- */

/* The span and class of a pointer the caller passes back, or NULL after
 * reporting why it is not an object of ours. */
static inline pa_span *object_span(const void *p, const char *call, size_t *idx)
{
    pa_span *s = pa_spanmap_get((uintptr_t)p);
    if (!s) {
        pa_malloc_report(call, p, 0, "not allocated by this allocator (or freed)");
        return NULL;
    }
    uintptr_t off = (uintptr_t)p - s->base;
    if (s->cls == 0) {
        if (off != 0) {
            pa_malloc_report(call, p, 0, "interior pointer of a large object");
            return NULL;
        }
        *idx = 0;
        return s;
    }
    if (off >= (uintptr_t)s->npages * PA_PAGE) {
        pa_malloc_report(call, p, s->cls, "not allocated by this allocator (or freed)");
        return NULL;
    }
    size_t i = (size_t)(((uint64_t)off * s->divmagic) >> 32);
    if (i >= s->nelems || i * s->elemsize != off) {
        pa_malloc_report(call, p, s->cls,
                         i >= s->nelems ? "pointer in a span's tail, past its last object"
                                        : "interior pointer (not the start of an object)");
        return NULL;
    }
    *idx = i;
    return s;
}

/* Whether object i of span s is allocated (a large span's one object:
 * its bit 0): its alloc bit set, not freed onto a stack, and not freed
 * by another thread (a remote bit not yet folded in by a collect). */
static inline int object_allocated(pa_span *s, size_t i)
{
    const pa_span_word *sw = &s->words[i / 64];
    uint64_t live = atomic_load_explicit(&sw->alloc, memory_order_relaxed) &
                    ~atomic_load_explicit(&sw->held, memory_order_relaxed) &
                    ~atomic_load_explicit(&sw->remote, memory_order_relaxed);
    return (int)(live >> (i % 64) & 1);
}

/* Bytes usable in an object of span s. */
static inline size_t object_bytes(const pa_span *s)
{
    return s->cls ? s->elemsize : (size_t)s->npages * PA_PAGE;
}

static void free_small(pa_mheap *mh, pa_span *s, size_t i, void *p, const char *call)
{
    unsigned cls = s->cls;              /* s may be released once the bit is set */
    unsigned w = (unsigned)(i / 64);
    uint64_t m = (uint64_t)1 << (i % 64);
    pa_tcache *tc = pa_tcache_get(mh);
    uint64_t bits = atomic_load_explicit(&s->words[w].alloc, memory_order_relaxed);
    if (!(bits & m)) {
        pa_malloc_report(call, p, cls, "object is not allocated (double free?)");
        return;
    }
    if (tc && atomic_load_explicit(&s->owner, memory_order_relaxed) == tc) {
        /* Local: this thread owns the span's bitmap. */
        if ((atomic_load_explicit(&s->words[w].remote, memory_order_relaxed) |
             atomic_load_explicit(&s->words[w].held, memory_order_relaxed)) & m) {
            pa_malloc_report(call, p, cls, "object already freed (double free?)");
            return;
        }
        if (__builtin_expect(!pa_lifo_push(tc, cls, s, i), 0)) {
            pa_tcache_spill(mh, tc, cls);
            (void)pa_lifo_push(tc, cls, s, i);
        }
        return;                         /* a push is counted when it leaves */
    } else {
        /* Remote: count, then one atomic OR; the owner folds it in
         * later. An object on its owner's stack was freed already (a
         * free racing with the owner's is caught by the collect). */
        if (atomic_load_explicit(&s->words[w].held, memory_order_relaxed) & m) {
            pa_malloc_report(call, p, cls, "object already freed (double free?)");
            return;
        }
        uint32_t before = atomic_fetch_add_explicit(&s->remote_count, 1, memory_order_acq_rel);
        uint64_t old = atomic_fetch_or_explicit(&s->words[w].remote, m, memory_order_acq_rel);
        if (old & m) {
            atomic_fetch_sub_explicit(&s->remote_count, 1, memory_order_relaxed);
            pa_malloc_report(call, p, cls, "object already freed (double free?)");
            return;
        }
        pa_tcache *o = atomic_load_explicit(&s->owner, memory_order_acquire);
        uint32_t n = atomic_load_explicit(&s->nalloc, memory_order_relaxed);
        uint32_t now = atomic_load_explicit(&s->remote_count, memory_order_acquire);
        if (o == NULL) {
            if (now == n || (before == 0 && s->state == PA_SPAN_FULL))
                pa_central_remote_event(mh, s);
        } else {
            /* The owner's span: the first remote free since its last
             * collect tells the owner there is something to collect, and
             * the one that leaves the span wholly free says so. */
            if (before == 0)
                atomic_fetch_add_explicit(&o->remote_pending[cls], 1, memory_order_release);
            if (now == n) {
                atomic_fetch_add_explicit(&o->emptied[cls], 1, memory_order_relaxed);
                atomic_store_explicit(&o->any_emptied, 1, memory_order_release);
            }
        }
    }
    count(tc ? &tc->frees[cls] : &mh->dead.frees[cls], tc != NULL);
}

static void free_checked(void *p, size_t size, int sized, const char *call)
{
    if (!p)
        return;
    pa_mheap *mh = atomic_load_explicit(&pa_mh, memory_order_acquire);
    if (!mh) {
        pa_malloc_report(call, p, 0, "not allocated by this allocator (none made yet)");
        return;
    }
    size_t i;
    pa_span *s = object_span(p, call, &i);
    if (!s)
        return;
    if (sized) {
        int ok = s->cls ? size <= s->elemsize && (size > PA_MAX_SMALL || pa_size_class(size ? size : 1) <= s->cls)
                        : ((size ? size : 1) + PA_PAGE - 1) / PA_PAGE == s->npages;
        if (!ok) {
            pa_malloc_report(call, p, s->cls, "size does not match the allocation");
            return;
        }
    }
    if (s->cls == 0)
        large_free(mh, s, p, call);
    else
        free_small(mh, s, i, p, call);
}

/* The common free, inline: an object of a small span the calling thread
 * owns, allocated and not freed, onto its class's stack with room. 0
 * sends everything else (NULL, large objects, remote frees, a full
 * stack, bad frees) to free_checked. Large spans and spans on the central
 * list have no owner; the calling thread's cache is not NULL when it
 * equals an owner, and is never PA_TC_NOCACHE. */
static inline int free_fast(void *p)
{
    pa_span *s = pa_spanmap_get((uintptr_t)p);
    pa_tcache *tc = pa_tcp;
    if (__builtin_expect(!s || atomic_load_explicit(&s->owner, memory_order_relaxed) != tc ||
                         !tc, 0))
        return 0;
    uintptr_t off = (uintptr_t)p - s->base;          /* within the span's pages */
    size_t i = (size_t)(((uint64_t)off * s->divmagic) >> 32);
    if (__builtin_expect(i * s->elemsize != off || i >= s->nelems, 0))
        return 0;
    const pa_span_word *sw = &s->words[i / 64];
    uint64_t live = atomic_load_explicit(&sw->alloc, memory_order_relaxed) &
                    ~(atomic_load_explicit(&sw->remote, memory_order_relaxed) |
                      atomic_load_explicit(&sw->held, memory_order_relaxed));
    size_t c = s->cls;
    if (__builtin_expect(!(live >> (i % 64) & 1) || !pa_lifo_push(tc, c, s, i), 0))
        return 0;
    return 1;                           /* counted when it leaves the stack */
}

PA_API void pa_free(void *p)
{
    if (!free_fast(p))
        free_checked(p, 0, 0, "free");
}

PA_API void pa_free_sized(void *p, size_t size)
{
    free_checked(p, size, 1, "free_sized");
}

PA_API size_t pa_usable_size(const void *p)
{
    if (!p || !atomic_load_explicit(&pa_mh, memory_order_acquire))
        return 0;
    size_t i;
    pa_span *s = object_span(p, "malloc_usable_size", &i);
    if (!s)
        return 0;
    if (s->cls && !object_allocated(s, i)) {
        pa_malloc_report("malloc_usable_size", p, s->cls, "object is not allocated (freed?)");
        return 0;
    }
    return object_bytes(s);
}

PA_API void *pa_realloc(void *p, size_t size)
{
    if (!p)
        return pa_malloc(size);
    if (size == 0) {
        pa_free(p);
        return NULL;
    }
    size_t i;
    pa_span *s = object_span(p, "realloc", &i);
    if (!s)
        return NULL;                    /* reported: not ours */
    if (!object_allocated(s, i)) {
        pa_malloc_report("realloc", p, s->cls, "object is not allocated (double free?)");
        return NULL;
    }
    size_t have = object_bytes(s);
    /* Keep the object when the new size stays in its class (or, large,
     * needs the same pages). */
    if (s->cls ? size <= have && (size > PA_MAX_SMALL || pa_size_class(size) == s->cls)
               : size > PA_MAX_SMALL && (size + PA_PAGE - 1) / PA_PAGE == s->npages)
        return p;
    void *q = pa_malloc(size);
    if (!q)
        return NULL;                    /* p untouched, errno ENOMEM */
    memcpy(q, p, have < size ? have : size);
    pa_free(p);
    return q;
}

PA_API size_t pa_malloc_trim(void)
{
    pa_mheap *mh = atomic_load_explicit(&pa_mh, memory_order_acquire);
    if (!mh)
        return 0;
    pa_tcache *tc = pa_tcache_get(mh);
    if (tc)
        pa_tcache_drain(mh, tc);
    (void)pa_central_trim(mh);
    return pageheap_release(mh->pages, SIZE_MAX);
}
