/*
 * pa_model.h - a deliberately simple reference model of the page allocator,
 * and a random-operation driver that runs pagealloc and the model side by
 * side (used by tests/conformance/test_model_random.c and
 * test_go_random.c; the model also by the fuzz harness,
 * tests/fuzz/fuzz_ops.h).
 *
 * The model keeps, for every grown 4 MiB chunk, one byte per page for
 * "allocated" and one for "scavenged", and one byte per chunk for the
 * scavenge index mark. Grown ranges are kept sorted and coalesced; pages
 * of different ranges are never adjacent. Everything is done with linear
 * scans. Its observable behaviour is Go 1.19's (GO-PAGEALLOC.md section 4):
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
#include <stdio.h>

#include "pagealloc/pagealloc.h"
#include "pagealloc/testing.h"
#include "rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- small helpers ---------------------------------------------------- */

/* The test seed: PAGEALLOC_TEST_SEED (decimal or 0x hex) if set, else one
 * made from the clock and the pid. */
uint64_t pa_test_seed(void);

/* Work scale for the random tests: 1.0 normally; smaller under a
 * sanitizer, in an unoptimised build or when PAGEALLOC_UNDER_VALGRIND is
 * set; PAGEALLOC_TEST_SCALE (a float) multiplies it. */
double   pa_test_scale(void);

/* Growable text buffer. */
typedef struct pa_strbuf { char *p; size_t len, cap; } pa_strbuf;
void pa_strbuf_printf(pa_strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pa_strbuf_free(pa_strbuf *b);

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
size_t    pa_model_in_use(const pa_model *m, uintptr_t (*ranges)[2], size_t cap);
void      pa_model_bounds(const pa_model *m, uintptr_t *start, uintptr_t *end);
void      pa_model_stats(const pa_model *m, pagealloc_stats *out);
size_t    pa_model_heap_pages(const pa_model *m);

/* Full comparison of a pagealloc with the model: bounds, in-use ranges,
 * both bitmaps of every chunk, the stats counters, and pagealloc_check.
 * 0 if equal, else -1 and a description in msg. */
int       pa_model_compare(const pa_model *m, const pagealloc *pa,
                           char *msg, size_t msg_size);

/* ---- operations ------------------------------------------------------- */

/* One operation of a sequence; text form (also Go's input format, see
 * tests/conformance/go/pagealloc_diff_test.go):
 *   config PHYS HUGE | grow ADDR SIZE | alloc N | free ADDR N |
 *   tfree ADDR N | cache | calloc SLOT N | flush SLOT | scav BYTES|max |
 *   check | searchaddr
 * In config, HUGE 0 means no huge pages. searchaddr reports pagealloc's
 * search hint ("max" when exhausted); the model has none, so it is never
 * compared with the model (test_go_random compares it with Go's, as a
 * note only: it is not observable behaviour). */
typedef enum pa_op_kind {
    PA_OP_CONFIG, PA_OP_GROW, PA_OP_ALLOC, PA_OP_FREE, PA_OP_TFREE,
    PA_OP_CACHE, PA_OP_CALLOC, PA_OP_FLUSH, PA_OP_SCAV, PA_OP_CHECK,
    PA_OP_SEARCHADDR
} pa_op_kind;
typedef struct pa_op { pa_op_kind kind; uint64_t a, b; } pa_op;

/* 1 = parsed, 0 = blank or comment line, -1 = syntax error. */
int  pa_op_parse(const char *line, pa_op *op);
void pa_op_format(const pa_op *op, char *buf, size_t size);

/* ---- runner: one pagealloc and one model, operation by operation ------ */

typedef struct pa_runner pa_runner;

/* Lib's structured answer to the last operation. */
typedef struct pa_answer {
    int             rc;        /* grow */
    uintptr_t       addr;      /* alloc, calloc */
    size_t          scav;      /* alloc, calloc */
    pagealloc_cache cache;     /* cache */
    size_t          released;  /* scav */
} pa_answer;

pa_runner *pa_runner_new(void);
void       pa_runner_delete(pa_runner *r);
/* Run op on both; fill *ans with pagealloc's answer and, if text is not
 * NULL, append its answer line (Go's format) to text. Returns 0 if the
 * model agrees, else -1 with the difference in err. A CHECK op also runs
 * pa_model_compare. */
int        pa_runner_exec(pa_runner *r, const pa_op *op, pa_answer *ans,
                          pa_strbuf *text, char *err, size_t err_size);
pagealloc *pa_runner_lib(pa_runner *r);
pa_model  *pa_runner_model(pa_runner *r);
/* The library's copy of cache slot k (NULL if none). */
const pagealloc_cache *pa_runner_cache(const pa_runner *r, size_t k);
size_t     pa_runner_ncaches(const pa_runner *r);

/* ---- random sequences --------------------------------------------------- */

enum {
    PA_GEO_ONE,        /* one chunk */
    PA_GEO_CONTIG,     /* a few contiguous chunks, grown at once or one by one */
    PA_GEO_SPLIT,      /* 3-6 ranges, some far apart (> 1 GiB, up to TiBs), grown in random order */
    PA_GEO_BIG,        /* one large range (16-32 chunks, sometimes 64-600 across a
                          2 GiB boundary) plus a far one */
    PA_GEO_MANY,       /* 20-60 small ranges close together, grown in random order */
    PA_GEO_COUNT
};

typedef struct pa_gen_config {
    size_t   phys_page_size;   /* bytes */
    size_t   huge_page_size;   /* bytes; 0 = none */
    int      geometry;         /* PA_GEO_* */
    uint64_t nops;             /* operations after the initial grows */
    uint64_t check_every;      /* a CHECK op every so many ops (0: only at the end) */
    int      search_addr;      /* a SEARCHADDR op after every CHECK */
    int      go_compatible;    /* no deliberately invalid operations */
} pa_gen_config;

typedef struct pa_gen_result {
    pa_op   *ops;              /* every op run, config first (caller frees) */
    size_t   nops;
    pa_strbuf answers;         /* pagealloc's answer lines, if wanted */
    uint64_t counts[PA_OP_SEARCHADDR + 1]; /* ops run by kind */
    uint64_t alloc_fail;       /* allocs that found nothing */
    uint64_t scav_bytes;       /* bytes scavenged */
} pa_gen_result;

/* Generate and run one random sequence on a fresh runner. want_answers:
 * collect pagealloc's answer lines in res->answers. 0 if pagealloc and the
 * model agreed all along, else -1 with a message naming the op. */
int  pa_gen_run(rng_xoshiro *rng, const pa_gen_config *cfg, int want_answers,
                pa_gen_result *res, char *err, size_t err_size);
void pa_gen_result_free(pa_gen_result *res);

/* Write ops as text, one per line. 0 or -1. */
int  pa_ops_write(const char *path, const pa_op *ops, size_t nops);
/* Read a text op file; *ops malloc'd. 0 or -1 (message in err). */
int  pa_ops_read(const char *path, pa_op **ops, size_t *nops, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif /* PA_MODEL_H */
