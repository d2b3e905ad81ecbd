/*
 * pa_malloc_sem_api.h - the malloc semantics suite (pa_malloc_sem.h) bound
 * to the prefixed API of <pagealloc/malloc.h>, for the tests that run it
 * there (tests/unit/test_malloc_api.c, tests/stress/test_malloc_threads.c);
 * the drop-in's test binds it to the C library's names instead.
 */
#ifndef PA_MALLOC_SEM_API_H
#define PA_MALLOC_SEM_API_H

#include "pagealloc/malloc.h"

#define SEM_MALLOC(n)                    pa_malloc(n)
#define SEM_FREE(p)                      pa_free(p)
#define SEM_CALLOC(c, n)                 pa_calloc(c, n)
#define SEM_REALLOC(p, n)                pa_realloc(p, n)
#define SEM_USABLE(p)                    pa_usable_size(p)
#define SEM_POSIX_MEMALIGN(out, a, n)    pa_posix_memalign(out, a, n)
#include "pa_malloc_sem.h"

#endif /* PA_MALLOC_SEM_API_H */
