/*
 * backed.c - the backed benchmarks W5 (touch) and W6 (threads) of
 * docs/workloads.md, on real memory, for one allocator per executable:
 *
 *   pagealloc-bench-backed           ours: pageheap_alloc/pageheap_free
 *                                    (--shards N: 0 = default, one per CPU;
 *                                    --run-cache-merge next|both|off)
 *   pagealloc-bench-backed-glibc     aligned_alloc(8192, n*8192) / free
 *   pagealloc-bench-backed-jemalloc  mallocx(n*8192, MALLOCX_ALIGN(8192)) / sdallocx
 *   pagealloc-bench-backed-mimalloc  mi_malloc_aligned(n*8192, 8192) / mi_free_size_aligned
 *   pagealloc-bench-backed-tcmalloc  tc_memalign(8192, n*8192) / tc_free_sized
 *                                    (gperftools' libtcmalloc_minimal)
 *   pagealloc-bench-backed-mmap      mmap / munmap per allocation
 *
 * The allocator is chosen at compile time (BACKED_IMPL): several mallocs
 * cannot live in one process, so each peer gets its own executable and the
 * driver (bench/run_backed.sh) runs them alternately. Each process makes
 * one measurement, so that its peak RSS (VmHWM) belongs to that
 * measurement alone.
 *
 * The workloads and their draws are defined in workloads/wlgen.h.
 *
 * W5: W1's sequence (xorshift64* seeded 42, 4096 live slots filled in
 * order, then 1,000,000 steps of wlgen_churn_step: free(live[i]);
 * live[i] = alloc(s)), writing one byte (volatile) at the start of every
 * 8 KiB page of each new allocation, fill included. Timed: the steps.
 * Then: peak RSS (VmHWM), free everything, RSS, the allocator's own purge
 * call, RSS. RSS figures are net: minus the process's VmRSS just before
 * the allocator is first used by the workload (ours: before pageheap_new,
 * so its metadata counts). VmRSS is the kernel's per-CPU-batched counter,
 * off by up to ~128 KiB per CPU (W5's released= moved by 100-190 KiB
 * between identical runs), so the purge's figure is also given exactly,
 * from /proc/self/smaps_rollup (a page-table walk): released_exact= (Rss)
 * and released_anon= (Anonymous: without the code pages, which the
 * harness's and the allocator's first calls fault in, 64 KiB at a time). --seed S draws another sequence (seed S), to
 * check that a policy is not tuned to seed 42's; the map program's live
 * peak line (below) gives its bound.
 *
 * W6: W1, W2 or W3 run by T threads at once on one shared heap (ours) or
 * the process allocator (peers), thread k with its own generator seeded
 * wlgen_thread_seed(k) = 42 + k. Untouched pages. Untimed: W1's and W3's
 * fill, W2's permutations and the first touch of its pointer array. Timed:
 * from a barrier that releases all threads to the last thread's end.
 * Metric: total units (W1 pairs, W2 ops) per second. --reps N makes N
 * measurements in one process, a heap each; --probe frames each with the
 * reference loop of backed_probe.h (the scaling protocol's quiet test).
 *
 * W6-spin: the same harness with a register-only loop instead of an
 * allocator (label "cpu"): what scaling the machine itself gives right now
 * (it is shared; a busy second core caps every T=2 figure). Every W6
 * thread k is pinned to the k-th CPU the process may use (W6_PIN=0: not
 * pinned). W6_ROUNDS=1: W6-W2 also prints each thread's milliseconds per
 * phase (alloc1 free1 ... free5) on stderr.
 *
 * Output, one line per measurement (parsed by run_backed.sh):
 *   backed W5 ours T=1 ns=212.40 peak=431012 end=430100 freed=12 released=8 base=1650 seq=0x...
 *     released_exact=8 released_anon=4 ok
 *   backed W6-W1 ours T=2 ops=8123456 ns=246.20 seq=0x... ok
 * RSS in KiB. seq folds the sizes and slots drawn (FNV-1a), equal for every
 * allocator: all of them replayed the same sequence. For ours an `info`
 * line follows with the heap's statistics.
 *
 * pagealloc-bench-backed-map (ours, BACKED_MAP=1; a separate executable,
 * so that the others' W5 loop is untouched) takes --map-at STEP: right
 * after that W5 step it prints the heap's statistics and its free runs by
 * length ("map ..." lines), and at the end
 *   live W5 peak=530857984 step=847881
 * the highest sum of live allocations (bytes) and the first step that
 * reached it: where the memory above the live bytes is at the live peak
 * (docs/heap.md "The resident ceiling").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <time.h>

#include "wlgen.h"

#define BK_OURS     0
#define BK_GLIBC    1
#define BK_JEMALLOC 2
#define BK_MIMALLOC 3
#define BK_TCMALLOC 4
#define BK_MMAP     5

#ifndef BACKED_IMPL
#define BACKED_IMPL BK_OURS
#endif
#ifndef BACKED_MAP              /* 1: pagealloc-bench-backed-map, with --map-at */
#define BACKED_MAP 0
#endif
#if BACKED_MAP
#define BK_MAP_USAGE " [--map-at STEP]"
#else
#define BK_MAP_USAGE ""
#endif
#if BACKED_MAP && BACKED_IMPL != BK_OURS
#error "BACKED_MAP needs ours (BACKED_IMPL 0): the map is the heap's visitor"
#endif

