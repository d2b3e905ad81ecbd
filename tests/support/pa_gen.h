/*
 * pa_gen.h - random operation sequences for the random model tests:
 * generated from a seeded xoshiro256** (workloads/rng.h) and run on a
 * fresh runner (pagealloc and the model side by side) as they are made,
 * so that every op is drawn with the model's state and the library's
 * previous answers in view.
 */
#ifndef PA_GEN_H
#define PA_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "pa_ops.h"
#include "pa_runner.h"
#include "pa_testutil.h"
#include "rng.h"

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

#endif /* PA_GEN_H */
