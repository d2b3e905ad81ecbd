/*
 * testing.c - test hooks (testing.h), the counterpart of Go's
 * export_test.go. They read and set the allocator's state directly.
 */
#include <string.h>

#include "pagealloc/internal.h"
#include "pagealloc/tree.h"
#include "pagealloc/heapapi.h"
#include "pagealloc/testing.h"

PA_API int pagealloc_test_init_chunk(pagealloc *pa, uintptr_t chunk_base,
                                     const uint64_t alloc[8], const uint64_t scav[8])
{
    int err = pagealloc_grow(pa, chunk_base, PA_CHUNK_SIZE);
    if (err)
        return err;
    uint32_t ci = pa_chunk_index(chunk_base);
    pa_chunk *c = pa_chunk_of(pa, ci);
    for (unsigned w = 0; w < PA_CHUNK_WORDS; w++) {
        c->scav[w] = scav ? scav[w] : 0;
        if (alloc) {
            c->alloc[w] = alloc[w];
            c->scav[w] &= ~alloc[w];
        }
    }
    unsigned start, n;
    if (pa_find_scavenge_candidate(c->alloc, c->scav, PA_CHUNK_PAGES - 1,
                                   pa->min_scav_pages, pa->min_scav_pages,
                                   pa->huge_pages, &start, &n))
        pa_scav_index_mark(&pa->scav, pa_chunk_base(ci), pa_chunk_base(ci) + PA_CHUNK_SIZE);
    pa_update(pa, pa_chunk_base(ci), PA_CHUNK_PAGES, 0, 0);
    /* The hint must stay below every free page. */
    if (pa_chunk_base(ci) < pa->search)
        pa->search = pa_chunk_base(ci);
    pa_hints_lower_all(pa, pa->search);
    return 0;
}

PA_API int pagealloc_test_chunk_bits(const pagealloc *pa, uintptr_t chunk_base,
                                     uint64_t alloc[8], uint64_t scav[8])
{
    return pa_chunk_bits(pa, chunk_base, alloc, scav);
}

PA_API size_t pagealloc_test_in_use(const pagealloc *pa, uintptr_t (*ranges)[2], size_t cap)
{
    for (size_t i = 0; i < pa->in_use.n && i < cap; i++) {
        ranges[i][0] = pa->in_use.r[i].base;
        ranges[i][1] = pa->in_use.r[i].limit;
    }
    return pa->in_use.n;
}

PA_API void pagealloc_test_bounds(const pagealloc *pa, uintptr_t *start, uintptr_t *end)
{
    *start = pa->end ? pa_chunk_base(pa->start) : 0;
    *end = pa->end ? pa_chunk_base(pa->end) : 0;
}

PA_API uintptr_t pagealloc_test_search_addr(const pagealloc *pa)
{
    return pa->search == PA_SEARCH_NONE ? UINTPTR_MAX : pa->search;
}
