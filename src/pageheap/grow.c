/*
 * grow.c - how the heap gets memory: arenas of address space reserved at
 * Go-like hints, mapped a chunk multiple at a time and handed to a shard's
 * allocator, and the chunk map that says which shard owns each chunk.
 */
#include <errno.h>
#include <string.h>

#include "pagealloc/heapapi.h"
#include "pageheap/heap.h"

/* Set the chunks of [base, base+size) to v. grow_mu held. */
static int map_set(pageheap *h, uintptr_t base, size_t size, uint8_t v)
{
    for (uintptr_t a = base; a < base + size; a += PH_CHUNK) {
        size_t ci = a >> 22;
        uint8_t *l2 = atomic_load_explicit(&h->map[ci >> PH_MAP_BITS], memory_order_relaxed);
        if (!l2) {
            void *mem;
            int err = sysmem_alloc(PH_MAP_L2, &h->meta_stat, &mem);
            if (err)
                return err;
            l2 = mem;
            atomic_store_explicit(&h->map[ci >> PH_MAP_BITS], l2, memory_order_release);
        }
        __atomic_store_n(&l2[ci & (PH_MAP_L2 - 1)], v, __ATOMIC_RELEASE);
    }
    return 0;
}

/* Process-wide arena hint, shared by all heaps (Go's arena hints). */
static _Atomic uintptr_t g_hint = (uintptr_t)0x00c000000000;

/* Reserve size bytes (a chunk multiple), chunk aligned. grow_mu held. */
static int reserve_arena(pageheap *h, size_t size, uintptr_t *out)
{
    int err;
    ph_range *r = pa_fixalloc_alloc(&h->range_recs, NULL);
    if (!r)
        return ENOMEM;
    *r = (ph_range){ 0 };
    for (int i = 0; i < 16; i++) {
        uintptr_t hint = atomic_fetch_add(&g_hint, size);
        if (hint >= PH_ADDR_LIMIT || size > PH_ADDR_LIMIT - hint)
            break;
        void *p;
        if (sysmem_reserve((void *)hint, size, &p) != 0)
            break;
        if ((uintptr_t)p == hint) {
            r->base = hint;
            r->size = size;
            goto done;
        }
        /* Somewhere else: give it back and try the next hint. If it
         * cannot be given back now, keep it (freed at delete). */
        if (sysmem_free(p, size, NULL) != 0) {
            ph_range *k = pa_fixalloc_alloc(&h->range_recs, NULL);
            if (k) {
                *k = (ph_range){ .base = (uintptr_t)p, .size = size, .next = h->regions };
                h->regions = k;
                ctr_add(&h->reserved_total, size);
            }
        }
    }
    /* Anywhere, with room to align to a chunk. */
    void *p;
    err = sysmem_reserve(NULL, size + PH_CHUNK, &p);
    if (err) {
        pa_fixalloc_free(&h->range_recs, r);
        return err;
    }
    r->base = (uintptr_t)p;
    r->size = size + PH_CHUNK;
done:
    if (h->runcache && (err = ph_rm_reserve(h, r)) != 0) {
        (void)sysmem_free((void *)r->base, r->size, NULL);
        pa_fixalloc_free(&h->range_recs, r);
        return err;
    }
    r->next = h->regions;
    h->regions = r;
    ctr_add(&h->reserved_total, r->size);
    *out = (r->base + PH_CHUNK - 1) & ~(uintptr_t)(PH_CHUNK - 1);
    return 0;
}

/* Give shard s at least npages more pages: map the next chunks of the
 * arena and grow s's allocator with them. No lock held. Every system call
 * is made under grow_mu alone; the shard lock is held only to publish. */
