/*
 * internal.h - the page allocator's state, struct pagealloc, shared by
 * the files that implement it (pagealloc.c, tree.c, pagecache.c,
 * scavenge.c, check.c, testing.c). Its sizes and address arithmetic are
 * in geometry.h; docs/pagealloc.md has the design in prose.
 *
 * How it is represented. Each grown chunk has two 512-bit bitmaps
 * (pa_chunk: allocated, scavenged). Chunks live in a sparse two-level
 * array: chunks[ci >> 13] points to a block of 8192 chunks (1 MiB),
 * allocated when the first chunk in it is grown, followed by the block's
 * run counts (runcount.h: each chunk's maximal free runs counted by
 * length, 32 bytes per chunk).
 *
 * How it is searched. A radix tree of summaries (bitmap.h: start, max, end
 * free pages) with five levels; level 4 has one entry per chunk and an
 * entry at level l summarises the 8 entries below it at level l+1. Level 0
 * has 2^14 entries of 2^21 pages (16 GiB) each:
 *
 *     level:          0      1      2      3      4
 *     entry covers: 16 GiB  2 GiB 256 MiB 32 MiB  4 MiB
 *     entries:       2^14   2^17   2^20   2^23   2^26
 *
 * 14 + 4*3 + 22 = 48 address bits; 2^21 pages per level-0 entry is what
 * the 21-bit summary fields can hold (the value 2^21 itself is the one
 * special encoding). A search walks down from level 0, keeping to the
 * lowest entry whose max fits the request (or a run that straddles
 * neighbouring entries), so it finds the lowest-addressed fit.
 *
 * How each level is stored. One flat array per level, reserved once
 * (about 585 MiB of address space, no memory) and committed a physical
 * page at a time, in whole blocks of 8 entries, as the heap grows: only
 * summaries of grown address space are ever read. committed[l] has one
 * bit per physical page of level l's array.
 *
 * The search hint. Every page below `search` is allocated. It is lowered
 * by free, grow and cache flush, raised by alloc, and always lies inside a
 * grown range (so the summaries around it are committed), or equals
 * PA_SEARCH_NONE when no page is free.
 *
 * Size-class hints (not in Go; they change no answer, only where a search
 * starts). Class c, c = 1..PA_HINT_MAX, is the runs of at least
 * pa_hint_size(c) pages: one class per length 2..64 (c + 1 pages), then
 * one per power of two 2^7..2^16 (docs/pagealloc.md, "Size-class hints").
 * hint[c] is an address such that every maximal run of at least
 * pa_hint_size(c) free pages starts at or above it; it too lies in a grown
 * range or is PA_SEARCH_NONE. A request for n pages can start at
 * max(search, hint[pa_hint_floor(n)]): the low heap, fragmented into short
 * holes, is skipped. An allocation of n pages at r raises hint[c] to r for
 * every class from pa_hint_ceil(n) up (first fit: no run of n starts below
 * r) when r is above the new search hint (otherwise the raise would move
 * no search); a failure sets them to PA_SEARCH_NONE; a free lowers the
 * hints of the classes the joined run reaches, up to pa_hint_floor of its
 * length, to the run's start (past a chunk edge, the extent of a run freed
 * by 512 pages or more comes from the free-chunk index below, that of a
 * smaller one from the neighbouring leaf, or the index past a wholly free
 * neighbour; nothing is read when every hint is at search already, since
 * no free run starts below it); an index search that passed
 * over runs all shorter than pa_hint_size(j) >= 1023 raises hint[j] to its
 * answer (tree.c, raise_passed_classes). The hints are kept
 * non-decreasing in c (a longer run is also a run of the shorter class),
 * so raising and lowering stop at the first hint already past the value.
 *
 * The free-chunk index (freeidx.h, not in Go): one bit per chunk, set
 * exactly when its leaf is PA_SUM_FREE_CHUNK; it serves the search for
 * runs of 1023 pages or more (tree.c) without the upper levels.
 *
 * Threads: none of this is synchronised; the caller serialises calls,
 * except that a grow's prepare (growth.c) may run beside them: it maps
 * new metadata and sets committed[] bits with atomic stores, which
 * pa_leaf_near (tree.h) reads atomically; new chunk blocks wait on the
 * `pending` list until publish stores them into chunks[].
 */
