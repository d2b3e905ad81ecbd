/*
 * stack_cases.c - the create+destroy cases of bench/stack.c (a stack size
 * and one or two threads each): their paired rounds (bench/stack_paired.h
 * has the protocol), the judgement at the end of the run, and the tables
 * and JSON of the pairs. bench/stack.c runs the allocators (run_pairs), the
 * idle RSS part and main.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack_bench.h"

const size_t sizes[NCASES / 2] = { 16 << 10, 64 << 10, 1 << 20 };

/* The CPUs of round r: a one-thread case on one CPU, the next one every
 * two rounds (so an ABBA pair of rounds shares its CPU); two threads on
 * the first two CPUs, thread k on CPU k. */
static void round_cpus(int threads, int r, int *cpus)
{
    if (threads == 1)
        cpus[0] = sp_cpu((unsigned)(r / 2));
    else
        for (int k = 0; k < threads; k++)
            cpus[k] = sp_cpu((unsigned)k);
}

/* Whether malloc peer im is a candidate for "the faster malloc'd stack"
 * of the case after its rounds so far: its median pair within 1.5x of the
 * faster peer's (both at 16 and 64 KiB; at 1 MiB only glibc: mimalloc maps
 * each 1 MiB stack and is ~40x slower). */
static int candidate(const pcase *p, int im, int have_mi)
{
    double med[NIMPL] = { 0 }, v[SP_MAX_ROUNDS];
    for (int k = GLIBC; k <= MIMALLOC; k++) {
        for (int r = 0; r < p->rounds; r++)
            v[r] = p->c[k].runs[r].ns;
        med[k] = k == MIMALLOC && !have_mi ? NAN : sp_median(v, p->rounds);
    }
    double fastest =
        isnan(med[MIMALLOC]) || med[GLIBC] < med[MIMALLOC] ? med[GLIBC] : med[MIMALLOC];
    return !isnan(med[im]) && med[im] <= 1.5 * fastest;
}

/* The fewest quiet rounds ours has so far against a candidate peer (mmap,
 * 50x below its target, does not ask for more rounds). */
static int case_quiet(const pcase *p, int have_mi)
{
    int q = p->rounds;
    for (int im = GLIBC; im <= MIMALLOC; im++) {
        if (!candidate(p, im, have_mi))
            continue;
        int k = sp_quiet_pairs(p->c[PA].runs, p->c[im].runs, p->rounds);
        q = k < q ? k : q;
    }
    return q;
}

/* One round: ours in the middle between the malloc peers, mmap at the
 * outer end, the order reversed every other round; the reference loop
 * before the first run, between runs and after the last. */
static void one_round(pcase *p, int have_mi)
{
    static const int order[NIMPL] = { MMAP, GLIBC, PA, MIMALLOC };
    int r = p->rounds, cpus[SP_MAX_THREADS];
    round_cpus(p->threads, r, cpus);
    (void)sp_probe(p->threads, cpus);   /* warms the caches of a new CPU */
    double ref = sp_probe(p->threads, cpus);
    for (int k = 0; k < NIMPL; k++) {
        int im = order[r % 2 ? NIMPL - 1 - k : k];
        sp_run *run = &p->c[im].runs[r];
        if (im == MIMALLOC && !have_mi) {
            *run = (sp_run){ .ns = -1, .width = p->threads };
            continue;
        }
        *run = run_pairs((enum impl)im, p->size, p->threads, p->npairs[im], cpus);
        run->probe0 = ref;
        /* After mmap, one reference more, not used: the kernel finishes
         * thousands of unmaps after the run (two threads: the reference
         * right after read 0.74-0.87 of the best in every round, the one
         * before 0.9-1.0), which is mmap's cost, not the machine's. */
        if (im == MMAP)
            (void)sp_probe(p->threads, cpus);
        ref = sp_probe(p->threads, cpus);
        run->probe1 = ref;
    }
    p->rounds++;
}

/* `rounds` rounds, then more while ours has fewer than `rounds` quiet ones
 * against some peer (judged against the best reference so far), up to
 * max_rounds: the malloc suite's PAIRS, PAIRS_QUIET and PAIRS_MAX. */
