/*
 * stack_bench.h - what bench/stack.c (the allocators, the runs, the idle
 * RSS part, main) and bench/stack_cases.c (the create+destroy cases: paired
 * rounds, judgement, tables, JSON) share.
 */
#ifndef PAGEALLOC_BENCH_STACK_BENCH_H
#define PAGEALLOC_BENCH_STACK_BENCH_H

#include <stddef.h>
#include <stdio.h>

#include "stack_paired.h"

enum impl { PA, MMAP, GLIBC, MIMALLOC, NIMPL };
extern const char *const impl_name[NIMPL];   /* the tables' */
extern const char *const impl_key[NIMPL];    /* the JSON's */

#define NCASES 6                /* sizes[ci / 2], ci % 2 + 1 threads */
extern const size_t sizes[NCASES / 2];

typedef struct cell {
    int ok;                     /* measured (every round succeeded) */
    double med, min, max;       /* ns per pair, every round */
    sp_run runs[SP_MAX_ROUNDS]; /* in round order */
} cell;

/* One case (a size and a number of threads) of the pairs: every round's
 * run of every allocator, and ours' paired figure against each peer. */
typedef struct pcase {
    size_t size;
    int threads, rounds;        /* rounds run */
    long npairs[NIMPL];         /* per thread and run */
    cell c[NIMPL];
    sp_fig fig[NIMPL];          /* ours / that allocator (fig[PA] unused) */
    int best;                   /* the malloc peer ours does worst against */
    double vs_best;             /* its figure; NAN: not measured */
    double all_best;            /* the same from every round (unfiltered) */
} pcase;

/* One timed run (bench/stack.c). */
sp_run run_pairs(enum impl im, size_t size, int threads, long pairs, const int *cpus);
/* A cell's median and min-max over its rounds. */
void summarise(cell *c, int rounds);

/* bench/stack_cases.c */
void measure_case(pcase *p, int ci, long pairs, int rounds, int max_rounds, int have_mi);
void judge_case(pcase *p, int min_quiet, int have_mi);
void print_pairs(const pcase *pc, long pairs, int rounds, int max_rounds, int min_quiet,
                 const char *note);
void json_pairs(FILE *f, const pcase *pc, long pairs, int rounds, int max_rounds, int min_quiet);
void json_target(FILE *f, const pcase *pc, const char *name, int malloc_peer);

#endif /* PAGEALLOC_BENCH_STACK_BENCH_H */
