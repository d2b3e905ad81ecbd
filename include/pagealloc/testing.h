/*
 * testing.h - test hooks into the page allocator (the counterpart of Go's
 * runtime/export_test.go). For tests and conformance harnesses; not needed
 * by ordinary users. Same error convention as pagealloc.h.
 */
#ifndef PAGEALLOC_TESTING_H
#define PAGEALLOC_TESTING_H

#include "pagealloc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Go's NewPageAlloc, one chunk: grow the chunk, clear its scavenged bits,
 * apply scav (may be NULL), apply alloc (clearing scavenged bits under it),
 * mark the scavenge index if the chunk has a scavenge candidate, update the
 * summaries. Bit i%64 of word i/64 is page i. */
int    pagealloc_test_init_chunk(pagealloc *pa, uintptr_t chunk_base,
                                 const uint64_t alloc[8], const uint64_t scav[8]);
/* Copy a chunk's bitmaps (scav may be NULL); 1 if present, 0 never grown. */
int    pagealloc_test_chunk_bits(const pagealloc *pa, uintptr_t chunk_base,
                                 uint64_t alloc[8], uint64_t scav[8]);
/* Copy up to cap in-use ranges [base, limit); returns how many there are. */
size_t pagealloc_test_in_use(const pagealloc *pa, uintptr_t (*ranges)[2], size_t cap);
/* Base addresses of the lowest grown chunk and one past the highest
 * (Go's Bounds, as addresses); both 0 if never grown. */
void   pagealloc_test_bounds(const pagealloc *pa, uintptr_t *start, uintptr_t *end);

/* Go's test hook Free: free(base, npages, scavenged=true), which does not
 * mark the scavenge index. */
void   pagealloc_test_free(pagealloc *pa, uintptr_t base, size_t npages);
/* The search hint (Go's searchAddr); UINTPTR_MAX when the heap is exhausted. */
uintptr_t pagealloc_test_search_addr(const pagealloc *pa);

#ifdef __cplusplus
}
#endif
#endif /* PAGEALLOC_TESTING_H */
