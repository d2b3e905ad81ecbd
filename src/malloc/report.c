/*
 * report.c - the one-line report of a bad free or size query (mheap.h:
 * pa_malloc_report), shared by the free paths and the collect that finds
 * a double free after the fact.
 */
#include <errno.h>
#include <stdio.h>

#include "malloc/mheap.h"

__attribute__((noinline, cold))
void pa_malloc_report(const char *call, const void *p, unsigned cls, const char *rule)
{
    int saved = errno;                  /* a free never changes errno */
    char msg[256];
    snprintf(msg, sizeof msg, "pagealloc: %s(%#lx, class %u): %s", call,
             (unsigned long)(uintptr_t)p, cls, rule);
    pa_report_line(msg);
    errno = saved;
}