#define PAGE       ((size_t)8192)
#define W1_SLOTS   ((unsigned)WLGEN_W1_SLOTS)
#define W1_STEPS   ((unsigned)WLGEN_W1_STEPS)
#define W3_SLOTS   ((unsigned)WLGEN_W3_SLOTS)
#define W3_STEPS   ((unsigned)WLGEN_W3_STEPS)
#define W2_N       ((unsigned)WLGEN_W2_PAGES)
#define W2_ROUNDS  ((unsigned)WLGEN_W2_ROUNDS)
#define MAX_THREADS 64
#define SPIN_STEPS 200000000u   /* about 0.25 s per thread here */

static const char *prog = "pagealloc-bench-backed";
static uint64_t g_seed = WLGEN_SEED;     /* --seed: W5's generator (42, the workload's) */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* ---- The allocator ------------------------------------------------------------- */

#if BACKED_IMPL == BK_OURS
#include <pagealloc/pageheap.h>

static pageheap *g_heap;
static unsigned g_shards;
static int g_no_run_cache;
static pageheap_run_merge g_merge; /* --run-cache-merge */
static int g_scavenger;          /* --background-scavenger */
static unsigned g_ceiling;       /* --resident-ceiling */
static const char *impl_name(void)
{
    if (g_ceiling)
        return g_no_run_cache ? "ours-ceil-norc" : "ours-ceil";
    if (g_merge && !g_no_run_cache)     /* not the default */
        return g_merge == PAGEHEAP_MERGE_BOTH ? "ours-merge-both"
               : g_merge == PAGEHEAP_MERGE_OFF ? "ours-merge-off" : "ours-merge-next";
    if (g_scavenger)
        return g_no_run_cache ? "ours-scav-norc" : "ours-scav";
    return g_no_run_cache ? (g_shards == 1 ? "ours-1shard-norc" : "ours-norc")
                          : g_shards == 1 ? "ours-1shard" : "ours";
}
static void impl_init(void)
{
    g_heap = pageheap_new(&(pageheap_options){.shards = g_shards, .no_run_cache = g_no_run_cache,
                                              .run_cache_merge = g_merge,
                                              .background_scavenger = g_scavenger,
                                              .resident_ceiling = g_ceiling});
    if (!g_heap)
        die("pageheap_new: %s", strerror(errno));
}
static inline void *impl_alloc(size_t n) { return pageheap_alloc(g_heap, n); }
static inline void impl_free(void *p, size_t n) { pageheap_free(g_heap, p, n); }
static void impl_release(void) { pageheap_release(g_heap, SIZE_MAX); }
static void impl_info(const char *wl, int threads)
{
    pageheap_stats s;
    pageheap_get_stats(g_heap, &s);
    printf("info %s %s T=%d shards=%u ready=%" PRIu64 " prepared=%" PRIu64 " metadata=%" PRIu64
           " in_use=%" PRIu64 " free=%" PRIu64 " released=%" PRIu64 " cache=%" PRIu64
           " allocs=%" PRIu64 " cache_allocs=%" PRIu64 " grows=%" PRIu64 " scavenges=%" PRIu64
           " scavenged=%" PRIu64 "\n",
           wl, impl_name(), threads, s.shards, s.ready_bytes, s.prepared_bytes, s.metadata_bytes,
           s.in_use_bytes, s.free_bytes, s.released_bytes, s.cache_bytes, s.allocs,
           s.cache_allocs, s.grows, s.scavenges, s.scavenged_bytes);
}
static void impl_fini(void) { pageheap_delete(g_heap); }

