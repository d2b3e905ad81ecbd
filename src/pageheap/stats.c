/*
 * stats.c - the page heap's statistics: gathered from the per-thread
 * counters, the shards and the OS-state counters (ph_stats_fill; heap.h has
 * their balance rules), and printed as JSON (one object, one member per
 * field of pageheap_stats, in declaration order, all integers). The text
 * is built by one formatter that writes into a caller's buffer with
 * snprintf semantics, so the FILE form and the buffer form print the same
 * bytes. Client layers attach named sections (pageheap_attach_stats), kept
 * in the heap's slot array under sec_mu; the formatter ends the object with
 * one member per section, calling each section's function into the same
 * buffer with sec_mu held, so a detach waits for a running call.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pageheap/heap.h"
#include "pageheap/runcache.h"

void ph_stats_fill(pageheap *h, pageheap_stats *out, int reg_held)
{
    memset(out, 0, sizeof(*out));
    out->version = PAGEHEAP_STATS_VERSION;
    out->shards = h->nshards;
    uint64_t cache = 0, cache_rel = 0, runs = 0;
    if (!reg_held)
        pthread_mutex_lock(&h->reg_mu);
    out->allocs = ld(&h->dead.allocs);
    out->alloc_bytes = ld(&h->dead.alloc_bytes);
    uint64_t uncached = ld(&h->dead.uncached);
    out->frees = ld(&h->dead.frees);
    out->freed_bytes = ld(&h->dead.freed_bytes);
    for (ph_thread *t = h->threads; t; t = t->next) {
        out->allocs += ld(&t->c.allocs);
        out->alloc_bytes += ld(&t->c.alloc_bytes);
        uncached += ld(&t->c.uncached);
        out->frees += ld(&t->c.frees);
        out->freed_bytes += ld(&t->c.freed_bytes);
        cache += ld(&t->cache_bytes);
        cache_rel += ld(&t->cache_released);
        runs += rc_fill_pages(ld(&t->rc.fill)) * PH_PAGE + ld(&t->rc_big);
    }
    /* Read apart from allocs, uncached may run ahead of it in a racing
     * read: never below zero. */
    out->cache_allocs = out->allocs > uncached ? out->allocs - uncached : 0;
    cache += runs;
    out->threads = h->nthreads;
    if (!reg_held)
        pthread_mutex_unlock(&h->reg_mu);

    uint64_t mapped = sysmem_stat_load(&h->heap_stat);
    uint64_t ready = ld(&h->ready);
    if (ready > mapped)
        ready = mapped;
    uint64_t reserved = ld(&h->reserved_total);
    uint64_t inflight = 0;
    for (unsigned i = 0; i < h->nshards; i++)
        inflight += ld(&h->shards[i].inflight);
    out->ready_bytes = ready;
    out->prepared_bytes = mapped - ready;
    out->reserved_bytes = reserved > mapped ? reserved - mapped : 0;
    out->metadata_bytes = meta_total(h);
    out->in_use_bytes = out->alloc_bytes >= out->freed_bytes ? out->alloc_bytes - out->freed_bytes : 0;
    out->cache_bytes = cache;
    out->cache_released_bytes = cache_rel;
    out->released_bytes = out->prepared_bytes > cache_rel ? out->prepared_bytes - cache_rel : 0;
    uint64_t taken = out->in_use_bytes + cache + out->released_bytes + inflight;
    out->free_bytes = mapped > taken ? mapped - taken : 0;
    out->limit_bytes = ld(&h->limit);
    out->hard_limit = (uint32_t)h->hard;
    out->grows = ld(&h->grows);
    out->grow_bytes = ld(&h->grow_bytes);
    out->scavenges = ld(&h->scavenges);
    out->scavenged_bytes = ld(&h->scavenged_bytes);
    out->scavenger_cpu_ns = h->scav_on ? ld(&h->scav.worked_ns) : 0;
    out->assist_cpu_ns = ld(&h->assist_ns);
    out->limit_hits = ld(&h->limit_hits);
    out->limit_failures = ld(&h->limit_failures);
    out->run_cache_bytes = runs;
}

PA_API void pageheap_get_stats(pageheap *h, pageheap_stats *out)
{
    if (ph_heap_bad(h, "pageheap_get_stats", (uintptr_t)out, 0)) {
        memset(out, 0, sizeof(*out));
        return;
    }
    ph_stats_fill(h, out, 0);
}

