/*
 * multichunk.c - allocation and free of a run over two chunks or more in
 * one walk over its chunks (multichunk.h; docs/pagealloc.md, "Multi-chunk
 * allocation and free, measured").
 *
 * Why a walk of its own. Core W3 (512-4096 pages a request) covers about
 * 3.5 chunks wholly per allocation and per free. The general path walked
 * them twice (bits, then leaves and run counts in pa_update_run_chunks,
 * which also decided alloc-or-free per chunk at run time); here each
 * wholly covered chunk gets its bitmap, leaf and run counts in one step
 * of one loop specialised for allocation or free, and the free-chunk index
 * bits of all of them in one masked write per index word.
 *
 * State after a call is exactly that of the general path (pagealloc.c's
 * bits, then tree.h's pa_update_run): leaves exact, run counts exact,
 * index bits exact, ancestors of every touched block of 8 leaves dirty.
 *
 * Chunks of one block of PA_L2_CHUNKS lie side by side, and so do their
 * run counts (internal.h), so the walk steps two pointers and looks the
 * block up again only at a block edge.
 *
 * Callers serialise calls on pa.
 */
#include <string.h>

#include "pagealloc/multichunk.h"
#include "pagealloc/tree.h"
#include "pagealloc/heapapi.h"

/* Mark the ancestors of the blocks of 8 leaves that [sc, ec] touches; a
 * leaf has no dirty bit of its own (tree.c). */
static inline void mark_blocks(pagealloc *pa, uint32_t sc, uint32_t ec)
{
    uint32_t b0 = sc >> PA_LEVEL_BITS, b1 = ec >> PA_LEVEL_BITS;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Usually every block's level-3 entry is dirty already (large runs'
     * searches read no upper level), and then so is every ancestor (the
     * dirty set is closed upward): one test of their bits, read as one
     * 64-bit word of dirty[3] when they share it. */
    if (b0 >> 6 == b1 >> 6) {
        uint64_t w, m = (~(uint64_t)0 >> (63 - (b1 - b0))) << (b0 & 63);
        memcpy(&w, pa->dirty[PA_LEVELS - 2] + (size_t)(b0 >> 6) * 8, sizeof w);
        if ((w & m) == m)
            return;
    }
#endif
    for (uint32_t b = b0; b <= b1; b++)
        pa_mark_ancestors(pa, (uintptr_t)b << PA_LEVEL_BITS);
}

/* An end piece's new leaf s; what tree.h's pa_put_leaf does, knowing
 * which side can be a wholly free chunk. After an allocation s cannot
 * (the piece is allocated) and the old leaf could; after a free the old
 * one cannot (the piece was allocated) and s could. */
static inline void put_leaf_after_alloc(pagealloc *pa, uint32_t c, pa_sum s)
{
    pa_sum *leaf = pa->sum[PA_LEVELS - 1];
    if (leaf[c] == PA_SUM_FREE_CHUNK)
        pa_free_index_set(&pa->free_idx, c, 0);
    leaf[c] = s;
}
static inline void put_leaf_after_free(pagealloc *pa, uint32_t c, pa_sum s)
{
    pa->sum[PA_LEVELS - 1][c] = s;
    if (s == PA_SUM_FREE_CHUNK)
        pa_free_index_set(&pa->free_idx, c, 1);
}

/* The offset in the run (in pages) of chunk ci's first page, ci > sc or
 * first = 0: worked out when a chunk has scavenged pages, the rare case,
 * rather than kept up in the loop (one live value less there). */
static inline size_t chunk_off(uint32_t sc, unsigned first, uint32_t ci)
{
    return (size_t)(ci - sc) * PA_CHUNK_PAGES - first;
}

/* After an end piece's allocation in chunk ci, whose bit says it may
 * hold scavenged pages: clear the bit if it holds none now (its eight
 * words were just read, so in cache), so that later allocations there
 * skip them (scavchunks.h). */
static inline void scav_chunk_done(pa_scav_chunks *sx, const pa_chunk *c, uint32_t ci)
{
    if (!pa_bits_any_set(c->scav))
        pa_scav_chunks_clear(sx, ci);
}

