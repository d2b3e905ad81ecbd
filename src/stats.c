/*
 * stats.c - the page heap's statistics as JSON (one object, one member per
 * field of pageheap_stats, in declaration order, all integers). The text
 * is built by one formatter that writes into a caller's buffer with
 * snprintf semantics, so the FILE form and the buffer form print the same
 * bytes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "pagealloc/pageheap.h"
#include "export.h"

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
    char small[2048];
    size_t n = format(&s, small, sizeof small);
    char *text = small;
    if (n >= sizeof small) {
        text = malloc(n + 1);
        if (!text)
            return ENOMEM;
        format(&s, text, n + 1);
    }
    int err = fwrite(text, 1, n, f) == n ? 0 : EIO;
    if (text != small)
        free(text);
    return err;
}