void measure_case(pcase *p, int ci, long pairs, int rounds, int max_rounds, int have_mi)
{
    memset(p, 0, sizeof *p);
    p->size = sizes[ci / 2];
    p->threads = ci % 2 + 1;
    long n = p->size >= (1 << 20) ? pairs / 4 : pairs;
    int cpus[SP_MAX_THREADS];
    round_cpus(p->threads, 0, cpus);
    for (int im = 0; im < NIMPL; im++) {
        /* mmap is ~1000 times slower: a two-hundredth of the pairs */
        p->npairs[im] = im == MMAP ? n / 200 + 1 : n;
        if (im == MIMALLOC && !have_mi)
            continue;
        run_pairs((enum impl)im, p->size, p->threads, p->npairs[im] / 10 + 1, cpus); /* warm-up */
    }
    while (p->rounds < max_rounds && (p->rounds < rounds || case_quiet(p, have_mi) < rounds))
        one_round(p, have_mi);
}

void judge_case(pcase *p, int min_quiet, int have_mi)
{
    for (int im = 0; im < NIMPL; im++)
        summarise(&p->c[im], p->rounds);
    for (int im = MMAP; im < NIMPL; im++)
        if (im != MIMALLOC || have_mi)
            p->fig[im] = sp_figure(p->c[PA].runs, p->c[im].runs, p->rounds, min_quiet);
    /* Against the faster malloc'd stack: of the candidate peers, the one
     * ours does worst against (bench/pairs.py's rule: the highest paired
     * figure), not measured if any of them is not. */
    p->best = GLIBC;
    p->vs_best = p->all_best = NAN;
    int candidates = 0, measured = 1, least = -1;
    for (int im = GLIBC; im <= MIMALLOC; im++) {
        if (!p->c[im].ok || !candidate(p, im, have_mi))
            continue;
        candidates++;
        if (isnan(p->all_best) || p->fig[im].all_median > p->all_best)
            p->all_best = p->fig[im].all_median;
        if (isnan(p->fig[im].value)) {
            measured = 0;
            if (least < 0 || p->fig[im].quiet < p->fig[least].quiet)
                least = im;             /* the least measured peer says why */
        } else if (isnan(p->vs_best) || p->fig[im].value > p->vs_best) {
            p->best = im;
            p->vs_best = p->fig[im].value;
        }
    }
    if (!candidates || !measured) {
        p->vs_best = NAN;
        if (least >= 0)
            p->best = least;
    }
}

static void fig_cell(const sp_fig *f, const char *peer)
{
    if (!f->rounds)
        printf(" - |");
    else if (isnan(f->value))
        printf(" not measured (under load%s%s: %d of %d rounds quiet, %d needed) |",
               peer ? " against " : "", peer ? peer : "", f->quiet, f->rounds, f->min_quiet);
    else
        printf(" %.*f%s%s%s (IQR %.*f-%.*f, %d of %d quiet) |", peer ? 2 : 4, f->value,
               peer ? " (" : "", peer ? peer : "", peer ? ")" : "", peer ? 2 : 4, f->q1,
               peer ? 2 : 4, f->q3, f->quiet, f->rounds);
}

