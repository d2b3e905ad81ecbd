/*
 * summary.c - printing a replay's figures (summary.h), with the object
 * allocator's own figures and the map's class key for object workloads.
 */
#include "summary.h"

#include <inttypes.h>
#include <string.h>

static const double quantiles[] = { 0.5, 0.9, 0.99, 0.999 };
static const char *const qnames[] = { "p50", "p90", "p99", "p99_9" };

void summary_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void latency_row(FILE *f, const char *name, const hist *h)
{
    fprintf(f, "    %-6s %10" PRIu64, name, h->count);
    for (unsigned q = 0; q < 4; q++)
        fprintf(f, " %8" PRIu64, hist_quantile(h, quantiles[q]));
    fprintf(f, " %9" PRIu64 " %8.0f\n", h->max, h->count ? (double)h->sum / (double)h->count : 0.0);
}

static const char *si_prefix(char *buf, double v)
{
    if (v >= 1e9) snprintf(buf, 32, "%.2f G", v / 1e9);
    else if (v >= 1e6) snprintf(buf, 32, "%.2f M", v / 1e6);
    else if (v >= 1e3) snprintf(buf, 32, "%.1f k", v / 1e3);
    else snprintf(buf, 32, "%.0f ", v);
    return buf;
}

/* An object workload's own lines: the allocator's statistics, the
 * inboxes' traffic, the spans by class (the map's key). */
static void objects_text(FILE *f, const eng_result *r)
{
    char a[32], b[32], c[32], d[32], e[32];
    const pa_malloc_stats *ms = &r->mstats;
    uint64_t cached = 0;
    for (unsigned k = 1; k < PA_MALLOC_CLASSES; k++)
        cached += ms->cls[k].cached_bytes;
    fprintf(f, "  objects      in use %s (small %s, large %s in %" PRIu64 " objects), free in "
               "spans %s, spans and large objects %s, metadata %s, %" PRIu64 " thread caches\n",
            cli_bytes(a, ms->in_use_bytes), cli_bytes(b, ms->in_use_bytes - ms->cls[0].bytes),
            cli_bytes(c, ms->cls[0].bytes), ms->cls[0].objects, cli_bytes(d, cached),
            cli_bytes(e, ms->span_bytes), cli_bytes((char[32]){ 0 }, ms->metadata_bytes),
            ms->threads);
    if (r->sends || r->remote_frees || r->empty_recvs)
        fprintf(f, "  cross-thread %" PRIu64 " objects sent to the next thread, %" PRIu64
                   " freed there (remote frees); %" PRIu64 " freed by their sender (inbox "
                   "full), %" PRIu64 " receives found the inbox empty\n",
                r->sends, r->remote_frees, r->local_frees, r->empty_recvs);
    if (r->map.by_class) {
        fprintf(f, "  spans        %" PRIu64 " (pa_malloc_visit_spans at the end), by size class, "
                   "with the heap map's colours:\n",
                r->map.spans);
        heapmap_print_class_key(f, &r->map, 4);
        if (r->map.in_use_no_span || r->map.span_pages_not_in_use)
            fprintf(f, "    %" PRIu64 " in-use pages outside spans, %" PRIu64
                       " span pages not in use\n",
                    r->map.in_use_no_span, r->map.span_pages_not_in_use);
    }
}

