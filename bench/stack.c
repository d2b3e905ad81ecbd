/*
 * stack.c - the stack layer against what programs do today (issue 12's
 * benchmark), in one run:
 *   pagealloc   pa_stack_alloc / pa_stack_free (guarded, cached)
 *   mmap        mmap + mprotect of a guard page + munmap per stack
 *   glibc       malloc'd stacks, no guard
 * (mimalloc's prefixed API is wired in under STACK_BENCH_MIMALLOC, but
 * linking libmimalloc.so also replaces glibc's malloc in the process, so
 * it needs a build of its own; not built yet.)
 *
 * Pairs: each thread creates and destroys stacks of one size in a loop,
 * touching the top 64 bytes of each (what a coroutine's first frame does);
 * reported as ns per create+destroy pair (after an untimed warm-up run of
 * a tenth as many), and as a ratio to mmap and to glibc. Sizes 16 KiB, 64 KiB, 1 MiB; one and two threads.
 *
 * RSS: N idle stacks of 64 KiB each touched T bytes from the top (4 KiB,
 * then 60 KiB): the growth of the process's RSS over the bytes touched;
 * then, for pagealloc, the RSS left after freeing them all and
 * pa_stack_release. N defaults to 30,000 (two mappings per guarded stack
 * must fit under vm.max_map_count). Each RSS case runs in a child process
 * of its own (fork), so no allocator sees another's retained memory.
 *
 *   pagealloc-bench-stack [--pairs N] [--idle N]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pagealloc/stack.h"
#ifdef STACK_BENCH_MIMALLOC
#include <mimalloc.h>
#endif

enum impl { PA, MMAP, GLIBC, MIMALLOC, NIMPL };
static const char *impl_name[NIMPL] = { "pagealloc", "mmap+mprotect", "glibc malloc",
                                        "mimalloc" };

static pa_stack_allocator *A;
static size_t PS;

typedef struct handle {
    void *base;
    void *hi;
    size_t len;
    pa_stack s;
} handle;

static int create(enum impl im, size_t size, handle *h)
{
    switch (im) {
    case PA:
        if (pa_stack_alloc(A, size, &h->s))
            return -1;
        h->hi = h->s.hi;
        return 0;
    case MMAP:
        h->len = size + PS;
        h->base = mmap(NULL, h->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (h->base == MAP_FAILED)
            return -1;
        if (mprotect(h->base, PS, PROT_NONE)) {
            munmap(h->base, h->len);
            return -1;
        }
        h->hi = (char *)h->base + h->len;
        return 0;
    case GLIBC:
        h->base = malloc(size);
        h->hi = (char *)h->base + size;
        return h->base ? 0 : -1;
    case MIMALLOC:
#ifdef STACK_BENCH_MIMALLOC
        h->base = mi_malloc(size);
        h->hi = (char *)h->base + size;
        return h->base ? 0 : -1;
#else
        return -1;
#endif
    default:
        return -1;
    }
}

static void destroy(enum impl im, handle *h)
{
    switch (im) {
    case PA:
        pa_stack_free(A, &h->s);
        break;
    case MMAP:
        munmap(h->base, h->len);
        break;
    case GLIBC:
        free(h->base);
        break;
    case MIMALLOC:
#ifdef STACK_BENCH_MIMALLOC
        mi_free(h->base);
#endif
        break;
    default:
        break;
    }
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

struct job {
    enum impl im;
    size_t size;
    long pairs;
    double secs;
    int failed;
};

static void *pairs_thread(void *arg)
{
    struct job *j = arg;
    handle h;
    double t0 = now();
    for (long i = 0; i < j->pairs; i++) {
        if (create(j->im, j->size, &h)) {
            j->failed = 1;
            break;
        }
        memset((char *)h.hi - 64, 1, 64);
        destroy(j->im, &h);
    }
    j->secs = now() - t0;
    return NULL;
}

/* ns per pair per thread, threads running at once; negative if failed. */
static double run_pairs(enum impl im, size_t size, int threads, long pairs)
{
    struct job j[2];
    pthread_t t[2];
    for (int i = 0; i < threads; i++) {
        j[i] = (struct job){ .im = im, .size = size, .pairs = pairs };
        pthread_create(&t[i], NULL, pairs_thread, &j[i]);
    }
    double worst = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        if (j[i].failed)
            return -1;
        if (j[i].secs > worst)
            worst = j[i].secs;
    }
    return worst * 1e9 / (double)pairs;
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (long)PS;
}