/* pa_alloc_chunks' body, in two copies: may_scav is a constant, 0 when no
 * chunk of the run may hold a scavenged page (scavchunks.h; the common
 * case once memory has been used), and then no scavenged bitmap is read
 * and scav_bits stays untouched (the caller reads it only when some page
 * was scavenged, heapapi.h). One copy with may_scav a variable cost core
 * W3 12 instructions an allocation in register moves. */
static inline __attribute__((always_inline))
size_t alloc_chunks(pagealloc *pa, uintptr_t base, size_t npages, uint64_t *scav_bits,
                    const int may_scav)
{
    uintptr_t top = base + (npages - 1) * PA_PAGE_SIZE;
    uint32_t sc = pa_chunk_index(base), ec = pa_chunk_index(top);
    unsigned first = pa_chunk_page(base), last = pa_chunk_page(top) + 1;
    /* Wholly covered chunks: [ia, ib). */
    uint32_t ia = sc + (first != 0), ib = ec + (last == PA_CHUNK_PAGES);
    pa_sum *leaf = pa->sum[PA_LEVELS - 1];
    pa_scav_chunks *sx = &pa->scav_chunks;
    size_t scav = 0;
    if (scav_bits && may_scav)
        memset(scav_bits, 0, pa_scav_words(npages) * sizeof(uint64_t));

    /* Each end piece has its bits, then its leaf, in one step (its chunk
     * looked up once; the values live no longer, which spares gcc
     * spills: 1 % of W3's instructions). The piece cut a free run
     * reaching the chunk's edge: the leaf follows from the old one (the
     * bitmap already set, as a rescan expects). */
    if (first) {
        pa_chunk *fc = pa_chunk_of(pa, sc);
        if (!may_scav) {
            pa_bits_set_tail(fc->alloc, first);
        } else {
            if (pa_bits_set_test_tail(fc->alloc, fc->scav, first))
                scav += pa_bits_take(fc->scav, first, PA_CHUNK_PAGES - first, scav_bits, 0);
            scav_chunk_done(sx, fc, sc);
        }
        put_leaf_after_alloc(pa, sc, pa_sum_after_alloc_tail(fc->alloc, leaf[sc],
                                                             pa_runs_at(fc, sc), first));
    }
    if (ia < ib) {
        /* Every covered chunk was wholly free: its leaf was
         * PA_SUM_FREE_CHUNK, now 0; its counts become none. Its
         * scavenged bitmap is read only if its chunk's bit says it may
         * hold a scavenged page; afterwards it holds none. */
        pa_chunk *c = pa_chunk_of(pa, ia);
        pa_runcount *rc = pa_runs_at(c, ia);
        for (uint32_t ci = ia;;) {
            pa_bits_set_all(c->alloc);
            if (may_scav && pa_bits_any_set(c->scav))
                scav += pa_bits_take(c->scav, 0, PA_CHUNK_PAGES, scav_bits,
                                     chunk_off(sc, first, ci));
            leaf[ci] = 0;
            pa_run_counts_flip(rc, 0);
            if (++ci == ib)
                break;
            if ((ci & (PA_L2_CHUNKS - 1)) == 0) {
                c = pa_chunk_of(pa, ci);
                rc = pa_runs_at(c, ci);
            } else {
                c++;
                rc++;
            }
        }
        pa_free_index_set_range(&pa->free_idx, ia, ib, 0);
        if (may_scav)
            pa_scav_chunks_clear_range(sx, ia, ib);
    }
    if (last < PA_CHUNK_PAGES) {
        pa_chunk *lc = pa_chunk_of(pa, ec);
        if (!may_scav) {
            pa_bits_set_head(lc->alloc, last);
        } else {
            if (pa_bits_set_test_head(lc->alloc, lc->scav, last))
                scav += pa_bits_take(lc->scav, 0, last, scav_bits, chunk_off(sc, first, ec));
            scav_chunk_done(sx, lc, ec);
        }
        put_leaf_after_alloc(pa, ec, pa_sum_after_alloc_head(lc->alloc, leaf[ec],
                                                             pa_runs_at(lc, ec), last));
    }
    mark_blocks(pa, sc, ec);
    return scav * PA_PAGE_SIZE;
}

size_t pa_alloc_chunks(pagealloc *pa, uintptr_t base, size_t npages, uint64_t *scav_bits)
{
    uint32_t sc = pa_chunk_index(base);
    uint32_t ec = pa_chunk_index(base + (npages - 1) * PA_PAGE_SIZE);
    if (__builtin_expect(!pa_scav_chunks_any(&pa->scav_chunks, sc, ec + 1), 1))
        return alloc_chunks(pa, base, npages, scav_bits, 0);
    return alloc_chunks(pa, base, npages, scav_bits, 1);
}

