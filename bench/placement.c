/*
 * placement.c - pagealloc-placement: W5's pages touched under placement
 * policies, simulated (docs/heap.md "Placement"). No memory is mapped:
 * a bitmap of 2^18 pages stands for the heap, and W1's sequence (seed
 * S) is replayed on it; every page ever handed out counts as touched, as
 * in W5 with nothing released (its RSS is then half of them: one 4 KiB
 * page of each 8 KiB page). Printed: the live peak, the pages touched,
 * their ratio (what W5's peak RSS / mmap's would be, metadata aside) and
 * the share of allocations a run cache served.
 *
 * The model has the heap's pieces that decide placement: a page cache
 * (one 64-page aligned block of free pages taken at the lowest free page,
 * for requests under 16 pages, as Go's), a run cache (64 runs, 512
 * pages, exact length first, from 9 pages the shortest longer run with
 * its tail freed; a run that does not fit is freed) and the placement
 * of everything else:
 *   first   address-ordered first fit (the allocator's, Go's)
 *   best    the shortest free run that fits, lowest first
 *   bestK   the shortest of the first K free runs that fit (--k K)
 * and the run caches' merge rule (--merge off|next|both: a freed run with
 * a free neighbour goes to the allocator; both reads the true neighbour
 * here, where the heap reads its run map).
 *
 *   pagealloc-placement [--seed S] [--policy first|best|bestK] [--k K]
 *                       [--no-page-cache] [--run-cache] [--merge off|next|both]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "wlgen.h"

#define NPAGES (1u << 18)
#define SLOTS  4096u
#define STEPS  1000000u

static uint64_t used[NPAGES / 64];          /* 1: allocated (or held by a cache) */
static uint8_t touched[NPAGES];
static long ntouched;

static int is_free(long p) { return !((used[p >> 6] >> (p & 63)) & 1); }

static void set_range(long p, long n, int v)
{
    for (long k = p; k < p + n; k++) {
        if (v)
            used[k >> 6] |= 1ull << (k & 63);
        else
            used[k >> 6] &= ~(1ull << (k & 63));
    }
}

static void touch(long p, long n)
{
    for (long k = p; k < p + n; k++)
        if (!touched[k]) {
            touched[k] = 1;
            ntouched++;
        }
}

/* The first page at or after p that is free (want 0) or used (want 1). */
static long next_page(long p, int want)
{
    while (p < (long)NPAGES) {
        uint64_t w = (want ? used[p >> 6] : ~used[p >> 6]) >> (p & 63);
        if (w)
            return p + __builtin_ctzll(w);
        p = (p | 63) + 1;
    }
    return NPAGES;
}

/* Placement: k = 1 first fit, k = 0 best fit, else best of the first k. */
static long place(long n, unsigned k)
{
    long best = -1, best_len = 0;
    unsigned seen = 0;
    for (long p = next_page(0, 0); p < (long)NPAGES; p = next_page(p, 0)) {
        long e = next_page(p, 1), len = e - p;
        if (e >= (long)NPAGES)
            len = NPAGES;                   /* the untouched top: last resort */
        if (len >= n) {
            if (best < 0 || len < best_len) {
                best = p;
                best_len = len;
            }
            if (len == n || ++seen == k)
                break;
        }
        p = e;
    }
    return best;
}

static unsigned g_k = 1;
static int g_page_cache = 1, g_run_cache, g_merge;   /* merge: 0 off, 1 next, 2 both */

static long pc_base = -1;
static uint64_t pc_free;                     /* the page cache's pages */

static long rc_addr[64], rc_len[64];
static unsigned rc_n;
static long rc_pages, rc_hits, allocs;

static long rc_take(long n)
{
    int at = -1;
    for (int i = (int)rc_n - 1; i >= 0; i--)     /* most recent first */
        if (rc_len[i] == n) {
            at = i;
            break;
        }
    if (at < 0 && n >= 9)
        for (int i = (int)rc_n - 1; i >= 0; i--)
            if (rc_len[i] > n && (at < 0 || rc_len[i] < rc_len[at]))
                at = i;
    if (at < 0)
        return -1;
    long p = rc_addr[at], len = rc_len[at];
    memmove(rc_addr + at, rc_addr + at + 1, (rc_n - (unsigned)at - 1) * sizeof *rc_addr);
    memmove(rc_len + at, rc_len + at + 1, (rc_n - (unsigned)at - 1) * sizeof *rc_len);
    rc_n--;
    rc_pages -= len;
    if (len > n)
        set_range(p + n, len - n, 0);        /* the tail to the allocator */
    rc_hits++;
    return p;
}

