/*
 * run.c - stacks from and to the page heap (Go's stackpoolalloc and
 * stackalloc's large path getting spans from mheap, and their frees).
 *
 * A run is guard_pages + stack pages of the heap, taken with
 * pageheap_alloc. Its guard is made Reserved with sysmem_fault and no
 * caller counter, so the heap's own counters never see it: for the heap
 * the whole run is in use and Ready from pageheap_alloc to pageheap_free.
 * Before the run goes back, the guard is mapped again (sysmem_map, then
 * sysmem_used_ex without huge-page advice), so the heap gets back exactly
 * the Ready pages it handed out; if the OS refuses, the run is never
 * freed (counted in lost_bytes) rather than freed in a state the heap does
 * not expect. guard_bytes counts the guards of every held run.
 *
 * Calls with no lock of this layer held; the record is published in the
 * map (map.c) and the `all` list only once its fields are set, and taken
 * out of both before the run is given back. Both count themselves in
 * a->in_heap for their whole length, so that a fork (fork.c) waits until
 * no run is half taken or half given back; while a fork is being prepared
 * (a->forking, set under threads_mu) they wait on threads_mu first.
 */
#include <errno.h>

#include "stack/stacks.h"

static void all_insert(pa_stack_allocator *a, st_rec *r)
{
    pthread_mutex_lock(&a->all_mu);
    r->all_prev = NULL;
    r->all_next = a->all;
    if (a->all)
        a->all->all_prev = r;
    a->all = r;
    pthread_mutex_unlock(&a->all_mu);
}

static void all_remove(pa_stack_allocator *a, st_rec *r, size_t lost)
{
    pthread_mutex_lock(&a->all_mu);
    if (r->all_prev)
        r->all_prev->all_next = r->all_next;
    else
        a->all = r->all_next;
    if (r->all_next)
        r->all_next->all_prev = r->all_prev;
    a->lost_bytes += lost;
    pthread_mutex_unlock(&a->all_mu);
}

static void heap_enter(pa_stack_allocator *a)
{
    atomic_fetch_add(&a->in_heap, 1);
    while (atomic_load(&a->forking)) {
        atomic_fetch_sub(&a->in_heap, 1);
        pthread_mutex_lock(&a->threads_mu);     /* the forking thread's until done */
        pthread_mutex_unlock(&a->threads_mu);
        atomic_fetch_add(&a->in_heap, 1);
    }
}

static void heap_leave(pa_stack_allocator *a)
{
    atomic_fetch_sub_explicit(&a->in_heap, 1, memory_order_release);
}

static st_rec *run_get(pa_stack_allocator *a, size_t stack_pages, unsigned order, int *err);

st_rec *st_run_get(pa_stack_allocator *a, size_t stack_pages, unsigned order, int *err)
{
    heap_enter(a);
    st_rec *r = run_get(a, stack_pages, order, err);
    heap_leave(a);
    return r;
}

static st_rec *run_get(pa_stack_allocator *a, size_t stack_pages, unsigned order, int *err)
{
    st_rec *r = pa_fixalloc_alloc(&a->recs, err);
    if (!r)
        return NULL;
    size_t npages = a->guard_pages + stack_pages, guard = a->guard_pages * ST_PAGE;
    void *p = pageheap_alloc(a->heap, npages);
    if (!p) {
        *err = errno ? errno : ENOMEM;
        pa_fixalloc_free(&a->recs, r);
        return NULL;
    }
    int e = sysmem_fault(p, guard, NULL);
    if (e) {
        /* Typically ENOMEM: the kernel's limit on mappings. */
        pageheap_free(a->heap, p, npages);
        pa_fixalloc_free(&a->recs, r);
        *err = e;
        return NULL;
    }
    r->lo = (uintptr_t)p + guard;
    r->hi = r->lo + stack_pages * ST_PAGE;
    r->guard_pages = (uint16_t)a->guard_pages;
    r->order = (uint16_t)order;
    r->owner = a;
    r->next = NULL;
    atomic_store_explicit(&r->state, ST_FREE, memory_order_relaxed);
    e = st_map_set(r->lo, r);
    if (e) {
        if (sysmem_map(p, guard, NULL) == 0 && sysmem_used_ex(p, guard, SYSMEM_USED_NO_HUGE) == 0) {
            pageheap_free(a->heap, p, npages);
        } else {
            pthread_mutex_lock(&a->all_mu);
            a->lost_bytes += npages * ST_PAGE;
            pthread_mutex_unlock(&a->all_mu);
        }
        pa_fixalloc_free(&a->recs, r);
        *err = e;
        return NULL;
    }
    all_insert(a, r);
    atomic_fetch_add_explicit(&a->heap_allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->guard_bytes, guard, memory_order_relaxed);
    return r;
}

static void run_put(pa_stack_allocator *a, st_rec *r);

void st_run_put(pa_stack_allocator *a, st_rec *r)
{
    heap_enter(a);
    run_put(a, r);
    heap_leave(a);
}

static void run_put(pa_stack_allocator *a, st_rec *r)
{
    void *p = (void *)st_rec_base(r);
    size_t npages = st_rec_npages(r), guard = r->lo - st_rec_base(r);
    st_map_set(r->lo, NULL);
    int e = sysmem_map(p, guard, NULL);
    if (e == 0)
        e = sysmem_used_ex(p, guard, SYSMEM_USED_NO_HUGE);
    all_remove(a, r, e ? npages * ST_PAGE : 0);
    atomic_fetch_sub_explicit(&a->guard_bytes, guard, memory_order_relaxed);
    pa_fixalloc_free(&a->recs, r);
    if (e)
        return;
    pageheap_free(a->heap, p, npages);
    atomic_fetch_add_explicit(&a->heap_frees, 1, memory_order_relaxed);
}

void st_run_put_list(pa_stack_allocator *a, st_rec *list)
{
    while (list) {
        st_rec *n = list->next;
        st_run_put(a, list);
        list = n;
    }
}
