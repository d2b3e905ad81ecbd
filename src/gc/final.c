/*
 * final.c - finalizers and disappearing links (bdwgc's semantics, Go's
 * mfinal.go for the queue and the finalizer goroutine's role).
 *
 * Tables: finalizers by object, short links and long links by link cell,
 * each a chained hash table whose buckets array (OS memory) doubles when
 * it holds twice as many entries as buckets; entries are fixed-size
 * records (os/fixalloc). Objects are kept hidden (bitwise inverted) in
 * entries, though the collector never scans its metadata anyway. Queued
 * finalizers wait on a FIFO list; their objects are roots until run
 * (gc_mark_pending). fin_mu guards all of it.
 *
 * After the main mark, with the world stopped (gc_finalize_after_mark):
 *   1. short links: a registration whose cell lies in an unmarked heap
 *      object is dropped; a link to an unmarked object is cleared;
 *   2. for each finalizable object not marked, except NO_ORDER ones (whose
 *      pointers hold nothing back), mark from its children (IGNORE_SELF:
 *      words pointing into the object itself do not count), so an object
 *      that such a finalizable object (or itself, through a cycle) reaches
 *      is marked now and waits, whatever its own order;
 *   3. every entry still unmarked is flagged ready, all flags decided
 *      before anything more is marked (so the outcome does not depend on
 *      the table's order); then, if an UNREACHABLE entry is ready, the
 *      children of the ready NO_ORDER objects are marked, and an
 *      UNREACHABLE entry that this marks waits (bdwgc's Java-style pass);
 *   4. every ready entry is queued, and its object marked with everything
 *      it reaches, so the finalizer sees it whole;
 *   5. long links: as 1, after the queued objects were marked, so a long
 *      link survives until its object is really reclaimed.
 * In leak-finding mode steps 2-4 are skipped. These are bdwgc's rules, as
 * its programs observe them (tests/gccompat/final.c, unreachable.c).
 */
#include <errno.h>
#include <string.h>

#include "gc/gcint.h"

typedef struct fentry {
    struct fentry *next;
    uintptr_t key;                  /* object (finalizers) or link cell */
    uintptr_t hobj;                 /* hidden object */
    pa_gc_finalizer_fn fn;
    void *arg;
    int order;
    int ready;
} fentry;

typedef struct htab {
    fentry **b;
    size_t nb, n;
} htab;

static pthread_mutex_t fin_mu = PTHREAD_MUTEX_INITIALIZER;
static pa_fixalloc recs;                      /* own mutex */
static int recs_ready;                        /* fin_mu */
static htab fins, shorts, longs;              /* fin_mu */
static fentry *pend_head, *pend_tail;         /* fin_mu */
static uint64_t npending;                     /* fin_mu */
static _Atomic uint64_t pending_atomic;
static __thread int in_finalizer;
static pthread_cond_t finq_cv = PTHREAD_COND_INITIALIZER;
static int fin_thread_running;                /* fin_mu */

void gc_fin_lock(void)
{
    gc_lock(&fin_mu);
}

void gc_fin_unlock(void)
{
    pthread_mutex_unlock(&fin_mu);
}

static size_t hash(uintptr_t k, size_t nb)
{
    return (size_t)((k >> 4) * 0x9E3779B97F4A7C15ull >> 20) & (nb - 1);
}

static int ensure_recs(void)
{
    if (recs_ready)
        return 0;
    int err = pa_fixalloc_init(&recs, sizeof(fentry), 16, &gc_g.meta);
    recs_ready = err == 0;
    return err;
}

static int tab_grow(htab *t)
{
    if (t->nb && t->n < 2 * t->nb)
        return 0;
    size_t nb = t->nb ? t->nb * 2 : 512;          /* 4 KiB: sysmem takes whole pages */
    void *mem;
    int err = sysmem_alloc(nb * sizeof(fentry *), &gc_g.meta, &mem);
    if (err)
        return t->nb ? 0 : err;                  /* a full table still works */
    fentry **b = mem;
    for (size_t i = 0; i < t->nb; i++)
        for (fentry *e = t->b[i], *nx; e; e = nx) {
            nx = e->next;
            size_t h = hash(e->key, nb);
            e->next = b[h];
            b[h] = e;
        }
    if (t->b)
        sysmem_free(t->b, t->nb * sizeof(fentry *), &gc_g.meta);
    t->b = b;
    t->nb = nb;
    return 0;
}

