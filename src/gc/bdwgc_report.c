/*
 * bdwgc_report.c - what the bdwgc face prints or reports: the leak lines
 * of leak-finding mode, warnings (GC_set_warn_proc) and misuse.
 *
 * Leak reports. In leak-finding mode the collector calls
 * gc_bdwgc_report_leak once per unreachable object; it prints bdwgc's
 * line shape on stderr: ADDR (FILE:LINE, sz= N, KIND) for an object of
 * the annotated allocator (its record, bdwgc.h), ADDR (sz= N) for another.
 * bdwgc's header line ("Found N leaked objects:") is not printed: the
 * count is not known before the calls.
 */
#include <stdio.h>

#include "base/report.h"
#include "gc/bdwgc.h"

#define FACE __attribute__((visibility("default")))

static const char *const kind_name[] = {"NORMAL", "PTRFREE", "UNCOLLECTABLE",
                                        "ATOMIC_UNCOLLECTABLE"};

static GC_warn_proc warn_proc;       /* atomic pointer; NULL: stderr */

void gc_bdwgc_report_leak(void *obj, size_t size, void *arg)
{
    (void)arg;
    struct gc_bdwgc_record *r = gc_bdwgc_record_of(obj, size);
    if (r != NULL && r->kind <= GC_BDWGC_ATOMIC_UNCOLLECTABLE)
        fprintf(stderr, "%p (%s:%d, sz= %zu, %s)\n", obj, r->file, (int)r->line, r->asked,
                kind_name[r->kind]);
    else
        fprintf(stderr, "%p (sz= %zu)\n", obj, size);
}

FACE void GC_set_warn_proc(GC_warn_proc proc)
{
    __atomic_store_n(&warn_proc, proc, __ATOMIC_RELEASE);
}

FACE void GC_ignore_warn_proc(char *msg, GC_word arg)
{
    (void)msg;
    (void)arg;
}

void gc_bdwgc_warn(const char *msg, GC_word arg)
{
    GC_warn_proc fn = __atomic_load_n(&warn_proc, __ATOMIC_ACQUIRE);
    if (fn != NULL) {
        fn((char *)msg, arg);
        return;
    }
    fputs("GC Warning: ", stderr);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    fprintf(stderr, msg, (void *)arg);
#pragma GCC diagnostic pop
}

void gc_bdwgc_misuse(const char *call, const void *addr, const char *rule)
{
    char line[256];
    snprintf(line, sizeof line, "pagealloc: %s(%p): %s", call, addr, rule);
    pa_report_line(line);
}
