/*
 * leak_detector.h - bdwgc's leak-finding shortcut: included after the C
 * library's headers, it sends malloc, calloc, realloc, free, strdup and
 * strndup to the annotated collector allocator, so that GC_set_find_leak(1)
 * and CHECK_LEAKS() (a collection) report every unreachable block that was
 * never freed, with the file and line that allocated it.
 */
#ifndef GC_LEAK_DETECTOR_H
#define GC_LEAK_DETECTOR_H

#ifndef GC_DEBUG
#define GC_DEBUG
#endif
#include "gc.h"

#undef malloc
#undef calloc
#undef realloc
#undef free
#undef strdup
#undef strndup
#define malloc(n) GC_MALLOC(n)
#define calloc(m, n) GC_MALLOC((m) * (n))
#define realloc(p, n) GC_REALLOC(p, n)
#define free(p) GC_FREE(p)
#define strdup(s) GC_STRDUP(s)
#define strndup(s, n) GC_STRNDUP(s, n)

#define CHECK_LEAKS() GC_gcollect()

#endif /* GC_LEAK_DETECTOR_H */
