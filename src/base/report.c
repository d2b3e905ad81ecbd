/*
 * report.c - the process-wide error handler and pa_report (report.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/export.h"
#include "base/report.h"

static void default_error(const char *msg, void *arg)
{
    (void)arg;
    fprintf(stderr, "%s\n", msg);
    abort();
}

static pagealloc_error_fn error_fn = default_error;
static void *error_arg;

PA_API void pagealloc_set_error_handler(pagealloc_error_fn fn, void *arg)
{
    error_fn = fn ? fn : default_error;
    error_arg = fn ? arg : NULL;
}

void pa_report_line(const char *msg)
{
    error_fn(msg, error_arg);
}

void pa_report(const char *call, uintptr_t addr, size_t npages, const char *rule)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "pagealloc: %s(%#lx, %zu pages): %s",
             call, (unsigned long)addr, npages, rule);
    error_fn(msg, error_arg);
}
