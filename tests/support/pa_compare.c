/*
 * pa_compare.c - a pagealloc compared with the reference model, state for
 * state; see pa_compare.h.
 *
 * The comparison reads the library only through its conformance surface
 * (pagealloc/testing.h: bounds, in-use ranges, each chunk's two bitmaps;
 * pagealloc_get_stats; pagealloc_check) and the model only through its
 * observers (pa_model.h), in a fixed order, and stops at the first
 * difference: bounds, then in-use ranges, then the bitmaps chunk by chunk
 * and word by word (naming the first differing page), then the stats
 * counters, then the library's own invariant check. Because the model's
 * in-use ranges are its coalesced regions, equal ranges mean both sides
 * grew the same chunks, and the bitmaps are then compared over exactly
 * those chunks. Nothing is changed on either side.
 */
#include "pa_compare.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pa_testutil.h"

int pa_model_compare(const pa_model *m, const pagealloc *pa, char *msg, size_t msg_size)
{
    uintptr_t ls, le, ms, me;
    pagealloc_test_bounds(pa, &ls, &le);
    pa_model_bounds(m, &ms, &me);
    if (ls != ms || le != me) {
        snprintf(msg, msg_size, "bounds: pagealloc [0x%" PRIxPTR ", 0x%" PRIxPTR
                 "), model [0x%" PRIxPTR ", 0x%" PRIxPTR ")", ls, le, ms, me);
        return -1;
    }
    size_t mn = pa_model_in_use(m, NULL, 0);
    uintptr_t (*mr)[2] = pa_xcalloc(mn, sizeof *mr);
    pa_model_in_use(m, mr, mn);
    size_t cap = mn + 8;
    uintptr_t (*lr)[2] = pa_xcalloc(cap, sizeof *lr);
    size_t ln = pagealloc_test_in_use(pa, lr, cap);
    int bad = ln != mn;
    for (size_t i = 0; !bad && i < ln; i++)
        bad = lr[i][0] != mr[i][0] || lr[i][1] != mr[i][1];
    if (bad) {
        int o = snprintf(msg, msg_size, "in-use ranges: pagealloc %zu:", ln);
        for (size_t i = 0; i < ln && i < cap && o > 0 && (size_t)o < msg_size; i++)
            o += snprintf(msg + o, msg_size - (size_t)o, " [0x%" PRIxPTR ",0x%" PRIxPTR ")",
                          lr[i][0], lr[i][1]);
        if (o > 0 && (size_t)o < msg_size)
            o += snprintf(msg + o, msg_size - (size_t)o, "; model %zu:", mn);
        for (size_t i = 0; i < mn && o > 0 && (size_t)o < msg_size; i++)
            o += snprintf(msg + o, msg_size - (size_t)o, " [0x%" PRIxPTR ",0x%" PRIxPTR ")",
                          mr[i][0], mr[i][1]);
        free(lr);
        free(mr);
        return -1;
    }
    free(lr);
    for (size_t i = 0; i < mn; i++) {
        for (uintptr_t c = mr[i][0]; c < mr[i][1]; c += PA_MODEL_CHUNK) {
            uint64_t la[8], lsv[8], ma[8], msv[8];
            if (!pagealloc_test_chunk_bits(pa, c, la, lsv)) {
                snprintf(msg, msg_size, "chunk 0x%" PRIxPTR ": pagealloc has no bitmaps", c);
                free(mr);
                return -1;
            }
            pa_model_chunk_bits(m, c, ma, msv);
            for (unsigned w = 0; w < 8; w++) {
                if (la[w] != ma[w] || lsv[w] != msv[w]) {
                    uint64_t d = (la[w] ^ ma[w]) | (lsv[w] ^ msv[w]);
                    unsigned b = (unsigned)__builtin_ctzll(d);
                    snprintf(msg, msg_size, "chunk 0x%" PRIxPTR " word %u (first difference: page "
                             "%u, address 0x%" PRIxPTR "): pagealloc alloc 0x%016" PRIx64
                             " scav 0x%016" PRIx64 ", model alloc 0x%016" PRIx64 " scav 0x%016" PRIx64,
                             c, w, w * 64 + b, c + (w * 64 + b) * PA_MODEL_PAGE,
                             la[w], lsv[w], ma[w], msv[w]);
                    free(mr);
                    return -1;
                }
            }
        }
    }
    free(mr);
    pagealloc_stats ls_, ms_;
    memset(&ls_, 0, sizeof ls_);
    pagealloc_get_stats(pa, &ls_);
    pa_model_stats(m, &ms_);
    if (ls_.version != PAGEALLOC_STATS_VERSION ||
        ls_.heap_bytes != ms_.heap_bytes || ls_.free_bytes != ms_.free_bytes ||
        ls_.scavenged_bytes != ms_.scavenged_bytes || ls_.chunks != ms_.chunks) {
        snprintf(msg, msg_size, "stats: pagealloc heap %" PRIu64 " free %" PRIu64 " scavenged %" PRIu64
                 " chunks %" PRIu64 "; model heap %" PRIu64 " free %" PRIu64 " scavenged %" PRIu64
                 " chunks %" PRIu64, ls_.heap_bytes, ls_.free_bytes, ls_.scavenged_bytes, ls_.chunks,
                 ms_.heap_bytes, ms_.free_bytes, ms_.scavenged_bytes, ms_.chunks);
        return -1;
    }
    char cm[512] = "";
    int rc = pagealloc_check(pa, cm, sizeof cm);
    if (rc != 0) {
        snprintf(msg, msg_size, "pagealloc_check: %d: %s", rc, cm);
        return -1;
    }
    return 0;
}

