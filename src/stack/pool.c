/*
 * pool.c - the shared pools of free stacks, one per small order (Go's
 * stackpool). A pool is a LIFO list of free records under its own mutex,
 * at most `max` long (options.pool_bytes / the order's stack size): thread
 * caches refill from it and flush half their stacks into it; what a flush
 * would put beyond the bound goes back to the heap (run.c) after the
 * pool's lock is dropped. Free stacks keep their guards faulted and their
 * touched pages resident while pooled; pa_stack_release drains the pools.
 *
 * The large pool (Go's stackLarge) holds free stacks over 64 KiB that the
 * thread caches' large lists evict or flush, in lists by log2 of their
 * pages, at most options.pool_bytes of stack in all; a
 * request takes one of exactly its size (a walk of its bucket), so reuse
 * never hands out a stack larger than asked. Beyond the bound a freed
 * large stack goes back to the heap.
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
    if (o == ST_LARGE) {
        while (list) {
            st_rec *r = list;
            list = r->next;
            st_large_put(a, r);
        }
        return;
    }
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

static unsigned bucket_of(size_t pages)
{
    unsigned b = 0;
    while (b + 1 < ST_LARGE_BUCKETS && ((size_t)2 << b) <= pages)
        b++;
    return b;
}

st_rec *st_large_take(pa_stack_allocator *a, size_t pages)
{
    st_large *l = &a->large;
    size_t bytes = pages * ST_PAGE;
    pthread_mutex_lock(&l->mu);
    st_rec **pp = &l->head[bucket_of(pages)];
    while (*pp && (*pp)->hi - (*pp)->lo != bytes)
        pp = &(*pp)->next;
    st_rec *r = *pp;
    if (r) {
        *pp = r->next;
        r->next = NULL;
        l->count--;
        l->bytes -= bytes;
    }
    pthread_mutex_unlock(&l->mu);
    return r;
}

void st_large_put(pa_stack_allocator *a, st_rec *r)
{
    st_large *l = &a->large;
    size_t bytes = r->hi - r->lo;
    pthread_mutex_lock(&l->mu);
    int keep = l->bytes + bytes <= l->max_bytes;
    if (keep) {
        st_rec **head = &l->head[bucket_of(bytes / ST_PAGE)];
        r->next = *head;
        *head = r;
        l->count++;
        l->bytes += bytes;
    }
    pthread_mutex_unlock(&l->mu);
    if (!keep)
        st_run_put(a, r);
}

static void prepend(st_rec *l, st_rec **all)
{
    while (l) {
        st_rec *n = l->next;
        l->next = *all;
        *all = l;
        l = n;
    }
}

st_rec *st_pool_drain(pa_stack_allocator *a)
{
    st_rec *all = NULL;
    pthread_mutex_lock(&a->large.mu);
    for (unsigned b = 0; b < ST_LARGE_BUCKETS; b++) {
        prepend(a->large.head[b], &all);
        a->large.head[b] = NULL;
    }
    a->large.count = 0;
    a->large.bytes = 0;
    pthread_mutex_unlock(&a->large.mu);
    for (unsigned o = 0; o < ST_ORDERS; o++) {
        st_pool *p = &a->pools[o];
        pthread_mutex_lock(&p->mu);
        st_rec *l = p->head;
        p->head = NULL;
        p->count = 0;
        pthread_mutex_unlock(&p->mu);
        prepend(l, &all);
    }
    return all;
}
