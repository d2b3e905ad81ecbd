/*
 * report.h - reporting misuse that a call cannot return as an error; a
 * shared service of every layer.
 *
 * pa_report formats one line, "pagealloc: CALL(ADDR, N pages): RULE", and
 * passes it to the process-wide error handler (pagealloc_set_error_handler
 * in <pagealloc/errors.h>; by default the line is printed to stderr and
 * the process aborts). If the handler returns, the offending call must do
 * nothing: every caller reports before it changes anything.
 *
 * The handler is one pointer pair, replaced with plain stores: set it
 * before other threads use the library.
 */
#ifndef PAGEALLOC_BASE_REPORT_H
#define PAGEALLOC_BASE_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "pagealloc/errors.h"

void pa_report(const char *call, uintptr_t addr, size_t npages, const char *rule);
/* Pass an already formatted line (a layer with its own format, e.g. the
 * object allocator's "CALL(ADDR, class C): RULE") to the handler. */
void pa_report_line(const char *msg);

#endif /* PAGEALLOC_BASE_REPORT_H */
