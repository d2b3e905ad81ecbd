/*
 * stack.c - the stack layer against what programs do today (issue 12's
 * benchmark), in one run:
 *   pagealloc   pa_stack_alloc / pa_stack_free (guarded, cached)
 *   mmap        mmap + mprotect of a guard page + munmap per stack
 *   glibc       malloc'd stacks, no guard
 *   mimalloc    mi_malloc'd stacks, no guard
 * mimalloc is loaded with dlopen(RTLD_LOCAL) and called through dlsym'd
 * mi_malloc / mi_free, so it never replaces malloc in this process (as
 * linking libmimalloc.so would): the glibc column stays glibc's. The run
 * checks that before timing anything (malloc resolves to the C library,
 * and its blocks are outside mimalloc's heap) and says so; without the
 * library the mimalloc column is "-".
 *
 * Pairs: each thread creates and destroys stacks of one size in a loop,
 * touching the top 64 bytes of each (what a coroutine's first frame does).
 * Each case (size x threads) runs in paired rounds (bench/stack_paired.h,
 * the protocol of the malloc and collector rows): every allocator once per
 * round, back to back on the same pinned CPUs, ours between the two malloc
 * peers, the order reversed every round, the reference loop before, between
 * and after the runs. A run's figure is ns per pair per thread of the
 * slower thread's own time (wall time less the time it waited for a CPU);
 * a cell is the median with the min-max of every round. The ratios, to
 * mmap and to the faster malloc peer of the case (the "<= 1.0x
 * malloc'd stacks", against the better of the two), are medians of the
 * quiet rounds' ratios (both runs quiet), with IQR and count, or "not
 * measured (under load)" with fewer than --min-quiet (4). --rounds (6)
 * rounds, more while a malloc peer has fewer than that many quiet, up to
 * --max-rounds (12). One untimed warm-up run of a tenth as many pairs per
 * allocator and case comes first. mmap runs a two-hundredth of the pairs
 * (it is ~1000 times slower).
 *
 * RSS: N idle stacks of 64 KiB each touched T bytes from the top (4 KiB,
 * then 60 KiB): the growth of the process's RSS over the bytes touched,
 * and the RSS left after freeing them all (pagealloc: and
 * pa_stack_release). Each case runs in a child process of its own (fork),
 * so no allocator sees another's retained memory; the child sends its
 * figures back through a pipe. N is the 100,000. A guarded stack
 * is two kernel mappings (pagealloc and mmap), so N needs 2N mappings
 * under vm.max_map_count (default 65530): if the limit is lower and the
 * process may write /proc/sys/vm/max_map_count (root), the run raises it
 * to 2N + 32768 for the RSS part and restores the old value after it
 * (also on SIGINT/SIGTERM/SIGHUP); else N falls to what fits, and both
 * outputs say so.
 *
 * Output: the tables (markdown) on stdout; with --json FILE, the same
 * figures as JSON (make bench: bench/results/stack.json, read by
 * bench/summary.py).
 *
 *   pagealloc-bench-stack [--pairs N] [--idle N] [--rounds N] [--max-rounds N]
 *                         [--min-quiet N] [--json FILE]
 * (make bench: bench/run_stack.sh, which runs it at nice -19 in a session
 * of its own, as the malloc and collector drivers run theirs.)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pagealloc/stack.h"
#include "stack_bench.h"

const char *const impl_name[NIMPL] = { "pagealloc", "mmap+mprotect", "glibc malloc",
                                       "mimalloc" };
const char *const impl_key[NIMPL] = { "pagealloc", "mmap", "glibc", "mimalloc" };

static pa_stack_allocator *A;
static size_t PS;

/* mimalloc, loaded privately (see the head comment). */
static void *(*mi_malloc_fn)(size_t);
static void (*mi_free_fn)(void *);
static int (*mi_in_heap_fn)(const void *);
static char mi_note[256] = "not loaded";

