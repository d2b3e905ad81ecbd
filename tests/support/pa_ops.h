/*
 * pa_ops.h - the operations of a random model test as values (pa_op) and
 * as text, one per line: what the generator (pa_gen.h) emits, the runner
 * (pa_runner.h) executes, a failing test writes to an op file, and Go's
 * side of test_go_random reads.
 */
#ifndef PA_OPS_H
#define PA_OPS_H

#include <stddef.h>
#include <stdint.h>

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

/* Write ops as text, one per line. 0 or -1. */
int  pa_ops_write(const char *path, const pa_op *ops, size_t nops);
/* Read a text op file; *ops malloc'd. 0 or -1 (message in err). */
int  pa_ops_read(const char *path, pa_op **ops, size_t *nops, char *err, size_t err_size);

#endif /* PA_OPS_H */