#ifndef PAGEALLOC_PAGEALLOC_INTERNAL_H
#define PAGEALLOC_PAGEALLOC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/export.h"
#include "base/report.h"
#include "pagealloc/pagealloc.h"
#include "pagealloc/bitmap.h"
#include "pagealloc/runcount.h"
#include "pagealloc/geometry.h"
#include "pagealloc/meta.h"
#include "pagealloc/ranges.h"
#include "pagealloc/scavindex.h"
#include "pagealloc/freeidx.h"
#include "pagealloc/scavchunks.h"

typedef struct pa_chunk {
    uint64_t alloc[PA_CHUNK_WORDS];   /* 1 = page in use (or owned by a page cache) */
    uint64_t scav[PA_CHUNK_WORDS];    /* 1 = page released to the OS; implies free */
} pa_chunk;

#define PA_MAGIC 0x70616c6c6f636121ull   /* "palloc!": a live allocator */

struct pagealloc {
    uint64_t  magic;                  /* PA_MAGIC while live; 0 once deleted */
    pa_sum   *sum[PA_LEVELS];         /* reserved arrays; committed where grown */
    uint8_t  *dirty[PA_LEVELS - 1];   /* levels 0..3: 1 bit per entry, see tree.c */
    uint64_t *committed[PA_LEVELS];   /* 1 bit per OS page of sum[l] that is committed */
    size_t    sum_bytes[PA_LEVELS];   /* reservation size of sum[l] */
    uintptr_t search;                 /* the search hint (see above) */
    uintptr_t hint[PA_HINT_MAX + 2];  /* size-class hints; sentinels: hint[0] = 0 (also
                                         n = 1's "class"), hint[PA_HINT_MAX + 1] = max */
    uint32_t  start, end;             /* grown chunks lie in [start, end); 0,0: none */
    pa_ranges in_use;                 /* grown address ranges, sorted, coalesced */
    pa_scav_index scav;               /* chunks that may have resident free pages */
    pa_free_index free_idx;           /* wholly free chunks (freeidx.h) */
    pa_scav_chunks scav_chunks;       /* chunks that may hold scavenged pages (scavchunks.h) */
    int       unbacked;               /* never touch or release managed memory */
    size_t    os_page;                /* the OS page size (metadata granularity) */
    unsigned  min_scav_pages;         /* pages per physical page, at least 1 */
    unsigned  huge_pages;             /* pages per huge page if guarded, else 0 */
    unsigned  dense_pages;            /* never scavenge chunks this full; 0: off */
    sysmem_stat stat;                 /* metadata bytes mapped from the OS */
    uint64_t  chunk_count;            /* grown chunks */
    void     *pending;                /* chunk blocks prepared, not yet in chunks[]
                                         (growth.c); a grow's alone */
    size_t    self_bytes;             /* size of this mapping */
    pa_chunk *chunks[1u << PA_L1_BITS];
};

/* Whether pa looks like a live allocator; reported under call if not. */
static inline int pa_live(const pagealloc *pa, const char *call)
{
    if (pa && pa->magic == PA_MAGIC)
        return 1;
    pa_report(call, (uintptr_t)pa, 0, "not a live pagealloc handle");
    return 0;
}

static inline pa_chunk *pa_chunk_of(const pagealloc *pa, uint32_t ci)
{
    return &pa->chunks[ci >> (PA_ADDR_BITS - PA_CHUNK_SHIFT - PA_L1_BITS)][ci & (PA_L2_CHUNKS - 1)];
}
static inline pa_chunk *pa_try_chunk_of(const pagealloc *pa, uint32_t ci)
{
    pa_chunk *l2 = pa->chunks[ci >> (PA_ADDR_BITS - PA_CHUNK_SHIFT - PA_L1_BITS)];
    return l2 ? &l2[ci & (PA_L2_CHUNKS - 1)] : NULL;
}
/* Chunk ci's run counts (runcount.h): the counts of a block of chunks
 * follow its PA_L2_CHUNKS bitmaps in the same mapping. */