/* Append to buf (size bytes in all) at *len, keeping *len the full length. */
static void put(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = *len < size ? size - *len : 0;
    int n = vsnprintf(room ? buf + *len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n;
}

/* The text of h's sections (sec_mu taken here), appended at *len. */
static void format_sections(pageheap *h, char *buf, size_t size, size_t *len)
{
    pthread_mutex_lock(&h->sec_mu);
    for (unsigned i = 0; i < PAGEHEAP_STATS_SECTIONS && h->sections[i].fn; i++) {
        const ph_section *sec = &h->sections[i];
        put(buf, size, len, ",\n  \"%s\": ", sec->name);
        size_t room = *len < size ? size - *len : 0;
        *len += sec->fn(sec->arg, room ? buf + *len : NULL, room);
    }
    pthread_mutex_unlock(&h->sec_mu);
}

/* h NULL: the heap's own members only. */
static size_t format(const pageheap_stats *s, pageheap *h, char *buf, size_t size)
{
    size_t len = 0;
    if (size)
        buf[0] = 0;
#define U(name) put(buf, size, &len, "%s\"" #name "\": %llu", len > 1 ? ",\n  " : "\n  ", \
                    (unsigned long long)s->name)
    put(buf, size, &len, "{");
    U(version);
    U(shards);
    U(reserved_bytes);
    U(prepared_bytes);
    U(ready_bytes);
    U(metadata_bytes);
    U(in_use_bytes);
    U(free_bytes);
    U(released_bytes);
    U(cache_bytes);
    U(cache_released_bytes);
    U(limit_bytes);
    U(hard_limit);
    U(threads);
    U(allocs);
    U(alloc_bytes);
    U(cache_allocs);
    U(frees);
    U(freed_bytes);
    U(grows);
    U(grow_bytes);
    U(scavenges);
    U(scavenged_bytes);
    U(scavenger_cpu_ns);
    U(assist_cpu_ns);
    U(limit_hits);
    U(limit_failures);
    U(run_cache_bytes);
#undef U
    if (h)
        format_sections(h, buf, size, &len);
    put(buf, size, &len, "\n}\n");
    return len;
}

PA_API size_t pageheap_stats_json_buf(pageheap *h, char *buf, size_t size)
{
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    return format(&s, heap_live(h) ? h : NULL, buf, size);
}

PA_API int pageheap_stats_json(pageheap *h, FILE *f)
{
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    pageheap *live = heap_live(h) ? h : NULL;
    /* The heap's own members take under 2 KiB; sections may add more:
     * then the text is formatted again into OS memory big enough for it
     * (sections can grow between the two calls, hence the loop). */
    char text[4096];
    size_t n = format(&s, live, text, sizeof text);
    if (n < sizeof text)
        return fwrite(text, 1, n, f) == n ? 0 : EIO;
    for (int tries = 0; tries < 4; tries++) {
        size_t cap = (n + 4096) & ~(size_t)4095;
        void *mem;
        int err = sysmem_alloc(cap, NULL, &mem);
        if (err)
            return err;
        n = format(&s, live, mem, cap);
        if (n < cap)
            err = fwrite(mem, 1, n, f) == n ? 0 : EIO;
        sysmem_free(mem, cap, NULL);
        if (n < cap)
            return err;
    }
    return EOVERFLOW;
}

/* 1 if name is 1..31 characters of [a-z0-9_]. */
static int name_ok(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (n >= 31 || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return n > 0;
}

PA_API int pageheap_attach_stats(pageheap *h, const char *name, pageheap_stats_fn fn, void *arg)
{
    if (!heap_live(h) || !fn || !name || !name_ok(name))
        return EINVAL;
    /* A name the heap's own object uses would make a duplicate member. */
    pageheap_stats zero;
    memset(&zero, 0, sizeof zero);
    char own[4096], key[40];
    format(&zero, NULL, own, sizeof own);
    snprintf(key, sizeof key, "\"%s\":", name);
    if (strstr(own, key))
        return EINVAL;
    int err = ENOSPC;
    pthread_mutex_lock(&h->sec_mu);
    for (unsigned i = 0; i < PAGEHEAP_STATS_SECTIONS; i++) {
        ph_section *sec = &h->sections[i];
        if (sec->fn && strcmp(sec->name, name) == 0) {
            err = EEXIST;
            break;
        }
        if (!sec->fn) {
            snprintf(sec->name, sizeof sec->name, "%s", name);
            sec->fn = fn;
            sec->arg = arg;
            err = 0;
            break;
        }
    }
    pthread_mutex_unlock(&h->sec_mu);
    return err;
}

PA_API int pageheap_detach_stats(pageheap *h, const char *name, void *arg)
{
    if (!heap_live(h) || !name)
        return EINVAL;
    int err = ENOENT;
    pthread_mutex_lock(&h->sec_mu);
    for (unsigned i = 0; i < PAGEHEAP_STATS_SECTIONS && h->sections[i].fn; i++) {
        if (strcmp(h->sections[i].name, name) != 0 || h->sections[i].arg != arg)
            continue;
        /* Keep the slots packed, in attach order. */
        for (unsigned j = i; j + 1 < PAGEHEAP_STATS_SECTIONS; j++)
            h->sections[j] = h->sections[j + 1];
        memset(&h->sections[PAGEHEAP_STATS_SECTIONS - 1], 0, sizeof(ph_section));
        err = 0;
        break;
    }
    pthread_mutex_unlock(&h->sec_mu);
    return err;
}
