/*
 * color.h - where hot metadata starts inside its page ("cache coloring"),
 * a shared service of every layer.
 *
 * The problem. A level-1 data cache is indexed by address bits 6..11
 * (64 sets of 64-byte lines, 32 KiB 8-way on x86), so the first line of
 * every 4 KiB page falls in the same set, set 0; the level-2 cache keeps
 * that pattern in the few sets whose bits 6..11 are zero. A page heap's
 * users get page-aligned runs and touch them at their start (a header, a
 * first object, W5's one byte per page of docs/workloads.md): twelve new
 * page starts a W5 step evict set 0 completely. Any metadata line that
 * also sits at a page start (the first line of a struct that sysmem_alloc
 * put at a page boundary, or the entry of an array indexed by chunk
 * number whose heap starts at Go's hint 0xc000000000, a multiple of 2^38,
 * so that its first chunk's entry is at offset 0 of its block) then misses
 * the level-1 cache on every use. Cachegrind counted 0.9 such misses per
 * W5 step, none without the touches (docs/heap.md, "Cache colour").
 *
 * The remedy. Such structs and blocks start PA_COLOR_BYTES into their
 * allocation: their hot first lines land in sets 16 and up, away from the
 * page starts, and the block or struct stays 64-byte aligned (and
 * 512-byte aligned, which the run map's tagged pointers need). An array
 * indexed by chunk keeps a page start every 512 entries of 8 bytes; with
 * the shift, the first such entry is 384 chunks (1.5 GiB) above a
 * 2^35-aligned base. The structs colored fit the same number of OS pages
 * as before; a run-map block takes one page more (one block per 32 GiB
 * of address space).
 */
#ifndef PAGEALLOC_COLOR_H
#define PAGEALLOC_COLOR_H

#include <stddef.h>

#define PA_COLOR_BYTES 1024u

/* The bytes to map for a colored object of n bytes: the offset plus n,
 * rounded up to a whole number of OS pages (page: a power of two). */
static inline size_t pa_color_map_bytes(size_t n, size_t page)
{
    return (PA_COLOR_BYTES + n + page - 1) & ~(page - 1);
}

/* The colored object inside a fresh mapping, and the mapping back from
 * the object (what sysmem_free takes). */
static inline void *pa_color_in(void *mapping)
{
    return (char *)mapping + PA_COLOR_BYTES;
}

static inline void *pa_color_out(void *object)
{
    return (char *)object - PA_COLOR_BYTES;
}

#endif /* PAGEALLOC_COLOR_H */
