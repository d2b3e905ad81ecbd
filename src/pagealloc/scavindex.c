/*
 * scavindex.c - the scavenge index: one bit per chunk. See scavindex.h.
 *
 * The bits are a pa_chunkset (chunkset.h): only its committed words,
 * covering the grown chunks, are ever read or written. find() scans whole words
 * downward, except that the first group it looks at is the 8-chunk group
 * of search (Go reads its index a byte at a time, and so may return a
 * chunk a few above search within that byte).
 */
#include <errno.h>
#include <string.h>

#include "pagealloc/geometry.h"
#include "pagealloc/meta.h"
#include "pagealloc/scavindex.h"

int pa_scav_index_init(pa_scav_index *x)
{
    memset(x, 0, sizeof(*x));
    return pa_chunkset_init(&x->bits);
}

void pa_scav_index_destroy(pa_scav_index *x, sysmem_stat *stat)
{
    pa_chunkset_destroy(&x->bits, stat);
    memset(x, 0, sizeof(*x));
}

int pa_scav_index_prepare(pa_scav_index *x, uint32_t lo, uint32_t hi, sysmem_stat *stat)
{
    return pa_chunkset_prepare(&x->bits, lo, hi, stat);
}

void pa_scav_index_publish(pa_scav_index *x, uint32_t lo)
{
    if (x->bits.hi_word == 0 || lo < x->min_chunk)   /* nothing published yet, or lower */
        x->min_chunk = lo;
    pa_chunkset_publish(&x->bits);
}

int pa_scav_index_grow(pa_scav_index *x, uint32_t lo, uint32_t hi, sysmem_stat *stat)
{
    int err = pa_scav_index_prepare(x, lo, hi, stat);
    if (!err)
        pa_scav_index_publish(x, lo);
    return err;
}

void pa_scav_index_mark_range(pa_scav_index *x, uintptr_t base, uintptr_t limit)
{
    uint32_t first = pa_chunk_index(base);
    uint32_t last = pa_chunk_index(limit - PA_PAGE_SIZE);
    if (first / 64 == last / 64) {               /* one word: the common case */
        x->bits.words[first / 64] |= (~(uint64_t)0 << (first % 64)) &
                                     (~(uint64_t)0 >> (63 - last % 64));
    } else {
        for (uint32_t w = first / 64; w <= last / 64; w++) {
            uint64_t m = ~(uint64_t)0;
            if (w == first / 64)
                m &= ~(uint64_t)0 << (first % 64);
            if (w == last / 64)
                m &= ~(uint64_t)0 >> (63 - last % 64);
            x->bits.words[w] |= m;
        }
    }
    uintptr_t top = limit - PA_PAGE_SIZE;
    if (x->search < top) {
        x->search = top;
        x->marked = 1;
    }
}

uint32_t pa_scav_index_find(pa_scav_index *x, unsigned *page)
{
    *page = 0;
    if (x->search == 0 || x->bits.hi_word == 0)
        return 0;
    uint32_t sc = pa_chunk_index(x->search);
    /* The first word is cut above the end of search's group of 8. */
    uint32_t w = sc / 64;
    uint64_t cut = ((sc % 64) / 8 + 1) * 8;
    uint64_t bits = x->bits.words[w] & (cut == 64 ? ~(uint64_t)0 : (((uint64_t)1 << cut) - 1));
    uint32_t stop = x->min_chunk / 8 * 8 / 64;   /* lowest word holding a heap group */
    for (;;) {
        if (w == stop)
            bits &= ~(uint64_t)0 << (x->min_chunk / 8 * 8 % 64);
        if (bits)
            break;
        if (w == stop) {
            if (!x->marked)
                x->search = 0;
            return 0;
        }
        bits = x->bits.words[--w];
    }
    uint32_t ci = w * 64 + 63 - (uint32_t)__builtin_clzll(bits);
    if (ci == sc) {
        *page = pa_chunk_page(x->search);
        return ci;
    }
    uintptr_t top = pa_chunk_base(ci) + PA_CHUNK_SIZE - PA_PAGE_SIZE;
    if (x->marked) {
        x->search = top;
        x->marked = 0;
    } else if (top < x->search) {
        x->search = top;
    }
    *page = PA_CHUNK_PAGES - 1;
    return ci;
}

void pa_scav_index_clear(pa_scav_index *x, uint32_t ci)
{
    x->bits.words[ci / 64] &= ~((uint64_t)1 << (ci % 64));
}