void summary_print_text(FILE *f, const summary_info *si, const eng_result *r)
{
    char a[32], b[32], c[32], d[32];
    const pageheap_stats *st = &r->stats;
    const pageheap_options *ho = &si->opts->heap;
    uint64_t ops = r->allocs + r->frees;
    fprintf(f, "pagealloc %s: %s", si->command, si->workload);
    if (si->title)
        fprintf(f, " (%s)", si->title);
    if (r->objects)
        fprintf(f, "\n  %u thread%s on pa_malloc, the process's object allocator; its page heap: "
                   "%u shard%s, background scavenger %s, ", si->threads,
                si->threads == 1 ? "" : "s", st->shards, st->shards == 1 ? "" : "s",
                ho->background_scavenger ? "on" : "off");
    else
        fprintf(f, "\n  %u thread%s, %u shard%s, background scavenger %s, ", si->threads,
                si->threads == 1 ? "" : "s", st->shards, st->shards == 1 ? "" : "s",
                ho->background_scavenger ? "on" : "off");
    if (ho->limit)
        fprintf(f, "%s limit %s, ", ho->hard_limit ? "hard" : "soft", cli_bytes(a, ho->limit));
    else
        fprintf(f, "no limit, ");
    if (r->objects)
        fprintf(f, "objects %s\n\n", si->opts->touch ? "touched" : "not touched");
    else
        fprintf(f, "pages %s\n\n", si->opts->touch ? "touched" : "not touched");

    fprintf(f, "  operations   %" PRIu64 " in %.3f s: %sops/s%s\n", ops, r->seconds,
            si_prefix(a, r->seconds > 0 ? (double)ops / r->seconds : 0),
            r->timed_out ? " (stopped at the time limit)" : "");
    fprintf(f, "               %" PRIu64 " allocations (%s in all, %" PRIu64 " failed), %" PRIu64
               " frees",
            r->allocs, cli_bytes(b, r->alloc_bytes), r->alloc_failures, r->frees);
    if (r->skipped_frees)
        fprintf(f, " (+%" PRIu64 " of failed allocations, skipped)", r->skipped_frees);
    if (r->releases)
        fprintf(f, ", %" PRIu64 " releases (%s)", r->releases, cli_bytes(c, r->release_bytes));
    fprintf(f, "\n\n  latency (ns)    count      p50      p90      p99    p99.9       max     mean\n");
    latency_row(f, "alloc", &r->alloc_ns);
    latency_row(f, "free", &r->free_ns);

    fprintf(f, "\n  RSS          %s at start, %s peak, %s final (live allocations still held)\n",
            cli_bytes(a, r->rss_start), cli_bytes(b, r->rss_peak), cli_bytes(c, r->rss_final));
    fprintf(f, "  heap         in use %s, page caches %s, free %s, released %s, metadata %s\n",
            cli_bytes(a, st->in_use_bytes), cli_bytes(b, st->cache_bytes),
            cli_bytes(c, st->free_bytes), cli_bytes(d, st->released_bytes),
            cli_bytes((char[32]){ 0 }, st->metadata_bytes));
    fprintf(f, "  released     %s to the OS in %" PRIu64 " runs (scavenger %.1f ms CPU, "
               "assists %.1f ms); limit hit %" PRIu64 " times\n",
            cli_bytes(a, st->scavenged_bytes), st->scavenges, (double)st->scavenger_cpu_ns / 1e6,
            (double)st->assist_cpu_ns / 1e6, st->limit_hits);
    if (r->map.below || r->map.n)
        fprintf(f, "  fragmentation %s free below the highest allocated page (%.1f %% of %s)\n",
                cli_bytes(a, r->map.holes * PAGEALLOC_PAGE_SIZE), pct(r->map.holes, r->map.below),
                cli_bytes(b, r->map.below * PAGEALLOC_PAGE_SIZE));
    if (r->objects)
        objects_text(f, r);
    fprintf(f, "  heap check   %s\n", r->check_err ? r->check_msg : "ok");
    if (si->map_path)
        fprintf(f, "  heap map     %s (%u x %u px: one pixel per page, one row per chunk%s)\n",
                si->map_path, si->map_width, si->map_height,
                r->map.by_class ? ", spans coloured by size class" : "");
}

static void hist_json(FILE *f, const hist *h)
{
    fprintf(f, "{\"count\": %" PRIu64, h->count);
    for (unsigned q = 0; q < 4; q++)
        fprintf(f, ", \"%s\": %" PRIu64, qnames[q], hist_quantile(h, quantiles[q]));
    fprintf(f, ", \"max\": %" PRIu64 ", \"mean\": %.1f}", h->max,
            h->count ? (double)h->sum / (double)h->count : 0.0);
}

void summary_print_pages_json(FILE *f, const heapmap *m)
{
    fprintf(f, "{\"chunks\": %zu", m->n);
    for (unsigned s = 0; s < HEAPMAP_STATES; s++)
        fprintf(f, ", \"%s\": %" PRIu64, heapmap_state_key(s), m->pages[s]);
    fputc('}', f);
}

