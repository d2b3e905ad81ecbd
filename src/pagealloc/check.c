/*
 * check.c - the full invariant checker (pagealloc_check).
 *
 * Checks, in order, and reports the first failure with its address:
 *   1. in-use ranges are sorted, non-empty, coalesced, chunk aligned, and
 *      start/end bound exactly the chunks they cover;
 *   2. every grown chunk has scavenged pages only where it has free pages;
 *   3. every leaf summary equals the summary of its chunk's bitmap; above
 *      the leaves, every clean entry has clean children and equals their
 *      merge, and every dirty entry has a dirty parent (tree.c's rules);
 *   3a. every chunk's run counts match its bitmap's runs (runcount.h);
 *   3b. the free-chunk index is exact: a grown chunk's bit is set iff its
 *      leaf is PA_SUM_FREE_CHUNK, and no other committed bit is set
 *      (freeidx.h);
 *   4. the search hint is at or below every free page, and lies in a
 *      grown range or is PA_SEARCH_NONE;
 *   5. no maximal run of at least pa_hint_size(k) free pages starts below
 *      hint[k] (internal.h), and
 *      each hint lies in a grown range or is PA_SEARCH_NONE.
 * Cost: proportional to the number of grown chunks. Read-only.
 */
#include <errno.h>
#include <stdio.h>

#include "pagealloc/debug.h"
#include "pagealloc/internal.h"

static int fail(char *msg, size_t size, const char *fmt, uintptr_t addr, const char *what)
{
    if (msg && size)
        snprintf(msg, size, fmt, (unsigned long)addr, what);
    return EFAULT;
}

/* The merge used by the tree, recomputed here independently: the summary
 * of 8 children of 2^logn pages each, by walking them as one bitmap. */
static pa_sum merge_slow(const pa_sum *c, unsigned logn)
{
    uint64_t full = (uint64_t)1 << logn;
    uint64_t start = 0, max = 0, run = 0;
    int in_start = 1;
    for (int i = 0; i < 8; i++) {
        uint64_t s = pa_sum_start(c[i]), m = pa_sum_max(c[i]), e = pa_sum_end(c[i]);
        if (s == full) {           /* whole child free */
            run += full;
            if (in_start)
                start += full;
        } else {
            run += s;
            if (run > max)
                max = run;
            if (in_start)
                start += s;
            in_start = 0;
            if (m > max)
                max = m;
            run = e;
        }
        if (run > max)
            max = run;
    }
    return pa_sum_pack((unsigned)start, (unsigned)max, (unsigned)run);
}

