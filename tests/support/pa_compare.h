/*
 * pa_compare.h - the full comparison of a pagealloc with the reference
 * model (pa_model.h), used by the runner's CHECK operation (pa_runner.h)
 * and by the fuzz harness (tests/fuzz/fuzz_ops.h).
 */
#ifndef PA_COMPARE_H
#define PA_COMPARE_H

#include <stddef.h>

#include "pa_model.h"

/* Bounds, in-use ranges, both bitmaps of every chunk, the stats counters,
 * and pagealloc_check. 0 if equal, else -1 and a description of the first
 * difference in msg. */
int pa_model_compare(const pa_model *m, const pagealloc *pa, char *msg, size_t msg_size);

#endif /* PA_COMPARE_H */
