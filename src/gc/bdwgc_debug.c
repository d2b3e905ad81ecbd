/*
 * bdwgc_debug.c - the bdwgc face's annotated allocator (GC_debug_*, what
 * GC_DEBUG's upper-case macros call).
 *
 * Each annotated object carries a record (file, line, bytes asked, kind)
 * in its last bytes, described in bdwgc.h; the object itself starts at
 * its base, unlike bdwgc's, whose annotated objects start after a header.
 * An allocation of n bytes asks the collector for n + the record;
 * GC_debug_free and GC_debug_realloc refuse (as misuse) an object without
 * a record, and clear the record of what they free.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "gc/bdwgc.h"

#define FACE __attribute__((visibility("default")))

static void *dbg_alloc(size_t n, enum gc_bdwgc_kind kind, const char *file, int line)
{
    if (n > SIZE_MAX - sizeof(struct gc_bdwgc_record)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t want = n + sizeof(struct gc_bdwgc_record);
    void *p;
    switch (kind) {
    case GC_BDWGC_ATOMIC:
        p = GC_malloc_atomic(want);
        break;
    case GC_BDWGC_UNCOLLECTABLE:
        p = GC_malloc_uncollectable(want);
        break;
    case GC_BDWGC_ATOMIC_UNCOLLECTABLE:
        p = GC_malloc_atomic_uncollectable(want);
        break;
    default:
        p = GC_malloc(want);
        break;
    }
    if (p == NULL)
        return NULL;
    size_t usable = pa_gc_size(p);
    struct gc_bdwgc_record *r = gc_bdwgc_record_at(p, usable);
    r->check = gc_bdwgc_check_of(p);
    r->file = file ? file : "unknown";
    r->line = line;
    r->kind = kind;
    r->asked = n;
    return p;
}

FACE void *GC_debug_malloc(size_t bytes, const char *file, int line)
{
    return dbg_alloc(bytes, GC_BDWGC_NORMAL, file, line);
}

FACE void *GC_debug_malloc_atomic(size_t bytes, const char *file, int line)
{
    return dbg_alloc(bytes, GC_BDWGC_ATOMIC, file, line);
}

FACE void *GC_debug_malloc_uncollectable(size_t bytes, const char *file, int line)
{
    return dbg_alloc(bytes, GC_BDWGC_UNCOLLECTABLE, file, line);
}

FACE void *GC_debug_malloc_atomic_uncollectable(size_t bytes, const char *file, int line)
{
    return dbg_alloc(bytes, GC_BDWGC_ATOMIC_UNCOLLECTABLE, file, line);
}

FACE char *GC_debug_strndup(const char *s, size_t n, const char *file, int line)
{
    size_t len = strnlen(s, n);
    char *d = dbg_alloc(len + 1, GC_BDWGC_ATOMIC, file, line);
    if (d != NULL) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

FACE char *GC_debug_strdup(const char *s, const char *file, int line)
{
    return GC_debug_strndup(s, SIZE_MAX, file, line);
}

FACE void GC_debug_free(void *p)
{
    if (p == NULL)
        return;
    struct gc_bdwgc_record *r = gc_bdwgc_record_of(p, pa_gc_size(p));
    if (r == NULL) {
        gc_bdwgc_misuse("GC_debug_free", p, "not an object of the annotated allocator");
        return;
    }
    r->check = 0;                    /* a second free finds no record */
    pa_gc_free(p);
}

FACE void *GC_debug_realloc(void *p, size_t bytes, const char *file, int line)
{
    if (p == NULL)
        return GC_debug_malloc(bytes, file, line);
    struct gc_bdwgc_record *r = gc_bdwgc_record_of(p, pa_gc_size(p));
    if (r == NULL) {
        gc_bdwgc_misuse("GC_debug_realloc", p, "not an object of the annotated allocator");
        return NULL;
    }
    if (bytes == 0) {
        GC_debug_free(p);
        return NULL;
    }
    enum gc_bdwgc_kind kind = (enum gc_bdwgc_kind)r->kind;
    size_t keep = r->asked < bytes ? r->asked : bytes;
    void *q = dbg_alloc(bytes, kind, file, line);
    if (q == NULL)
        return NULL;
    memcpy(q, p, keep);
    r->check = 0;
    pa_gc_free(p);
    return q;
}

FACE void *GC_debug_malloc_replacement(size_t bytes)
{
    return dbg_alloc(bytes, GC_BDWGC_NORMAL, "unknown", 0);
}

FACE void *GC_debug_realloc_replacement(void *p, size_t bytes)
{
    return GC_debug_realloc(p, bytes, "unknown", 0);
}