PA_API int pagealloc_check(const pagealloc *pa, char *msg, size_t size)
{
    const pa_ranges *r = &pa->in_use;
    for (size_t i = 0; i < r->n; i++) {
        if (r->r[i].base >= r->r[i].limit || (r->r[i].base | r->r[i].limit) & (PA_CHUNK_SIZE - 1))
            return fail(msg, size, "pagealloc_check: in-use range at %#lx: %s", r->r[i].base,
                        "empty or not chunk aligned");
        if (i > 0 && r->r[i - 1].limit >= r->r[i].base)
            return fail(msg, size, "pagealloc_check: in-use range at %#lx: %s", r->r[i].base,
                        "not sorted, overlapping or not coalesced with the one before");
    }
    if (r->n && (pa_chunk_index(r->r[0].base) != pa->start ||
                 pa_chunk_index(r->r[r->n - 1].limit) != pa->end))
        return fail(msg, size, "pagealloc_check: bounds at chunk base %#lx: %s",
                    pa_chunk_base(pa->start), "start/end differ from the in-use ranges");

    uintptr_t first_free = PA_SEARCH_NONE;
    uint64_t free_chunks = 0, free_bits = 0;
    const pa_free_index *fx = &pa->free_idx;
    for (uint32_t w = fx->lo_word; w < fx->hi_word; w++)
        free_bits += (uint64_t)pa_popcount64(fx->words[w]);
    for (size_t i = 0; i < r->n; i++) {
        for (uint32_t ci = pa_chunk_index(r->r[i].base); ci < pa_chunk_index(r->r[i].limit); ci++) {
            const pa_chunk *c = pa_try_chunk_of(pa, ci);
            if (!c)
                return fail(msg, size, "pagealloc_check: chunk %#lx: %s", pa_chunk_base(ci),
                            "grown chunk has no bitmap");
            for (unsigned w = 0; w < PA_CHUNK_WORDS; w++) {
                if (c->scav[w] & c->alloc[w])
                    return fail(msg, size, "pagealloc_check: chunk %#lx: %s", pa_chunk_base(ci),
                                "a page is both allocated and scavenged");
                if (~c->alloc[w] && first_free == PA_SEARCH_NONE)
                    first_free = pa_chunk_base(ci) +
                                 ((uintptr_t)w * 64 + (unsigned)__builtin_ctzll(~c->alloc[w])) * PA_PAGE_SIZE;
            }
            if (pa_leaf_sum(pa, ci) != pa_bits_summarize(c->alloc))
                return fail(msg, size, "pagealloc_check: chunk %#lx: %s", pa_chunk_base(ci),
                            "leaf summary differs from the bitmap");
            pa_runcount rc;
            pa_run_counts(c->alloc, &rc);
            for (unsigned k = 1; k < PA_RUN_BUCKETS; k++)
                if (rc.n[k] != pa_runs_of(pa, ci)->n[k])
                    return fail(msg, size, "pagealloc_check: chunk %#lx: %s", pa_chunk_base(ci),
                                "run counts differ from the bitmap's runs");
            const pa_scav_chunks *sx = &pa->scav_chunks;
            if (ci / 64 < sx->lo_word || ci / 64 >= sx->hi_word ||
                (pa_bits_any_set(c->scav) && !pa_scav_chunks_get(sx, ci)))
                return fail(msg, size, "pagealloc_check: chunk %#lx: %s", pa_chunk_base(ci),
                            "has scavenged pages but no scavenged-chunk bit");
            int is_free = pa_leaf_sum(pa, ci) == PA_SUM_FREE_CHUNK;
            free_chunks += (uint64_t)is_free;
            if (ci / 64 < fx->lo_word || ci / 64 >= fx->hi_word ||
                pa_free_index_get(fx, ci) != is_free)
                return fail(msg, size, "pagealloc_check: chunk %#lx: %s", pa_chunk_base(ci),
                            "free-chunk index bit differs from the leaf summary");
        }
        for (int l = PA_LEVELS - 2; l >= 0; l--) {
            unsigned shift = pa_level_shift(l);
            for (uintptr_t e = r->r[i].base >> shift; e <= (r->r[i].limit - 1) >> shift; e++) {
                int dirty = pa->dirty[l][e >> 3] >> (e & 7) & 1;
                if (dirty) {
                    if (l > 0 && !(pa->dirty[l - 1][e >> 6] >> ((e >> 3) & 7) & 1))
                        return fail(msg, size, "pagealloc_check: summary entry at %#lx: %s",
                                    e << shift, "dirty entry under a clean parent");
                    continue;
                }
                if (l < PA_LEVELS - 2 && pa->dirty[l + 1][e] != 0)
                    return fail(msg, size, "pagealloc_check: summary entry at %#lx: %s",
                                e << shift, "clean entry with a dirty child");
                if (pa->sum[l][e] != merge_slow(&pa->sum[l + 1][e * 8], pa_level_log_pages(l + 1)))
                    return fail(msg, size, "pagealloc_check: summary entry at %#lx: %s",
                                e << shift, l == 0 ? "level 0 differs from its children" :
                                "level 1-3 entry differs from its children");
            }
        }
    }
    if (free_bits != free_chunks)
        return fail(msg, size, "pagealloc_check: free-chunk index at %#lx: %s",
                    pa_chunk_base(fx->lo_word * 64), "a bit is set for a chunk that is not grown");
    /* Walk the maximal free runs in address order (runs end at gaps). */
    for (size_t i = 0; i < r->n; i++) {
        uintptr_t run_start = 0, run_len = 0;
        for (uintptr_t a = r->r[i].base; a <= r->r[i].limit; a += PA_PAGE_SIZE) {
            int is_free = a < r->r[i].limit &&
                          !(pa_chunk_of(pa, pa_chunk_index(a))->alloc[pa_chunk_page(a) / 64] >>
                            (pa_chunk_page(a) % 64) & 1);
            if (is_free) {
                if (run_len++ == 0)
                    run_start = a;
                continue;
            }
            for (unsigned k = 1; k <= PA_HINT_MAX && pa_hint_size(k) <= run_len; k++)
                if (run_start < pa->hint[k])
                    return fail(msg, size, "pagealloc_check: free run at %#lx: %s", run_start,
                                "starts below the hint of its size class");
            run_len = 0;
        }
    }
    for (unsigned k = 1; k <= PA_HINT_MAX; k++)
        if (pa->hint[k] != PA_SEARCH_NONE && !pa_ranges_contains(r, pa->hint[k], pa->hint[k] + 1))
            return fail(msg, size, "pagealloc_check: size-class hint %#lx: %s", pa->hint[k],
                        "lies outside the grown ranges");
    if (pa->search > first_free)
        return fail(msg, size, "pagealloc_check: search hint %#lx: %s", pa->search,
                    "is above a free page");
    if (pa->search != PA_SEARCH_NONE && !pa_ranges_contains(r, pa->search, pa->search + 1))
        return fail(msg, size, "pagealloc_check: search hint %#lx: %s", pa->search,
                    "lies outside the grown ranges");
    return 0;
}

void pa_debug_after_slow(const pagealloc *pa, const char *call, uintptr_t addr, size_t npages)
{
    char msg[160], rule[200];
    if (pa_check_level() < PA_CHECK_FULL || pagealloc_check(pa, msg, sizeof msg) == 0)
        return;
    snprintf(rule, sizeof rule, "invariant broken after the call: %s", msg);
    pa_report(call, addr, npages, rule);
}
