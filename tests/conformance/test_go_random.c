/*
 * test_go_random.c - random operation sequences run on pagealloc (and the
 * reference model) and on Go 1.19's own page allocator, compared answer by
 * answer.
 *
 * The sequences come from pa_gen_run (tests/support/pa_gen.c): several
 * configurations (physical page 4/16/64 KiB, with and without 2 MiB huge
 * pages) and heap geometries (one chunk, contiguous chunks, ranges far
 * apart grown in random order, a large range, many small ranges). pagealloc runs them here,
 * with the model checking every answer as in test_model_random; then
 * scripts/go-diff.sh runs the same file through TestPageallocDiff
 * (tests/conformance/go/pagealloc_diff_test.go) inside a private copy of
 * Go's GOROOT, kept in the build tree (tests/go-diff/). The script patches
 * that copy for Go 1.19's scavenge-index growth defect (docs/pagealloc.md,
 * "Go 1.19 defects we do not copy"). The first difference is reported with its operation number,
 * the operation and both answers, and the failing sequence is written to
 * tests/go-diff/mismatch.ops. Compared: every answer (addresses, scavenged
 * bytes, caches, bytes released) and, every 250 operations, a digest of the
 * whole state (bounds, in-use ranges, free and scavenged page counts, a
 * hash of every chunk's two bitmaps). The search hint (Go's searchAddr) is
 * compared too, but a difference there is only printed as a note: it is a
 * hint, not behaviour.
 *
 * At scale 1: 150 sequences of 1000-8000 operations (about 650,000); Go
 * needs about 3 s for them once its runtime tests are compiled (30 s or so
 * the first time, cached in GOCACHE).
 *
 * If Go 1.19 cannot be obtained the test FAILS (it does not skip).
 *
 * Environment:
 *   PAGEALLOC_TEST_SEED=N      seed (printed)
 *   PAGEALLOC_TEST_SCALE=F     multiply the number of sequences (sanitizer
 *                              builds keep at least half of them)
 *   PAGEALLOC_GO_DIFF_OPS=F    run the op file F instead of random sequences
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pa_gen.h"

static const char *g_argv0;

/* snprintf without gcc's truncation warnings (truncation is fine here). */
static void __attribute__((format(printf, 3, 4))) fmt(char *buf, size_t size, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, size, f, ap);
    va_end(ap);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The build's tests directory: where this executable lives (CTest also
 * runs it from there). */