static long alloc(long n)
{
    allocs++;
    long p = g_run_cache ? rc_take(n) : -1;
    if (p < 0 && g_page_cache && n < 16) {
        if (!pc_free) {                      /* refill at the lowest free page */
            pc_base = next_page(0, 0) & ~63L;
            pc_free = ~used[pc_base >> 6];
            used[pc_base >> 6] = ~0ull;
        }
        uint64_t m = pc_free;
        for (long k = 1; k < n; k++)
            m &= pc_free >> k;
        if (m) {
            int b = __builtin_ctzll(m);
            pc_free &= ~(((n == 64) ? ~0ull : (1ull << n) - 1) << b);
            p = pc_base + b;
        }
    }
    if (p < 0) {
        p = place(n, g_k);
        if (p < 0) {
            fprintf(stderr, "pagealloc-placement: out of pages\n");
            exit(1);
        }
        set_range(p, n, 1);
    }
    touch(p, n);
    return p;
}

static void release(long p, long n)
{
    int merge = (p + n < (long)NPAGES && is_free(p + n)) ||
                (g_merge == 2 && p > 0 && is_free(p - 1));
    if (g_run_cache && !(g_merge && merge) && rc_n < 64 && rc_pages + n <= 512) {
        rc_addr[rc_n] = p;
        rc_len[rc_n++] = n;
        rc_pages += n;
        return;
    }
    set_range(p, n, 0);
}

int main(int argc, char **argv)
{
    uint64_t seed = WLGEN_SEED;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--seed") && v) {
            seed = strtoull(v, NULL, 10), i++;
        } else if (!strcmp(a, "--policy") && v) {
            g_k = !strcmp(v, "first") ? 1 : !strcmp(v, "best") ? 0 : g_k;
            if (!strcmp(v, "bestK") && g_k == 1)
                g_k = 8;
            i++;
        } else if (!strcmp(a, "--k") && v) {
            g_k = (unsigned)strtoul(v, NULL, 10), i++;
        } else if (!strcmp(a, "--no-page-cache")) {
            g_page_cache = 0;
        } else if (!strcmp(a, "--run-cache")) {
            g_run_cache = 1;
        } else if (!strcmp(a, "--merge") && v) {
            g_merge = !strcmp(v, "next") ? 1 : !strcmp(v, "both") ? 2 : 0, i++;
        } else {
            fprintf(stderr, "usage: %s [--seed S] [--policy first|best|bestK] [--k K]\n"
                            "  [--no-page-cache] [--run-cache] [--merge off|next|both]\n", argv[0]);
            return 2;
        }
    }
    static long addr[SLOTS], size[SLOTS];
    rng_xorshift r = {seed};
    long live = 0, peak;
    for (unsigned i = 0; i < SLOTS; i++) {
        size[i] = (long)wlgen_churn_size(&r);
        addr[i] = alloc(size[i]);
        live += size[i];
    }
    peak = live;
    for (unsigned s = 0; s < STEPS; s++) {
        uint64_t n;
        uint32_t i = wlgen_churn_step(&r, SLOTS, 0, &n);
        release(addr[i], size[i]);
        live += (long)n - size[i];
        size[i] = (long)n;
        addr[i] = alloc(size[i]);
        if (live > peak)
            peak = live;
    }
    printf("placement seed=%llu k=%u page_cache=%d run_cache=%d merge=%d live_peak=%ld "
           "touched=%ld ratio=%.4f run_cache_hits=%.3f\n",
           (unsigned long long)seed, g_k, g_page_cache, g_run_cache, g_merge, peak, ntouched,
           (double)ntouched / (double)peak, (double)rc_hits / (double)allocs);
    return 0;
}
