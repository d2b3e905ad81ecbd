/*
 * pa_runner.h - runs a pagealloc and the reference model side by side, one
 * operation (pa_ops.h) at a time, and says where they first disagree;
 * replays op files and shrinks failing ones. Used by the random model
 * tests directly and through the generator (pa_gen.h).
 */
#ifndef PA_RUNNER_H
#define PA_RUNNER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pa_compare.h"
#include "pa_model.h"
#include "pa_ops.h"
#include "pa_testutil.h"

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

/* Run ops on a fresh runner until one fails. Returns the index of the
 * first failing op (its message in msg), or n if all agreed. With trace
 * not NULL, prints every op and pagealloc's answer to it
 * ("#INDEX OP -> ANSWER"). */
size_t pa_replay(const pa_op *ops, size_t n, char *msg, size_t msg_size, FILE *trace);

/* Shrink a failing sequence in place, keeping op 0 (the config): drop
 * everything after the first failure, then remove ever smaller blocks of
 * ops (renumbering cache slots, dropping the uses of a removed cache) as
 * long as the sequence still fails at an op of the same kind for a reason
 * other than having become malformed. Returns the new length (n when ops
 * do not fail, or fail only as malformed). */
size_t pa_minimize(pa_op *ops, size_t n);

#endif /* PA_RUNNER_H */