static void tests_dir(char *buf, size_t size)
{
    char tmp[PATH_MAX];
    if (g_argv0 && strchr(g_argv0, '/') && realpath(g_argv0, tmp)) {
        char *s = strrchr(tmp, '/');
        *s = '\0';
        fmt(buf, size, "%s", tmp);
        return;
    }
    if (!getcwd(buf, size))
        snprintf(buf, size, ".");
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The source tree: from __FILE__ (CMake compiles with absolute paths), or
 * from CMakeCache.txt in the build directory. */
static int source_root(const char *tdir, char *buf, size_t size)
{
    static const char suffix[] = "/tests/conformance/test_go_random.c";
    const char *f = __FILE__;
    size_t n = strlen(f), k = sizeof suffix - 1;
    if (f[0] == '/' && n > k && strcmp(f + n - k, suffix) == 0) {
        fmt(buf, size, "%.*s", (int)(n - k), f);
        char probe[PATH_MAX];
        fmt(probe, sizeof probe, "%s/scripts/go-diff.sh", buf);
        if (is_file(probe))
            return 0;
    }
    char cache[PATH_MAX];
    fmt(cache, sizeof cache, "%s/../CMakeCache.txt", tdir);
    FILE *c = fopen(cache, "r");
    if (!c)
        return -1;
    char line[PATH_MAX + 64];
    int found = -1;
    while (fgets(line, sizeof line, c)) {
        const char *key = "CMAKE_HOME_DIRECTORY:INTERNAL=";
        if (strncmp(line, key, strlen(key)) == 0) {
            line[strcspn(line, "\n")] = '\0';
            fmt(buf, size, "%s", line + strlen(key));
            found = 0;
        }
    }
    fclose(c);
    return found;
}

typedef struct seqinfo {
    size_t first;            /* index of its config op in the whole file */
    size_t nops;
    char   desc[96];
    char   model_err[2048];  /* non-empty: pagealloc and the model disagreed at its last op */
} seqinfo;

/* Random sequences at scale 1: NSEQ of 1000-8000 operations each. */
#define NSEQ 150
#define MB2 ((size_t)2 << 20)

static void pick_config(rng_xoshiro *rng, pa_gen_config *cfg)
{
    static const struct { unsigned pct; size_t phys, huge; } confs[] = {
        {50, 4096, MB2}, {15, 4096, 0}, {10, 16384, MB2}, {5, 16384, 0},
        {15, 65536, MB2}, {5, 65536, 0},
    };
    static const unsigned geos[PA_GEO_COUNT] = {15, 20, 35, 15, 15};
    unsigned x = (unsigned)rng_xoshiro_below(rng, 100), k = 0;
    while (x >= confs[k].pct)
        x -= confs[k++].pct;
    cfg->phys_page_size = confs[k].phys;
    cfg->huge_page_size = confs[k].huge;
    x = (unsigned)rng_xoshiro_below(rng, 100);
    k = 0;
    while (x >= geos[k])
        x -= geos[k++];
    cfg->geometry = (int)k;
    cfg->nops = rng_xoshiro_range(rng, 1000, 8000);
}

static const char *const geo_names[] = {"one-chunk", "contiguous", "split", "big", "many"};

/* Split a text buffer into lines (in place). */
static char **split_lines(char *p, size_t len, size_t *n)
{
    size_t cap = 1024, k = 0;
    char **v = malloc(cap * sizeof *v);
    char *end = p + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        if (k == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
        }
        v[k++] = p;
        if (nl < end)
            *nl = '\0';
        p = nl + 1;
    }
    *n = k;
    return v;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0, r;
    char *b = malloc(cap + 1);
    while ((r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap + 1);
        }
    }
    fclose(f);
    b[n] = '\0';
    *len = n;
    return b;
}

