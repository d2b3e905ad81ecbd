/*
 * backed_probe.h - the reference loop of the W6 scaling protocol
 * (bench/run_backed.sh), included by backed.c: with --probe, every W6
 * thread runs it just before and just after the measured workload, in the
 * same process, on the same CPU, and the `backed` line gains
 *   probe0=N probe1=N
 * the slowest thread's reference operations per second before and after.
 *
 * Why (bench/README.md "W6 scaling protocol", docs/heap.md "Shards"): on
 * the shared 2-vCPU VM, one thread's W2 throughput is bimodal, about 20 or
 * about 40 M ops/s, for minutes at a time and even between two runs inside
 * one process, while the register loop (W6-spin) keeps its speed within
 * ~10 %. The loop is one dependent multiply chain: latency-bound, it uses
 * one ALU port and is blind to whatever else shares the physical core
 * under the hypervisor (another tenant's thread on the sibling
 * hyper-thread, by all signs: a loop of independent additions slows by up
 * to 1.4x at the same moments, the clock does not change, no huge pages
 * are involved). W2 is the opposite kind of code (wide, branchy, memory
 * touching) and slows 2x. So the protocol needs a reference of W2's kind,
 * measured next to each run it judges.
 *
 * The loop: W2's access pattern without an allocator. Per thread a free
 * bitmap of W2's 200,000 pages, a per-page counter array (1.6 MB, as the
 * heap's per-page metadata) and the pointer array a[] of W2 (1.6 MB).
 * A round takes every page in address order (find the first set bit,
 * clear it, bump its counter, store its address in a[i]) and gives them
 * back in a fixed random order (a[perm[j]] back to its index, set the bit,
 * drop the counter). Units: one take or one give back, as W2 counts ops.
 */
#ifndef PAGEALLOC_BENCH_BACKED_PROBE_H
#define PAGEALLOC_BENCH_BACKED_PROBE_H

#define PROBE_N      W2_N
#ifndef PROBE_ROUNDS            /* bench/stack_paired.c runs a shorter loop */
#define PROBE_ROUNDS 12u        /* about 15-30 ms a run here */
#endif

static int g_probe;             /* --probe */

typedef struct probe_mem {
    uint64_t *bits;             /* 1: free page */
    uint32_t *meta, *perm;
    uintptr_t *a;
} probe_mem;

static void probe_setup(probe_mem *m, unsigned idx)
{
    size_t words = (PROBE_N + 63) / 64;
    m->bits = malloc(words * sizeof *m->bits);
    m->meta = calloc(PROBE_N, sizeof *m->meta);
    m->perm = malloc(PROBE_N * sizeof *m->perm);
    m->a = malloc(PROBE_N * sizeof *m->a);
    if (!m->bits || !m->meta || !m->perm || !m->a)
        die("out of memory");
    memset(m->bits, 0xff, words * sizeof *m->bits);
    if (PROBE_N % 64)
        m->bits[words - 1] = (1ull << (PROBE_N % 64)) - 1;
    for (uint32_t i = 0; i < PROBE_N; i++)
        m->perm[i] = i;
    rng_xorshift r = {wlgen_thread_seed(idx) + 1000};
    for (uint32_t i = PROBE_N - 1; i > 0; i--) {
        uint32_t j = (uint32_t)rng_xorshift_below(&r, (uint64_t)i + 1);
        uint32_t t = m->perm[i];
        m->perm[i] = m->perm[j];
        m->perm[j] = t;
    }
    for (uint32_t i = 0; i < PROBE_N; i++)   /* fault everything in, untimed */
        m->a[i] = 0;
}

static void probe_free(probe_mem *m)
{
    free(m->bits);
    free(m->meta);
    free(m->perm);
    free(m->a);
}

/* One timed run between barriers; returns this thread's ops per second. */
static double probe_run(probe_mem *m, pthread_barrier_t *start, pthread_barrier_t *done)
{
    const uintptr_t base = (uintptr_t)1 << 40;
    uint64_t *bits = m->bits;
    uint32_t *meta = m->meta;
    uintptr_t *a = m->a;
    pthread_barrier_wait(start);
    uint64_t t0 = now_ns();
    for (unsigned round = 0; round < PROBE_ROUNDS; round++) {
        size_t w = 0;
        for (size_t i = 0; i < PROBE_N; i++) {
            while (!bits[w])
                w++;
            size_t page = w * 64 + (size_t)__builtin_ctzll(bits[w]);
            bits[w] &= bits[w] - 1;
            meta[page]++;
            a[i] = base + page * PAGE;
        }
        for (size_t j = 0; j < PROBE_N; j++) {
            size_t page = (a[m->perm[j]] - base) / PAGE;
            bits[page / 64] |= 1ull << (page % 64);
            meta[page]--;
        }
    }
    uint64_t t1 = now_ns();
    pthread_barrier_wait(done);
    if (meta[PROBE_N / 2] != 0)         /* every page taken once, given back once */
        die("probe: counters do not balance");
    return 2.0 * PROBE_N * PROBE_ROUNDS * 1e9 / (double)(t1 - t0);
}

#endif /* PAGEALLOC_BENCH_BACKED_PROBE_H */
