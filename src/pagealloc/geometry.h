/*
 * geometry.h - the bottom of the page allocator: its sizes and the address
 * arithmetic every other part of it uses (docs/pagealloc.md, "Geometry").
 *
 * What is managed. Pages of 8 KiB inside 48-bit addresses, grouped in
 * chunks of 512 pages (4 MiB). The chunk index of an address is simply
 * addr >> 22, so there are 2^26 possible chunks; chunk 0 (the page at
 * address 0 is the "no page" answer) is never part of a heap.
 *
 * The summary tree has five levels; level 4 has one entry per chunk and
 * an entry at level l covers the 8 entries below it at level l+1:
 *
 *     level:          0      1      2      3      4
 *     entry covers: 16 GiB  2 GiB 256 MiB 32 MiB  4 MiB
 *     entries:       2^14   2^17   2^20   2^23   2^26
 *
 * 14 + 4*3 + 22 = 48 address bits; 2^21 pages per level-0 entry is what
 * the 21-bit summary fields (bitmap.h) can hold.
 *
 * Nothing here has state; every file of the page allocator includes it,
 * directly or through bitmap.h, and it includes nothing of the library.
 */
#ifndef PAGEALLOC_PAGEALLOC_GEOMETRY_H
#define PAGEALLOC_PAGEALLOC_GEOMETRY_H

#include <stdint.h>

#define PA_CHUNK_PAGES  512u             /* pages per chunk */
#define PA_CHUNK_WORDS  8u               /* 64-bit words per chunk bitmap */
#define PA_PAGE_SHIFT   13u
#define PA_PAGE_SIZE    ((uintptr_t)1 << PA_PAGE_SHIFT)
#define PA_CHUNK_SHIFT  22u
#define PA_CHUNK_SIZE   ((uintptr_t)1 << PA_CHUNK_SHIFT)
#define PA_ADDR_BITS    48u
#define PA_MAX_ADDR     ((uintptr_t)1 << PA_ADDR_BITS)
#define PA_NCHUNKS      ((uint32_t)1 << (PA_ADDR_BITS - PA_CHUNK_SHIFT))
#define PA_LEVELS       5
#define PA_LEVEL_BITS   3u
#define PA_L0_BITS      (PA_ADDR_BITS - PA_CHUNK_SHIFT - (PA_LEVELS - 1) * PA_LEVEL_BITS)
#define PA_L1_BITS      13u              /* chunks[] top-level index bits */
#define PA_L2_CHUNKS    ((uint32_t)1 << (PA_ADDR_BITS - PA_CHUNK_SHIFT - PA_L1_BITS))
#define PA_SEARCH_NONE  (PA_MAX_ADDR - 1) /* above every page: nothing free */
#ifndef PA_HINT_EXACT_LOG
#define PA_HINT_EXACT_LOG 6u             /* one hint class per length 2..2^6 */
#endif
#define PA_HINT_EXACT   ((1u << PA_HINT_EXACT_LOG) - 1)   /* classes 1..63: 2..64 pages */
#define PA_HINT_MAX     (PA_HINT_EXACT + 16u - PA_HINT_EXACT_LOG)  /* then 2^7 .. 2^16 */

/* Address bits below level l's entry index, and pages per entry. */
static inline unsigned pa_level_shift(int l) { return PA_CHUNK_SHIFT + (PA_LEVELS - 1 - l) * PA_LEVEL_BITS; }
static inline unsigned pa_level_log_pages(int l) { return pa_level_shift(l) - PA_PAGE_SHIFT; }

static inline uint32_t  pa_chunk_index(uintptr_t a) { return (uint32_t)(a >> PA_CHUNK_SHIFT); }
static inline uintptr_t pa_chunk_base(uint32_t ci) { return (uintptr_t)ci << PA_CHUNK_SHIFT; }
static inline unsigned  pa_chunk_page(uintptr_t a) { return (unsigned)((a >> PA_PAGE_SHIFT) & (PA_CHUNK_PAGES - 1)); }

#endif /* PAGEALLOC_PAGEALLOC_GEOMETRY_H */
