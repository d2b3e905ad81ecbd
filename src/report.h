/*
 * report.h - reporting misuse that a call cannot return as an error.
 *
 * pa_report formats one line, "pagealloc: CALL(ADDR, N pages): RULE", and
 * passes it to the error handler (pagealloc_set_error_handler; by default
 * it is printed and the process aborts). If the handler returns, the
 * offending call does nothing.
 */
#ifndef PAGEALLOC_REPORT_H
#define PAGEALLOC_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "pagealloc/pagealloc.h"

void        pa_report(const char *call, uintptr_t addr, size_t npages, const char *rule);
/* The rule a free of [base, base+npages) would break, or NULL if valid. */
const char *pa_free_violation(pagealloc *pa, uintptr_t base, size_t npages);

#endif /* PAGEALLOC_REPORT_H */
