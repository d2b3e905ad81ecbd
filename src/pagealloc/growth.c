/*
 * growth.c - how the page allocator grows (docs/pagealloc.md, "Growth"),
 * in three steps, so that a caller whose other threads use the allocator
 * under a lock makes no system call under that lock (the heap's shard
 * lock, docs/heap.md "Growth and arenas"; Go's sysGrow likewise only maps
 * and its update runs under the heap lock):
 *
 *   prepare  commits every piece of metadata the new range needs (summary
 *            pages of every level, chunk-bitmap blocks, the free-chunk and
 *            scavenge index words, a larger in-use array): system calls,
 *            and no write to anything an allocation, a free, a scavenge or
 *            the checker reads, except one kind of store that is atomic
 *            and harmless to a concurrent reader (below);
 *   publish  makes the range part of the heap: memory writes only, under
 *            the caller's lock; it cannot fail;
 *   finish   unmaps the in-use array that publish replaced (a system
 *            call, after the lock: no reader can hold the old array then).
 *
 * Who may run what at once. Prepare, publish and finish of one allocator
 * are serialised by the caller (the heap's grow_mu) and prepare is always
 * followed by publish and finish; allocations, frees, scavenges and checks
 * (under the caller's lock) may run during prepare and finish, never
 * during publish. What prepare writes and who reads it:
 *   - mappings of summary pages, chunk blocks and index words that were
 *     Reserved: no reader touches a page before it is mapped (below);
 *   - committed[l] bits, read by a search (tree.h, pa_leaf_near) to learn
 *     whether a leaf beside a grown chunk is mapped: set by an atomic OR
 *     after the mapping exists, read atomically; a reader that sees the
 *     new bit reads a zero leaf, i.e. an ungrown chunk, which it is;
 *   - prepare-private fields: new chunk blocks (on the `pending` list,
 *     which publish moves into chunks[]: a free's validation reads any
 *     slot, and a plain read there costs core W1 0.28 % fewer
 *     instructions than an atomic one), the chunksets' prepared word ranges, the in-use
 *     ranges' spare array, the metadata stat (atomic).
 * Summary entries that cover old and new chunks (upper levels, and leaves
 * in a block of 8 shared with grown chunks) live on pages that are already
 * committed: prepare does not write them; publish updates them.
 *
 * A failed prepare returns the error and leaves the heap as it was: what
 * it committed stays committed (zero) and counted, and a later prepare
 * finds it and does not commit it again (pagealloc.h, pagealloc_grow).
 */
#include <errno.h>

#include "pagealloc/internal.h"
#include "pagealloc/tree.h"
#include "pagealloc/debug.h"
#include "pagealloc/heapapi.h"

/* Commit the pages of level l's array that hold entries [lo, hi). */
static int commit_summaries(pagealloc *pa, int l, uintptr_t lo, uintptr_t hi)
{
    uintptr_t first = lo * sizeof(pa_sum) / pa->os_page;
    uintptr_t last = (hi * sizeof(pa_sum) + pa->os_page - 1) / pa->os_page;
    uint64_t *bits = pa->committed[l];
    for (uintptr_t p = first; p < last;) {
        if (__atomic_load_n(&bits[p / 64], __ATOMIC_RELAXED) >> (p % 64) & 1) {
            p++;
            continue;
        }
        uintptr_t q = p;
        while (q < last && !(__atomic_load_n(&bits[q / 64], __ATOMIC_RELAXED) >> (q % 64) & 1))
            q++;
        int err = pa_meta_commit((char *)pa->sum[l] + p * pa->os_page,
                                 (q - p) * pa->os_page, &pa->stat);
        if (err)
            return err;
        /* Mapped: a search may now read these pages (zero: ungrown). */
        for (uintptr_t r = p; r < q; r++)
            __atomic_fetch_or(&bits[r / 64], (uint64_t)1 << (r % 64), __ATOMIC_RELEASE);
        p = q;
    }
    return 0;
}

/* A chunk block prepared for slot `slot` of chunks[], waiting for
 * publish: its first two words link the pending list; publish zeroes them
 * (they are the first chunk's bitmap words) as it stores the block. */
typedef struct pa_pending {
    struct pa_pending *next;
    uintptr_t slot;
} pa_pending;

static int pending_block(const pagealloc *pa, uint32_t slot)
{
    for (const pa_pending *b = pa->pending; b; b = b->next)
        if (b->slot == slot)
            return 1;
    return 0;
}

/* Store the pending blocks into chunks[] (memory writes only). */
static void publish_blocks(pagealloc *pa)
{
    for (pa_pending *b = pa->pending, *n; b; b = n) {
        n = b->next;
        uintptr_t slot = b->slot;
        *b = (pa_pending){ 0 };
        pa->chunks[slot] = (pa_chunk *)(void *)b;
    }
    pa->pending = NULL;
}

