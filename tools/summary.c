/*
 * summary.c - printing a replay's figures (summary.h).
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

void summary_print_text(FILE *f, const summary_info *si, const eng_result *r)
{
    char a[32], b[32], c[32], d[32];
    const pageheap_stats *st = &r->stats;
    const pageheap_options *ho = &si->opts->heap;
    uint64_t ops = r->allocs + r->frees;
    fprintf(f, "pagealloc %s: %s", si->command, si->workload);
    if (si->title)
        fprintf(f, " (%s)", si->title);
    fprintf(f, "\n  %u thread%s, %u shard%s, background scavenger %s, ", si->threads,
            si->threads == 1 ? "" : "s", st->shards, st->shards == 1 ? "" : "s",
            ho->background_scavenger ? "on" : "off");
    if (ho->limit)
        fprintf(f, "%s limit %s, ", ho->hard_limit ? "hard" : "soft", cli_bytes(a, ho->limit));
    else
        fprintf(f, "no limit, ");
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
    fprintf(f, "  heap check   %s\n", r->check_err ? r->check_msg : "ok");
    if (si->map_path)
        fprintf(f, "  heap map     %s (%u x %u px: one pixel per page, one row per chunk)\n",
                si->map_path, si->map_width, si->map_height);
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
    fprintf(f, ",\n  \"heap\": %s\n}\n", r->stats_json ? r->stats_json : "null");
}