#if BACKED_MAP
#include "backed_map.h"
#endif

#elif BACKED_IMPL == BK_GLIBC
#include <malloc.h>
static const char *impl_name(void) { return "glibc"; }
static void impl_init(void) {}
static inline void *impl_alloc(size_t n) { return aligned_alloc(PAGE, n * PAGE); }
static inline void impl_free(void *p, size_t n) { (void)n; free(p); }
static void impl_release(void) { malloc_trim(0); }
static void impl_info(const char *wl, int threads) { (void)wl; (void)threads; }
static void impl_fini(void) {}

#elif BACKED_IMPL == BK_JEMALLOC
#include <jemalloc/jemalloc.h>
#define BK_STR2(x) #x
#define BK_STR(x)  BK_STR2(x)
static const char *impl_name(void) { return "jemalloc"; }
static void impl_init(void) {}
static inline void *impl_alloc(size_t n) { return mallocx(n * PAGE, MALLOCX_ALIGN(PAGE)); }
static inline void impl_free(void *p, size_t n) { sdallocx(p, n * PAGE, MALLOCX_ALIGN(PAGE)); }
static void impl_release(void)
{
    /* The calling thread's cache first (ours flushes its page caches too),
     * then every arena's dirty and muzzy pages. */
    if (mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) != 0 ||
        mallctl("arena." BK_STR(MALLCTL_ARENAS_ALL) ".purge", NULL, NULL, NULL, 0) != 0)
        die("jemalloc: mallctl purge failed");
}
static void impl_info(const char *wl, int threads) { (void)wl; (void)threads; }
static void impl_fini(void) {}

#elif BACKED_IMPL == BK_MIMALLOC
#include <mimalloc.h>
static const char *impl_name(void) { return "mimalloc"; }
static void impl_init(void) {}
static inline void *impl_alloc(size_t n) { return mi_malloc_aligned(n * PAGE, PAGE); }
static inline void impl_free(void *p, size_t n) { mi_free_size_aligned(p, n * PAGE, PAGE); }
static void impl_release(void) { mi_collect(true); }
static void impl_info(const char *wl, int threads) { (void)wl; (void)threads; }
static void impl_fini(void) {}

#elif BACKED_IMPL == BK_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#include <gperftools/tcmalloc.h>
static const char *impl_name(void) { return "tcmalloc"; }
static void impl_init(void) {}
static inline void *impl_alloc(size_t n) { return tc_memalign(PAGE, n * PAGE); }
static inline void impl_free(void *p, size_t n) { tc_free_sized(p, n * PAGE); }
static void impl_release(void) { MallocExtension_ReleaseFreeMemory(); }
static void impl_info(const char *wl, int threads) { (void)wl; (void)threads; }
static void impl_fini(void) {}

