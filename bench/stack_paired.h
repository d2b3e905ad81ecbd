/*
 * stack_paired.h - the paired rounds of bench/stack.c's create+destroy
 * pairs: the reference loop around every timed run, which runs were quiet,
 * and each case's ratio ours / peer as the median of the quiet rounds.
 * The same protocol as the malloc and collector rows (bench/pairs.py,
 * bench/README.md "Paired rows"), inside one process:
 *
 * - A round of one case (stack size x threads) runs every allocator once,
 *   back to back, ours in the middle between the two malloc peers (mmap at
 *   the outer end), the order reversed every round, on the same CPUs: a
 *   one-thread case pinned to one CPU, changing every two rounds; a
 *   two-thread case with thread k pinned to CPU k.
 * - The reference loop (bench/backed_probe.h, the loop of
 *   pagealloc-bench-probe, PROBE_ROUNDS 8 here: ~6 ms) runs on those CPUs,
 *   one thread per CPU, before the round's first run, between runs and
 *   after the last, so each run has a reference speed just before (probe0)
 *   and just after (probe1) it, timed in own time as the runs are. The
 *   round starts with one reference more, not used: the first after a
 *   change of CPU runs with cold caches (it read 0.2-0.3 of the best where
 *   the next read 0.95).
 * - What a run measures: ns per pair per thread, of the slower thread's
 *   own time: its wall time less its run delay, the time it was runnable
 *   but waited for a CPU (the kernel's count, /proc/thread-self/schedstat,
 *   second field). On an idle machine that is the wall time; on this
 *   shared 2-vCPU VM other benchmarks at the same priority take 30-60 % of
 *   a CPU for seconds, and the wall-time ratio ours / glibc of one-thread
 *   16 KiB rounds read 0.27-1.37 where the own-time ratio of the same runs
 *   read 0.74-0.76 (2026-12-05, load 6). Not wall less CPU time: a thread
 *   asleep on a lock is the allocator's cost, and stays in. But a thread
 *   that sleeps also waits, once woken, for its vCPU to wake (the host
 *   schedules it): run delay that is the lock's cost, not load (two mmap
 *   threads showed 0.4-0.9 of their time as run delay in rounds where
 *   ours, on the same CPUs, showed 0.00-0.02). So a run where a thread
 *   slept 10 + pairs / 1000 times or more (getrusage's voluntary
 *   switches; two mmap threads, each pair a map and an unmap under the
 *   process's address-space lock) keeps its wall time, and its quiet test
 *   is the reference alone. mmap is ~1000x slower than ours, far from
 *   deciding its target.
 * - A run is quiet when min(probe0, probe1) >= PROBE_QUIET (0.85) of the
 *   best reference of the same width so far in the process (the host's
 *   slow mode, which slows the code itself: backed_probe.h), and, a
 *   two-thread run, no thread waited for a CPU more than RUN_DELAY_QUIET
 *   (0.5) of its wall time. Own time takes the waits out, but not their
 *   other effect: while one thread waits the other runs alone, so what two
 *   threads cost each other (docs/stack.md, "Two threads") is measured
 *   over part of the run only; a run where a thread waited more than half
 *   its time is mostly one thread at a time, and does not count.
 * - A round's ratio against a peer counts when both runs were quiet; the
 *   figure is the median of those ratios with its IQR, min-max and count,
 *   or not measured (NAN) with fewer than the minimum of quiet rounds.
 *
 * Invariants: sp_best[w] only grows (every reference ever taken at width
 * w feeds it), so a run judged quiet at the end was judged against at
 * least the reference it was judged against during the run.
 */
#ifndef PAGEALLOC_BENCH_STACK_PAIRED_H
#define PAGEALLOC_BENCH_STACK_PAIRED_H

#define SP_MAX_ROUNDS  24
#define SP_MAX_THREADS 2

typedef struct sp_run {
    double ns;                  /* ns per pair per thread, own time (slower thread); < 0 failed */
    double wall;                /* the same in wall time (waits for a CPU included) */
    double delay;               /* the largest share of a thread's wall time it waited */
    int sleeps;                 /* the most voluntary switches of a thread */
    int sleeper;                /* sleeps >= 10 + pairs / 1000: ns is the wall time */
    double probe0, probe1;      /* reference ops/s just before and just after */
    int width;                  /* threads of the run and of its references */
} sp_run;

typedef struct sp_fig {
    int rounds, quiet, min_quiet;
    int ours_slow, peer_slow, both_slow;
    double value;               /* median of the quiet rounds' ratios; NAN: not measured */
    double q1, q3, min, max;    /* of the quiet rounds' ratios */
    double all_median;          /* median of every round's ratio (unfiltered) */
    double ratio_of_medians;    /* the old figure from the same runs */
} sp_fig;

/* The k-th CPU this process may run on (wrapping), or -1. */
int sp_cpu(unsigned k);
/* Pins the calling thread to cpu (no-op for -1). */
void sp_pin(int cpu);
/* This thread's time so far runnable but waiting for a CPU, ns (0 if the
 * kernel does not say). No allocation: safe inside a measured thread. */
double sp_run_delay(void);
/* The reference loop on threads threads, thread k pinned to cpus[k]; the
 * slowest thread's ops/s (0 if it could not run). Feeds sp_best. */
double sp_probe(int threads, const int *cpus);
/* Frees the reference loop's memory. */
void sp_done(void);
/* The quiet thresholds from PROBE_QUIET (as bench/pairs.py) and
 * RUN_DELAY_QUIET. */
void sp_init(void);
int sp_quiet(const sp_run *r);
/* ours / peer over rounds [0, n): quiet rounds' median etc. */
sp_fig sp_figure(const sp_run *ours, const sp_run *peer, int n, int min_quiet);
/* The count of rounds where both ours and peer were quiet, judged now. */
int sp_quiet_pairs(const sp_run *ours, const sp_run *peer, int n);
double sp_median(const double *v, int n);

extern double sp_probe_quiet, sp_delay_quiet;

#endif /* PAGEALLOC_BENCH_STACK_PAIRED_H */