static fentry **tab_find(htab *t, uintptr_t key)
{
    if (!t->nb)
        return NULL;
    for (fentry **pp = &t->b[hash(key, t->nb)]; *pp; pp = &(*pp)->next)
        if ((*pp)->key == key)
            return pp;
    return NULL;
}

static void tab_unlink(htab *t, fentry **pp)
{
    *pp = (*pp)->next;
    t->n--;
}

/* obj is the base of an allocated collectable object. */
static int collectable_base(const void *obj)
{
    uintptr_t a = (uintptr_t)obj;
    gc_span *s = gc_span_lock(a);
    if (!s)
        return 0;
    uint32_t i = gc_obj_index(s, a);
    int ok = i < s->nelems && a == s->base + (uintptr_t)i * s->size && gc_bit(s->alloc, i) &&
             !(s->spc & GC_KIND_UNCOLL);
    gc_span_unlock(s);
    return ok;
}

PA_API int pa_gc_register_finalizer(void *obj, pa_gc_finalizer_fn fn, void *arg,
                                    pa_gc_finalize_order order, pa_gc_finalizer_fn *old_fn,
                                    void **old_arg)
{
    if (old_fn)
        *old_fn = NULL;
    if (old_arg)
        *old_arg = NULL;
    if (!collectable_base(obj) || (unsigned)order > PA_GC_UNREACHABLE)
        return EINVAL;
    gc_lock(&fin_mu);
    int err = ensure_recs();
    fentry **pp = err ? NULL : tab_find(&fins, (uintptr_t)obj);
    if (pp) {
        fentry *e = *pp;
        if (old_fn)
            *old_fn = e->fn;
        if (old_arg)
            *old_arg = e->arg;
        if (fn) {
            e->fn = fn;
            e->arg = arg;
            e->order = (int)order;
        } else {
            tab_unlink(&fins, pp);
            pa_fixalloc_free(&recs, e);
        }
    } else if (!err && fn && (err = tab_grow(&fins)) == 0) {
        fentry *e = pa_fixalloc_alloc(&recs, &err);
        if (e) {
            e->key = (uintptr_t)obj;
            e->hobj = PA_GC_HIDE(obj);
            e->fn = fn;
            e->arg = arg;
            e->order = (int)order;
            size_t h = hash(e->key, fins.nb);
            e->next = fins.b[h];
            fins.b[h] = e;
            fins.n++;
        } else if (!err) {
            err = ENOMEM;
        }
    }
    pthread_mutex_unlock(&fin_mu);
    return err;
}

static int link_register(htab *t, void **link, const void *obj)
{
    if (!link || ((uintptr_t)link & (sizeof(void *) - 1)) || !collectable_base(obj))
        return EINVAL;
    gc_lock(&fin_mu);
    int err = ensure_recs();
    if (!err && tab_find(t, (uintptr_t)link))
        err = EEXIST;
    if (!err)
        err = tab_grow(t);
    if (!err) {
        fentry *e = pa_fixalloc_alloc(&recs, &err);
        if (e) {
            e->key = (uintptr_t)link;
            e->hobj = PA_GC_HIDE(obj);
            size_t h = hash(e->key, t->nb);
            e->next = t->b[h];
            t->b[h] = e;
            t->n++;
        } else if (!err) {
            err = ENOMEM;
        }
    }
    pthread_mutex_unlock(&fin_mu);
    return err;
}