static void test_go_random(void **state)
{
    (void)state;
    char tdir[PATH_MAX], src[PATH_MAX], work[PATH_MAX + 16];
    tests_dir(tdir, sizeof tdir);
    if (source_root(tdir, src, sizeof src) != 0)
        fail_msg("cannot find the source tree (from __FILE__ or %s/../CMakeCache.txt)", tdir);
    fmt(work, sizeof work, "%s/go-diff", tdir);
    mkdir(work, 0777);

    uint64_t seed = pa_test_seed();
    double scale = pa_test_scale();
    if (scale < 0.5)
        scale = 0.5;            /* the Go side is not slowed down by sanitizers */
    printf("test_go_random: seed 0x%016" PRIx64 " (PAGEALLOC_TEST_SEED), scale %.3g\n", seed, scale);
    printf("test_go_random: Go runs in a private GOROOT copy under %s\n", work);
    fflush(stdout);

    /* 1. The sequences, run on pagealloc and the model. */
    pa_op *ops = NULL;
    size_t nops = 0, capops = 0;
    pa_strbuf answers = {0};
    seqinfo *seqs = NULL;
    size_t nseq = 0;
    int model_failures = 0;
    double t0 = now();
    const char *given = getenv("PAGEALLOC_GO_DIFF_OPS");
    if (given && *given) {
        char msg[2048];
        pa_op *v;
        size_t n;
        if (pa_ops_read(given, &v, &n, msg, sizeof msg) != 0)
            fail_msg("%s", msg);
        seqs = calloc(n + 1, sizeof *seqs);
        pa_runner *r = pa_runner_new();
        for (size_t i = 0; i < n; i++) {
            if (v[i].kind == PA_OP_CONFIG || i == 0) {
                seqs[nseq].first = i;
                fmt(seqs[nseq].desc, sizeof seqs[nseq].desc, "sequence %zu of %s", nseq, given);
                nseq++;
            }
            seqs[nseq - 1].nops++;
            if (pa_runner_exec(r, &v[i], NULL, &answers, msg, sizeof msg) != 0) {
                char line[128];
                pa_op_format(&v[i], line, sizeof line);
                fmt(seqs[nseq - 1].model_err, sizeof seqs[nseq - 1].model_err,
                         "op #%zu `%s`: %s", i - seqs[nseq - 1].first, line, msg);
                model_failures++;
                n = i + 1;
                break;
            }
        }
        pa_runner_delete(r);
        ops = v;
        nops = n;
    } else {
        rng_xoshiro rng;
        rng_xoshiro_seed(&rng, seed);
        size_t nrand = (size_t)(NSEQ * scale + 0.5);
        if (nrand < 1)
            nrand = 1;
        seqs = calloc(nrand, sizeof *seqs);
        for (size_t k = 0; k < nrand; k++) {
            pa_gen_config cfg;
            memset(&cfg, 0, sizeof cfg);
            pick_config(&rng, &cfg);
            cfg.check_every = 250;
            cfg.search_addr = 1;
            cfg.go_compatible = 1;
            pa_gen_result res;
            seqinfo *si = &seqs[nseq++];
            fmt(si->desc, sizeof si->desc, "sequence %zu (phys %zu, huge %zu, %s)", k,
                     cfg.phys_page_size, cfg.huge_page_size, geo_names[cfg.geometry]);
            if (pa_gen_run(&rng, &cfg, 1, &res, si->model_err, sizeof si->model_err) != 0)
                model_failures++;
            else
                si->model_err[0] = '\0';
            si->first = nops;
            si->nops = res.nops;
            if (nops + res.nops > capops) {
                capops = (nops + res.nops) * 2;
                ops = realloc(ops, capops * sizeof *ops);
            }
            memcpy(ops + nops, res.ops, res.nops * sizeof *ops);
            nops += res.nops;
            pa_strbuf_printf(&answers, "%.*s", (int)res.answers.len, res.answers.p ? res.answers.p : "");
            pa_gen_result_free(&res);
        }
    }
    double t1 = now();
    printf("test_go_random: %zu operations in %zu sequences run on pagealloc in %.2f s\n",
           nops, nseq, t1 - t0);
    for (size_t k = 0; k < nseq; k++)
        if (seqs[k].model_err[0])
            printf("test_go_random: %s: pagealloc and the MODEL disagree at %s\n",
                   seqs[k].desc, seqs[k].model_err);
    fflush(stdout);

    /* 2. The same on Go. */
    char opsf[PATH_MAX + 32], ansf[PATH_MAX + 32];
    fmt(opsf, sizeof opsf, "%s/ops.txt", work);
    fmt(ansf, sizeof ansf, "%s/go-answers.txt", work);
    unlink(ansf);
    if (pa_ops_write(opsf, ops, nops) != 0)
        fail_msg("cannot write %s: %s", opsf, strerror(errno));
    char cmd[4 * PATH_MAX];
    fmt(cmd, sizeof cmd, "'%s/scripts/go-diff.sh' '%s' '%s' '%s'", src, work, opsf, ansf);
    printf("test_go_random: running Go: %s\n", cmd);
    fflush(stdout);
    int st = system(cmd);
    double t2 = now();
    int rc = st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    printf("test_go_random: Go finished in %.1f s (status %d)\n", t2 - t1, rc);
    fflush(stdout);
    if (rc == 2)
        fail_msg("Go 1.19 is not available (Debian package golang-go; run scripts/deps.sh bench "
                 "as root): the differential test against Go cannot run");

    /* 3. Compare answer by answer. */
    size_t glen = 0, ng = 0, nc = 0;
    char *gbuf = read_all(ansf, &glen);
    if (!gbuf)
        fail_msg("Go wrote no answers (%s); see its output above", ansf);
    char **gl = split_lines(gbuf, glen, &ng);
    char **cl = split_lines(answers.p, answers.len, &nc);
    if (nc != nops)
        fail_msg("internal: %zu answers for %zu operations", nc, nops);
    /* The search hint is not behaviour: a different one is only a note. */
    size_t bad = SIZE_MAX, hint_diffs = 0, first_hint = SIZE_MAX;
    for (size_t i = 0; i < nops && i < ng; i++) {
        if (strcmp(cl[i], gl[i]) == 0)
            continue;
        if (ops[i].kind == PA_OP_SEARCHADDR) {
            if (hint_diffs++ == 0)
                first_hint = i;
            continue;
        }
        bad = i;
        break;
    }
    if (hint_diffs) {
        size_t s = 0;
        while (s + 1 < nseq && seqs[s + 1].first <= first_hint)
            s++;
        printf("test_go_random: note: the search hint differs from Go's searchAddr at %zu of the "
               "checkpoints compared; first at op #%zu of %s: pagealloc %s, Go %s (not a failure)\n",
               hint_diffs, first_hint - seqs[s].first, seqs[s].desc, cl[first_hint], gl[first_hint]);
    }
    int failed = 0;
    if (bad != SIZE_MAX) {
        size_t s = 0;
        while (s + 1 < nseq && seqs[s + 1].first <= bad)
            s++;
        char line[128];
        pa_op_format(&ops[bad], line, sizeof line);
        printf("\ntest_go_random: FIRST DIFFERENCE at op #%zu of the file (#%zu of %s):\n"
               "  op:        %s\n  pagealloc: %s\n  Go:        %s\n",
               bad, bad - seqs[s].first, seqs[s].desc, line, cl[bad], gl[bad]);
        printf("preceding operations (pagealloc's answers):\n");
        for (size_t i = bad > seqs[s].first + 12 ? bad - 12 : seqs[s].first; i < bad; i++) {
            pa_op_format(&ops[i], line, sizeof line);
            printf("  #%zu %-36s %s\n", i - seqs[s].first, line, cl[i]);
        }
        char mf[PATH_MAX + 32];
        fmt(mf, sizeof mf, "%s/mismatch.ops", work);
        if (pa_ops_write(mf, ops + seqs[s].first, bad + 1 - seqs[s].first) == 0)
            printf("the sequence up to the difference is in %s (rerun it with "
                   "PAGEALLOC_GO_DIFF_OPS=%s)\n", mf, mf);
        failed = 1;
    } else if (ng < nops) {
        printf("\ntest_go_random: Go stopped after %zu of %zu answers (status %d); "
               "next op #%zu\n", ng, nops, rc, ng);
        failed = 1;
    } else {
        printf("test_go_random: all %zu answers identical to Go's\n", nops);
    }
    if (model_failures) {
        /* Go arbitrates: the model's op was the last of its sequence. */
        for (size_t k = 0; k < nseq; k++) {
            if (!seqs[k].model_err[0])
                continue;
            size_t last = seqs[k].first + seqs[k].nops - 1;
            if (last >= ng)
                continue;
            if (strcmp(cl[last], gl[last]) == 0)
                printf("test_go_random: %s: at the op where the model differs, Go AGREES WITH "
                       "PAGEALLOC (%s): the model is wrong there\n", seqs[k].desc, cl[last]);
            else
                printf("test_go_random: %s: at the op where the model differs, Go answers %s, "
                       "pagealloc %s\n", seqs[k].desc, gl[last], cl[last]);
        }
        failed = 1;
    }
    fflush(stdout);
    free(gl);
    free(cl);
    free(gbuf);
    free(ops);
    free(seqs);
    pa_strbuf_free(&answers);
    if (failed)
        fail_msg("pagealloc differs from Go (or from the model): see above; seed 0x%016" PRIx64, seed);
}

int main(int argc, char **argv)
{
    (void)argc;
    g_argv0 = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
