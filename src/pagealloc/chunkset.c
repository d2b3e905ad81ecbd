/*
 * chunkset.c - storage of a bit per chunk (chunkset.h): reserving the
 * array and committing the words of grown chunks, one contiguous range.
 */
#include <string.h>

#include "base/color.h"
#include "pagealloc/geometry.h"
#include "pagealloc/meta.h"
#include "pagealloc/chunkset.h"

#define INDEX_WORDS (PA_NCHUNKS / 64)
#define INDEX_BYTES ((size_t)INDEX_WORDS * sizeof(uint64_t))
/* The words start PA_COLOR_BYTES into the reservation (base/color.h): a
 * heap at Go's hint has its first chunks' word at a page start otherwise,
 * and every free marks it. Word w lies in OS page (PA_COLOR_BYTES + 8w) /
 * page of the reservation, one page longer than the words. */
#define COLOR_WORDS (PA_COLOR_BYTES / sizeof(uint64_t))

static size_t os_page(void)
{
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    return caps.page_size;
}

int pa_chunkset_init(pa_chunkset *x)
{
    memset(x, 0, sizeof(*x));
    void *mem;
    int err = sysmem_reserve(NULL, INDEX_BYTES + os_page(), &mem);
    if (err)
        return err;
    x->words = (uint64_t *)mem + COLOR_WORDS;
    return 0;
}

void pa_chunkset_destroy(pa_chunkset *x, sysmem_stat *stat)
{
    if (x->words)
        sysmem_free(x->words - COLOR_WORDS, INDEX_BYTES + os_page(), stat);
    memset(x, 0, sizeof(*x));
}

/* Commit OS pages [from, to) of the reservation. */
static int commit_pages(pa_chunkset *x, size_t from, size_t to, size_t page, sysmem_stat *stat)
{
    size_t n = (to - from) * page;
    int err = pa_meta_commit((char *)(x->words - COLOR_WORDS) + from * page, n, stat);
    if (!err)
        x->committed += n;
    return err;
}

/* Words [a, b), a and b multiples of a page's words, lie in OS pages
 * [a / wpp, b / wpp + 1): the colour shifts them less than a page. */
int pa_chunkset_prepare(pa_chunkset *x, uint32_t lo, uint32_t hi, sysmem_stat *stat)
{
    size_t page = os_page();
    size_t words_per_page = page / sizeof(uint64_t);
    uint32_t need_lo = (uint32_t)(lo / 64 / words_per_page * words_per_page);
    uint32_t need_hi = (uint32_t)(((hi + 63) / 64 + words_per_page - 1) / words_per_page * words_per_page);
    if (need_hi > INDEX_WORDS)
        need_hi = INDEX_WORDS;
    /* One contiguous committed range, grown downward and upward. */
    if (x->committed == 0) {
        int err = commit_pages(x, need_lo / words_per_page, need_hi / words_per_page + 1, page,
                               stat);
        if (err)
            return err;
        x->prep_lo = need_lo;
        x->prep_hi = need_hi;
        return 0;
    }
    if (need_lo < x->prep_lo) {
        int err = commit_pages(x, need_lo / words_per_page, x->prep_lo / words_per_page, page,
                               stat);
        if (err)
            return err;
        x->prep_lo = need_lo;
    }
    if (need_hi > x->prep_hi) {
        int err = commit_pages(x, x->prep_hi / words_per_page + 1,
                               need_hi / words_per_page + 1, page, stat);
        if (err)
            return err;
        x->prep_hi = need_hi;
    }
    return 0;
}