static int mi_load(void)
{
    if (mi_malloc_fn)
        return 1;
    void *lib = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        lib = dlopen("libmimalloc.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(mi_note, sizeof mi_note, "libmimalloc.so.2 not found (apt libmimalloc-dev)");
        return 0;
    }
    mi_malloc_fn = (void *(*)(size_t))dlsym(lib, "mi_malloc");
    mi_free_fn = (void (*)(void *))dlsym(lib, "mi_free");
    mi_in_heap_fn = (int (*)(const void *))dlsym(lib, "mi_is_in_heap_region");
    if (!mi_malloc_fn || !mi_free_fn || !mi_in_heap_fn) {
        snprintf(mi_note, sizeof mi_note, "libmimalloc lacks mi_malloc/mi_free");
        mi_malloc_fn = NULL;
        return 0;
    }
    /* The glibc column must still be glibc's: the process's malloc is the
     * C library's, and its blocks (small and stack-sized) are not
     * mimalloc's, while mi_malloc's are. */
    Dl_info where = { 0 };
    void *global_malloc = dlsym(RTLD_DEFAULT, "malloc");
    int from_libc = global_malloc && dladdr(global_malloc, &where) && where.dli_fname &&
                    strstr(where.dli_fname, "libc.so");
    void *p = malloc(16 << 10), *q = mi_malloc_fn(16 << 10), *r = malloc(64);
    int ok = from_libc && p && q && r && !mi_in_heap_fn(p) && !mi_in_heap_fn(r) &&
             mi_in_heap_fn(q);
    snprintf(mi_note, sizeof mi_note, "%s: malloc is %s's, its blocks %s mimalloc's heap",
             ok ? "dlopen'd RTLD_LOCAL, checked" : "CHECK FAILED",
             where.dli_fname ? where.dli_fname : "?", ok ? "outside" : "not all outside");
    free(p);
    free(r);
    if (q)
        mi_free_fn(q);
    if (!ok)
        mi_malloc_fn = NULL;
    return ok;
}

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
        h->base = mi_malloc_fn ? mi_malloc_fn(size) : NULL;
        h->hi = (char *)h->base + size;
        return h->base ? 0 : -1;
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
        mi_free_fn(h->base);
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

/* ---- Pairs -------------------------------------------------------------- */

struct job {
    enum impl im;
    size_t size;
    long pairs;
    int cpu;                    /* pinned to it; -1 not pinned */
    double secs, delay;         /* wall time; time waiting for a CPU, s */
    long sleeps;                /* voluntary context switches (waits on a lock) */
    int failed;
    pthread_barrier_t *start;   /* the threads of a run start together */
};

static void *pairs_thread(void *arg)
{
    struct job *j = arg;
    handle h;
    sp_pin(j->cpu);
    pthread_barrier_wait(j->start);
    /* The wall clock outside the run delay's readings: a wait between them
     * counts in the wall time only, so the own time is never below zero. */
    double t0 = now();
    double d0 = sp_run_delay();
    struct rusage u0, u1;
    getrusage(RUSAGE_THREAD, &u0);
    for (long i = 0; i < j->pairs; i++) {
        if (create(j->im, j->size, &h)) {
            j->failed = 1;
            break;
        }
        memset((char *)h.hi - 64, 1, 64);
        destroy(j->im, &h);
    }
    getrusage(RUSAGE_THREAD, &u1);
    double d1 = sp_run_delay();
    j->secs = now() - t0;
    j->delay = (d1 - d0) * 1e-9;
    j->sleeps = u1.ru_nvcsw - u0.ru_nvcsw;
    return NULL;
}

/* One timed run, thread k pinned to cpus[k]: ns per pair per thread, the
 * slower thread's own time (its wall time less the time it waited for a
 * CPU; the wall time if a thread slept: stack_paired.h says why) and its
 * wall time (negative if failed), and the largest share of a thread's
 * wall time it waited for a CPU. */
