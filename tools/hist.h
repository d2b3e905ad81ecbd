/*
 * hist.h - a cheap latency histogram: log-linear buckets of nanoseconds.
 *
 * Values below 16 have a bucket each; above, every power of two is split
 * into 8 buckets, so a quantile is known within 12.5 % (reported as the
 * upper edge of its bucket, never above the exact maximum). Adding a
 * value is a count-leading-zeros and an increment. Not thread-safe: one
 * histogram per thread, merged at the end.
 */
#ifndef PAGEALLOC_TOOL_HIST_H
#define PAGEALLOC_TOOL_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 3u
#define HIST_BUCKETS  (16u + (64u - 4u) * (1u << HIST_SUB_BITS))

typedef struct hist {
    uint64_t count, sum, max;          /* values, their sum, the largest */
    uint64_t b[HIST_BUCKETS];
} hist;

static inline unsigned hist_bucket(uint64_t v)
{
    if (v < 16)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);            /* >= 4 */
    unsigned sub = (unsigned)(v >> (e - HIST_SUB_BITS)) & ((1u << HIST_SUB_BITS) - 1);
    return 16u + (e - 4u) * (1u << HIST_SUB_BITS) + sub;
}

static inline void hist_add(hist *h, uint64_t v)
{
    h->b[hist_bucket(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

void     hist_merge(hist *dst, const hist *src);
/* The q-quantile (0 < q <= 1), 0 for an empty histogram. */
uint64_t hist_quantile(const hist *h, double q);

#endif /* PAGEALLOC_TOOL_HIST_H */