#elif BACKED_IMPL == BK_MMAP
static const char *impl_name(void) { return "mmap"; }
static void impl_init(void) {}
static inline void *impl_alloc(size_t n)
{
    void *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
static inline void impl_free(void *p, size_t n)
{
    if (munmap(p, n * PAGE) != 0)
        die("munmap: %s (vm.max_map_count?)", strerror(errno));
}
static void impl_release(void) {}
static void impl_info(const char *wl, int threads) { (void)wl; (void)threads; }
static void impl_fini(void) {}

#else
#error "BACKED_IMPL: 0 ours, 1 glibc, 2 jemalloc, 3 mimalloc, 4 tcmalloc, 5 mmap"
#endif

/* mmap hands out 4 KiB-aligned memory; everybody else 8 KiB-aligned. */
#define ALIGN_WANTED (BACKED_IMPL == BK_MMAP ? (size_t)4096 : PAGE)

static inline void *bk_alloc(size_t n)
{
    void *p = impl_alloc(n);
    if (!p || ((uintptr_t)p & (ALIGN_WANTED - 1)))
        die("allocation of %zu pages failed or misaligned (%p): %s", n, p, strerror(errno));
    return p;
}

/* ---- Workload pieces ---------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One byte into every 8 KiB page; volatile, so no store is dropped before
 * a free the compiler knows about. */
static inline void touch(void *p, size_t n, unsigned char v)
{
    volatile unsigned char *c = p;
    for (size_t k = 0; k < n; k++)
        c[k * PAGE] = v;
}

/* A field of a /proc file in KiB (status: "VmRSS", "VmHWM"; smaps_rollup:
 * "Rss", "Anonymous"). */
static long proc_kib(const char *path, const char *field)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("%s: %s", path, strerror(errno));
    char line[256];
    size_t len = strlen(field);
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            v = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    if (v < 0)
        die("no %s in %s", field, path);
    return v;
}

static long status_kib(const char *field)
{
    return proc_kib("/proc/self/status", field);
}

/* ---- W5 ----------------------------------------------------------------------- */

#if BACKED_MAP
static uint64_t g_map_at = UINT64_MAX;     /* --map-at */

/* W5's live bytes at their peak and the step that reached it (the first
 * step at that peak), from the draws alone: the timed loop stays as is. */
static void w5_live_peak(uint64_t steps, size_t *peak_pages, uint64_t *peak_step)
{
    size_t *size = calloc(W1_SLOTS, sizeof *size);
    if (!size)
        die("out of memory");
    rng_xorshift r = {g_seed};
    size_t live = 0;
    for (unsigned i = 0; i < W1_SLOTS; i++)
        live += size[i] = wlgen_churn_size(&r);
    *peak_pages = live;
    *peak_step = 0;
    for (uint64_t step = 0; step < steps; step++) {
        uint64_t drawn;
        size_t i = wlgen_churn_step(&r, W1_SLOTS, 0, &drawn);
        live += (size_t)drawn - size[i];
        size[i] = (size_t)drawn;
        if (live > *peak_pages) {
            *peak_pages = live;
            *peak_step = step;
        }
    }
    free(size);
}

/* One W5 step: slot i's run freed, a new one of the drawn size allocated
 * and touched; returns seq with the draw folded in. */
static inline __attribute__((always_inline)) uint64_t w5_step(rng_xorshift *r, void **live,
                                                              size_t *size, uint64_t step,
                                                              uint64_t seq)
{
    uint64_t drawn;
    size_t i = wlgen_churn_step(r, W1_SLOTS, 0, &drawn);
    size_t n = (size_t)drawn;
    impl_free(live[i], size[i]);
    live[i] = bk_alloc(n);
    touch(live[i], n, (unsigned char)step);
    size[i] = n;
    return wlgen_fold(seq, ((uint64_t)i << 32) | n);
}

/* The steps with --map-at: the map right after its step (timed with the
 * rest). */
static uint64_t w5_steps_mapped(rng_xorshift *r, void **live, size_t *size, uint64_t steps,
                                uint64_t seq)
{
    uint64_t step = 0;
    for (; step <= g_map_at; step++)
        seq = w5_step(r, live, size, step, seq);
    impl_map();
    for (; step < steps; step++)
        seq = w5_step(r, live, size, step, seq);
    return seq;
}
#endif