sp_run run_pairs(enum impl im, size_t size, int threads, long pairs, const int *cpus)
{
    struct job j[SP_MAX_THREADS];
    pthread_t t[SP_MAX_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        j[i] = (struct job){ .im = im, .size = size, .pairs = pairs, .cpu = cpus[i],
                             .start = &start };
        pthread_create(&t[i], NULL, pairs_thread, &j[i]);
    }
    sp_run r = { .width = threads };
    double worst = 0, own = 0;
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        failed |= j[i].failed;
        if (j[i].secs > worst)
            worst = j[i].secs;
        double d = j[i].secs > 0 ? j[i].delay / j[i].secs : 1;
        if (d > r.delay)
            r.delay = d;
        if (j[i].secs - j[i].delay > own)
            own = j[i].secs - j[i].delay;
        if (j[i].sleeps > r.sleeps)
            r.sleeps = (int)j[i].sleeps;
    }
    r.sleeper = r.sleeps >= 10 + pairs / 1000;
    if (r.sleeper)
        own = worst;
    pthread_barrier_destroy(&start);
    r.wall = failed ? -1 : worst * 1e9 / (double)pairs;
    r.ns = failed ? -1 : own * 1e9 / (double)pairs;
    return r;
}

void summarise(cell *c, int rounds)
{
    double s[SP_MAX_ROUNDS];
    c->ok = rounds > 0;
    c->min = c->max = rounds > 0 ? c->runs[0].ns : -1;
    for (int r = 0; r < rounds; r++) {
        s[r] = c->runs[r].ns;
        c->ok &= s[r] >= 0;
        c->min = s[r] < c->min ? s[r] : c->min;
        c->max = s[r] > c->max ? s[r] : c->max;
    }
    c->med = c->ok ? sp_median(s, rounds) : -1;
}

/* ---- Idle RSS ----------------------------------------------------------- */

typedef struct rss_row {
    int im;
    long asked, made;
    size_t touch;
    long grown, after;          /* bytes: RSS growth with the stacks, after freeing */
} rss_row;

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