static int link_unregister(htab *t, void **link)
{
    gc_lock(&fin_mu);
    fentry **pp = tab_find(t, (uintptr_t)link);
    if (pp) {
        fentry *e = *pp;
        tab_unlink(t, pp);
        pa_fixalloc_free(&recs, e);
    }
    pthread_mutex_unlock(&fin_mu);
    return pp ? 0 : ENOENT;
}

static int link_move(htab *t, void **link, void **new_link)
{
    if (!new_link || ((uintptr_t)new_link & (sizeof(void *) - 1)))
        return EINVAL;
    gc_lock(&fin_mu);
    int err = 0;
    fentry **pp = tab_find(t, (uintptr_t)link);
    if (!pp)
        err = ENOENT;
    else if (link != new_link && tab_find(t, (uintptr_t)new_link))
        err = EEXIST;
    else if (link != new_link) {
        fentry *e = *pp;
        tab_unlink(t, pp);
        e->key = (uintptr_t)new_link;
        size_t h = hash(e->key, t->nb);
        e->next = t->b[h];
        t->b[h] = e;
        t->n++;
    }
    pthread_mutex_unlock(&fin_mu);
    return err;
}

PA_API int pa_gc_register_link(void **link, const void *obj) { return link_register(&shorts, link, obj); }
PA_API int pa_gc_register_long_link(void **link, const void *obj) { return link_register(&longs, link, obj); }
PA_API int pa_gc_unregister_link(void **link) { return link_unregister(&shorts, link); }
PA_API int pa_gc_unregister_long_link(void **link) { return link_unregister(&longs, link); }
PA_API int pa_gc_move_link(void **link, void **nl) { return link_move(&shorts, link, nl); }
PA_API int pa_gc_move_long_link(void **link, void **nl) { return link_move(&longs, link, nl); }

/* Steps 1 and 5: clear links to unmarked objects, drop dead cells. */
static void links_process(htab *t)
{
    for (size_t i = 0; i < t->nb; i++)
        for (fentry **pp = &t->b[i]; *pp;) {
            fentry *e = *pp;
            uintptr_t cellobj = gc_base_unlocked(e->key);
            int drop = 0;
            if (cellobj && !gc_is_marked(cellobj))
                drop = 1;                                  /* the cell died */
            else if (!gc_is_marked((uintptr_t)PA_GC_REVEAL(e->hobj))) {
                *(void **)e->key = NULL;
                gc_add(&gc_g.links_cleared, 1);
                drop = 1;
            }
            if (drop) {
                tab_unlink(t, pp);
                pa_fixalloc_free(&recs, e);
            } else {
                pp = &e->next;
            }
        }
}

void gc_finalize_after_mark(void)
{
    links_process(&shorts);
    if (!atomic_load_explicit(&gc_g.find_leak, memory_order_relaxed)) {
        for (size_t i = 0; i < fins.nb; i++)                    /* step 2 */
            for (fentry *e = fins.b[i]; e; e = e->next) {
                if (e->order == PA_GC_NO_ORDER || gc_is_marked(e->key))
                    continue;
                gc_span *s = gc_span_of(e->key);
                if (e->order == PA_GC_IGNORE_SELF && s)
                    gc_mark_obj_children(e->key, e->key, e->key + s->size);
                else
                    gc_mark_obj_children(e->key, 0, 0);
            }
        int unreachable = 0;                                    /* step 3 */
        for (size_t i = 0; i < fins.nb; i++)
            for (fentry *e = fins.b[i]; e; e = e->next) {
                e->ready = !gc_is_marked(e->key);
                unreachable |= e->ready && e->order == PA_GC_UNREACHABLE;
            }
        if (unreachable) {
            for (size_t i = 0; i < fins.nb; i++)
                for (fentry *e = fins.b[i]; e; e = e->next)
                    if (e->ready && e->order == PA_GC_NO_ORDER)
                        gc_mark_obj_children(e->key, 0, 0);
            for (size_t i = 0; i < fins.nb; i++)
                for (fentry *e = fins.b[i]; e; e = e->next)
                    if (e->ready && e->order == PA_GC_UNREACHABLE && gc_is_marked(e->key))
                        e->ready = 0;
        }
        for (size_t i = 0; i < fins.nb; i++)                    /* step 4 */
            for (fentry **pp = &fins.b[i]; *pp;) {
                fentry *e = *pp;
                if (!e->ready) {
                    pp = &e->next;
                    continue;
                }
                tab_unlink(&fins, pp);
                e->next = NULL;
                if (pend_tail)
                    pend_tail->next = e;
                else
                    pend_head = e;
                pend_tail = e;
                npending++;
                gc_set_mark(e->key);
                gc_mark_drain();
            }
        atomic_store_explicit(&pending_atomic, npending, memory_order_relaxed);
    }
    links_process(&longs);
}