static int run_w5(uint64_t steps)
{
    void **live = calloc(W1_SLOTS, sizeof *live);
    size_t *size = calloc(W1_SLOTS, sizeof *size);
    if (!live || !size)
        die("out of memory");
    long base = status_kib("VmRSS");
    long base_x = proc_kib("/proc/self/smaps_rollup", "Rss");
    long base_a = proc_kib("/proc/self/smaps_rollup", "Anonymous");
    impl_init();

    rng_xorshift r = {g_seed};
    uint64_t seq = WLGEN_FNV_OFFSET;
    for (unsigned i = 0; i < W1_SLOTS; i++) {
        size_t n = wlgen_churn_size(&r);
        live[i] = bk_alloc(n);
        touch(live[i], n, 1);
        size[i] = n;
        seq = wlgen_fold(seq, ((uint64_t)i << 32) | n);
    }
    uint64_t t0 = now_ns();
#if BACKED_MAP
    if (g_map_at < steps)
        seq = w5_steps_mapped(&r, live, size, steps, seq);
    else
#endif
        for (uint64_t step = 0; step < steps; step++) {
            uint64_t drawn;
            size_t i = wlgen_churn_step(&r, W1_SLOTS, 0, &drawn);
            size_t n = (size_t)drawn;
            impl_free(live[i], size[i]);
            live[i] = bk_alloc(n);
            touch(live[i], n, (unsigned char)step);
            size[i] = n;
            seq = wlgen_fold(seq, ((uint64_t)i << 32) | n);
        }
    uint64_t t1 = now_ns();
#if BACKED_MAP
    if (g_map_at != UINT64_MAX) {       /* a replay, after the timed part */
        size_t peak_pages;
        uint64_t peak_step;
        w5_live_peak(steps, &peak_pages, &peak_step);
        printf("live W5 peak=%zu step=%" PRIu64 "\n", peak_pages * PAGE, peak_step);
    }
#endif

    long peak = status_kib("VmHWM"), end = status_kib("VmRSS");
    impl_info("W5", 1);
    for (unsigned i = 0; i < W1_SLOTS; i++)
        impl_free(live[i], size[i]);
    long freed = status_kib("VmRSS");
    impl_release();
    long released = status_kib("VmRSS");
    long rel_x = proc_kib("/proc/self/smaps_rollup", "Rss");
    long rel_a = proc_kib("/proc/self/smaps_rollup", "Anonymous");
    impl_info("W5-released", 1);

    printf("backed W5 %s T=1 ns=%.2f peak=%ld end=%ld freed=%ld released=%ld base=%ld "
           "seq=0x%016" PRIx64 " released_exact=%ld released_anon=%ld ok\n",
           impl_name(), steps ? (double)(t1 - t0) / (double)steps : 0.0, peak - base, end - base,
           freed - base, released - base, base, seq, rel_x - base_x, rel_a - base_a);
    impl_fini();
    free(live);
    free(size);
    return 0;
}

/* ---- W6 ----------------------------------------------------------------------- */

#include "backed_probe.h"

typedef struct worker {
    pthread_t tid;
    unsigned idx;
    int wl;                        /* 1: W1, 2: W2, 3: W3; 0: spin */
    uint64_t steps;                /* W1 or W3 steps */
    pthread_barrier_t *start, *done;
    pthread_barrier_t *pstart, *pdone;   /* the probe's (--probe) */
    uint64_t t0, t1, seq;
    double probe[2];               /* reference ops/s before and after */
} worker;

/* W1 (slots = W1_SLOTS, large = 0) or W3 (W3_SLOTS, large = 1): fill the
 * slots, then churn them. */
static void w6_churn(worker *w, unsigned slots, int large)
{
    void **live = calloc(slots, sizeof *live);
    size_t *size = calloc(slots, sizeof *size);
    if (!live || !size)
        die("out of memory");
    rng_xorshift r = {wlgen_thread_seed(w->idx)};
    uint64_t seq = WLGEN_FNV_OFFSET;
    for (unsigned i = 0; i < slots; i++) {
        size_t n = wlgen_size(&r, large);
        live[i] = bk_alloc(n);
        size[i] = n;
        seq = wlgen_fold(seq, ((uint64_t)i << 32) | n);
    }
    pthread_barrier_wait(w->start);
    w->t0 = now_ns();
    for (uint64_t step = 0; step < w->steps; step++) {
        uint64_t drawn;
        size_t i = wlgen_churn_step(&r, slots, large, &drawn);
        size_t n = (size_t)drawn;
        impl_free(live[i], size[i]);
        live[i] = bk_alloc(n);
        size[i] = n;
        seq = wlgen_fold(seq, ((uint64_t)i << 32) | n);
    }
    w->t1 = now_ns();
    w->seq = seq;
    pthread_barrier_wait(w->done);
    for (unsigned i = 0; i < slots; i++)
        impl_free(live[i], size[i]);
    free(live);
    free(size);
}