static inline pa_runcount *pa_runs_of(const pagealloc *pa, uint32_t ci)
{
    pa_chunk *l2 = pa->chunks[ci >> (PA_ADDR_BITS - PA_CHUNK_SHIFT - PA_L1_BITS)];
    return (pa_runcount *)(l2 + PA_L2_CHUNKS) + (ci & (PA_L2_CHUNKS - 1));
}
/* The same from chunk ci's bitmap c (c == pa_chunk_of(pa, ci)), without
 * reading chunks[] again: its block starts ci % PA_L2_CHUNKS chunks below. */
static inline pa_runcount *pa_runs_at(pa_chunk *c, uint32_t ci)
{
    uint32_t i = ci & (PA_L2_CHUNKS - 1);
    return (pa_runcount *)(c - i + PA_L2_CHUNKS) + i;
}
#define PA_CHUNK_BLOCK_BYTES ((size_t)PA_L2_CHUNKS * (sizeof(pa_chunk) + sizeof(pa_runcount)))
static inline pa_sum pa_leaf_sum(const pagealloc *pa, uint32_t ci)
{
    return pa->sum[PA_LEVELS - 1][ci];
}

/* pagealloc.c */
/* Mark [base, base+npages) allocated (pages free); returns the bytes of
 * it that were scavenged, and if scav_bits is not NULL, which pages
 * (heapapi.h's format). */
size_t    pa_alloc_range(pagealloc *pa, uintptr_t base, size_t npages, uint64_t *scav_bits);
void      pa_free_range(pagealloc *pa, uintptr_t base, size_t npages, int scavenged);
/* The smallest run of hint class c (1..PA_HINT_MAX), in pages. */
static inline uintptr_t pa_hint_size(unsigned c)
{
    return c <= PA_HINT_EXACT ? (uintptr_t)c + 1
                              : (uintptr_t)1 << (c - PA_HINT_EXACT + PA_HINT_EXACT_LOG);
}
/* The largest class whose runs a run of len pages belongs to: the class a
 * request of len pages may start from, and the highest class a freed run
 * of len pages reaches. 0 (no class) for len <= 1. */
static inline unsigned pa_hint_floor(uintptr_t len)
{
    if (len <= PA_HINT_EXACT + 1)
        return len ? (unsigned)len - 1 : 0;
    unsigned c = PA_HINT_EXACT - PA_HINT_EXACT_LOG + 63 - (unsigned)__builtin_clzll(len);
    return c < PA_HINT_MAX ? c : PA_HINT_MAX;
}
/* The smallest class whose runs are all at least n pages long (n >= 1):
 * the lowest class an allocation of n pages proves something about.
 * PA_HINT_MAX + 1 (the sentinel) when there is none. */
static inline unsigned pa_hint_ceil(uintptr_t n)
{
    if (n <= PA_HINT_EXACT + 1)
        return n <= 2 ? 1 : (unsigned)n - 1;
    unsigned c = PA_HINT_EXACT - PA_HINT_EXACT_LOG + 64 - (unsigned)__builtin_clzll(n - 1);
    return c <= PA_HINT_MAX ? c : PA_HINT_MAX + 1;
}
/* Lower the hints of classes 1..k to at most a (hints stay non-decreasing;
 * the sentinel hint[0] = 0 ends the loop, a being an address). */
static inline void pa_hints_lower(pagealloc *pa, unsigned k, uintptr_t a)
{
    for (; pa->hint[k] > a; k--)
        pa->hint[k] = a;
}
static inline void pa_hints_lower_all(pagealloc *pa, uintptr_t a)
{
    pa_hints_lower(pa, PA_HINT_MAX, a);
}
/* Raise the hints of classes k..PA_HINT_MAX to at least a (k <= PA_HINT_MAX
 * + 1; the sentinel hint[PA_HINT_MAX + 1] = UINTPTR_MAX ends the loop). */
static inline void pa_hints_raise(pagealloc *pa, unsigned k, uintptr_t a)
{
    for (; pa->hint[k] < a; k++)
        pa->hint[k] = a;
}


#endif /* PAGEALLOC_PAGEALLOC_INTERNAL_H */