void print_pairs(const pcase *pc, long pairs, int rounds, int max_rounds, int min_quiet,
                        const char *note)
{
    printf("\ncreate+destroy pairs, ns per pair per thread (own time: wall less waiting for a"
           " CPU): median (min-max) of every round\n"
           "(%ld pairs per thread and run, a quarter at 1 MiB, a two-hundredth of that for mmap;"
           " mimalloc: %s)\n", pairs, note);
    printf("paired rounds (bench/stack_paired.h): %d to %d per case, ours between the malloc"
           " peers, order reversed every round; ratios are medians of the quiet rounds' ours /"
           " peer (reference >= %.2f of the best; two threads: each waited <= %.2f of its"
           " time), at least %d\n\n", rounds, max_rounds, sp_probe_quiet, sp_delay_quiet,
           min_quiet);
    printf("| size | threads | rounds |");
    for (int im = 0; im < NIMPL; im++)
        printf(" %s |", impl_name[im]);
    printf(" pagealloc / mmap | pagealloc / best malloc |\n|---|---|---|");
    for (int im = 0; im < NIMPL + 2; im++)
        printf("---|");
    printf("\n");
    for (int ci = 0; ci < NCASES; ci++) {
        const pcase *p = &pc[ci];
        printf("| %zu KiB | %d | %d |", p->size >> 10, p->threads, p->rounds);
        for (int im = 0; im < NIMPL; im++) {
            const cell *c = &p->c[im];
            if (c->ok)
                printf(" %.0f (%.0f-%.0f) |", c->med, c->min, c->max);
            else
                printf(" - |");
        }
        fig_cell(&p->fig[MMAP], NULL);
        fig_cell(&p->fig[p->best], impl_key[p->best]);
        printf("\n");
    }
    printf("\nper peer: quiet rounds' median (IQR, min-max), dropped rounds, and for comparison"
           " the median of every round's ratio and the old ratio of medians\n\n"
           "| size | threads | peer | paired | quiet / rounds | dropped (ours, peer, both slow) |"
           " every round | ratio of medians |\n|---|---|---|---|---|---|---|---|\n");
    for (int ci = 0; ci < NCASES; ci++) {
        const pcase *p = &pc[ci];
        for (int im = MMAP; im < NIMPL; im++) {
            const sp_fig *f = &p->fig[im];
            if (!f->rounds)
                continue;
            int prec = im == MMAP ? 4 : 3;
            printf("| %zu KiB | %d | %s | ", p->size >> 10, p->threads, impl_key[im]);
            if (isnan(f->value))
                printf("not measured");
            else
                printf("%.*f (%.*f-%.*f, %.*f-%.*f)", prec, f->value, prec, f->q1, prec, f->q3,
                       prec, f->min, prec, f->max);
            printf(" | %d / %d | %d, %d, %d | %.*f | %.*f |\n", f->quiet, f->rounds, f->ours_slow,
                   f->peer_slow, f->both_slow, prec, f->all_median, prec, f->ratio_of_medians);
        }
    }
    fflush(stdout);
}

static void jnum(FILE *f, const char *key, double v, const char *after)
{
    if (isnan(v))
        fprintf(f, "\"%s\": null%s", key, after);
    else
        fprintf(f, "\"%s\": %.4f%s", key, v, after);
}

static void json_fig(FILE *f, const sp_fig *g)
{
    fprintf(f, "{\"rounds\": %d, \"quiet\": %d, \"min_quiet\": %d, \"dropped\": {\"ours slow\": %d,"
            " \"peer slow\": %d, \"both slow\": %d}, ", g->rounds, g->quiet, g->min_quiet,
            g->ours_slow, g->peer_slow, g->both_slow);
    jnum(f, "value", g->value, ", ");
    jnum(f, "q1", g->q1, ", ");
    jnum(f, "q3", g->q3, ", ");
    jnum(f, "min", g->min, ", ");
    jnum(f, "max", g->max, ", ");
    jnum(f, "all_rounds_median", g->all_median, ", ");
    jnum(f, "ratio_of_medians", g->ratio_of_medians, "}");
}