static void w6_w2(worker *w)
{
    uint32_t *perm = malloc((size_t)W2_ROUNDS * W2_N * sizeof *perm);
    void **a = malloc((size_t)W2_N * sizeof *a);
    if (!perm || !a)
        die("out of memory");
    rng_xorshift r = {wlgen_thread_seed(w->idx)};
    uint64_t seq = WLGEN_FNV_OFFSET;
    wlgen_w2_permutations(&r, perm, &seq);
    /* The pointer array's pages faulted in before the clock: the
     * harness's page faults (two threads' at once contend in the kernel)
     * are not the allocator's. */
    memset(a, 0, (size_t)W2_N * sizeof *a);
    pthread_barrier_wait(w->start);
    w->t0 = now_ns();
    /* Per phase timestamps (W6_ROUNDS=1 prints them): ten clock reads a
     * run, no cost per operation. Round one differs from the others
     * (docs/heap.md "Round one at two threads"). */
    uint64_t tt[2 * W2_ROUNDS + 1];
    tt[0] = w->t0;
    for (unsigned round = 0; round < W2_ROUNDS; round++) {
        const uint32_t *p = perm + (size_t)round * W2_N;
        for (size_t i = 0; i < W2_N; i++)
            a[i] = bk_alloc(1);
        tt[2 * round + 1] = now_ns();
        for (size_t j = 0; j < W2_N; j++)
            impl_free(a[p[j]], 1);
        tt[2 * round + 2] = now_ns();
    }
    w->t1 = now_ns();
    if (getenv("W6_ROUNDS")) {
        char buf[256];
        int n = snprintf(buf, sizeof buf, "rounds W6-W2 thread %u ms:", w->idx);
        for (unsigned k = 1; k <= 2 * W2_ROUNDS && n > 0 && (size_t)n < sizeof buf; k++)
            n += snprintf(buf + n, sizeof buf - (size_t)n, " %s%u=%.2f", k % 2 ? "alloc" : "free",
                          (k + 1) / 2, (double)(tt[k] - tt[k - 1]) / 1e6);
        fprintf(stderr, "%s\n", buf);
    }
    w->seq = seq;
    pthread_barrier_wait(w->done);
    free(perm);
    free(a);
}

/* The machine's own scaling, for reference: a register-only loop (no
 * memory, no allocator), the same amount of work per thread. */
static void w6_spin(worker *w)
{
    uint64_t x = 42 + w->idx;
    pthread_barrier_wait(w->start);
    w->t0 = now_ns();
    for (uint64_t i = 0; i < w->steps; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        __asm__ volatile("" : "+r"(x));
    }
    w->t1 = now_ns();
    w->seq = x;
    pthread_barrier_wait(w->done);
}

/* Pin thread k to the k-th CPU the process may run on (W6_PIN=0: not at
 * all), so that two threads never share a core while one sits idle and a
 * run's scaling does not depend on the scheduler's placement. */
static void pin(unsigned k)
{
    const char *v = getenv("W6_PIN");
    if (v && strcmp(v, "0") == 0)
        return;
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2)
        return;
    unsigned n = (unsigned)CPU_COUNT(&allowed), seen = 0;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &allowed))
            continue;
        if (seen++ == k % n) {
            CPU_ZERO(&one);
            CPU_SET(c, &one);
            (void)pthread_setaffinity_np(pthread_self(), sizeof one, &one);
            return;
        }
    }
}

static void *w6_main(void *arg)
{
    worker *w = arg;
    probe_mem pm;
    pin(w->idx);
    if (g_probe) {
        probe_setup(&pm, w->idx);
        w->probe[0] = probe_run(&pm, w->pstart, w->pdone);
    }
    if (w->wl == 1)
        w6_churn(w, W1_SLOTS, 0);
    else if (w->wl == 3)
        w6_churn(w, W3_SLOTS, 1);
    else if (w->wl == 2)
        w6_w2(w);
    else
        w6_spin(w);
    if (g_probe) {
        w->probe[1] = probe_run(&pm, w->pstart, w->pdone);
        probe_free(&pm);
    }
    return NULL;
}