int ph_grow(pageheap *h, unsigned si, size_t npages)
{
    ph_shard *s = &h->shards[si];
    size_t bytes = (npages * PH_PAGE + PH_CHUNK - 1) & ~(PH_CHUNK - 1);
    pthread_mutex_lock(&h->grow_mu);
    ph_range *g = pa_fixalloc_alloc(&h->range_recs, NULL);
    if (!g) {
        pthread_mutex_unlock(&h->grow_mu);
        return ENOMEM;
    }
    if (h->arena_end - h->arena_cur < bytes) {
        size_t rsz = (bytes + h->arena_bytes - 1) / h->arena_bytes * h->arena_bytes;
        uintptr_t p;
        int err = reserve_arena(h, rsz, &p);
        if (err) {
            pthread_mutex_unlock(&h->grow_mu);
            pa_fixalloc_free(&h->range_recs, g);
            return ENOMEM;
        }
        if (p == h->arena_end && h->arena_end != 0) {
            h->arena_end += rsz;          /* contiguous with the current arena */
        } else {
            h->arena_cur = p;
            h->arena_end = p + rsz;
        }
    }
    /* With several shards, grow by at least PH_GROW_STEP (docs/heap.md
     * "Growth and arenas"), but never past the current arena: threads on
     * different shards otherwise take grow_mu, and make a mapping system
     * call under it, once per 4 MiB each, and wait for each other (W6
     * W2 at two threads: 391 grows a thread, most of the futex waits).
     * One shard keeps Go's chunk-multiple growth (and so Go's answers). */
    if (h->nshards > 1 && bytes < PH_GROW_STEP) {
        size_t room = h->arena_end - h->arena_cur;
        bytes = room < PH_GROW_STEP ? room : PH_GROW_STEP;
    }
    uintptr_t base = h->arena_cur;
    *g = (ph_range){ .base = base, .size = bytes, .shard = si };
    int err = h->runcache ? ph_rm_grow(h, g) : 0;
    if (!err) {
        err = sysmem_map((void *)base, bytes, &h->heap_stat);
        if (err)
            ph_rm_drop(h, g);
    }
    if (!err) {
        err = map_set(h, base, bytes, (uint8_t)(si + 1));
        /* The allocator's metadata for the new range (summary pages,
         * chunk bitmaps, index words, a larger in-use array), committed
         * here under grow_mu, not under the shard lock: the shard's
         * threads go on allocating and freeing meanwhile (growth.c says
         * why that is safe; grow_mu serialises this shard's grows). A
         * failed prepare changed nothing they read. */
        if (!err)
            err = pa_grow_prepare(s->pa, base, bytes);
        if (err) {
            (void)map_set(h, base, bytes, 0);
            (void)sysmem_fault((void *)base, bytes, &h->heap_stat);
            ph_rm_drop(h, g);
        }
    }
    if (!err) {
        /* Publish: memory writes only, the one step under the shard lock
         * (no system call under it: docs/heap.md, "Locks and their
         * order"). Then unmap the in-use array it replaced, if any. */
        ph_lock_take(&s->mu);
        pa_grow_publish(s->pa, base, bytes);
        ph_lock_give(&s->mu);
        pa_grow_finish(s->pa);
    }
    /* The metadata stat is re-read after success and failure alike (a
     * failed prepare keeps what it committed, counted; pagealloc.h):
     * pa_metadata_bytes is one load, not pagealloc_get_stats' walk over
     * every grown chunk, which cost W2 2.6 %. */
    atomic_store_explicit(&s->meta, pa_metadata_bytes(s->pa), memory_order_relaxed);
    if (err) {
        pthread_mutex_unlock(&h->grow_mu);
        pa_fixalloc_free(&h->range_recs, g);
        return ENOMEM;
    }
    h->arena_cur += bytes;
    if (h->huge == PAGEHEAP_HUGE_ALWAYS)
        (void)sysmem_huge_page((void *)base, bytes);
    g->next = h->grown;
    h->grown = g;
    pthread_mutex_unlock(&h->grow_mu);
    ctr_add(&h->grows, 1);
    ctr_add(&h->grow_bytes, bytes);
    return 0;
}


void ph_grow_destroy(pageheap *h)
{
    for (ph_range *g = h->grown, *n; g; g = n) {
        n = g->next;
        ph_rm_drop(h, g);
        pa_fixalloc_free(&h->range_recs, g);
    }
    h->grown = NULL;
    for (ph_range *r = h->regions, *n; r; r = n) {
        n = r->next;
        (void)sysmem_free((void *)r->base, r->size, &h->heap_stat);
        if (r->rm)
            (void)sysmem_free(r->rm, r->rm_bytes, &h->meta_stat);
        pa_fixalloc_free(&h->range_recs, r);
    }
    h->regions = NULL;
    for (size_t i = 0; i < PH_MAP_L2; i++) {
        uint8_t *l2 = atomic_load(&h->map[i]);
        if (l2)
            (void)sysmem_free(l2, PH_MAP_L2, &h->meta_stat);
        atomic_store(&h->map[i], NULL);
    }
    ph_rm_destroy(h);
}
