/*
 * pa_workloads.c - W1-W4 of BENCHMARKS.md on an unbacked pagealloc.
 *
 * The sequences are exactly the ones bench/go/core_bench_test.go replays on
 * Go 1.19's allocator: same generator, same order of draws, same checksum.
 * Only the timed part is measured (CLOCK_MONOTONIC); fills, permutations
 * and W4's batch frees are outside it.
 */
#include "pa_workloads.h"
#include "wlgen.h"

#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull
#define SEED       42u

const pa_wl_info pa_wl_table[PA_WL_COUNT] = {
    [PA_WL_W1] = {"W1", "churn",        "pair",  1024, 1000000, 0x22d484c38fec00c0ull},
    [PA_WL_W2] = {"W2", "single pages", "op",    1024, 2000000, 0x5b1496976f15d0e5ull},
    [PA_WL_W3] = {"W3", "large",        "pair",  2048,  100000, 0x31f058bcd029b8b0ull},
    [PA_WL_W4] = {"W4", "page cache",   "alloc", 1024, 1000000, 0xcf63cb6ae055f4e5ull},
};

enum pa_wl_id pa_wl_lookup(const char *name)
{
    for (int w = 0; w < PA_WL_COUNT; w++)
        if (strcasecmp(name, pa_wl_table[w].name) == 0)
            return (enum pa_wl_id)w;
    return PA_WL_COUNT;
}

typedef wlgen_rng rng;      /* a fresh generator (state 42) per workload */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One run: the allocator, the options, the checksum so far. */
typedef struct {
    pagealloc           *pa;
    const pa_wl_options *o;
    uint64_t             h;
    uint64_t             nallocs;  /* allocations folded (trace index) */
    uint64_t             ns;       /* timed nanoseconds accumulated */
    uint64_t             t0;       /* start of the current timed stretch */
} wl;

static inline void wl_start(wl *s) { if (s->o->timed) s->t0 = now_ns(); }
static inline void wl_stop(wl *s)  { if (s->o->timed) s->ns += now_ns() - s->t0; }

static inline void wl_fold(wl *s, uintptr_t addr, size_t npages)
{
    uint64_t v = addr ? (uint64_t)(addr - PA_WL_BASE) / PAGEALLOC_PAGE_SIZE : UINT64_MAX;
    if (s->o->trace)
        fprintf(s->o->trace, "%llu %zu %lld\n", (unsigned long long)s->nallocs, npages,
                addr ? (long long)v : -1LL);
    s->nallocs++;
    s->h = (s->h ^ v) * FNV_PRIME;
}

/* Allocator calls, under the lock in the locked variant. */
static inline uintptr_t wl_alloc(wl *s, size_t npages)
{
    if (s->o->lock) pthread_mutex_lock(s->o->lock);
    uintptr_t a = pagealloc_alloc(s->pa, npages, NULL);
    if (s->o->lock) pthread_mutex_unlock(s->o->lock);
    return a;
}

static inline void wl_free(wl *s, uintptr_t base, size_t npages)
{
    if (s->o->lock) pthread_mutex_lock(s->o->lock);
    pagealloc_free(s->pa, base, npages);
    if (s->o->lock) pthread_mutex_unlock(s->o->lock);
}

static inline pagealloc_cache wl_alloc_to_cache(wl *s)
{
    if (s->o->lock) pthread_mutex_lock(s->o->lock);
    pagealloc_cache c = pagealloc_alloc_to_cache(s->pa);
    if (s->o->lock) pthread_mutex_unlock(s->o->lock);
    return c;
}

/* The heap: nchunks chunks at PA_WL_BASE, every page free and resident.
 * A grown range may start out scavenged (Go's grow marks new memory so),
 * so allocate it whole and free it: free pages come back not scavenged,
 * which is NewPageAlloc(chunks, nil)'s state. */
static pagealloc *heap_new(unsigned nchunks, int *err)
{
    pagealloc_options opts = {.unbacked = 1};
    pagealloc *pa = pagealloc_new(&opts);
    if (!pa) {
        *err = errno ? errno : ENOMEM;
        return NULL;
    }
    size_t npages = (size_t)nchunks * PAGEALLOC_CHUNK_PAGES;
    int rc = pagealloc_grow(pa, PA_WL_BASE, (size_t)nchunks * PAGEALLOC_CHUNK_SIZE);
    if (rc == 0 && pagealloc_alloc(pa, npages, NULL) != PA_WL_BASE)
        rc = EFAULT;
    if (rc != 0) {
        pagealloc_delete(pa);
        *err = rc;
        return NULL;
    }
    pagealloc_free(pa, PA_WL_BASE, npages);
    return pa;
}

/* W1 (4096 slots, churn sizes) and W3 (64 slots, large sizes): fill the
 * slots (untimed), then steps of i = below(slots); s = size();
 * free(live[i]); live[i] = alloc(s). */
