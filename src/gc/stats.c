/*
 * stats.c - the collector's statistics (pa_gc_stats, its JSON form) and
 * the full heap check: every span's class, map entries, bits and counts,
 * each class's lists, and the byte totals against the spans.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "gc/gcint.h"

PA_API int pa_gc_get_stats(pa_gc_stats *out)
{
    if (!out)
        return EINVAL;
    memset(out, 0, sizeof *out);
    out->version = PA_GC_STATS_VERSION;
    if (!gc_g.inited)
        return 0;
    out->markers = atomic_load_explicit(&gc_last_markers, memory_order_relaxed);
    /* One consistent pair: writers keep free_bytes <= heap_bytes at every
     * instant (spans.c adds a span's bytes before its free bytes and takes
     * them away after), so a free figure read while the heap figure held
     * still is at most that heap figure. Read apart, a span made or
     * released between the two loads could show more free than heap. */
    uint64_t heap = gc_ld(&gc_g.heap_bytes), free_b;
    for (unsigned tries = 0;; tries++) {
        free_b = gc_ld(&gc_g.free_bytes);
        uint64_t again = gc_ld(&gc_g.heap_bytes);
        if (again == heap)
            break;
        heap = again;
        if (tries >= 64) {                 /* spans churning without end */
            free_b = free_b < heap ? free_b : heap;
            break;
        }
    }
    out->heap_bytes = heap;
    out->free_bytes = free_b;
    pageheap_stats ps;
    pageheap_get_stats(gc_g.ph, &ps);
    out->released_bytes = ps.released_bytes;
    uint64_t returned = 0;                 /* record pages returned are not held */
    for (unsigned k = 0; k < GC_REC_POOLS; k++) {
        pa_recpool_stats rs;
        pa_recpool_usage(&gc_g.span_recs[k], &rs);
        returned += rs.prepared_bytes;
    }
    returned += gc_ld(&gc_g.map_released);
    out->metadata_bytes = sysmem_stat_load(&gc_g.meta) - returned + ps.metadata_bytes;
    out->allocated_since_gc = gc_ld(&gc_g.alloc_since);
    out->total_allocated = gc_ld(&gc_g.total_alloc) + gc_tcache_handed_bytes();
    out->live_after_mark = gc_ld(&gc_g.live_marked);
    out->heap_goal = gc_ld(&gc_g.goal);
    out->memory_limit = gc_ld(&gc_g.limit);
    out->percent = atomic_load(&gc_g.percent);
    out->threads = gc_thread_count();
    out->collections = gc_ld(&gc_g.collections);
    out->forced_collections = gc_ld(&gc_g.forced);
    out->pause_last_ns = gc_ld(&gc_g.pause_last);
    out->pause_max_ns = gc_ld(&gc_g.pause_max);
    out->pause_total_ns = gc_ld(&gc_g.pause_total);
    out->mark_cpu_ns = gc_ld(&gc_g.mark_cpu);
    out->swept_bytes = gc_ld(&gc_g.swept_bytes);
    out->released_total_bytes = ps.scavenged_bytes;   /* releases included */
    out->finalizers_run = gc_ld(&gc_g.fin_run);
    out->finalizers_pending = gc_fin_pending_count();
    out->links_cleared = gc_ld(&gc_g.links_cleared);
    out->leaks_found = gc_ld(&gc_g.leaks_found);
    out->free_page_bytes = gc_heap_free_pages(&ps);
    return 0;
}

PA_API size_t pa_gc_stats_json_buf(char *buf, size_t size)
{
    pa_gc_stats s;
    pa_gc_get_stats(&s);
    int n = snprintf(buf, size,
        "{\"version\":%" PRIu32 ",\"markers\":%" PRIu32 ",\"heap_bytes\":%" PRIu64
        ",\"free_bytes\":%" PRIu64 ",\"released_bytes\":%" PRIu64 ",\"metadata_bytes\":%" PRIu64
        ",\"allocated_since_gc\":%" PRIu64 ",\"total_allocated\":%" PRIu64
        ",\"live_after_mark\":%" PRIu64 ",\"heap_goal\":%" PRIu64 ",\"memory_limit\":%" PRIu64
        ",\"percent\":%" PRId32 ",\"threads\":%" PRIu32 ",\"collections\":%" PRIu64
        ",\"forced_collections\":%" PRIu64 ",\"pause_last_ns\":%" PRIu64
        ",\"pause_max_ns\":%" PRIu64 ",\"pause_total_ns\":%" PRIu64 ",\"mark_cpu_ns\":%" PRIu64
        ",\"swept_bytes\":%" PRIu64 ",\"released_total_bytes\":%" PRIu64
        ",\"finalizers_run\":%" PRIu64 ",\"finalizers_pending\":%" PRIu64
        ",\"links_cleared\":%" PRIu64 ",\"leaks_found\":%" PRIu64
        ",\"free_page_bytes\":%" PRIu64 "}",
        s.version, s.markers, s.heap_bytes, s.free_bytes, s.released_bytes, s.metadata_bytes,
        s.allocated_since_gc, s.total_allocated, s.live_after_mark, s.heap_goal, s.memory_limit,
        s.percent, s.threads, s.collections, s.forced_collections, s.pause_last_ns,
        s.pause_max_ns, s.pause_total_ns, s.mark_cpu_ns, s.swept_bytes, s.released_total_bytes,
        s.finalizers_run, s.finalizers_pending, s.links_cleared, s.leaks_found,
        s.free_page_bytes);
    return n < 0 ? 0 : (size_t)n;
}

