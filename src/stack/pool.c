/*
 * pool.c - the shared pools of free stacks, one per small order (Go's
 * stackpool). A pool is a LIFO list of free records under its own mutex,
 * at most `max` long (options.pool_bytes / the order's stack size): thread
 * caches refill from it and flush half their stacks into it; what a flush
 * would put beyond the bound goes back to the heap (run.c) after the
 * pool's lock is dropped. Free stacks keep their guards faulted and their
 * touched pages resident while pooled; pa_stack_release drains the pools.
 */
#include "stack/stacks.h"

st_rec *st_pool_take(pa_stack_allocator *a, unsigned o, size_t n, size_t *got)
{
    st_pool *p = &a->pools[o];
    st_rec *head = NULL, **tail = &head;
    size_t k = 0;
    pthread_mutex_lock(&p->mu);
    while (k < n && p->head) {
        st_rec *r = p->head;
        p->head = r->next;
        *tail = r;
        tail = &r->next;
        k++;
    }
    *tail = NULL;
    p->count -= k;
    pthread_mutex_unlock(&p->mu);
    *got = k;
    return head;
}

void st_pool_put(pa_stack_allocator *a, unsigned o, st_rec *list)
{
    st_pool *p = &a->pools[o];
    pthread_mutex_lock(&p->mu);
    while (list && p->count < p->max) {
        st_rec *r = list;
        list = r->next;
        r->next = p->head;
        p->head = r;
        p->count++;
    }
    pthread_mutex_unlock(&p->mu);
    st_run_put_list(a, list);
}

st_rec *st_pool_drain(pa_stack_allocator *a)
{
    st_rec *all = NULL;
    for (unsigned o = 0; o < ST_ORDERS; o++) {
        st_pool *p = &a->pools[o];
        pthread_mutex_lock(&p->mu);
        st_rec *l = p->head;
        p->head = NULL;
        p->count = 0;
        pthread_mutex_unlock(&p->mu);
        while (l) {
            st_rec *n = l->next;
            l->next = all;
            all = l;
            l = n;
        }
    }
    return all;
}