static void idle_rss(enum impl im, long n, size_t touch)
{
    handle *hs = calloc((size_t)n, sizeof *hs);
    if (!hs)
        return;
    memset(hs, 0xff, (size_t)n * sizeof *hs);   /* resident before the baseline */
    long before = rss_bytes();
    long made = 0;
    for (; made < n; made++) {
        if (create(im, 64 << 10, &hs[made]))
            break;
        memset((char *)hs[made].hi - touch, 1, touch);
    }
    long grown = rss_bytes() - before;
    double want = (double)made * (double)touch;
    printf("| %-13s | %6ld | %5zu KiB | %8.1f MiB | %8.1f MiB | %+6.1f %% |", impl_name[im], made,
           touch >> 10, want / 1048576.0, (double)grown / 1048576.0, 100.0 * ((double)grown - want) / want);
    for (long i = 0; i < made; i++)
        destroy(im, &hs[i]);
    if (im == PA)
        pa_stack_release(A);
    printf(" %8.1f MiB |\n", (double)(rss_bytes() - before) / 1048576.0);
    free(hs);
}

int main(int argc, char **argv)
{
    long pairs = 200000, idle = 30000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pairs"))
            pairs = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--idle"))
            idle = atol(argv[i + 1]);
    }
    PS = (size_t)sysconf(_SC_PAGESIZE);
    int nimpl = NIMPL;
#ifndef STACK_BENCH_MIMALLOC
    nimpl = MIMALLOC;
#endif
    /* The RSS cases first, each in a child forked while this process has
     * no other thread (a heap's scavenger thread would not survive fork). */
    printf("idle stacks of 64 KiB, touched from the top: RSS growth vs bytes touched\n\n");
    printf("| allocator | stacks | touched | touched total | RSS growth | over | RSS after free%s |\n",
           " (+release)");
    printf("|---|---|---|---|---|---|---|\n");
    fflush(stdout);
    for (int im = 0; im < nimpl; im++) {
        for (int k = 0; k < 2; k++) {
            pid_t pid = fork();
            if (pid == 0) {
                if (im == PA && !(A = pa_stack_allocator_new(NULL)))
                    _exit(1);
                idle_rss((enum impl)im, idle, k ? 60 << 10 : 4 << 10);
                fflush(stdout);
                _exit(0);
            }
            int st;
            if (pid > 0)
                waitpid(pid, &st, 0);
        }
    }
    A = pa_stack_allocator_new(NULL);
    if (!A) {
        perror("pa_stack_allocator_new");
        return 1;
    }
    static const size_t sizes[] = { 16 << 10, 64 << 10, 1 << 20 };
    printf("\ncreate+destroy pairs, ns per pair per thread (%ld pairs per thread)\n\n", pairs);
    printf("| size | threads |");
    for (int im = 0; im < nimpl; im++)
        printf(" %s |", impl_name[im]);
    printf(" pagealloc / mmap | pagealloc / glibc |\n|---|---|");
    for (int im = 0; im < nimpl + 2; im++)
        printf("---|");
    printf("\n");
    for (int si = 0; si < 3; si++) {
        for (int th = 1; th <= 2; th++) {
            double ns[NIMPL];
            long n = sizes[si] >= (1 << 20) ? pairs / 4 : pairs;
            printf("| %zu KiB | %d |", sizes[si] >> 10, th);
            for (int im = 0; im < nimpl; im++) {
                run_pairs((enum impl)im, sizes[si], th, n / 10 + 1);   /* warm up */
                ns[im] = run_pairs((enum impl)im, sizes[si], th, n);
                printf(" %.0f |", ns[im]);
            }
            printf(" %.3f | %.2f |\n", ns[PA] / ns[MMAP], ns[PA] / ns[GLIBC]);
        }
    }
    pa_stack_allocator_delete(A);
    return 0;
}
