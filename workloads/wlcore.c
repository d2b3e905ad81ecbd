/*
 * wlcore.c - W1-W4 (wlgen.h) on a bare, unbacked pagealloc; see wlcore.h.
 *
 * The sequences are exactly the ones bench/go/core_bench_test.go replays
 * on Go 1.19's allocator: the same draws in the same order (wlgen.h), the
 * same checksum. Only the timed part is measured (CLOCK_MONOTONIC); fills,
 * W2's permutations and W4's batch frees are outside it.
 *
 * One run is a `wl`: the allocator, the caller's options, the checksum so
 * far, the count of allocations folded (the trace's index) and the timed
 * nanoseconds. Allocator calls go through wl_alloc/wl_free/
 * wl_alloc_to_cache, which take the optional lock; the draws are inline,
 * so the timed loops contain no call but the allocator's.
 */
#include "wlcore.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One run: the allocator, the options, the checksum so far. */
typedef struct {
    pagealloc            *pa;
    const wlcore_options *o;
    uint64_t              h;
    uint64_t              nallocs;  /* allocations folded (trace index) */
    uint64_t              ns;       /* timed nanoseconds accumulated */
    uint64_t              t0;       /* start of the current timed stretch */
} wl;

static inline void wl_start(wl *s) { if (s->o->timed) s->t0 = now_ns(); }
static inline void wl_stop(wl *s)  { if (s->o->timed) s->ns += now_ns() - s->t0; }

static inline void wl_fold(wl *s, uintptr_t addr, size_t npages)
{
    uint64_t v = addr ? (uint64_t)(addr - WLCORE_BASE) / PAGEALLOC_PAGE_SIZE : UINT64_MAX;
    if (s->o->trace)
        fprintf(s->o->trace, "%llu %zu %lld\n", (unsigned long long)s->nallocs, npages,
                addr ? (long long)v : -1LL);
    s->nallocs++;
    s->h = wlgen_fold(s->h, v);
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

/* The heap: nchunks chunks at WLCORE_BASE, every page free and resident.
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
    int rc = pagealloc_grow(pa, WLCORE_BASE, (size_t)nchunks * PAGEALLOC_CHUNK_SIZE);
    if (rc == 0 && pagealloc_alloc(pa, npages, NULL) != WLCORE_BASE)
        rc = EFAULT;
    if (rc != 0) {
        pagealloc_delete(pa);
        *err = rc;
        return NULL;
    }
    pagealloc_free(pa, WLCORE_BASE, npages);
    return pa;
}

/* W1 (4096 slots, churn sizes) and W3 (64 slots, large sizes): fill the
 * slots (untimed), then steps of wlgen_churn_step: free(live[i]);
 * live[i] = alloc(s). A slot whose allocation failed holds 0 and is not
 * freed. */
static int run_churn(wl *s, unsigned slots, uint64_t steps, int large)
{
    uintptr_t *live = malloc(slots * sizeof *live);
    size_t *size = malloc(slots * sizeof *size);
    if (!live || !size) {
        free(live);
        free(size);
        return ENOMEM;
    }
    rng_xorshift r = {WLGEN_SEED};
    for (unsigned i = 0; i < slots; i++) {
        size_t n = (size_t)wlgen_size(&r, large);
        live[i] = wl_alloc(s, n);
        size[i] = n;
        wl_fold(s, live[i], n);
    }
    wl_start(s);
    for (uint64_t step = 0; step < steps; step++) {
        uint64_t drawn;
        size_t i = wlgen_churn_step(&r, slots, large, &drawn);
        size_t n = (size_t)drawn;
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

/* W2: the five permutations drawn first (wlgen_w2_permutations); each
 * round allocates n single pages, then frees them in the round's
 * permutation order. */
static int run_single_pages(wl *s, uint64_t rounds)
{
    enum { N = WLGEN_W2_PAGES, ROUNDS = WLGEN_W2_ROUNDS };
    uint32_t *perm = malloc((size_t)ROUNDS * N * sizeof *perm);
    uintptr_t *a = malloc((size_t)N * sizeof *a);
    if (!perm || !a) {
        free(perm);
        free(a);
        return ENOMEM;
    }
    rng_xorshift r = {WLGEN_SEED};
    wlgen_w2_permutations(&r, perm, NULL);
    wl_start(s);
    for (uint64_t round = 0; round < rounds; round++) {
        const uint32_t *p = perm + (size_t)(round % ROUNDS) * N;
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

/* W4's untimed batch frees, one page at a time in allocation order. Not
 * inlined, so that bench/profile.sh can count them apart (callgrind
 * --toggle-collect=wl_free_batch) and leave the timed part alone. */
static __attribute__((noinline)) void wl_free_batch(wl *s, const uintptr_t *batch, unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        if (batch[k])
            wl_free(s, batch[k], 1);
}

/* W4: one-page allocations through a page cache refilled whenever empty;
 * after every full batch of allocations the batch goes back to the
 * allocator one page at a time in allocation order (untimed). */
static int run_page_cache(wl *s, uint64_t total)
{
    enum { BATCH = WLGEN_W4_BATCH };
    uintptr_t *batch = malloc(BATCH * sizeof *batch);
    if (!batch)
        return ENOMEM;
    pagealloc_cache c = {0};
    for (uint64_t done = 0; done < total;) {
        unsigned m = total - done < BATCH ? (unsigned)(total - done) : BATCH;
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
        wl_free_batch(s, batch, BATCH);
    }
    free(batch);
    return 0;
}

int wlcore_run(enum wlgen_id w, const wlcore_options *opts, wlcore_result *out)
{
    static const wlcore_options defaults;
    if ((unsigned)w >= WLGEN_COUNT)
        return EINVAL;
    if (!opts)
        opts = &defaults;
    int err = 0;
    wl s = {.o = opts, .h = WLGEN_FNV_OFFSET};
    s.pa = heap_new(wlgen_table[w].nchunks, &err);
    if (!s.pa)
        return err;
    /* The timed part's length: the workload's own, or the caller's. */
    static const uint64_t own[WLGEN_COUNT] = {WLGEN_W1_STEPS, WLGEN_W2_ROUNDS, WLGEN_W3_STEPS,
                                              WLGEN_W4_TOTAL};
    uint64_t n = opts->steps_set ? opts->steps : own[w];
    switch (w) {
    case WLGEN_W1: err = run_churn(&s, WLGEN_W1_SLOTS, n, 0); break;
    case WLGEN_W2: err = run_single_pages(&s, n); break;
    case WLGEN_W3: err = run_churn(&s, WLGEN_W3_SLOTS, n, 1); break;
    case WLGEN_W4: err = run_page_cache(&s, n); break;
    default: break;
    }
    pagealloc_delete(s.pa);
    if (err)
        return err;
    out->checksum = s.h;
    out->ns = s.ns;
    out->units = !opts->steps_set ? wlgen_table[w].units
                 : w == WLGEN_W2 ? n * 2 * WLGEN_W2_PAGES : n;
    return 0;
}