int pa_free_chunks(pagealloc *pa, uintptr_t base, size_t npages, unsigned *below_out,
                   unsigned *above_out)
{
    uintptr_t top = base + (npages - 1) * PA_PAGE_SIZE;
    uint32_t sc = pa_chunk_index(base), ec = pa_chunk_index(top);
    unsigned first = pa_chunk_page(base), last = pa_chunk_page(top) + 1;
    uint32_t ia = sc + (first != 0), ib = ec + (last == PA_CHUNK_PAGES);
    pa_sum *leaf = pa->sum[PA_LEVELS - 1];
    pa_chunk *fc = NULL, *lc = NULL;

    /* Check and clear the pieces in address order; a chunk with an
     * allocated page has its block of chunks (pa_try_chunk_of). */
    if (first) {
        fc = pa_try_chunk_of(pa, sc);
        if (!fc || !pa_bits_clear_if_set_tail(fc->alloc, first))
            return 0;
    }
    uint32_t ci = ia;
    if (ia < ib) {
        /* Every covered chunk must be wholly allocated (leaf 0); it
         * becomes wholly free. A failure is undone below. */
        pa_chunk *c = pa_try_chunk_of(pa, ia);
        pa_runcount *rc = c ? pa_runs_at(c, ia) : NULL;
        for (;;) {
            if (!c || !pa_bits_all_set(c->alloc))
                goto undo;
            pa_bits_clear_all(c->alloc);
            leaf[ci] = PA_SUM_FREE_CHUNK;
            pa_run_counts_flip(rc, 1);
            if (++ci == ib)
                break;
            if ((ci & (PA_L2_CHUNKS - 1)) == 0) {
                c = pa_try_chunk_of(pa, ci);
                rc = c ? pa_runs_at(c, ci) : NULL;
            } else {
                c++;
                rc++;
            }
        }
    }
    if (last < PA_CHUNK_PAGES) {
        lc = pa_try_chunk_of(pa, ec);
        if (!lc || !pa_bits_clear_if_set_head(lc->alloc, last))
            goto undo;
    }
    if (ia < ib)
        pa_free_index_set_range(&pa->free_idx, ia, ib, 1);

    /* The free pages next to the range, as pagealloc.c's free_cleared
     * finds them: an allocated page in the same bitmap word, else the old
     * leaf (its start or end reaching the range), else a count. */
    unsigned below = 0, above = 0;
    if (first) {
        uint64_t xb = first % 64 ? fc->alloc[first / 64] << (64 - first % 64) : 0;
        below = xb ? (unsigned)__builtin_clzll(xb)
              : pa_leaf_start(leaf[sc]) >= first ? first
              : pa_bits_free_below(fc->alloc, first);
        put_leaf_after_free(pa, sc, pa_sum_after_free(leaf[sc], pa_runs_at(fc, sc), first,
                                                    PA_CHUNK_PAGES - first, below, 0));
    }
    if (last < PA_CHUNK_PAGES) {
        uint64_t xa = lc->alloc[last / 64] >> (last % 64);
        above = xa ? (unsigned)__builtin_ctzll(xa)
              : pa_leaf_end(leaf[ec]) >= PA_CHUNK_PAGES - last ? PA_CHUNK_PAGES - last
              : pa_bits_free_above(lc->alloc, last);
        put_leaf_after_free(pa, ec, pa_sum_after_free(leaf[ec], pa_runs_at(lc, ec), 0, last, 0,
                                                    above));
    }
    mark_blocks(pa, sc, ec);
    *below_out = below;
    *above_out = above;
    return 1;

undo:
    /* [ia, ci) were wholly allocated: set them again, leaf 0, no runs. */
    for (uint32_t cj = ia; cj < ci; cj++) {
        pa_bits_set_all(pa_chunk_of(pa, cj)->alloc);
        leaf[cj] = 0;
        pa_run_counts_flip(pa_runs_of(pa, cj), 0);   /* freed just above */
    }
    if (first)
        pa_bits_set_range(fc->alloc, first, PA_CHUNK_PAGES - first);
    return 0;
}