static int run_w6(int wl, int threads, uint64_t steps)
{
    static worker ws[MAX_THREADS];
    pthread_barrier_t start, done, pstart, pdone;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    pthread_barrier_init(&done, NULL, (unsigned)threads);
    pthread_barrier_init(&pstart, NULL, (unsigned)threads);
    pthread_barrier_init(&pdone, NULL, (unsigned)threads);
    impl_init();
    for (int k = 0; k < threads; k++) {
        ws[k] = (worker){.idx = (unsigned)k, .wl = wl, .steps = steps, .start = &start, .done = &done,
                          .pstart = &pstart, .pdone = &pdone};
        int rc = pthread_create(&ws[k].tid, NULL, w6_main, &ws[k]);
        if (rc)
            die("pthread_create: %s", strerror(rc));
    }
    for (int k = 0; k < threads; k++)
        pthread_join(ws[k].tid, NULL);
    uint64_t t0 = UINT64_MAX, t1 = 0, seq = 0;
    double probe[2] = {-1, -1};      /* the slowest thread's, before and after */
    for (int k = 0; k < threads; k++) {
        if (ws[k].t0 < t0) t0 = ws[k].t0;
        if (ws[k].t1 > t1) t1 = ws[k].t1;
        seq ^= ws[k].seq;
        for (int b = 0; b < 2; b++)
            if (probe[b] < 0 || ws[k].probe[b] < probe[b])
                probe[b] = ws[k].probe[b];
    }
    uint64_t units = wl == 2 ? (uint64_t)W2_ROUNDS * W2_N * 2 : steps;
    double secs = (double)(t1 - t0) / 1e9;
    char name[16];
    if (wl == 0)
        snprintf(name, sizeof name, "W6-spin");
    else
        snprintf(name, sizeof name, "W6-W%d", wl);
    if (wl)
        impl_info(name, threads);
    char probes[64] = "";
    if (g_probe)
        snprintf(probes, sizeof probes, " probe0=%.0f probe1=%.0f", probe[0], probe[1]);
    printf("backed %s %s T=%d ops=%.0f ns=%.2f%s seq=0x%016" PRIx64 " ok\n", name,
           wl ? impl_name() : "cpu", threads, (double)units * threads / secs,
           units ? secs * 1e9 / (double)units : 0.0, probes, wl ? seq : (uint64_t)0);
    impl_fini();
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&done);
    pthread_barrier_destroy(&pstart);
    pthread_barrier_destroy(&pdone);
    return 0;
}

