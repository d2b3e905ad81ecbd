/*
 * pa_build.h - build page allocators from compact descriptions and compare
 * them, for table-driven tests (the C counterpart of the helpers Go's
 * runtime tests use: NewPageAlloc, checkPageAlloc, PageBase, BitRange).
 *
 * A heap is described chunk by chunk. Each chunk is named by its offset from
 * the base chunk (PA_BASE_CHUNK_ADDR, the address of Go's BaseChunkIdx on
 * linux/amd64) and carries a list of page ranges {first page, page count}.
 * Ranges with a count of 0 are ignored, so a zero-filled range list means
 * "no pages". For example:
 *
 *   static const pa_heap_desc h = PA_HEAP(
 *       { .off = 0 },                                   chunk 0: nothing
 *       { .off = 1, .r = { {0, 10}, {500, 12} } });     chunk 1: two ranges
 *
 * pa_build(alloc, scav) grows every chunk of alloc in a new unbacked
 * allocator (4 KiB physical pages, 2 MiB huge pages), marks the alloc ranges
 * in use and the scav ranges (looked up by chunk offset; scav may be NULL)
 * scavenged, exactly as Go's NewPageAlloc does (pagealloc_test_init_chunk).
 */
#ifndef PA_BUILD_H
#define PA_BUILD_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pagealloc/pagealloc.h"
#include "pagealloc/testing.h"

/* Address of the base chunk: Go's BaseChunkIdx (0xc000 * 4 MiB). */
#define PA_BASE_CHUNK_ADDR 0x3000000000ull

/* Page page of the chunk chunk_offset chunks above the base chunk. A macro
 * so that it can be used in static tables. */
#define pa_page_base(chunk_offset, page)                                      \
    ((uintptr_t)(PA_BASE_CHUNK_ADDR +                                         \
                 (uint64_t)(chunk_offset) * PAGEALLOC_CHUNK_SIZE +            \
                 (uint64_t)(page) * PAGEALLOC_PAGE_SIZE))
#define go_chunk_base(chunk_offset) pa_page_base(chunk_offset, 0)

/* The physical and huge page sizes the Go expectations assume. */
#define PA_TEST_PHYS_PAGE_SIZE 4096u
#define PA_TEST_HUGE_PAGE_SIZE (2u << 20)

/* Pages [i, i+n) of a chunk (Go's BitRange). */
typedef struct pa_range {
    unsigned i;
    unsigned n;
} pa_range;

#define PA_MAX_RANGES 32 /* per chunk */
#define PA_MAX_CHUNKS 8  /* per pa_heap_desc */

typedef struct pa_chunk_desc {
    int64_t  off;                /* chunk offset from the base chunk */
    pa_range r[PA_MAX_RANGES];   /* entries with n == 0 are ignored */
} pa_chunk_desc;

typedef struct pa_heap_desc {
    size_t        n;             /* chunks used in c */
    pa_chunk_desc c[PA_MAX_CHUNKS];
} pa_heap_desc;

/* A pa_heap_desc initializer from a list of pa_chunk_desc initializers. */
#define PA_HEAP(...)                                                          \
    { .n = sizeof((pa_chunk_desc[]){ __VA_ARGS__ }) / sizeof(pa_chunk_desc),  \
      .c = { __VA_ARGS__ } }

/* Set bits [r.i, r.i + r.n) of an 8-word chunk bitmap for each range
 * (does not clear the bitmap first). Uses no library code. */
void pa_ranges_to_bits(const pa_range *r, size_t nr, uint64_t bits[8]);

/* A new, empty unbacked allocator with the test page sizes (fails the
 * current test if it cannot be created). */
pagealloc *pa_new_test_alloc(void);

/* Go's NewPageAlloc on arrays of chunk descriptions; scav may be NULL.
 * Chunks of scav that are not in chunks are ignored. Fails the current
 * test on error. Free the result with pagealloc_delete. */
pagealloc *pa_build_n(const pa_chunk_desc *chunks, size_t nchunks,
                      const pa_chunk_desc *scav, size_t nscav);
/* Same with heap descriptions; scav may be NULL. */
pagealloc *pa_build(const pa_heap_desc *chunks, const pa_heap_desc *scav);

/* Go's checkPageAlloc: equal bounds, and for every chunk between them the
 * same presence and equal allocation and scavenged bitmaps. Prints every
 * difference (chunk, bitmap, page runs) and returns how many chunks
 * differ (or 1 for a bounds mismatch); 0 when equal. */
int  pa_diff_allocs(const pagealloc *want, const pagealloc *got);
/* Fails the current cmocka test unless the two allocators match. */
#define pa_check_equal(want, got) assert_int_equal(pa_diff_allocs((want), (got)), 0)

/* Compare two 8-word chunk bitmaps; prints the differing page runs under
 * the label what; returns the number of differing pages. */
unsigned pa_diff_bits(const char *what, const uint64_t got[8], const uint64_t want[8]);
#define pa_check_bits(what, got, want) assert_int_equal(pa_diff_bits((what), (got), (want)), 0)

/* Format an address for messages: "0", or "base+C:P (0xADDR)" naming the
 * chunk offset C and page P. Returns buf. */
#define PA_ADDR_STR 64
const char *pa_fmt_addr(char buf[PA_ADDR_STR], uintptr_t a);

/* A small deterministic PRNG for randomised table tests: splitmix64
 * (workloads/rng.h). */
typedef struct pa_rng { uint64_t s; } pa_rng;
uint64_t pa_rng_next(pa_rng *g);
/* Uniform in [0, n), n > 0. */
uint64_t pa_rng_below(pa_rng *g, uint64_t n);

#endif /* PA_BUILD_H */
