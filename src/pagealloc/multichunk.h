/*
 * multichunk.h - allocation and free of a run over two chunks or more, in
 * one pass over its chunks (multichunk.c; docs/pagealloc.md, "Multi-chunk
 * allocation and free, measured"). Not in Go; the answers and the state
 * they leave are those of pagealloc.c's general path (bits, then
 * pa_update_run), which stays for the rarer callers.
 *
 * A run [base, base+npages) over chunks sc < ec is made of: the piece
 * [first, 512) of sc when first > 0, the wholly covered chunks
 * [ia, ib) (sc itself when first = 0, ec itself when last = 512), and
 * the piece [0, last) of ec when last < 512. A wholly covered chunk
 * changes between "all free" and "all allocated", so its leaf, run counts
 * and free-chunk index bit take constant values, written in the same walk
 * that writes its bitmap; only the end pieces derive their leaves from the
 * old ones (bitmap.h, pa_sum_after_alloc_tail/_head, pa_sum_after_free).
 *
 * Callers serialise calls on pa.
 */
#ifndef PAGEALLOC_MULTICHUNK_H
#define PAGEALLOC_MULTICHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "pagealloc/internal.h"

/* Allocate [base, base+npages), every page free, over two chunks or more:
 * bits, scavenged bits taken (into scav_bits, heapapi.h's format, when not
 * NULL), leaves, run counts, free-chunk index, dirty ancestors. Returns
 * the bytes that were scavenged (pa_alloc_range's answer). */
size_t pa_alloc_chunks(pagealloc *pa, uintptr_t base, size_t npages, uint64_t *scav_bits);

/* Free [base, base+npages) over two chunks or more (npages >= 1, the range
 * inside the address space), validated in the same pass: if every page is
 * allocated, clear them, update leaves, run counts, free-chunk index and
 * dirty ancestors, set *below and *above to the free pages just below the
 * range in its first chunk and just above it in its last, and return 1;
 * otherwise change nothing and return 0. */
int    pa_free_chunks(pagealloc *pa, uintptr_t base, size_t npages, unsigned *below,
                      unsigned *above);

#endif /* PAGEALLOC_MULTICHUNK_H */