/* Commit the metadata of chunks [base, limit): summaries (whole blocks
 * of 8 entries at every level, all of level 0), chunk blocks, the
 * free-chunk index, the scavenged-chunk set and the scavenge index words. */
static int commit_chunks(pagealloc *pa, uintptr_t base, uintptr_t limit)
{
    for (int l = 0; l < PA_LEVELS; l++) {
        unsigned shift = pa_level_shift(l);
        uintptr_t lo = base >> shift, hi = ((limit - 1) >> shift) + 1;
        if (l == 0) {
            lo = 0;
            hi = (uintptr_t)1 << PA_L0_BITS;
        } else {
            lo &= ~(uintptr_t)7;
            hi = (hi + 7) & ~(uintptr_t)7;
        }
        int err = commit_summaries(pa, l, lo, hi);
        if (err)
            return err;
    }
    unsigned l2_shift = PA_ADDR_BITS - PA_CHUNK_SHIFT - PA_L1_BITS;
    for (uint32_t i = pa_chunk_index(base) >> l2_shift;
         i <= pa_chunk_index(limit - 1) >> l2_shift; i++) {
        if (pa->chunks[i] || pending_block(pa, i))
            continue;
        void *mem;
        int err = sysmem_alloc(PA_CHUNK_BLOCK_BYTES, &pa->stat, &mem);
        if (err)
            return err;
        pa_pending *b = mem;
        b->next = pa->pending;
        b->slot = i;
        pa->pending = b;
    }
    int err = pa_free_index_prepare(&pa->free_idx, pa_chunk_index(base), pa_chunk_index(limit),
                                    &pa->stat);
    if (!err)
        err = pa_chunkset_prepare(&pa->scav_chunks, pa_chunk_index(base), pa_chunk_index(limit),
                                  &pa->stat);
    if (err)
        return err;
    return pa_scav_index_prepare(&pa->scav, pa_chunk_index(base), pa_chunk_index(limit),
                                 &pa->stat);
}

int pa_grow_prepare(pagealloc *pa, uintptr_t base, size_t size)
{
    if (!pa || pa->magic != PA_MAGIC)
        return EINVAL;
    /* Whole chunks only: rounding out would hand out addresses the caller
     * never gave (in unbacked mode, memory it may not own). */
    if (size == 0 || base == 0 || (base | size) & (PA_CHUNK_SIZE - 1) ||
        base >= PA_MAX_ADDR || size > PA_MAX_ADDR - base)
        return EINVAL;
    uintptr_t limit = base + size;
    /* in_use changes only in publish, which cannot run now: a read. */
    if (pa_ranges_overlaps(&pa->in_use, base, limit))
        return EEXIST;
    int err = commit_chunks(pa, base, limit);
    /* Last, so that a failure above leaves the in-use array alone. */
    if (!err)
        err = pa_ranges_prepare(&pa->in_use, &pa->stat);
    return err;
}

void pa_grow_publish(pagealloc *pa, uintptr_t base, size_t size)
{
    uintptr_t limit = base + size;
    uint32_t sc = pa_chunk_index(base), ec = pa_chunk_index(limit);
    publish_blocks(pa);
    pa_free_index_publish(&pa->free_idx);
    pa_chunkset_publish(&pa->scav_chunks);
    pa_scav_index_publish(&pa->scav, sc);
    if (pa->end == 0 || sc < pa->start)
        pa->start = sc;
    if (ec > pa->end)
        pa->end = ec;
    pa_ranges_add(&pa->in_use, base, limit);
    if (base < pa->search)
        pa->search = base;
    pa_hints_lower_all(pa, pa->search);     /* new runs may join older ones */
    for (uint32_t c = sc; c < ec; c++)
        pa_bits_set_all(pa_chunk_of(pa, c)->scav);   /* new memory is released */
    pa_scav_chunks_set_range(&pa->scav_chunks, sc, ec);
    pa->chunk_count += ec - sc;
    pa_update(pa, base, (limit - base) >> PA_PAGE_SHIFT, 1, 0);
    PA_DEBUG_AFTER(pa, "pagealloc_grow", base, (limit - base) >> PA_PAGE_SHIFT);
}

void pa_grow_finish(pagealloc *pa)
{
    pa_ranges_release_old(&pa->in_use, &pa->stat);
}

PA_API int pagealloc_grow(pagealloc *pa, uintptr_t base, size_t size)
{
    int err = pa_grow_prepare(pa, base, size);
    if (err)
        return err;
    pa_grow_publish(pa, base, size);
    pa_grow_finish(pa);
    return 0;
}