void gc_mark_pending(void)
{
    for (fentry *e = pend_head; e; e = e->next)
        gc_set_mark(e->key);
}

void gc_fin_drop(uintptr_t obj)
{
    gc_lock(&fin_mu);
    fentry **pp = tab_find(&fins, obj);
    if (pp) {
        fentry *e = *pp;
        tab_unlink(&fins, pp);
        pa_fixalloc_free(&recs, e);
    }
    pthread_mutex_unlock(&fin_mu);
}

uint64_t gc_fin_pending_count(void)
{
    return atomic_load_explicit(&pending_atomic, memory_order_relaxed);
}

PA_API unsigned pa_gc_invoke_finalizers(void)
{
    if (in_finalizer)
        return 0;
    unsigned n = 0;
    in_finalizer = 1;
    for (;;) {
        void *volatile obj = NULL;     /* on this stack before it leaves the queue */
        gc_lock(&fin_mu);
        fentry *e = pend_head;
        if (e) {
            obj = (void *)e->key;
            pend_head = e->next;
            if (!pend_head)
                pend_tail = NULL;
            npending--;
            atomic_store_explicit(&pending_atomic, npending, memory_order_relaxed);
        }
        pthread_mutex_unlock(&fin_mu);
        if (!e)
            break;
        pa_gc_finalizer_fn fn = e->fn;
        void *arg = e->arg;
        gc_lock(&fin_mu);
        pa_fixalloc_free(&recs, e);
        pthread_mutex_unlock(&fin_mu);
        fn(obj, arg);
        obj = NULL;
        gc_add(&gc_g.fin_run, 1);
        n++;
    }
    in_finalizer = 0;
    return n;
}

PA_API int pa_gc_finalizers_pending(void)
{
    return gc_fin_pending_count() != 0;
}

static void *fin_thread_main(void *arg)
{
    (void)arg;
    (void)gc_thread_register(NULL);
    for (;;) {
        gc_lock(&fin_mu);
        while (!pend_head)
            pthread_cond_wait(&finq_cv, &fin_mu);
        pthread_mutex_unlock(&fin_mu);
        pa_gc_invoke_finalizers();
    }
    return NULL;
}

void gc_fin_after_cycle(int in_alloc)
{
    (void)in_alloc;
    if (!gc_fin_pending_count())
        return;
    int mode = atomic_load_explicit(&gc_g.finalize_mode, memory_order_relaxed);
    if (mode == PA_GC_FINALIZE_THREAD) {
        gc_lock(&fin_mu);
        if (!fin_thread_running) {
            pthread_t t;
            pthread_attr_t at;
            pthread_attr_init(&at);
            pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
            fin_thread_running = pthread_create(&t, &at, fin_thread_main, NULL) == 0;
            pthread_attr_destroy(&at);
        }
        pthread_cond_signal(&finq_cv);
        pthread_mutex_unlock(&fin_mu);
        return;
    }
    if (gc_g.fin_notifier)
        gc_g.fin_notifier();
    if (mode == PA_GC_FINALIZE_AUTO)
        pa_gc_invoke_finalizers();
}

void gc_fin_fork_child(void)
{
    pthread_mutex_init(&fin_mu, NULL);
    pthread_cond_init(&finq_cv, NULL);
    pthread_mutex_init(&recs.mu, NULL);
    fin_thread_running = 0;
}
