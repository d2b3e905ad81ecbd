/*
 * hist.c - merging histograms and reading quantiles (hist.h).
 */
#include "hist.h"

void hist_merge(hist *dst, const hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
}

/* The largest value that falls into bucket i. */
static uint64_t bucket_top(unsigned i)
{
    if (i < 16)
        return i;
    unsigned e = 4 + (i - 16) / (1u << HIST_SUB_BITS);
    uint64_t sub = (i - 16) % (1u << HIST_SUB_BITS);
    uint64_t lo = ((uint64_t)1 << e) | (sub << (e - HIST_SUB_BITS));
    return lo + ((uint64_t)1 << (e - HIST_SUB_BITS)) - 1;
}

uint64_t hist_quantile(const hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t top = bucket_top(i);
            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}
