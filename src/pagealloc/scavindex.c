/*
 * scavindex.c - the scavenge index: one bit per chunk. See scavindex.h.
 *
 * The bit array covers all 2^26 chunks (8 MiB), reserved at init; words
 * are committed in OS pages as chunks are grown, and only words in
 * [lo_word, hi_word) are ever read or written. find() scans whole words
 * downward, except that the first group it looks at is the 8-chunk group
 * of search (Go reads its index a byte at a time, and so may return a
 * chunk a few above search within that byte).
 */
#include <errno.h>
#include <string.h>

#include "pagealloc/geometry.h"
#include "pagealloc/meta.h"
#include "pagealloc/scavindex.h"

#define INDEX_WORDS (PA_NCHUNKS / 64)
#define INDEX_BYTES ((size_t)INDEX_WORDS * sizeof(uint64_t))

int pa_scav_index_init(pa_scav_index *x)
{
    memset(x, 0, sizeof(*x));
    void *mem;
    int err = sysmem_reserve(NULL, INDEX_BYTES, &mem);
    if (err)
        return err;
    x->words = mem;
    return 0;
}

void pa_scav_index_destroy(pa_scav_index *x, sysmem_stat *stat)
{
    if (x->words)
        sysmem_free(x->words, INDEX_BYTES, stat);
    memset(x, 0, sizeof(*x));
}

static int commit_words(pa_scav_index *x, uint32_t from, uint32_t to, sysmem_stat *stat)
{
    size_t n = (size_t)(to - from) * sizeof(uint64_t);
    int err = pa_meta_commit(x->words + from, n, stat);
    if (!err)
        x->committed += n;
    return err;
}

int pa_scav_index_grow(pa_scav_index *x, uint32_t lo, uint32_t hi, sysmem_stat *stat)
{
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    size_t words_per_page = caps.page_size / sizeof(uint64_t);
    uint32_t need_lo = (uint32_t)(lo / 64 / words_per_page * words_per_page);
    uint32_t need_hi = (uint32_t)(((hi + 63) / 64 + words_per_page - 1) / words_per_page * words_per_page);
    if (need_hi > INDEX_WORDS)
        need_hi = INDEX_WORDS;

    /* The committed words stay one contiguous range: grow it downward
     * and upward as needed (a gap between two grows is committed too). */
    if (x->committed == 0) {
        x->lo_word = x->hi_word = need_lo;
        x->min_chunk = lo;
    }
    if (need_lo < x->lo_word) {
        int err = commit_words(x, need_lo, x->lo_word, stat);
        if (err)
            return err;
        x->lo_word = need_lo;
    }
    if (need_hi > x->hi_word) {
        int err = commit_words(x, x->hi_word, need_hi, stat);
        if (err)
            return err;
        x->hi_word = need_hi;
    }
    if (lo < x->min_chunk)
        x->min_chunk = lo;
    return 0;
}

void pa_scav_index_mark_range(pa_scav_index *x, uintptr_t base, uintptr_t limit)
{
    uint32_t first = pa_chunk_index(base);
    uint32_t last = pa_chunk_index(limit - PA_PAGE_SIZE);
    for (uint32_t w = first / 64; w <= last / 64; w++) {
        uint64_t m = ~(uint64_t)0;
        if (w == first / 64)
            m &= ~(uint64_t)0 << (first % 64);
        if (w == last / 64)
            m &= ~(uint64_t)0 >> (63 - last % 64);
        x->words[w] |= m;
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
    if (x->search == 0 || x->committed == 0)
        return 0;
    uint32_t sc = pa_chunk_index(x->search);
    /* The first word is cut above the end of search's group of 8. */
    uint32_t w = sc / 64;
    uint64_t cut = ((sc % 64) / 8 + 1) * 8;
    uint64_t bits = x->words[w] & (cut == 64 ? ~(uint64_t)0 : (((uint64_t)1 << cut) - 1));
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
        bits = x->words[--w];
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
    x->words[ci / 64] &= ~((uint64_t)1 << (ci % 64));
}
