/*
 * markq.c - the mark work list's blocks: a free pool and the shared queue
 * of full blocks for parallel markers (markq.h), both behind pool_mu.
 *
 * Blocks come from the OS layer only before the world stops
 * (gc_wblock_reserve, called by the collection before it takes its
 * locks), never while it is stopped: a stopped thread may hold the OS
 * layer's lock (it was seen stopped inside sysmem_alloc, and the
 * collection then waited on that lock for ever). The reserve makes the
 * pool hold twice the last cycle's demand (the most blocks out at once;
 * a get the pool could not serve makes it all the blocks and one more,
 * so the pool doubles), at least 4 per marker; a get
 * the pool cannot serve returns NULL and the push sets the overflow flag
 * (the cycle rescans), so a cycle that outgrows the reserve is slower,
 * never wrong, and the next one has room. Blocks are never returned.
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
static size_t nblocks;                  /* pool_mu: blocks made */
static size_t out, demand;              /* pool_mu: blocks out now; this
                                         * cycle's most out + refused gets */

void gc_wblock_reserve(unsigned markers)
{
    gc_lock(&pool_mu);
    size_t want = 2 * demand, floor = 4 * (size_t)(markers ? markers : 1);
    if (want < floor)
        want = floor;
    demand = out;
    while (nblocks < want) {
        pthread_mutex_unlock(&pool_mu);
        void *mem;
        int err = sysmem_alloc(GC_WBLOCK_BYTES, &gc_g.meta, &mem);
        gc_lock(&pool_mu);
        if (err)
            break;                      /* the cycle overflows instead */
        gc_wblock *b = mem;
        b->next = free_blocks;
        free_blocks = b;
        nblocks++;
    }
    pthread_mutex_unlock(&pool_mu);
}

gc_wblock *gc_wblock_get(void)
{
    gc_lock(&pool_mu);
    gc_wblock *b = free_blocks;
    if (b) {
        free_blocks = b->next;
        if (++out > demand)
            demand = out;
    } else if (demand <= nblocks) {
        demand = nblocks + 1;           /* the next reserve doubles the pool */
    }
    pthread_mutex_unlock(&pool_mu);
    if (!b)
        return NULL;
    b->next = NULL;
    b->n = 0;
    return b;
}

void gc_wblock_put(gc_wblock *b)
{
    gc_lock(&pool_mu);
    b->next = free_blocks;
    free_blocks = b;
    out--;
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
