/*
 * pa_model.h - a deliberately simple reference model of the page
 * allocator, the oracle of the random tests. The model alone lives here;
 * around it:
 *   pa_compare.h  a pagealloc compared with the model, state for state;
 *   pa_ops.h      operations as values and as text (op files);
 *   pa_runner.h   one pagealloc and one model run operation by operation,
 *                 replay and minimisation of op files;
 *   pa_gen.h      random operation sequences run through a runner.
 * Users: tests/conformance/test_model_random.c and test_go_random.c, and
 * the fuzz harness (tests/fuzz/fuzz_ops.h).
 *
 * The model keeps, for every grown 4 MiB chunk, one byte per page for
 * "allocated" and one for "scavenged", and one byte per chunk for the
 * scavenge index mark. Grown ranges are kept sorted and coalesced; pages
 * of different ranges are never adjacent. Everything is done with linear
 * scans. Its observable behaviour is Go 1.19's (docs/pagealloc.md, "Departures from Go"):
 *
 *   grow       new pages free and scavenged, no chunk marked.
 *   alloc(n)   lowest-address run of n free pages (pure first fit), its
 *              scavenged pages x 8 KiB reported and their bits cleared.
 *   free       pages become free (scavenged bits unchanged, i.e. clear);
 *              pagealloc_free marks the chunks of the range in the
 *              scavenge index, pagealloc_test_free does not.
 *   alloc_to_cache
 *              the 64-page aligned block holding the first free page of the
 *              heap; all its free pages go to the cache (marked allocated);
 *              cache.scav = their scavenged bits, cleared in the heap.
 *   cache alloc  lowest run of n set bits of cache (Go's findBitRange64).
 *   flush      cache pages free again, scav bits restored; no index mark.
 *   scavenge(nbytes)
 *              while released < nbytes: take the highest marked chunk at or
 *              below the index's search position (chunks compared a byte of
 *              eight at a time, as Go does); in it the highest run of free,
 *              unscavenged pages, counted in aligned groups of minPages =
 *              max(1, phys/8 KiB), cut to at most alignUp(ceil(rest/8K),
 *              minPages) pages from the top, then extended down to a huge
 *              page boundary if the cut would split a free, unscavenged
 *              huge page; mark it scavenged and count it. A chunk without a
 *              candidate (or whose longest free run is < minPages) loses its
 *              mark. The search position follows Go's scavengeIndex:
 *              initially cleared, raised (and "marked") by mark, lowered by
 *              find, cleared when find finds nothing (unless marked).
 *   scavenge_take(max)
 *              the run scavenge(max) would release first, marked allocated
 *              (its scavenged bits cleared) instead of scavenged.
 *   scavenge_done(run, released)
 *              the run free again: scavenged and no index mark if
 *              released, else resident and its chunks marked.
 *   scavenge_mark(range)
 *              the chunks of the range marked in the scavenge index.
 *
 * Validity (for the calls the library must refuse, through EINVAL or one
 * report to the error handler, changing nothing): a free is invalid if
 * npages is 0, base is not page aligned, some page is outside the heap or
 * not allocated; a scavenge mark if npages is 0, it passes 2^48 or leaves
 * the heap; a cache flush if some page of the cache is not allocated. The
 * mutating calls below do nothing to the model for an invalid call.
 */
#ifndef PA_MODEL_H
#define PA_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "pagealloc/pagealloc.h"
#include "pagealloc/testing.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The model's own geometry (written out, not taken from the library). */
#define PA_MODEL_PAGE        ((uintptr_t)8192)
#define PA_MODEL_CHUNK       ((uintptr_t)4 << 20)
#define PA_MODEL_CHUNK_PAGES 512u

/* ---- the model -------------------------------------------------------- */

typedef struct pa_model pa_model;

/* phys_page_size: bytes (>= 4096, power of 2); huge_page_size: bytes, or
 * 0 / SIZE_MAX for no huge pages. */
pa_model *pa_model_new(size_t phys_page_size, size_t huge_page_size);
void      pa_model_delete(pa_model *m);

/* Same contract as pagealloc_grow: 0, EINVAL (empty, chunk 0, past 2^48)
 * or EEXIST (overlaps a grown chunk). */
int       pa_model_grow(pa_model *m, uintptr_t base, size_t size);
uintptr_t pa_model_alloc(pa_model *m, size_t npages, size_t *scav_bytes);
/* 1 if freeing [base, base + npages pages) is valid, else 0. */
int       pa_model_free_valid(const pa_model *m, uintptr_t base, size_t npages);
/* mark: 1 = pagealloc_free, 0 = pagealloc_test_free. Returns 0, or -1 if
 * the free is invalid (nothing changed). */
int       pa_model_free(pa_model *m, uintptr_t base, size_t npages, int mark);
pagealloc_cache pa_model_alloc_to_cache(pa_model *m);
uintptr_t pa_model_cache_alloc(pagealloc_cache *c, size_t npages, size_t *scav_bytes);
/* 1 if flushing c is valid (an empty cache is), else 0. */
int       pa_model_cache_flush_valid(const pagealloc_cache *c, const pa_model *m);
/* A valid flush; c is emptied. */
void      pa_model_cache_flush(pagealloc_cache *c, pa_model *m);
size_t    pa_model_scavenge(pa_model *m, size_t nbytes);
/* pagealloc_scavenge_take: the run's base and *npages, or 0 (max 0, or
 * nothing to scavenge). */
uintptr_t pa_model_scavenge_take(pa_model *m, size_t max, size_t *npages);
/* pagealloc_scavenge_done of a taken run: 0, or -1 if freeing the run is
 * invalid (nothing changed). */
int       pa_model_scavenge_done(pa_model *m, uintptr_t base, size_t npages, int released);
/* pagealloc_scavenge_mark: 1 if valid, else 0; the call: 0, or -1 if
 * invalid (nothing changed). */
int       pa_model_scavenge_mark_valid(const pa_model *m, uintptr_t base, size_t npages);
int       pa_model_scavenge_mark(pa_model *m, uintptr_t base, size_t npages);

/* Observers, mirroring testing.h / pagealloc_get_stats. */
int       pa_model_chunk_bits(const pa_model *m, uintptr_t chunk_base,
                              uint64_t alloc[8], uint64_t scav[8]);
/* The grown ranges, ascending: up to cap of them into ranges; returns how
 * many there are (cap 0, ranges NULL: just count them). */
size_t    pa_model_in_use(const pa_model *m, uintptr_t (*ranges)[2], size_t cap);
void      pa_model_bounds(const pa_model *m, uintptr_t *start, uintptr_t *end);
void      pa_model_stats(const pa_model *m, pagealloc_stats *out);
size_t    pa_model_heap_pages(const pa_model *m);

#ifdef __cplusplus
}
#endif
#endif /* PA_MODEL_H */
