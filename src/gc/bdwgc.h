/*
 * bdwgc.h - what the files of the bdwgc face share (built only into
 * libpagealloc-gc; the face's public header is include/pagealloc/bdwgc/
 * gc.h, its notes docs/gc-bdwgc.md):
 *   bdwgc.c        start-up, the knobs, allocation, collection, statistics,
 *                  the collection events
 *   bdwgc_weak.c   finalizers, disappearing links, roots, dlopen
 *   bdwgc_threads.c  threads: registration, GC_pthread_* (results kept)
 *   bdwgc_debug.c  the annotated (GC_DEBUG) allocator
 *   bdwgc_report.c leak reports, warnings, misuse reports
 * Every GC_* function is a thin call into <pagealloc/gc.h>; what bdwgc
 * lets a program set before GC_INIT is kept here until the collector
 * starts (gc_bdwgc_ensure_init), and set through the collector's own
 * setters afterwards.
 */
#ifndef PAGEALLOC_GC_BDWGC_H
#define PAGEALLOC_GC_BDWGC_H

/* The face's declarations, the thread calls included, without renaming
 * pthread_create in this file. */
#include <stdint.h>

#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <pagealloc/bdwgc/gc.h>
#include <pagealloc/gc.h>

/* Starts the collector with the settings made so far unless it runs
 * (GC_init's work); one atomic load once it has run. */
void gc_bdwgc_start(void);
extern int gc_bdwgc_started;     /* set (release) once GC_init has run */
static inline void gc_bdwgc_ensure_init(void)
{
    if (__builtin_expect(!__atomic_load_n(&gc_bdwgc_started, __ATOMIC_ACQUIRE), 0))
        gc_bdwgc_start();
}

/* The record of the annotated allocator (bdwgc_debug.c). bdwgc puts a
 * header before an annotated object and hands out the address after it;
 * here the record goes at the END of the object instead, in the last
 * bytes of its usable size (GC_size), so the object a program sees starts
 * at its base: GC_base, GC_size, finalizers, links and base-pointers-only
 * mode treat annotated and plain objects alike. Fields:
 *   check  the object's base, hidden (bitwise inverted) and mixed with a
 *          constant: a record whose check matches its object's base is
 *          taken as one (a plain object holds those bits by chance only);
 *   file   the allocating file (a string literal: static data, never a
 *          heap pointer) and line, the bytes asked for, the kind.
 * A program writing past the bytes it asked for overwrites the record:
 * its leak line then shows no site (bdwgc would report the overwrite). */
enum gc_bdwgc_kind {
    GC_BDWGC_NORMAL,
    GC_BDWGC_ATOMIC,
    GC_BDWGC_UNCOLLECTABLE,
    GC_BDWGC_ATOMIC_UNCOLLECTABLE
};
struct gc_bdwgc_record {
    uintptr_t check;     /* gc_bdwgc_check_of(base) */
    const char *file;    /* allocation site, or "unknown" */
    int32_t line;
    uint32_t kind;       /* enum gc_bdwgc_kind */
    size_t asked;        /* bytes the program asked for */
};

static inline uintptr_t gc_bdwgc_check_of(const void *base)
{
    return ~(uintptr_t)base ^ (uintptr_t)0x6462677265636f72u;
}

/* Where the record of the object at base (usable bytes) goes. */
static inline struct gc_bdwgc_record *gc_bdwgc_record_at(void *base, size_t usable)
{
    return (struct gc_bdwgc_record *)((char *)base + usable - sizeof(struct gc_bdwgc_record));
}

/* The record of the object at base, or NULL if it has none. */
static inline struct gc_bdwgc_record *gc_bdwgc_record_of(void *base, size_t usable)
{
    if (base == NULL || usable < sizeof(struct gc_bdwgc_record) ||
        usable % _Alignof(struct gc_bdwgc_record) != 0)
        return NULL;
    struct gc_bdwgc_record *r = gc_bdwgc_record_at(base, usable);
    return r->check == gc_bdwgc_check_of(base) ? r : NULL;
}

/* The collector's leak handler for leak-finding mode (bdwgc_debug.c):
 * one line per unreachable object on stderr, in bdwgc's shape. */
void gc_bdwgc_report_leak(void *obj, size_t size, void *arg);

/* Misuse bdwgc would abort on: one line "pagealloc: CALL(ADDR): RULE" to
 * the process's error handler (<pagealloc/errors.h>; by default it
 * aborts). If the handler returns, the caller does nothing. */
void gc_bdwgc_misuse(const char *call, const void *addr, const char *rule);

/* A warning through the program's GC_set_warn_proc (default: stderr). */
void gc_bdwgc_warn(const char *msg, GC_word arg);

#endif /* PAGEALLOC_GC_BDWGC_H */