void json_pairs(FILE *f, const pcase *pc, long pairs, int rounds, int max_rounds, int min_quiet)
{
    fprintf(f, "  \"pairs\": {\"protocol\": \"paired rounds (bench/stack_paired.h)\","
            " \"rounds\": %d, \"max_rounds\": %d, \"min_quiet\": %d, \"probe_quiet\": %.2f,"
            " \"run_delay_quiet\": %.2f,"
            " \"pairs_per_thread\": %ld, \"unit\": \"ns per pair per thread\",\n    \"cases\": [",
            rounds, max_rounds, min_quiet, sp_probe_quiet, sp_delay_quiet, pairs);
    for (int ci = 0; ci < NCASES; ci++) {
        const pcase *p = &pc[ci];
        fprintf(f, "%s\n      {\"size\": %zu, \"threads\": %d, \"rounds_run\": %d,", ci ? "," : "",
                p->size, p->threads, p->rounds);
        for (int im = 0; im < NIMPL; im++) {
            const cell *c = &p->c[im];
            if (!c->ok) {
                fprintf(f, " \"%s\": null,", impl_key[im]);
                continue;
            }
            fprintf(f, "\n       \"%s\": {\"pairs\": %ld, \"median\": %.1f, \"min\": %.1f,"
                    " \"max\": %.1f, \"runs\": [", impl_key[im], p->npairs[im], c->med, c->min,
                    c->max);
            for (int r = 0; r < p->rounds; r++)
                fprintf(f, "%s%.1f", r ? ", " : "", c->runs[r].ns);
            fprintf(f, "], \"quiet\": [");
            for (int r = 0; r < p->rounds; r++)
                fprintf(f, "%s%d", r ? ", " : "", sp_quiet(&c->runs[r]));
            fprintf(f, "], \"wall\": [");
            for (int r = 0; r < p->rounds; r++)
                fprintf(f, "%s%.1f", r ? ", " : "", c->runs[r].wall);
            fprintf(f, "], \"slept\": [");
            for (int r = 0; r < p->rounds; r++)
                fprintf(f, "%s%d", r ? ", " : "", c->runs[r].sleeps);
            fprintf(f, "], \"run_delay\": [");
            for (int r = 0; r < p->rounds; r++)
                fprintf(f, "%s%.3f", r ? ", " : "", c->runs[r].delay);
            fprintf(f, "], \"probe0\": [");
            for (int r = 0; r < p->rounds; r++)
                fprintf(f, "%s%.0f", r ? ", " : "", c->runs[r].probe0);
            fprintf(f, "], \"probe1\": [");
            for (int r = 0; r < p->rounds; r++)
                fprintf(f, "%s%.0f", r ? ", " : "", c->runs[r].probe1);
            fprintf(f, "]},");
        }
        fprintf(f, "\n       \"paired\": {");
        for (int im = MMAP, first = 1; im < NIMPL; im++) {
            if (!p->fig[im].rounds)
                continue;
            fprintf(f, "%s\n        \"%s\": ", first ? "" : ",", impl_key[im]);
            json_fig(f, &p->fig[im]);
            first = 0;
        }
        fprintf(f, "},\n       \"best_malloc\": \"%s\", ", impl_key[p->best]);
        jnum(f, "vs_mmap", p->fig[MMAP].value, ", ");
        jnum(f, "vs_best_malloc", p->vs_best, ", ");
        jnum(f, "vs_glibc", p->fig[GLIBC].value, "}");
    }
    fprintf(f, "\n    ]},\n");
}

/* A target over the cases (0: ours / mmap, 1: ours / the better malloc
 * peer): the worst case's paired figure, or null with the cases under
 * load named; "worst" says which case, its peer and spread; "all_rounds"
 * is the worst case's median of every round's ratio, quiet or not (for
 * the report of a run under load, never the target's value). */
void json_target(FILE *f, const pcase *pc, const char *name, int malloc_peer)
{
    int worst = -1, loaded = 0;
    double v = 0, all = NAN;
    for (int ci = 0; ci < NCASES; ci++) {
        double x = malloc_peer ? pc[ci].vs_best : pc[ci].fig[MMAP].value;
        double a = malloc_peer ? pc[ci].all_best : pc[ci].fig[MMAP].all_median;
        if (!isnan(a) && (isnan(all) || a > all))
            all = a;
        if (isnan(x))
            loaded++;
        else if (worst < 0 || x > v)
            worst = ci, v = x;
    }
    fprintf(f, "    {\"target\": \"%s\", ", name);
    jnum(f, "value", loaded || worst < 0 ? NAN : v, ", ");
    jnum(f, "all_rounds", all, ", \"under_load\": [");
    for (int ci = 0, k = 0; ci < NCASES; ci++) {
        const pcase *p = &pc[ci];
        int peer = malloc_peer ? p->best : MMAP;
        const sp_fig *g = &p->fig[peer];
        if (isnan(malloc_peer ? p->vs_best : g->value))
            fprintf(f, "%s\"%zu KiB x%d: %d of %d rounds quiet against %s\"", k++ ? ", " : "",
                    p->size >> 10, p->threads, g->quiet, g->rounds, impl_key[peer]);
    }
    fprintf(f, "], \"worst\": ");
    if (worst < 0) {
        fprintf(f, "null}");
        return;
    }
    const pcase *p = &pc[worst];
    const sp_fig *g = &p->fig[malloc_peer ? p->best : MMAP];
    fprintf(f, "{\"size\": %zu, \"threads\": %d, \"peer\": \"%s\", \"quiet\": %d, \"rounds\": %d,"
            " ", p->size, p->threads, impl_key[malloc_peer ? p->best : MMAP], g->quiet, g->rounds);
    jnum(f, "q1", g->q1, ", ");
    jnum(f, "q3", g->q3, "}}");
}
