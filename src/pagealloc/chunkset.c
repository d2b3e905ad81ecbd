/*
 * chunkset.c - storage of a bit per chunk (chunkset.h): reserving the
 * array and committing the words of grown chunks, one contiguous range.
 */
#include <string.h>

#include "pagealloc/geometry.h"
#include "pagealloc/meta.h"
#include "pagealloc/chunkset.h"

#define INDEX_WORDS (PA_NCHUNKS / 64)
#define INDEX_BYTES ((size_t)INDEX_WORDS * sizeof(uint64_t))

int pa_chunkset_init(pa_chunkset *x)
{
    memset(x, 0, sizeof(*x));
    void *mem;
    int err = sysmem_reserve(NULL, INDEX_BYTES, &mem);
    if (err)
        return err;
    x->words = mem;
    return 0;
}

void pa_chunkset_destroy(pa_chunkset *x, sysmem_stat *stat)
{
    if (x->words)
        sysmem_free(x->words, INDEX_BYTES, stat);
    memset(x, 0, sizeof(*x));
}

static int commit_words(pa_chunkset *x, uint32_t from, uint32_t to, sysmem_stat *stat)
{
    size_t n = (size_t)(to - from) * sizeof(uint64_t);
    int err = pa_meta_commit(x->words + from, n, stat);
    if (!err)
        x->committed += n;
    return err;
}

int pa_chunkset_prepare(pa_chunkset *x, uint32_t lo, uint32_t hi, sysmem_stat *stat)
{
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    size_t words_per_page = caps.page_size / sizeof(uint64_t);
    uint32_t need_lo = (uint32_t)(lo / 64 / words_per_page * words_per_page);
    uint32_t need_hi = (uint32_t)(((hi + 63) / 64 + words_per_page - 1) / words_per_page * words_per_page);
    if (need_hi > INDEX_WORDS)
        need_hi = INDEX_WORDS;
    /* One contiguous committed range, grown downward and upward. */
    if (x->committed == 0)
        x->prep_lo = x->prep_hi = need_lo;
    if (need_lo < x->prep_lo) {
        int err = commit_words(x, need_lo, x->prep_lo, stat);
        if (err)
            return err;
        x->prep_lo = need_lo;
    }
    if (need_hi > x->prep_hi) {
        int err = commit_words(x, x->prep_hi, need_hi, stat);
        if (err)
            return err;
        x->prep_hi = need_hi;
    }
    return 0;
}
