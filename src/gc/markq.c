/*
 * markq.c - the mark work list's blocks: a free pool and the shared queue
 * of full blocks for parallel markers (markq.h), both behind pool_mu.
 */
#include <pthread.h>
#include <string.h>

#include "gc/gcint.h"
#include "gc/markq.h"

_Atomic int gc_mark_overflow;

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static gc_wblock *free_blocks;          /* pool_mu */
static gc_wblock *shared;               /* pool_mu: blocks with work */
static _Atomic int nshared;

gc_wblock *gc_wblock_get(void)
{
    gc_lock(&pool_mu);
    gc_wblock *b = free_blocks;
    if (b)
        free_blocks = b->next;
    pthread_mutex_unlock(&pool_mu);
    if (!b) {
        void *mem;
        if (sysmem_alloc(GC_WBLOCK_BYTES, &gc_g.meta, &mem) != 0)
            return NULL;
        b = mem;
    }
    b->next = NULL;
    b->n = 0;
    return b;
}

void gc_wblock_put(gc_wblock *b)
{
    gc_lock(&pool_mu);
    b->next = free_blocks;
    free_blocks = b;
    pthread_mutex_unlock(&pool_mu);
}

void gc_markq_share(gc_markq *q)
{
    if (atomic_load_explicit(&nshared, memory_order_relaxed) > 0)
        return;                                 /* work is waiting already */
    gc_wblock *b = q->top, *give;
    if (!b)
        return;
    if (b->next && b->next->n) {
        give = b->next;                         /* a whole older block */
        b->next = give->next;
    } else if (b->n >= 8) {
        /* Split the only block: its older half (for a tree walked depth
         * first, the larger subtrees) goes, the newer half stays. */
        give = gc_wblock_get();
        if (!give)
            return;
        uintptr_t half = b->n / 2;
        memcpy(give->r, b->r, half * sizeof b->r[0]);
        memmove(b->r, b->r + half, (b->n - half) * sizeof b->r[0]);
        give->n = half;
        b->n -= half;
    } else if (b->n >= 1 && b->r[b->n - 1][1] - b->r[b->n - 1][0] > 2 * GC_SCAN_CHUNK) {
        /* One long range (a big array): give its upper half. */
        give = gc_wblock_get();
        if (!give)
            return;
        uintptr_t lo = b->r[b->n - 1][0], hi = b->r[b->n - 1][1];
        uintptr_t mid = lo + ((hi - lo) / 2 & ~(uintptr_t)(sizeof(uintptr_t) - 1));
        b->r[b->n - 1][1] = mid;
        give->r[0][0] = mid;
        give->r[0][1] = hi;
        give->n = 1;
    } else {
        return;
    }
    gc_lock(&pool_mu);
    give->next = shared;
    shared = give;
    atomic_fetch_add_explicit(&nshared, 1, memory_order_release);
    pthread_mutex_unlock(&pool_mu);
}

int gc_markq_waiting(void)
{
    return atomic_load_explicit(&nshared, memory_order_acquire) > 0;
}

int gc_markq_steal(gc_markq *q)
{
    if (atomic_load_explicit(&nshared, memory_order_acquire) == 0)
        return 0;
    gc_lock(&pool_mu);
    gc_wblock *b = shared;
    if (b) {
        shared = b->next;
        atomic_fetch_sub_explicit(&nshared, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&pool_mu);
    if (!b)
        return 0;
    b->next = q->top;
    q->top = b;
    return 1;
}