/* An object workload's members (each after a ",\n"). */
static void objects_json(FILE *f, const eng_result *r)
{
    char hex[8];
    fprintf(f, ",\n  \"allocator\": \"pa_malloc\",\n  \"xthread\": {\"sends\": %" PRIu64
               ", \"remote_frees\": %" PRIu64 ", \"local_frees\": %" PRIu64
               ", \"empty_receives\": %" PRIu64 "}",
            r->sends, r->remote_frees, r->local_frees, r->empty_recvs);
    fprintf(f, ",\n  \"spans\": ");
    if (!r->map.by_class) {
        fprintf(f, "null");
    } else {
        fprintf(f, "{\"count\": %" PRIu64 ", \"in_use_pages_without_span\": %" PRIu64
                   ", \"span_pages_not_in_use\": %" PRIu64 ", \"colours\": {",
                r->map.spans, r->map.in_use_no_span, r->map.span_pages_not_in_use);
        static const struct { const char *key; unsigned state; } other[] = {
            { "free", PAGEHEAP_PAGE_FREE }, { "released", PAGEHEAP_PAGE_RELEASED },
            { "no_span", PAGEHEAP_PAGE_IN_USE },
        };
        for (unsigned k = 0; k < 3; k++) {
            heapmap_state_hex_by_class(other[k].state, hex);
            fprintf(f, "\"%s\": \"%s\", ", other[k].key, hex);
        }
        heapmap_class_hex(HEAPMAP_LARGE, hex);
        fprintf(f, "\"large\": \"%s\"},\n    \"classes\": [", hex);
        int first = 1;
        for (unsigned c = 0; c < PA_MALLOC_CLASSES; c++) {
            const heapmap_class *h = &r->map.cls[c];
            if (!h->spans)
                continue;
            heapmap_class_hex(c ? c : HEAPMAP_LARGE, hex);
            fprintf(f, "%s\n      {\"class\": %u, \"size\": %u, \"spans\": %" PRIu64
                       ", \"pages\": %" PRIu64 ", \"objects\": %" PRIu64
                       ", \"allocated\": %" PRIu64 ", \"allocated_bytes\": %" PRIu64
                       ", \"colour\": \"%s\"}",
                    first ? "" : ",", c, h->size, h->spans, h->pages, h->objects, h->allocated,
                    h->allocated_bytes, hex);
            first = 0;
        }
        fprintf(f, "]}");
    }
    /* pa_malloc_stats_json of the same moment, its final newline dropped. */
    fprintf(f, ",\n  \"malloc\": ");
    if (r->malloc_json) {
        size_t n = strlen(r->malloc_json);
        while (n && r->malloc_json[n - 1] == '\n')
            n--;
        fwrite(r->malloc_json, 1, n, f);
    } else {
        fprintf(f, "null");
    }
}

void summary_print_json(FILE *f, const summary_info *si, const eng_result *r)
{
    const pageheap_options *ho = &si->opts->heap;
    uint64_t ops = r->allocs + r->frees;
    fprintf(f, "{\n  \"command\": ");
    summary_json_string(f, si->command);
    fprintf(f, ",\n  \"workload\": ");
    summary_json_string(f, si->workload);
    fprintf(f, ",\n  \"threads\": %u,\n  \"limit_bytes\": %" PRIu64 ",\n  \"hard_limit\": %s,\n"
               "  \"background_scavenger\": %s,\n  \"touch\": %s,\n",
            si->threads, ho->limit, ho->hard_limit ? "true" : "false",
            ho->background_scavenger ? "true" : "false", si->opts->touch ? "true" : "false");
    fprintf(f, "  \"seconds\": %.6f,\n  \"timed_out\": %s,\n  \"operations\": %" PRIu64
               ",\n  \"ops_per_second\": %.1f,\n",
            r->seconds, r->timed_out ? "true" : "false", ops,
            r->seconds > 0 ? (double)ops / r->seconds : 0.0);
    fprintf(f, "  \"allocs\": %" PRIu64 ",\n  \"alloc_bytes\": %" PRIu64
               ",\n  \"alloc_failures\": %" PRIu64 ",\n  \"frees\": %" PRIu64
               ",\n  \"skipped_frees\": %" PRIu64 ",\n  \"releases\": %" PRIu64
               ",\n  \"release_bytes\": %" PRIu64 ",\n",
            r->allocs, r->alloc_bytes, r->alloc_failures, r->frees, r->skipped_frees,
            r->releases, r->release_bytes);
    fprintf(f, "  \"latency_ns\": {\"alloc\": ");
    hist_json(f, &r->alloc_ns);
    fprintf(f, ", \"free\": ");
    hist_json(f, &r->free_ns);
    fprintf(f, "},\n  \"rss\": {\"start\": %" PRIu64 ", \"peak\": %" PRIu64 ", \"final\": %" PRIu64
               "},\n",
            r->rss_start, r->rss_peak, r->rss_final);
    fprintf(f, "  \"released_bytes\": %" PRIu64 ",\n", r->stats.scavenged_bytes);
    fprintf(f, "  \"fragmentation\": {\"bytes\": %" PRIu64 ", \"percent\": %.2f, "
               "\"below_top_bytes\": %" PRIu64 "},\n",
            r->map.holes * PAGEALLOC_PAGE_SIZE, pct(r->map.holes, r->map.below),
            r->map.below * PAGEALLOC_PAGE_SIZE);
    fprintf(f, "  \"pages\": ");
    summary_print_pages_json(f, &r->map);
    fprintf(f, ",\n  \"check\": ");
    summary_json_string(f, r->check_err ? r->check_msg : "ok");
    fprintf(f, ",\n  \"map\": ");
    if (si->map_path) {
        fprintf(f, "{\"file\": ");
        summary_json_string(f, si->map_path);
        fprintf(f, ", \"width\": %u, \"height\": %u}", si->map_width, si->map_height);
    } else {
        fprintf(f, "null");
    }
    if (r->objects)
        objects_json(f, r);
    fprintf(f, ",\n  \"heap\": %s\n}\n", r->stats_json ? r->stats_json : "null");
}
