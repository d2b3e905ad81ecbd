/*
 * heapapi.h - what the page allocator tells the layer above it, beyond
 * its public header: the internal interface the heap (src/pageheap/) is
 * built on. The test hooks of <pagealloc/testing.h> stay the conformance
 * surface; nothing of the library uses them.
 *
 * Allocation that reports what it did. Go's allocRange knows exactly which
 * pages of a run it hands out were scavenged; pa_alloc_bits passes that on
 * as a bitmap (bit i of scav_bits: page base + i was scavenged, i.e.
 * released to the OS), so that the heap makes those pages Ready with one
 * OS-layer call over their span, zeroes exactly the resident ones, and gives
 * an allocation back exactly as it found it, without asking the OS layer
 * about single pages.
 *
 * Every function requires that the caller serialises calls on pa (the
 * shard lock, in the heap).
 */
#ifndef PAGEALLOC_PAGEALLOC_HEAPAPI_H
#define PAGEALLOC_PAGEALLOC_HEAPAPI_H

#include <stddef.h>
#include <stdint.h>

#include "pagealloc/pagealloc.h"

/* Words of a scav_bits bitmap for an allocation of npages pages. */
static inline size_t pa_scav_words(size_t npages) { return (npages + 63) / 64; }

/* pagealloc_alloc, and if scav_bits is not NULL (pa_scav_words(npages)
 * words) it receives which pages of the run were scavenged, when some
 * were (*scav_bytes != 0; its bits past npages then 0); when none was,
 * its words are unspecified (a run over chunks that cannot hold one,
 * scavchunks.h, leaves them untouched rather than clear 512 bytes).
 * Untouched when the allocation fails. */
uintptr_t   pa_alloc_bits(pagealloc *pa, size_t npages, size_t *scav_bytes,
                          uint64_t *scav_bits);

/* The rule a free of [base, base+npages) would break, or NULL if it is a
 * valid free (pagealloc_try_free would accept it). */
const char *pa_free_violation(pagealloc *pa, uintptr_t base, size_t npages);

/* The allocation and scavenged bitmaps of the grown chunk at chunk_base
 * (either pointer may be NULL); 0 if the chunk is not in the heap. For the
 * heap's checker and visitor. */
int         pa_chunk_bits(const pagealloc *pa, uintptr_t chunk_base,
                          uint64_t alloc[PAGEALLOC_CHUNK_PAGES / 64],
                          uint64_t scav[PAGEALLOC_CHUNK_PAGES / 64]);

/* pagealloc_grow in three steps, so that the heap makes no system call
 * under the shard lock (growth.c, docs/pagealloc.md "Growth"). prepare
 * validates the range and commits all its metadata (pagealloc_grow's
 * errors; on error nothing a reader sees changed) and may run while
 * other threads use pa under their lock; publish (under that lock, no
 * system call, cannot fail) adds the range; finish unmaps what publish
 * replaced (after the lock). The three steps of one pa are serialised
 * with each other by the caller, and a successful prepare is always
 * followed by publish and finish of the same range. */
int         pa_grow_prepare(pagealloc *pa, uintptr_t base, size_t size);
void        pa_grow_publish(pagealloc *pa, uintptr_t base, size_t size);
void        pa_grow_finish(pagealloc *pa);

/* The heap's fresh windows (docs/heap.md "Page caches"). A page-cache
 * refill whose scavenged pages run to its block's end (fresh from a grow)
 * lets the heap make the rest of the block's chunk Ready in the same
 * OS-layer call, so that the chunk's later refills make none. pa_fresh_after: the
 * pages, a multiple of 64, from `from` (a 64-page block boundary, the end
 * of the block just refilled) towards the end of its chunk over which
 * every 64-page word is wholly free and wholly scavenged; 0 at a chunk's
 * end. Changes nothing. pa_unscavenge_fresh: mark [base, base+npages)
 * (words pa_fresh_after found, under the same hold of the caller's lock)
 * not scavenged, because the caller made them Ready: they are then free
 * resident pages, marked in the scavenge index for the scavenger. */
size_t      pa_fresh_after(const pagealloc *pa, uintptr_t from);
void        pa_unscavenge_fresh(pagealloc *pa, uintptr_t base, size_t npages);

/* The metadata bytes pa has mapped (pagealloc_get_stats' metadata_bytes)
 * without the walk over every grown chunk that the full statistics make:
 * for the heap's grow, which re-reads it after each pagealloc_grow. */
uint64_t    pa_metadata_bytes(const pagealloc *pa);

#endif /* PAGEALLOC_PAGEALLOC_HEAPAPI_H */
