/*
 * spanmap.c - from any address to its span (Go's heapArena.spans), for
 * free, usable size and the bad-free checks.
 *
 * Two levels over the 47-bit user address space: the first indexes 1 GiB
 * regions (2^17 entries, 1 MiB of static, zero-initialised storage of
 * which only the entries for used gigabytes are ever touched), each
 * pointing to a second level of 2^17 span pointers, one per 8 KiB page
 * (1 MiB from the OS layer, charged to the allocator's metadata; only its
 * pages for used address space become resident). A lookup of any
 * address, even one the allocator never saw, is two loads and never
 * faults: an address above 2^47 or in a gigabyte never used reads NULL.
 *
 * Writers (span creation and release) serialise on `grow_mu` only to make
 * a second level; entries are published with release stores and read with
 * acquire loads, so a reader that finds a span sees it initialised.
 *
 * pa_spanmap_walk visits the map in address order for the span walk
 * (walk.c): each run of consecutive pages mapping to one record is
 * reported once, at its first page.
 */
#include <errno.h>
#include <pthread.h>

#include "malloc/mheap.h"

#define L1_SHIFT PA_SPANMAP_L1_SHIFT
#define L1_COUNT PA_SPANMAP_L1_COUNT
#define L2_COUNT ((size_t)1 << (L1_SHIFT - 13))   /* pages per gigabyte */

typedef pa_spanmap_slot pa_span_slot;

_Atomic(pa_spanmap_slot *) pa_spanmap_l1[PA_SPANMAP_L1_COUNT];   /* mheap.h reads it */
static pthread_mutex_t grow_mu = PTHREAD_MUTEX_INITIALIZER;

/* The second level for gigabyte i, made if needed; NULL on failure. */
static pa_span_slot *level2(pa_mheap *mh, size_t i, int *err)
{
    pa_span_slot *l2 = atomic_load_explicit(&pa_spanmap_l1[i], memory_order_acquire);
    if (l2)
        return l2;
    pthread_mutex_lock(&grow_mu);
    l2 = atomic_load_explicit(&pa_spanmap_l1[i], memory_order_relaxed);
    if (!l2) {
        void *mem;
        *err = sysmem_alloc(L2_COUNT * sizeof(pa_span_slot), &mh->meta, &mem);
        if (*err == 0) {
            l2 = mem;                                 /* zero: no spans */
            atomic_store_explicit(&pa_spanmap_l1[i], l2, memory_order_release);
        }
    }
    pthread_mutex_unlock(&grow_mu);
    return l2;
}

int pa_spanmap_set(pa_mheap *mh, uintptr_t base, size_t npages, pa_span *s)
{
    /* Make every second level first, so that a failure changes nothing. */
    for (uintptr_t a = base; a < base + npages * PA_PAGE; a = ((a >> L1_SHIFT) + 1) << L1_SHIFT) {
        int err = 0;
        if ((a >> L1_SHIFT) >= L1_COUNT)
            return EINVAL;
        if (s && !level2(mh, a >> L1_SHIFT, &err))
            return err ? err : ENOMEM;
    }
    for (size_t k = 0; k < npages; k++) {
        uintptr_t a = base + k * PA_PAGE;
        pa_span_slot *l2 = atomic_load_explicit(&pa_spanmap_l1[a >> L1_SHIFT], memory_order_acquire);
        if (l2)
            atomic_store_explicit(&l2[(a >> 13) & (L2_COUNT - 1)], s, memory_order_release);
    }
    return 0;
}

void pa_spanmap_walk(pa_spanmap_walk_fn fn, void *arg)
{
    /* Second levels are never freed and first-level entries never change
     * once set, so the walk needs no lock. Consecutive pages mapping to
     * one record are one span, reported at its first page; prev (the
     * previous page's record) carries into the next gigabyte when that
     * one has a second level too, since the two are adjacent. */
    pa_span *prev = NULL;
    for (size_t i = 0; i < L1_COUNT; i++) {
        pa_span_slot *l2 = atomic_load_explicit(&pa_spanmap_l1[i], memory_order_acquire);
        if (!l2) {
            prev = NULL;
            continue;
        }
        for (size_t k = 0; k < L2_COUNT; k++) {
            pa_span *s = atomic_load_explicit(&l2[k], memory_order_acquire);
            if (s && s != prev)
                fn(arg, ((uintptr_t)i << L1_SHIFT) + k * PA_PAGE, s);
            prev = s;
        }
    }
}

void pa_spanmap_fork(int phase)
{
    if (phase == 0)
        pthread_mutex_lock(&grow_mu);
    else if (phase == 1)
        pthread_mutex_unlock(&grow_mu);
    else
        pthread_mutex_init(&grow_mu, NULL);
}