/* ---- Main --------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: %s --workload W5|W6-W1|W6-W2|W6-W3|W6-spin [--threads T] [--steps N] [--seed S]\n"
        "  [--probe] [--reps N]%s\n"
        "  W5: W1's sequence touching every page (ns per pair, RSS in KiB);\n"
        "  W6-W1, W6-W2, W6-W3: W1, W2 or W3 by T threads on the shared allocator (ops/s);\n"
        "  W6-spin: T threads of a register-only loop, the machine's own scaling.\n"
        "  --steps: W1/W5 steps (1000000), W3 steps (100000) or spin iterations per thread\n"
        "  (0: the set-up alone, which bench/profile.sh subtracts).\n"
        "  --seed: W5's generator seed (42: the workload; others to check a policy is not\n"
        "  tuned to one sequence).\n"
        "  --probe (W6): each thread runs the reference loop of backed_probe.h just before\n"
        "  and after the workload; the line gains probe0= probe1= (slowest thread's ops/s).\n"
        "  --reps N: N measurements in this process, one line each (1).\n"
        "  bench/run_backed.sh drives all allocators.\n",
        prog, BACKED_IMPL == BK_OURS ? " [--shards N] [--no-run-cache] [--run-cache-merge next|both|off]\n"
                                       "  [--background-scavenger] [--resident-ceiling PER_MILLE]" BK_MAP_USAGE : "");
}

int main(int argc, char **argv)
{
    const char *workload = NULL;
    long threads = 1, steps = W1_STEPS, reps = 1;
    int steps_given = 0;
    if (argc > 0 && argv[0][0]) {
        const char *slash = strrchr(argv[0], '/');
        prog = slash ? slash + 1 : argv[0];
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        if (strcmp(a, "--workload") == 0 && i + 1 < argc) {
            workload = argv[++i];
        } else if (strcmp(a, "--threads") == 0 && i + 1 < argc) {
            threads = strtol(argv[++i], &end, 10);
            if (*end || threads < 1 || threads > MAX_THREADS)
                die("--threads wants 1..%d", MAX_THREADS);
        } else if (strcmp(a, "--seed") == 0 && i + 1 < argc) {
            g_seed = strtoull(argv[++i], &end, 10);
            if (*end || g_seed == 0)
                die("--seed wants a nonzero number (W5's generator; 42 by default)");
        } else if (strcmp(a, "--steps") == 0 && i + 1 < argc) {
            steps = strtol(argv[++i], &end, 10);
            steps_given = 1;
            if (*end || steps < 0)
                die("--steps wants a count (0: set-up only, for bench/profile.sh)");
#if BACKED_IMPL == BK_OURS
        } else if (strcmp(a, "--shards") == 0 && i + 1 < argc) {
            long s = strtol(argv[++i], &end, 10);
            if (*end || s < 0 || s > 16)
                die("--shards wants 0..16 (0: one per CPU)");
            g_shards = (unsigned)s;
        } else if (strcmp(a, "--no-run-cache") == 0) {
            g_no_run_cache = 1;
        } else if (strcmp(a, "--run-cache-merge") == 0 && i + 1 < argc) {
            const char *m = argv[++i];
            g_merge = strcmp(m, "next") == 0   ? PAGEHEAP_MERGE_NEXT
                      : strcmp(m, "both") == 0 ? PAGEHEAP_MERGE_BOTH
                      : strcmp(m, "off") == 0  ? PAGEHEAP_MERGE_OFF
                                               : (die("--run-cache-merge wants next, both or off"),
                                                  PAGEHEAP_MERGE_DEFAULT);
        } else if (strcmp(a, "--background-scavenger") == 0) {
            g_scavenger = 1;
        } else if (strcmp(a, "--resident-ceiling") == 0 && i + 1 < argc) {
            long c = strtol(argv[++i], &end, 10);
            if (*end || c < 0 || c > 1000000)
                die("--resident-ceiling wants per mille 0..1000000 (0: off)");
            g_ceiling = (unsigned)c;
#if BACKED_MAP
        } else if (strcmp(a, "--map-at") == 0 && i + 1 < argc) {
            g_map_at = strtoull(argv[++i], &end, 10);
            if (*end)
                die("--map-at wants a W5 step");
#endif
#endif
        } else if (strcmp(a, "--reps") == 0 && i + 1 < argc) {
            reps = strtol(argv[++i], &end, 10);
            if (*end || reps < 1 || reps > 100)
                die("--reps wants 1..100");
        } else if (strcmp(a, "--probe") == 0) {
            g_probe = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!workload) {
        usage(stderr);
        return 2;
    }
    if (strcmp(workload, "W5") == 0) {
        if (threads != 1)
            die("W5 is single-threaded");
        return run_w5((uint64_t)steps);
    }
    int wl;
    if (strcmp(workload, "W6-W1") == 0)
        wl = 1;
    else if (strcmp(workload, "W6-W2") == 0)
        wl = 2;
    else if (strcmp(workload, "W6-W3") == 0)
        wl = 3, steps = steps_given ? steps : (long)W3_STEPS;
    else if (strcmp(workload, "W6-spin") == 0)
        wl = 0, steps = steps_given ? steps : (long)SPIN_STEPS;
    else {
        usage(stderr);
        return 2;
    }
    /* --reps: that many measurements in this process, one line each, each
     * on a heap of its own (the scaling protocol's repeated sides). */
    for (long k = 0; k < reps; k++)
        run_w6(wl, (int)threads, (uint64_t)steps);
    return 0;
}
