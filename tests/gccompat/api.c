/*
 * api.c - the object calls: GC_base, GC_size, GC_realloc (growing,
 * shrinking, NULL, zero), GC_free, strdup, the kinds' contents (scanned
 * memory reads as zero), the statistics' relations, GC_disable/GC_enable,
 * the version, and the annotated (GC_DEBUG) allocator's calls.
 */
#include <gc.h>

#include "compat.h"

int main(void)
{
    GC_INIT();
    compat_check("initialised", GC_is_init_called());
    compat_check("a version", GC_get_version() >= (7u << 16));

    char *p = GC_MALLOC(100);
    int zero = 1;
    for (int i = 0; i < 100; i++)
        zero &= p[i] == 0;
    compat_check("scanned memory reads as zero", zero);
    compat_check("GC_base of the start", GC_base(p) == p);
    compat_check("GC_base of the last byte", GC_base(p + 99) == p);
    int local;
    compat_check("GC_base of a stack address", GC_base(&local) == NULL);
    compat_check("GC_is_heap_ptr", GC_is_heap_ptr(p + 10) && !GC_is_heap_ptr(&local));
    compat_check("GC_size covers the request", GC_size(p) >= 100);

    compat_fill(p, 100, 9);
    char *q = GC_REALLOC(p, 5000);
    compat_check("realloc grows and keeps the contents", q && compat_intact(q, 100, 9) &&
                                                              GC_size(q) >= 5000);
    char *r = GC_REALLOC(q, 50);
    compat_check("realloc shrinks and keeps the contents", r && compat_intact(r, 50, 9));
    char *s = GC_REALLOC(NULL, 64);
    compat_check("realloc(NULL) allocates", s && GC_base(s) == s);
    compat_check("realloc(p, 0) returns NULL", GC_REALLOC(s, 0) == NULL);
    void *a = GC_MALLOC_ATOMIC(300);
    compat_check("atomic object has a base and size", GC_base(a) == a && GC_size(a) >= 300);
    void *at = GC_REALLOC(a, 3000);
    compat_check("atomic realloc", at && GC_size(at) >= 3000);
    GC_FREE(r);
    GC_FREE(NULL);
    char *d = GC_STRDUP("compat");
    compat_check("strdup", d && strcmp(d, "compat") == 0);
    char *dn = GC_STRNDUP("compatible", 6);
    compat_check("strndup", dn && strcmp(dn, "compat") == 0);

    void *big = GC_MALLOC(1 << 20);
    compat_check("large object", big && GC_base((char *)big + 12345) == big &&
                                     GC_size(big) >= (1u << 20));
    GC_FREE(big);

    size_t total0 = GC_get_total_bytes();
    for (int i = 0; i < 1000; i++)
        (void)GC_MALLOC(256);
    compat_check("total bytes grow with allocation", GC_get_total_bytes() >= total0 + 256000);
    compat_check("bytes since the last collection counted", GC_get_bytes_since_gc() > 0);
    GC_gcollect();
    /* One snapshot: the two getters read apart could straddle the
     * background sweeper or scavenger moving free pages (ours runs them;
     * a fresh clone's CI once saw free > heap so). */
    GC_word heap_now, free_now;
    GC_get_heap_usage_safe(&heap_now, &free_now, NULL, NULL, NULL);
    compat_check("free bytes within the heap", free_now <= heap_now && GC_get_free_bytes() > 0);
    compat_check("heap size positive", GC_get_heap_size() > 0);

    GC_word before = GC_get_gc_no();
    GC_gcollect();
    compat_check("GC_gcollect counts a collection", GC_get_gc_no() == before + 1);
    GC_disable();
    compat_check("disabled", GC_is_disabled());
    before = GC_get_gc_no();
    for (int i = 0; i < 20000; i++)   /* 20 MiB: would trigger collections */
        (void)GC_MALLOC_ATOMIC(1024);
    compat_check("no automatic collection while disabled", GC_get_gc_no() == before);
    GC_gcollect();
    printf("explicit collection while disabled: %s\n",
           GC_get_gc_no() == before ? "does nothing" : "collects");
    GC_enable();
    compat_check("enabled again", !GC_is_disabled());

    char *dbg = GC_debug_malloc(40, __FILE__, __LINE__);
    compat_check("debug malloc zeroed", dbg && dbg[0] == 0 && dbg[39] == 0);
    compat_fill(dbg, 40, 3);
    dbg = GC_debug_realloc(dbg, 400, __FILE__, __LINE__);
    compat_check("debug realloc keeps contents", dbg && compat_intact(dbg, 40, 3));
    char *ds = GC_debug_strdup("dbg", __FILE__, __LINE__);
    compat_check("debug strdup", ds && strcmp(ds, "dbg") == 0);
    void *du = GC_debug_malloc_uncollectable(24, __FILE__, __LINE__);
    compat_check("debug uncollectable", du != NULL);
    GC_debug_free(du);
    GC_debug_free(dbg);
    void *rep = GC_debug_malloc_replacement(10);
    rep = GC_debug_realloc_replacement(rep, 20);
    compat_check("debug replacement calls", rep != NULL);
    return compat_done();
}