PA_API int pa_gc_stats_json(FILE *f)
{
    char buf[1280];                      /* the longest text is < 1000 */
    size_t n = pa_gc_stats_json_buf(buf, sizeof buf);
    if (!f || n >= sizeof buf)
        return EINVAL;
    return fputs(buf, f) < 0 || fputc('\n', f) < 0 ? EIO : 0;
}

static int fail(char *msg, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (msg && n)
        vsnprintf(msg, n, fmt, ap);
    va_end(ap);
    return EFAULT;
}

static int check_span(const gc_class *c, unsigned spc, const gc_span *s, uint32_t sg,
                      char *msg, size_t n)
{
    if (s->spc != spc || s->dead || (s->base & (GC_PAGE - 1)))
        return fail(msg, n, "span %#lx: class %u in list %u, dead %d", (unsigned long)s->base,
                    s->spc, spc, s->dead);
    for (uint32_t k = 0; k < s->npages; k++)
        if (gc_span_of(s->base + k * GC_PAGE) != s)
            return fail(msg, n, "span %#lx: page %u not mapped to it", (unsigned long)s->base, k);
    if ((uint64_t)s->size * s->nelems > (uint64_t)s->npages * GC_PAGE)
        return fail(msg, n, "span %#lx: objects past its pages", (unsigned long)s->base);
    if (s->sweepgen != sg && s->sweepgen != sg - 2)
        return fail(msg, n, "span %#lx: sweepgen %u, global %u", (unsigned long)s->base,
                    s->sweepgen, sg);
    uint32_t cnt = 0;
    for (uint32_t w = 0; w < gc_span_words(s); w++) {
        uint64_t valid = w * 64 >= s->nelems ? 0
                         : s->nelems - w * 64 >= 64 ? ~0ull
                         : (1ull << (s->nelems - w * 64)) - 1;
        if ((s->alloc[w] | s->mark[w]) & ~valid)
            return fail(msg, n, "span %#lx: bits past its objects", (unsigned long)s->base);
        cnt += (uint32_t)__builtin_popcountll(s->alloc[w]);
        if (s->sweepgen == sg && s->mark[w])
            return fail(msg, n, "span %#lx: swept, mark bits set", (unsigned long)s->base);
    }
    if (s->sweepgen == sg && cnt != s->nalloc)
        return fail(msg, n, "span %#lx: %u alloc bits, count %u", (unsigned long)s->base, cnt,
                    s->nalloc);
    if (s->in_nonfull && s->sweepgen == sg && s->nalloc == s->nelems && c->cur != s)
        return fail(msg, n, "span %#lx: full on the nonfull list", (unsigned long)s->base);
    if (s->run && (s->in_nonfull || c->cur == s || s->run->span != s))
        return fail(msg, n, "span %#lx: owned by a thread cache but listed", (unsigned long)s->base);
    for (uint32_t w = 0; s->run && w < GC_SPAN_WORDS; w++)
        if (w >= gc_span_words(s) &&
            atomic_load_explicit(&s->run->bits[w], memory_order_relaxed))
            return fail(msg, n, "span %#lx: a cached object past its objects",
                        (unsigned long)s->base);
    for (uint32_t w = 0; s->run && w < gc_span_words(s); w++)
        if (atomic_load_explicit(&s->run->bits[w], memory_order_relaxed) & ~s->alloc[w])
            return fail(msg, n, "span %#lx: a cached object not allocated", (unsigned long)s->base);
    return 0;
}

int gc_check_locked(char *msg, size_t n)
{
    if (!gc_g.inited)
        return 0;
    gc_lock_classes();
    uint32_t sg = atomic_load(&gc_g.sweepgen);
    uint64_t heap = 0, free_b = 0;
    int err = 0;
    for (unsigned i = 0; i < GC_NSPC && !err; i++) {
        gc_class *c = &gc_g.cls[i];
        uint64_t ns = 0;
        for (gc_span *s = c->spans; s && !err; s = s->next, ns++) {
            if (s->next && s->next->prev != s)
                err = fail(msg, n, "class %u: list links broken", i);
            else
                err = check_span(c, i, s, sg, msg, n);
            heap += (uint64_t)s->npages * GC_PAGE;
            free_b += (uint64_t)(s->nelems - s->nalloc) * s->size;
        }
        if (!err && ns != c->nspans)
            err = fail(msg, n, "class %u: %llu spans, count %llu", i, (unsigned long long)ns,
                       (unsigned long long)c->nspans);
        for (gc_span *s = c->nonfull; s && !err; s = s->nf_next)
            if (!s->in_nonfull || s->spc != i)
                err = fail(msg, n, "class %u: nonfull list holds a stranger", i);
    }
    if (!err && heap != gc_ld(&gc_g.heap_bytes))
        err = fail(msg, n, "heap bytes %llu, spans hold %llu",
                   (unsigned long long)gc_ld(&gc_g.heap_bytes), (unsigned long long)heap);
    if (!err && free_b != gc_ld(&gc_g.free_bytes))
        err = fail(msg, n, "free bytes %llu, spans have %llu",
                   (unsigned long long)gc_ld(&gc_g.free_bytes), (unsigned long long)free_b);
    gc_unlock_classes();
    /* Not pageheap_check: it needs every page cache quiet, and a thread
     * that exits returns its cache without any collector lock. */
    return err;
}

PA_API int pa_gc_check(char *msg, size_t msg_size)
{
    if (!gc_g.inited)
        return 0;
    gc_lock(&gc_g.collect_mu);
    int err = gc_check_locked(msg, msg_size);
    pthread_mutex_unlock(&gc_g.collect_mu);
    return err;
}