static int run_churn(wl *s, unsigned slots, uint64_t steps, int large)
{
    uintptr_t *live = malloc(slots * sizeof *live);
    size_t *size = malloc(slots * sizeof *size);
    if (!live || !size) {
        free(live);
        free(size);
        return ENOMEM;
    }
    rng r = {SEED};
    for (unsigned i = 0; i < slots; i++) {
        size_t n = large ? wlgen_large_size(&r) : wlgen_churn_size(&r);
        live[i] = wl_alloc(s, n);
        size[i] = n;
        wl_fold(s, live[i], n);
    }
    wl_start(s);
    for (uint64_t step = 0; step < steps; step++) {
        size_t i = (size_t)wlgen_below(&r, slots);
        size_t n = large ? wlgen_large_size(&r) : wlgen_churn_size(&r);
        if (live[i])
            wl_free(s, live[i], size[i]);
        live[i] = wl_alloc(s, n);
        size[i] = n;
        wl_fold(s, live[i], n);
    }
    wl_stop(s);
    free(live);
    free(size);
    return 0;
}

/* W2: five permutations of [0, n) drawn first (each a Fisher-Yates shuffle
 * of the identity, from one generator); each round allocates n single
 * pages, then frees them in the round's permutation order. */
static int run_single_pages(wl *s)
{
    enum { N = 200000, ROUNDS = 5 };
    uint32_t *perm = malloc((size_t)ROUNDS * N * sizeof *perm);
    uintptr_t *a = malloc((size_t)N * sizeof *a);
    if (!perm || !a) {
        free(perm);
        free(a);
        return ENOMEM;
    }
    rng r = {SEED};
    for (int round = 0; round < ROUNDS; round++) {
        uint32_t *p = perm + (size_t)round * N;
        for (uint32_t i = 0; i < N; i++)
            p[i] = i;
        for (uint32_t j = N - 1; j >= 1; j--) {
            uint32_t k = (uint32_t)wlgen_below(&r, (uint64_t)j + 1);
            uint32_t t = p[j];
            p[j] = p[k];
            p[k] = t;
        }
    }
    wl_start(s);
    for (int round = 0; round < ROUNDS; round++) {
        const uint32_t *p = perm + (size_t)round * N;
        for (size_t i = 0; i < N; i++) {
            a[i] = wl_alloc(s, 1);
            wl_fold(s, a[i], 1);
        }
        for (size_t j = 0; j < N; j++)
            if (a[p[j]])
                wl_free(s, a[p[j]], 1);
    }
    wl_stop(s);
    free(perm);
    free(a);
    return 0;
}

/* W4: one-page allocations through a page cache refilled whenever empty;
 * after every 8192 allocations the batch goes back to the allocator one
 * page at a time in allocation order (untimed). */
static int run_page_cache(wl *s)
{
    enum { TOTAL = 1000000, BATCH = 8192 };
    uintptr_t *batch = malloc(BATCH * sizeof *batch);
    if (!batch)
        return ENOMEM;
    pagealloc_cache c = {0};
    for (unsigned done = 0; done < TOTAL;) {
        unsigned m = TOTAL - done < BATCH ? TOTAL - done : BATCH;
        wl_start(s);
        for (unsigned k = 0; k < m; k++) {
            if (c.cache == 0)
                c = wl_alloc_to_cache(s);
            batch[k] = pagealloc_cache_alloc(&c, 1, NULL);
            wl_fold(s, batch[k], 1);
        }
        wl_stop(s);
        done += m;
        if (m < BATCH)
            break;
        for (unsigned k = 0; k < BATCH; k++)
            if (batch[k])
                wl_free(s, batch[k], 1);
    }
    free(batch);
    return 0;
}

int pa_wl_run(enum pa_wl_id w, const pa_wl_options *opts, pa_wl_result *out)
{
    static const pa_wl_options defaults;
    if ((unsigned)w >= PA_WL_COUNT)
        return EINVAL;
    if (!opts)
        opts = &defaults;
    int err = 0;
    wl s = {.o = opts, .h = FNV_OFFSET};
    s.pa = heap_new(pa_wl_table[w].nchunks, &err);
    if (!s.pa)
        return err;
    switch (w) {
    case PA_WL_W1: err = run_churn(&s, 4096, pa_wl_table[w].units, 0); break;
    case PA_WL_W2: err = run_single_pages(&s); break;
    case PA_WL_W3: err = run_churn(&s, 64, pa_wl_table[w].units, 1); break;
    case PA_WL_W4: err = run_page_cache(&s); break;
    default: break;
    }
    pagealloc_delete(s.pa);
    if (err)
        return err;
    out->checksum = s.h;
    out->ns = s.ns;
    out->units = pa_wl_table[w].units;
    return 0;
}
