/*
 * stats.c - the page heap's statistics: gathered from the per-thread
 * counters, the shards and the OS-state counters (ph_stats_fill; heap.h has
 * their balance rules), and printed as JSON (one object, one member per
 * field of pageheap_stats, in declaration order, all integers). The text
 * is built by one formatter that writes into a caller's buffer with
 * snprintf semantics, so the FILE form and the buffer form print the same
 * bytes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pageheap/heap.h"

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
    out->cache_allocs = ld(&h->dead.cache_allocs);
    out->frees = ld(&h->dead.frees);
    out->freed_bytes = ld(&h->dead.freed_bytes);
    for (ph_thread *t = h->threads; t; t = t->next) {
        out->allocs += ld(&t->c.allocs);
        out->alloc_bytes += ld(&t->c.alloc_bytes);
        out->cache_allocs += ld(&t->c.cache_allocs);
        out->frees += ld(&t->c.frees);
        out->freed_bytes += ld(&t->c.freed_bytes);
        cache += ld(&t->cache_bytes);
        cache_rel += ld(&t->cache_released);
        runs += ld(&t->rc_bytes);
    }
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

static size_t format(const pageheap_stats *s, char *buf, size_t size)
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
    put(buf, size, &len, "\n}\n");
    return len;
}

PA_API size_t pageheap_stats_json_buf(pageheap *h, char *buf, size_t size)
{
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    return format(&s, buf, size);
}

PA_API int pageheap_stats_json(pageheap *h, FILE *f)
{
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    /* The text has a fixed set of members, each at most ~50 bytes. */
    char text[4096];
    size_t n = format(&s, text, sizeof text);
    if (n >= sizeof text)
        return EOVERFLOW;
    int err = fwrite(text, 1, n, f) == n ? 0 : EIO;
    return err;
}