/* In a child: n stacks of 64 KiB touched `touch` bytes each. */
static rss_row idle_rss(enum impl im, long n, size_t touch)
{
    rss_row row = { .im = im, .asked = n, .touch = touch };
    handle *hs = mmap(NULL, (size_t)n * sizeof *hs, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (hs == MAP_FAILED)
        return row;
    memset(hs, 0xff, (size_t)n * sizeof *hs);   /* resident before the baseline */
    long before = rss_bytes();
    long made = 0;
    for (; made < n; made++) {
        if (create(im, 64 << 10, &hs[made]))
            break;
        memset((char *)hs[made].hi - touch, 1, touch);
    }
    row.made = made;
    row.grown = rss_bytes() - before;
    for (long i = 0; i < made; i++)
        destroy(im, &hs[i]);
    if (im == PA)
        pa_stack_release(A);
    row.after = rss_bytes() - before;
    return row;
}

/* vm.max_map_count: raised for the RSS part if need be and allowed. */
static const char MAPS[] = "/proc/sys/vm/max_map_count";
static long maps_old = -1;       /* the value to restore; -1: untouched */
static char maps_old_text[32];

static long maps_read(void)
{
    FILE *f = fopen(MAPS, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static int maps_write(const char *text)
{
    int fd = open(MAPS, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void maps_restore(void)
{
    if (maps_old >= 0 && maps_write(maps_old_text) == 0)
        maps_old = -1;
}

static void maps_on_signal(int sig)
{
    if (maps_old >= 0) {                /* open, write, close: signal-safe */
        int fd = open(MAPS, O_WRONLY);
        if (fd >= 0) {
            ssize_t w = write(fd, maps_old_text, strlen(maps_old_text));
            (void)w;
            close(fd);
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The number of idle stacks to use: `want`, raising the limit if that is
 * needed and allowed, else what fits; a note on what was done in note. */
static long idle_count(long want, char *note, size_t size)
{
    const long slack = 32768;           /* the process's other mappings */
    long cur = maps_read();
    if (cur < 0) {
        snprintf(note, size, "vm.max_map_count unreadable; %ld stacks asked", want);
        return want;
    }
    if (cur >= 2 * want + slack) {
        snprintf(note, size, "vm.max_map_count %ld: %ld stacks fit", cur, want);
        return want;
    }
    char text[32];
    snprintf(maps_old_text, sizeof maps_old_text, "%ld\n", cur);
    snprintf(text, sizeof text, "%ld\n", 2 * want + slack);
    maps_old = cur;
    signal(SIGINT, maps_on_signal);
    signal(SIGTERM, maps_on_signal);
    signal(SIGHUP, maps_on_signal);
    if (maps_write(text) == 0 && maps_read() == 2 * want + slack) {
        snprintf(note, size, "vm.max_map_count raised from %ld to %ld for this part, then restored",
                 cur, 2 * want + slack);
        return want;
    }
    maps_old = -1;
    long fit = (cur - 4096) / 2 / 1000 * 1000;
    if (fit < 1000)
        fit = 1000;
    snprintf(note, size, "vm.max_map_count %ld, not writable here: %ld stacks, not %ld", cur,
             fit < want ? fit : want, want);
    return fit < want ? fit : want;
}

/* ---- Main --------------------------------------------------------------- */

int main(int argc, char **argv)
{
    long pairs = 1000000, idle = 100000;
    int rounds = 6, max_rounds = 12, min_quiet = 4;
    const char *json_path = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pairs"))
            pairs = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--idle"))
            idle = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-rounds"))
            max_rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--min-quiet"))
            min_quiet = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--json"))
            json_path = argv[i + 1];
    }
    if (max_rounds < rounds)
        max_rounds = rounds;
    if (pairs < 1000 || idle < 1 || rounds < 1 || max_rounds > SP_MAX_ROUNDS || min_quiet < 1) {
        fprintf(stderr, "usage: %s [--pairs N>=1000] [--idle N] [--rounds N] [--max-rounds N<=%d]"
                " [--min-quiet N] [--json FILE]\n", argv[0], SP_MAX_ROUNDS);
        return 2;
    }
    PS = (size_t)sysconf(_SC_PAGESIZE);
    double t_start = now();

    /* The RSS cases first, each in a child forked while this process has
     * no other thread (a heap's scavenger thread would not survive fork). */
    char maps_note[160];
    long n_idle = idle_count(idle, maps_note, sizeof maps_note);
    printf("idle stacks of 64 KiB, touched from the top: RSS growth vs bytes touched\n");
    printf("(%s)\n\n", maps_note);
    printf("| allocator | stacks | touched | touched total | RSS growth | over | RSS after free"
           " (+release) |\n|---|---|---|---|---|---|---|\n");
    fflush(stdout);
    rss_row rrows[NIMPL * 2];
    int nr = 0;
    for (int im = 0; im < NIMPL; im++) {
        for (int k = 0; k < 2; k++) {
            rss_row row = { .im = im, .asked = n_idle, .touch = k ? 60 << 10 : 4 << 10 };
            int fd[2];
            if (pipe(fd) != 0)
                break;
            pid_t pid = fork();
            if (pid == 0) {
                close(fd[0]);
                if ((im == PA && !(A = pa_stack_allocator_new(NULL))) ||
                    (im == MIMALLOC && !mi_load()))
                    _exit(1);
                row = idle_rss((enum impl)im, n_idle, row.touch);
                ssize_t w = write(fd[1], &row, sizeof row);
                _exit(w == (ssize_t)sizeof row ? 0 : 1);
            }
            close(fd[1]);
            if (pid > 0 && read(fd[0], &row, sizeof row) != (ssize_t)sizeof row)
                row.made = 0;
            close(fd[0]);
            int st;
            if (pid > 0)
                waitpid(pid, &st, 0);
            rrows[nr++] = row;
            double want = (double)row.made * (double)row.touch;
            if (row.made == 0) {
                printf("| %s | 0 | %zu KiB | - | - | - | - |\n", impl_name[im], row.touch >> 10);
            } else {
                printf("| %s | %ld%s | %zu KiB | %.1f MiB | %.1f MiB | %+.1f %% | %.1f MiB |\n",
                       impl_name[im], row.made, row.made < row.asked ? " (failed there)" : "",
                       row.touch >> 10, want / 1048576.0, (double)row.grown / 1048576.0,
                       100.0 * ((double)row.grown - want) / want, (double)row.after / 1048576.0);
            }
            fflush(stdout);
        }
    }
    maps_restore();
    double t_rss = now() - t_start;

    /* Pairs. mimalloc is loaded here, after the RSS children. */
    int have_mi = mi_load();
    A = pa_stack_allocator_new(NULL);
    if (!A) {
        perror("pa_stack_allocator_new");
        return 1;
    }
    sp_init();
    static pcase pc[NCASES];
    for (int ci = 0; ci < NCASES; ci++) {
        measure_case(&pc[ci], ci, pairs, rounds, max_rounds, have_mi);
        fprintf(stderr, "pagealloc-bench-stack: %zu KiB x%d: %d rounds\n", pc[ci].size >> 10,
                pc[ci].threads, pc[ci].rounds);
    }
    pa_stack_allocator_delete(A);
    sp_done();
    /* Judged at the end, against the best reference of the whole run. */
    for (int ci = 0; ci < NCASES; ci++)
        judge_case(&pc[ci], min_quiet, have_mi);
    print_pairs(pc, pairs, rounds, max_rounds, min_quiet, mi_note);
    double t_all = now() - t_start;
    printf("\n(%.0f s in all: RSS part %.0f s, pairs %.0f s)\n", t_all, t_rss, t_all - t_rss);

    if (!json_path)
        return 0;
    FILE *f = fopen(json_path, "w");
    if (!f) {
        perror(json_path);
        return 1;
    }
    fprintf(f, "{\n  \"benchmark\": \"stack\",\n  \"cpus\": %ld,\n  \"page_size\": %zu,\n"
            "  \"seconds\": %.1f,\n", sysconf(_SC_NPROCESSORS_ONLN), PS, t_all);
    fprintf(f, "  \"mimalloc\": {\"measured\": %s, \"note\": \"%s\"},\n",
            have_mi ? "true" : "false", mi_note);
    fprintf(f, "  \"idle\": {\"stacks_asked\": %ld, \"stacks\": %ld, \"stack_bytes\": 65536,"
            " \"max_map_count\": \"%s\",\n    \"cases\": [", idle, n_idle, maps_note);
    double worst_rss = 0;
    for (int i = 0; i < nr; i++) {
        const rss_row *r = &rrows[i];
        double want = (double)r->made * (double)r->touch;
        double over = r->made ? (double)r->grown / want : 0;
        if (r->im == PA && r->made && over > worst_rss)
            worst_rss = over;
        fprintf(f, "%s\n      {\"allocator\": \"%s\", \"touched\": %zu, \"stacks\": %ld,"
                " \"touched_bytes\": %.0f, \"rss_growth\": %ld, \"rss_over_touched\": %.4f,"
                " \"rss_after_free\": %ld}", i ? "," : "", impl_key[r->im], r->touch, r->made,
                want, r->grown, over, r->after);
    }
    fprintf(f, "\n    ]},\n");
    json_pairs(f, pc, pairs, rounds, max_rounds, min_quiet);
    fprintf(f, "  \"targets\": [\n");
    json_target(f, pc, "worst pair / mmap+mprotect+munmap <= 0.1", 0);
    fprintf(f, ",\n");
    json_target(f, pc, "worst pair / best malloc'd stack <= 1.0", 1);
    fprintf(f, ",\n    {\"target\": \"worst idle RSS / bytes touched <= 1.05\", \"value\": %.4f}\n"
            "  ]\n}\n", worst_rss);
    if (fclose(f) != 0) {
        perror(json_path);
        return 1;
    }
    return 0;
}
