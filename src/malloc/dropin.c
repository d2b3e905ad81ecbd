/*
 * dropin.c - the object allocator behind the C library's names, built
 * only into libpagealloc-malloc.so (LD_PRELOAD it, or link it before
 * libc): malloc, free, calloc, realloc, reallocarray, memalign,
 * posix_memalign, aligned_alloc, valloc, pvalloc, malloc_usable_size,
 * malloc_trim, mallinfo2 and mallinfo.
 *
 * glibc's conventions kept: errno is ENOMEM on failure (EINVAL where
 * glibc says so) and untouched on success; malloc(0) returns a unique
 * pointer; realloc(p, 0) frees p and returns NULL; memalign rounds an
 * alignment that is not a power of two up to one; valloc and pvalloc
 * align to the system page. The first call may come from the dynamic
 * loader before any constructor: the allocator is then made on the spot,
 * and its background scavenger thread is started later, by this file's
 * constructor (creating a thread from inside the loader is not safe).
 *
 * Environment (read at the first call): PAGEALLOC_MALLOC_LIMIT (bytes, a
 * hard limit), PAGEALLOC_MALLOC_SCAVENGER (0: no background scavenger),
 * PAGEALLOC_CHECK (check level), PAGEALLOC_MALLOC_STATS (1: print the
 * statistics as JSON to stderr at exit).
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "malloc/mheap.h"
#include "pageheap/heap.h"

#define DROPIN __attribute__((visibility("default")))

static int constructed;                  /* dropin_init has run */

/* The allocator's threads and fork handlers wait for the constructor. */
int pa_malloc_dropin_deferred(void)
{
    return !__atomic_load_n(&constructed, __ATOMIC_ACQUIRE);
}

/* The pa_ calls already keep errno on success (and a free never changes
 * it), so the standard names are the same functions. */
DROPIN void *malloc(size_t n)
{
    return pa_malloc(n);
}

DROPIN void free(void *p)
{
    pa_free(p);
}

DROPIN void *calloc(size_t count, size_t size)
{
    return pa_calloc(count, size);
}

DROPIN void *realloc(void *p, size_t n)
{
    return pa_realloc(p, n);
}

DROPIN void *reallocarray(void *p, size_t count, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n);
}

/* The next power of two at or above a (glibc's memalign rounding). */
static size_t round_pow2(size_t a)
{
    if (a <= 16)
        return 16;
    if (a > ((size_t)1 << 30))
        return 0;
    return (size_t)1 << (64 - __builtin_clzll(a - 1));
}

DROPIN void *memalign(size_t align, size_t n)
{
    size_t a = round_pow2(align);
    if (a == 0) {
        errno = EINVAL;
        return NULL;
    }
    return pa_aligned_alloc(a, n);
}

DROPIN void *aligned_alloc(size_t align, size_t n)
{
    return memalign(align, n);
}

DROPIN int posix_memalign(void **out, size_t align, size_t n)
{
    return pa_posix_memalign(out, align, n);
}

static size_t sys_page(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

DROPIN void *valloc(size_t n)
{
    return memalign(sys_page(), n);
}

DROPIN void *pvalloc(size_t n)
{
    size_t pg = sys_page();
    if (n > SIZE_MAX - pg) {
        errno = ENOMEM;
        return NULL;
    }
    return memalign(pg, n ? (n + pg - 1) & ~(pg - 1) : pg);
}

DROPIN size_t malloc_usable_size(void *p)
{
    return pa_usable_size(p);
}

DROPIN int malloc_trim(size_t pad)
{
    (void)pad;
    return pa_malloc_trim() > 0;
}

DROPIN struct mallinfo2 mallinfo2(void)
{
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    pa_malloc_stats st;
    pa_malloc_get_stats(&st);
    mi.arena = st.span_bytes;
    mi.uordblks = st.in_use_bytes;
    mi.fordblks = st.span_bytes > st.in_use_bytes ? st.span_bytes - st.in_use_bytes : 0;
    mi.hblkhd = st.cls[0].bytes;
    mi.hblks = st.cls[0].objects;
    return mi;
}

DROPIN struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = (int)m2.arena;
    mi.uordblks = (int)m2.uordblks;
    mi.fordblks = (int)m2.fordblks;
    mi.hblkhd = (int)m2.hblkhd;
    mi.hblks = (int)m2.hblks;
    return mi;
}

static void print_stats(void)
{
    (void)pa_malloc_stats_json(stderr);
}

/* After the loader is done: the threads the allocator wants, the exit
 * report. */
__attribute__((constructor)) static void dropin_init(void)
{
    __atomic_store_n(&constructed, 1, __ATOMIC_RELEASE);
    pa_malloc_late_init(pa_mheap_get());
    const char *st = getenv("PAGEALLOC_MALLOC_STATS");
    if (st && st[0] == '1')
        atexit(print_stats);
}
