/*
 * test_cli.c - the pagealloc command-line tool, run as a subprocess:
 * help and usage errors (exit codes 0 and 2), run/trace/map summaries,
 * the JSON output (parsed), the heap-map PNG (its structure, CRCs and
 * size), the trace format's error messages with their line numbers (exit
 * code 1), trace generation and replay, the object workloads on pa_malloc
 * (their allocator figures, cross-thread frees, the spans by class and
 * their agreement with the page heap's states). Also pageheap_visit, the
 * heap-map source, directly.
 *
 * The tool is found relative to this test's argv[0]: the tests live in
 * BUILD/tests/, the tool in BUILD/tools/pagealloc (PAGEALLOC_TOOL
 * overrides). Without the tool (PAGEALLOC_BUILD_TOOLS=OFF) the tool's
 * tests are skipped. Every run is short (small --steps), as the suite also
 * runs under sanitizers and valgrind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pagealloc/pageheap.h"
#include "pa_json.h"
#include "pa_skip.h"
#include "pa_heap_expect.h"

static char tool[PATH_MAX];
static char tmpdir[512];

/* ---- Running the tool --------------------------------------------------------------- */

typedef struct result {
    int code;          /* exit code; 128 + signal if killed */
    char *out, *err;   /* NUL-terminated */
    size_t out_len;
} result;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

static void path_in_tmp(char *buf, const char *name)
{
    snprintf(buf, PATH_MAX, "%s/%s", tmpdir, name);
}

/* Run the tool with args (NULL-terminated, without the program name),
 * stdin from in_path (NULL: /dev/null), in tmpdir as working directory. */
static result run_in(const char *in_path, const char *arg0, ...)
{
    const char *argv[64];
    int argc = 0;
    argv[argc++] = tool;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a; a = va_arg(ap, const char *)) {
        assert_true(argc < 63);
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;

    char out_path[PATH_MAX], err_path[PATH_MAX];
    path_in_tmp(out_path, "stdout.txt");
    path_in_tmp(err_path, "stderr.txt");
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(err, 2) < 0 || chdir(tmpdir) != 0)
            _exit(126);
        execv(tool, (char *const *)argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    result r = { .code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status) };
    r.out = slurp(out_path, &r.out_len);
    r.err = slurp(err_path, NULL);
    return r;
}

#define run(...) run_in(NULL, __VA_ARGS__, (const char *)NULL)

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

static void expect_code(const result *r, int code)
{
    if (r->code != code)
        fail_msg("exit code %d, expected %d\n--- stdout:\n%s\n--- stderr:\n%s", r->code, code,
                 r->out, r->err);
}

static void expect_in(const char *text, const char *what)
{
    if (!strstr(text, what))
        fail_msg("expected '%s' in:\n%s", what, text);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int have_tool(void)
{
    return access(tool, X_OK) == 0;
}

#define NEED_TOOL()                                                                            \
    do {                                                                                       \
        if (!have_tool())                                                                      \
            PA_SKIP("no pagealloc tool at %s (tools not built?)", tool);                       \
    } while (0)

/* ---- JSON (tests/support/pa_json.h validates) -------------------------------------- */

static void expect_json(const char *text)
{
    size_t off;
    if (!pa_json_valid(text, &off))
        fail_msg("not one JSON value (at offset %ld):\n%s", (long)off, text);
}

/* The number after "key": in text (the first occurrence). */
static double json_number(const char *text, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *at = strstr(text, pat);
    if (!at)
        fail_msg("no member '%s' in:\n%s", key, text);
    return strtod(at + strlen(pat), NULL);
}

/* ---- PNG structure ------------------------------------------------------------------ */

static uint32_t crc32_of(const unsigned char *d, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= d[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A valid PNG: signature, IHDR first (8-bit RGB, the size), every chunk's
 * CRC, at least one IDAT, IEND last. */
static void expect_png(const char *path, uint32_t width, uint32_t height)
{
    size_t n;
    unsigned char *d = (unsigned char *)slurp(path, &n);
    static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    assert_true(n > 8 + 25 + 12);
    assert_memory_equal(d, sig, 8);
    size_t at = 8;
    int idat = 0, iend = 0, first = 1;
    while (at + 12 <= n && !iend) {
        uint32_t len = be32(d + at);
        assert_true(at + 12 + len <= n);
        const unsigned char *type = d + at + 4;
        assert_int_equal(crc32_of(type, 4 + len), be32(d + at + 8 + len));
        if (first) {
            assert_memory_equal(type, "IHDR", 4);
            assert_int_equal(len, 13);
            assert_int_equal(be32(type + 4), width);
            assert_int_equal(be32(type + 8), height);
            assert_int_equal(type[12], 8);      /* bit depth */
            assert_int_equal(type[13], 2);      /* RGB */
            first = 0;
        }
        idat |= !memcmp(type, "IDAT", 4);
        iend = !memcmp(type, "IEND", 4);
        at += 12 + len;
    }
    assert_true(idat);
    assert_true(iend);
    assert_int_equal(at, n);
    free(d);
}

/* ---- Help and usage ------------------------------------------------------------------- */

static void test_help(void **state)
{
    (void)state;
    NEED_TOOL();
    result r = run("--help");
    expect_code(&r, 0);
    expect_in(r.out, "usage: pagealloc COMMAND");
    expect_in(r.out, "exit codes");
    result_free(&r);
    static const char *const cmds[] = { "run", "trace", "map" };
    for (int i = 0; i < 3; i++) {
        r = run(cmds[i], "--help");
        expect_code(&r, 0);
        expect_in(r.out, "usage: pagealloc");
        expect_in(r.out, cmds[i]);
        expect_in(r.out, "exit codes: 0 success; 1");
        expect_in(r.out, "--json");
        assert_string_equal(r.err, "");
        result_free(&r);
    }
    r = run("trace", "--help");
    expect_in(r.out, "a ID NPAGES");
    expect_in(r.out, "r BYTES");
    expect_in(r.out, "FILE:LINE: reason");
    result_free(&r);
    r = run("run", "--help");
    expect_in(r.out, "objects-xthread");
    expect_in(r.out, "colours spans by size class");
    result_free(&r);
    r = run("map", "--help");
    expect_in(r.out, "page-cached");
    expect_in(r.out, "released");
    result_free(&r);
}

static void test_usage_errors(void **state)
{
    (void)state;
    NEED_TOOL();
    static const struct {
        const char *args[4];
        const char *msg;
    } cases[] = {
        { { NULL }, "usage:" },
        { { "frobnicate" }, "unknown command 'frobnicate'" },
        { { "run", "--bogus" }, "unknown option '--bogus'" },
        { { "run", "extra" }, "unexpected argument 'extra'" },
        { { "run", "--threads", "0" }, "--threads: bad number '0'" },
        { { "run", "--threads" }, "option '--threads' needs a value" },
        { { "run", "--limit", "12X" }, "--limit: bad size '12X'" },
        { { "run", "--workload", "W9" }, "unknown workload 'W9'" },
        { { "run", "--steps", "5", "--seconds=1" }, "exclude each other" },
        { { "run", "--scale", "99" }, "--scale: bad number '99'" },
        { { "trace" }, "no trace file given" },
        { { "trace", "a", "b" }, "unexpected argument 'b'" },
        { { "trace", "--generate", "W7" }, "unknown workload 'W7'" },
        { { "map", "--png" }, "needs a value" },
        { { "map", "--trace", "x", "--workload=W1" }, "exclude each other" },
        { { "run", "--workload=objects-xthread", "--threads", "1" }, "needs 2 threads or more" },
        { { "run", "--workload=objects", "--shards", "2" }, "do not apply to the object" },
        { { "trace", "--generate", "objects" }, "has no trace form" },
        { { "trace", "--generate", "coroutines" }, "has no trace form" },
        { { "map", "--workload", "coroutines" }, "use pagealloc run" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *a = cases[i].args;
        result r = run(a[0], a[1], a[2], a[3]);
        expect_code(&r, 2);
        expect_in(r.err, cases[i].msg);
        result_free(&r);
    }
}

/* ---- run ------------------------------------------------------------------------------ */

static void test_run_text(void **state)
{
    (void)state;
    NEED_TOOL();
    result r = run("run", "--steps", "3000", "--limit", "64M");
    expect_code(&r, 0);
    static const char *const want[] = {
        "pagealloc run: churn", "soft limit 64.0 MiB", "ops/s", "latency (ns)", "p99.9", "alloc",
        "free", "RSS", "peak", "released", "fragmentation", "heap check   ok", "heap map",
        "pagealloc-map.png",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        expect_in(r.out, want[i]);
    assert_null(strchr(r.out, '\r'));      /* no progress bar into a file */
    assert_string_equal(r.err, "");
    result_free(&r);
    char png[PATH_MAX];
    path_in_tmp(png, "pagealloc-map.png");  /* the default, in the working directory */
    assert_int_equal(access(png, R_OK), 0);
}

static void test_run_json_and_png(void **state)
{
    (void)state;
    NEED_TOOL();
    char png[PATH_MAX];
    path_in_tmp(png, "run.png");
    result r = run("run", "--json", "--steps", "4000", "--threads", "2", "--map", png);
    expect_code(&r, 0);
    expect_json(r.out);
    static const char *const keys[] = {
        "\"ops_per_second\"", "\"latency_ns\"", "\"p99_9\"", "\"rss\"", "\"peak\"",
        "\"released_bytes\"", "\"fragmentation\"", "\"percent\"", "\"heap\"",
        "\"scavenged_bytes\"", "\"check\": \"ok\"",
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        expect_in(r.out, keys[i]);
    assert_int_equal((int)json_number(r.out, "threads"), 2);
    assert_int_equal((uint64_t)json_number(r.out, "operations"), 8000);
    uint64_t chunks = (uint64_t)json_number(r.out, "chunks");
    assert_true(chunks >= 1);
    assert_int_equal((uint64_t)json_number(r.out, "width"), 512);
    assert_int_equal((uint64_t)json_number(r.out, "height"), chunks);
    expect_png(png, 512, (uint32_t)chunks);
    result_free(&r);
}

static void test_run_workloads(void **state)
{
    (void)state;
    NEED_TOOL();
    static const char *const names[] = { "W1", "w2", "W3", "W4" };
    for (int i = 0; i < 4; i++) {
        result r = run("run", "--workload", names[i], "--steps", "3000", "--no-map", "--json");
        expect_code(&r, 0);
        expect_json(r.out);
        assert_int_equal((uint64_t)json_number(r.out, "operations"), 3000);
        expect_in(r.out, "\"map\": null");
        expect_in(r.out, "\"touch\": false");      /* docs/workloads.md: no page touched */
        result_free(&r);
    }
    /* A hard limit makes allocations fail; the failures are counted, not fatal. */
    result r = run("run", "--workload", "W3", "--steps", "200", "--limit", "16M", "--hard-limit",
                   "--no-map", "--json");
    expect_code(&r, 0);
    expect_json(r.out);
    assert_true(json_number(r.out, "alloc_failures") > 0);
    assert_true(json_number(r.out, "limit_failures") > 0);
    result_free(&r);
}

/* ---- object workloads ------------------------------------------------------------------ */

static void test_run_objects(void **state)
{
    (void)state;
    NEED_TOOL();
    char png[PATH_MAX];
    path_in_tmp(png, "objects.png");
    /* No background scavenger: a run it is releasing shows as in use (and
     * in no span) in pageheap_visit, which would upset the count below. */
    result r = run("run", "--workload", "objects", "--steps", "20000", "--no-scavenger", "--json",
                   "--map", png);
    expect_code(&r, 0);
    expect_json(r.out);
    static const char *const keys[] = {
        "\"workload\": \"objects\"", "\"allocator\": \"pa_malloc\"", "\"touch\": true",
        "\"spans\": {\"count\": ", "\"classes\": [", "\"colour\": \"#", "\"large\": \"#ff00ff\"",
        "\"malloc\": {", "\"cached_bytes\"", "\"pageheap\"", "\"check\": \"ok\"",
        "{\"class\": 0, \"size\": 0, ",           /* large objects (one in 200) */
        "\"background_scavenger\": false",
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        expect_in(r.out, keys[i]);
    /* Every event is an allocation or a free. */
    assert_int_equal((uint64_t)json_number(r.out, "operations"), 20000);
    assert_true(json_number(r.out, "allocs") > 10000);
    const char *spans = strstr(r.out, "\"spans\": {\"count\": ");
    assert_non_null(spans);
    assert_true(json_number(spans, "count") > 10);
    /* The walk agrees with the page heap: every span page is in use, and
     * every in-use page is in a span (the workers are stopped). The
     * allocator's scavenger is off (PAGEALLOC_MALLOC_SCAVENGER=0). */
    assert_int_equal((uint64_t)json_number(r.out, "in_use_pages_without_span"), 0);
    assert_int_equal((uint64_t)json_number(r.out, "span_pages_not_in_use"), 0);
    /* The malloc statistics (its members come before the page heap's). */
    assert_true(json_number(r.out, "in_use_bytes") > 1e6);
    uint64_t chunks = (uint64_t)json_number(r.out, "chunks");
    assert_true(chunks >= 1);
    expect_png(png, 512, (uint32_t)chunks);
    result_free(&r);

    r = run("run", "--workload", "OBJECTS", "--steps", "5000", "--no-map");
    expect_code(&r, 0);
    static const char *const want[] = {
        "pagealloc run: objects (small-object churn", "1 thread on pa_malloc", "objects touched",
        "objects      in use", "free in spans", "spans        ", "class      size    spans",
        "     1      16 B", "large         -", "magenta", "free & resident #2e3436 dark grey",
        "released #d3d7cf light grey", "heap check   ok",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        expect_in(r.out, want[i]);
    assert_null(strstr(r.out, "cross-thread"));
    assert_string_equal(r.err, "");
    result_free(&r);
}

/* ---- the coroutines workload (pa_stack) ------------------------------------------------- */

static void test_run_coroutines(void **state)
{
    (void)state;
    NEED_TOOL();
    result r = run("run", "--workload", "coroutines", "--steps", "20000", "--threads", "2",
                   "--json");
    expect_code(&r, 0);
    expect_json(r.out);
    static const char *const keys[] = {
        "\"workload\": \"coroutines\"", "\"allocator\": \"pa_stack\"", "\"high_water\": {",
        "\"end\": {\"live\": ", "\"rss\": {", "\"after_release\": {", "\"check\": \"ok\"",
        "\"stacks\": {", "\"heap\": {",
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        expect_in(r.out, keys[i]);
    assert_int_equal((int)json_number(r.out, "threads"), 2);
    /* Every step makes or ends a coroutine; those still waiting at the end
     * are the live stacks. */
    double steps = json_number(r.out, "steps"), pairs = json_number(r.out, "pairs");
    double creates = json_number(r.out, "creates");
    assert_true(steps == 40000);
    assert_true(json_number(r.out, "alloc_failures") == 0);
    assert_true(creates + pairs == steps);
    assert_true(pairs > 10000);
    assert_true(json_number(r.out, "switches") == 2 * steps);
    assert_true(json_number(r.out, "pairs_per_second") > 0);
    const char *end = strstr(r.out, "\"end\": {");
    assert_true(json_number(end, "live") == creates - pairs);
    /* The heap's JSON carries the stack allocator's section, taken at the
     * same moment as "end". */
    const char *heap = strstr(r.out, "\"heap\": {");
    const char *stacks = strstr(r.out, "\"stacks\": {");
    assert_true(heap && stacks && heap < stacks);
    assert_true(json_number(stacks, "live") == json_number(end, "live"));
    assert_true(json_number(stacks, "allocs") == creates);
    assert_true(json_number(end, "live") <= 2 * 256);
    assert_true(json_number(end, "cached") + json_number(end, "pooled") > 0);
    assert_true(json_number(end, "resident_bytes") > 0);
    /* Sampled high-water marks: one destroy in 8, each under 1 MiB. */
    const char *hw = strstr(r.out, "\"high_water\": {");
    assert_true(json_number(hw, "samples") >= pairs / 8 - 2);
    assert_true(json_number(hw, "p50") >= 4096);
    assert_true(json_number(hw, "max") <= 1024 * 1024);
    assert_true(json_number(hw, "p50") <= json_number(hw, "p99"));
    /* After the coroutines ended and a release: nothing held, nothing resident. */
    const char *after = strstr(r.out, "\"after_release\": {");
    assert_true(json_number(after, "held") == 0);
    assert_true(json_number(after, "resident_bytes") == 0);
    assert_true(json_number(after, "released_bytes") > 0);
    result_free(&r);

    r = run("run", "--workload", "Coroutines", "--steps", "3000");
    expect_code(&r, 0);
    static const char *const want[] = {
        "pagealloc run: coroutines (ucontext coroutines", "1 thread on pa_stack", "3000 steps",
        "create+destroy pairs", "per second", "high water   p50", "sampled destroys",
        "stacks       at the end:", "live", "cached", "pooled", "resident     ", "RSS          start",
        "stacks resident 0 B", "heap check   ok",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        expect_in(r.out, want[i]);
    result_free(&r);
}

static void test_run_objects_xthread(void **state)
{
    (void)state;
    NEED_TOOL();
    /* A time limit, not --steps: threads stopped by their event count
     * might not overlap on a loaded machine, and then nothing sent is
     * received before the end. */
    result r = run("run", "--workload", "objects-xthread", "--seconds", "0.3", "--json",
                   "--no-map");
    expect_code(&r, 0);
    expect_json(r.out);
    assert_int_equal((int)json_number(r.out, "threads"), 2);      /* its default */
    double frees = json_number(r.out, "frees"), remote = json_number(r.out, "remote_frees");
    double local = json_number(r.out, "local_frees"), sends = json_number(r.out, "sends");
    /* Each thread sends what it allocates and frees what it receives. */
    assert_true(remote > 0);
    assert_true(frees == remote + local);
    /* ... but a thread stopped by the clock between an allocation and its
     * send still holds that one. */
    double unsent = json_number(r.out, "allocs") - (sends + local);
    assert_true(unsent >= 0 && unsent <= 2);
    assert_true(remote <= sends);
    expect_in(r.out, "\"check\": \"ok\"");
    expect_in(r.out, "\"map\": null");
    result_free(&r);

    r = run("run", "--workload", "objects-xthread", "--threads", "3", "--steps", "3000",
            "--no-map");
    expect_code(&r, 0);
    expect_in(r.out, "pagealloc run: objects-xthread");
    expect_in(r.out, "3 threads on pa_malloc");
    expect_in(r.out, "cross-thread");
    expect_in(r.out, "freed there (remote frees)");
    expect_in(r.out, "by size class, with the heap map's colours");
    result_free(&r);
}

/* ---- trace ----------------------------------------------------------------------------- */

static void test_trace_replay(void **state)
{
    (void)state;
    NEED_TOOL();
    char path[PATH_MAX];
    path_in_tmp(path, "good.trace");
    write_file(path,
               "# a small trace\n"
               "\n"
               "a 1 3\n"
               "a 2\t1   # trailing comment\n"
               "  a 77 600\n"
               "f 1\n"
               "a 1 2\n"            /* an id may be reused after its free */
               "r 64K\n"
               "f 77\n"
               "r all\n"
               "a 18446744073709551615 16\r\n");
    result r = run("trace", "--json", path);
    expect_code(&r, 0);
    expect_json(r.out);
    assert_int_equal((uint64_t)json_number(r.out, "allocs"), 5);
    assert_int_equal((uint64_t)json_number(r.out, "frees"), 2);
    assert_int_equal((uint64_t)json_number(r.out, "releases"), 2);
    assert_int_equal((uint64_t)json_number(r.out, "alloc_failures"), 0);
    /* Live at the end (the summary is taken before teardown): ids 2, 1, 2^64-1. */
    assert_int_equal((uint64_t)json_number(r.out, "in_use_bytes"), (1 + 2 + 16) * 8192);
    result_free(&r);

    r = run("trace", path);
    expect_code(&r, 0);
    expect_in(r.out, "pagealloc trace: ");
    expect_in(r.out, "5 allocations");
    expect_in(r.out, "2 releases");
    expect_in(r.out, "heap check   ok");
    result_free(&r);

    /* Standard input. */
    r = run_in(path, "trace", "-", (const char *)NULL);
    expect_code(&r, 0);
    expect_in(r.out, "pagealloc trace: -");
    result_free(&r);
}

static void test_trace_errors(void **state)
{
    (void)state;
    NEED_TOOL();
    static const struct {
        const char *text;
        const char *msg;   /* after "FILE:" */
    } cases[] = {
        { "x 1 2\n", "1: unknown operation 'x' (expected a, f or r)" },
        { "alloc 1 2\n", "1: unknown operation 'alloc'" },
        { "a 1\n", "1: missing field: expected 'a ID NPAGES'" },
        { "a\n", "1: missing field" },
        { "f\n", "1: missing field: expected 'f ID'" },
        { "r\n", "1: missing field: expected 'r BYTES|all'" },
        { "a 1 2 3\n", "1: unexpected extra field '3'" },
        { "f 1 2 3 4 5\n", "1: unexpected extra field '2'" },
        { "a 1 0\n", "1: bad page count '0'" },
        { "a 1 -4\n", "1: bad page count '-4'" },
        { "a 1 17179869185\n", "1: bad page count '17179869185'" },
        { "a 1 2x\n", "1: bad page count '2x'" },
        { "a z 1\n", "1: bad id 'z'" },
        { "a 18446744073709551616 1\n", "1: bad id '18446744073709551616'" },
        { "f -1\n", "1: bad id '-1'" },
        { "a 5 1\na 5 2\n", "2: id 5 is already allocated (at line 1)" },
        { "f 9\n", "1: free of id 9, which is not allocated" },
        { "a 9 1\nf 9\nf 9\n", "3: free of id 9, which is not allocated" },
        { "r lots\n", "1: bad byte count 'lots'" },
        { "r 0\n", "1: bad byte count '0'" },
        { "r 5Q\n", "1: bad byte count '5Q'" },
        { "# comment\n\n   \na 1 1\n# more\nf 2\n", "6: free of id 2" },
    };
    char path[PATH_MAX];
    path_in_tmp(path, "bad.trace");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(path, cases[i].text);
        result r = run("trace", path);
        expect_code(&r, 1);
        char want[PATH_MAX + 128];
        snprintf(want, sizeof want, "%s:%s", path, cases[i].msg);
        expect_in(r.err, want);
        assert_string_equal(r.out, "");       /* nothing ran */
        result_free(&r);
    }
    /* A NUL byte. */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("a 1 1\na 2\0 1\n", 1, 13, f);
    fclose(f);
    result r = run("trace", path);
    expect_code(&r, 1);
    expect_in(r.err, ":2: NUL byte");
    result_free(&r);
    /* A missing file. */
    path_in_tmp(path, "no-such.trace");
    r = run("trace", path);
    expect_code(&r, 1);
    expect_in(r.err, "No such file or directory");
    result_free(&r);
}

static void test_trace_generate(void **state)
{
    (void)state;
    NEED_TOOL();
    char path[PATH_MAX];
    path_in_tmp(path, "w4.trace");
    /* W4: 8192 one-page allocations, then the batch freed in order. */
    result r = run("trace", "--generate", "W4", "--steps", "8200");
    expect_code(&r, 0);
    expect_in(r.out, "# pagealloc trace: W4");
    expect_in(r.out, "\na 1 1\n");
    expect_in(r.out, "\na 8192 1\nf 1\nf 2\n");
    size_t lines = 0;
    for (const char *s = r.out; *s; s++)
        lines += *s == '\n';
    assert_int_equal(lines, 3 + 8200);        /* three comment lines */
    write_file(path, r.out);
    result_free(&r);
    r = run("trace", "--json", "--no-touch", path);
    expect_code(&r, 0);
    expect_json(r.out);
    assert_int_equal((uint64_t)json_number(r.out, "allocs"), 8192);
    assert_int_equal((uint64_t)json_number(r.out, "frees"), 8);
    result_free(&r);

    /* W1's first allocations (docs/workloads.md's generator and sizes). */
    r = run("trace", "--generate", "w1", "--steps", "3");
    expect_code(&r, 0);
    expect_in(r.out, "\na 1 1\na 2 311\na 3 1\n");
    result_free(&r);
    /* Every workload generates a trace that replays. */
    static const char *const names[] = { "churn", "W1", "W2", "W3" };
    for (int i = 0; i < 4; i++) {
        r = run("trace", "--generate", names[i], "--steps", "2000");
        expect_code(&r, 0);
        write_file(path, r.out);
        result_free(&r);
        r = run("trace", "--no-touch", "--json", path);
        expect_code(&r, 0);
        expect_json(r.out);
        assert_int_equal((uint64_t)json_number(r.out, "operations"), 2000);
        result_free(&r);
    }
}

/* ---- map -------------------------------------------------------------------------------- */

static void test_map(void **state)
{
    (void)state;
    NEED_TOOL();
    char png[PATH_MAX];
    path_in_tmp(png, "map.png");
    result r = run("map", "--steps", "3000", "--png", png, "--text", "--scale", "2");
    expect_code(&r, 0);
    expect_in(r.out, "pagealloc map: churn");
    expect_in(r.out, "\n0x");                  /* a text-map line */
    expect_in(r.out, "#  in use");
    expect_in(r.out, "c  page-cached");
    expect_in(r.out, "o  free & resident");
    expect_in(r.out, ".  released");
    expect_in(r.out, "fragmentation");
    expect_in(r.out, "heap map written to");
    expect_in(r.out, " chunks of 512 pages");
    result_free(&r);
    /* One row per chunk, magnified: 2 x 2 px per page. */
    r = run("map", "--steps", "3000", "--png", png, "--json", "--scale", "2");
    expect_code(&r, 0);
    expect_json(r.out);
    uint64_t chunks = (uint64_t)json_number(r.out, "chunks");
    assert_true(chunks >= 1);
    assert_int_equal((uint64_t)json_number(r.out, "width"), 1024);
    assert_int_equal((uint64_t)json_number(r.out, "height"), 2 * chunks);
    result_free(&r);
    expect_png(png, 1024, (uint32_t)(2 * chunks));

    /* Without --text and not on a terminal: no text map. */
    r = run("map", "--steps", "1000", "--no-map");
    expect_code(&r, 0);
    assert_null(strstr(r.out, "\n0x"));
    expect_in(r.out, "legend");
    result_free(&r);

    /* A trace. */
    char tr[PATH_MAX];
    path_in_tmp(tr, "map.trace");
    write_file(tr, "a 1 600\na 2 1\n");
    r = run("map", "--trace", tr, "--png", png, "--json");
    expect_code(&r, 0);
    assert_int_equal((uint64_t)json_number(r.out, "in_use"), 601);
    result_free(&r);
    /* An unwritable PNG is a runtime failure. */
    r = run("map", "--steps", "100", "--png", "/nonexistent-dir/x.png");
    expect_code(&r, 1);
    expect_in(r.err, "cannot write the heap map");
    result_free(&r);
}

/* ---- pageheap_visit, directly ----------------------------------------------------------- */

typedef struct visit_acc {
    uint64_t pages[4];
    unsigned chunks;
    uint8_t first[PAGEALLOC_CHUNK_PAGES];    /* the lowest chunk's states */
    uintptr_t first_base;
} visit_acc;

static void acc_chunk(void *arg, unsigned shard, uintptr_t base,
                      const uint8_t states[PAGEALLOC_CHUNK_PAGES])
{
    visit_acc *a = arg;
    assert_int_equal(shard, 0);
    assert_int_equal(base % PAGEALLOC_CHUNK_SIZE, 0);
    for (unsigned i = 0; i < PAGEALLOC_CHUNK_PAGES; i++) {
        assert_true(states[i] <= PAGEHEAP_PAGE_CACHED);
        a->pages[states[i]]++;
    }
    if (!a->chunks || base < a->first_base) {
        a->first_base = base;
        memcpy(a->first, states, PAGEALLOC_CHUNK_PAGES);
    }
    a->chunks++;
}

static void test_visit(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    assert_int_equal(pageheap_visit(h, NULL, NULL), EINVAL);
    assert_int_equal(pageheap_visit(NULL, acc_chunk, NULL), EINVAL);
    visit_acc a = { 0 };
    assert_int_equal(pageheap_visit(h, acc_chunk, &a), 0);
    assert_int_equal(a.chunks, 0);                         /* nothing grown yet */

    /* 100 pages from the allocator: pages 0..99 of the first chunk. One
     * page through the thread's page cache, which takes the free pages of
     * the 64-page block 64..127 (100..127) and hands out page 100. */
    char *big = pageheap_alloc(h, 100);
    char *one = pageheap_alloc(h, 1);
    assert_non_null(big);
    assert_non_null(one);
    memset(&a, 0, sizeof a);
    assert_int_equal(pageheap_visit(h, acc_chunk, &a), 0);
    assert_int_equal(a.chunks, 1);
    uintptr_t b = a.first_base;
    size_t ib = ((uintptr_t)big - b) / PAGEALLOC_PAGE_SIZE, io = ((uintptr_t)one - b) / PAGEALLOC_PAGE_SIZE;
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(a.first[ib + i], PAGEHEAP_PAGE_IN_USE);
    assert_int_equal(a.first[io], PAGEHEAP_PAGE_IN_USE);
    assert_int_equal(io, ib + 100);
    for (size_t i = io + 1; i < io + 28; i++)
        assert_int_equal(a.first[i], PAGEHEAP_PAGE_CACHED);
    assert_int_equal(a.pages[PAGEHEAP_PAGE_IN_USE], 101);
    assert_int_equal(a.pages[PAGEHEAP_PAGE_CACHED], 27);
    /* A new heap's grown memory is released until used; but the cache's
     * pages were fresh up to their block's end, so the refill made the
     * rest of the chunk Ready with them (docs/heap.md "Page caches",
     * fresh windows): free, resident. */
    assert_int_equal(a.pages[PAGEHEAP_PAGE_RELEASED], 0);
    assert_int_equal(a.pages[PAGEHEAP_PAGE_FREE], 512 - 128);

    pageheap_free(h, big, 100);
    memset(&a, 0, sizeof a);
    assert_int_equal(pageheap_visit(h, acc_chunk, &a), 0);
    /* freed: kept by this thread's run cache */
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(a.first[ib + i], PAGEHEAP_PAGE_CACHED);
    assert_int_equal(a.pages[PAGEHEAP_PAGE_IN_USE], 1);
    pageheap_flush_caches(h);
    memset(&a, 0, sizeof a);
    assert_int_equal(pageheap_visit(h, acc_chunk, &a), 0);
    assert_int_equal(a.first[ib], PAGEHEAP_PAGE_FREE);     /* flushed: free, resident */
    assert_int_equal(a.pages[PAGEHEAP_PAGE_IN_USE], 1);

    pageheap_release(h, SIZE_MAX);                         /* flushes caches, releases all */
    memset(&a, 0, sizeof a);
    assert_int_equal(pageheap_visit(h, acc_chunk, &a), 0);
    assert_int_equal(a.pages[PAGEHEAP_PAGE_CACHED], 0);
    assert_int_equal(a.pages[PAGEHEAP_PAGE_FREE], 0);
    assert_int_equal(a.pages[PAGEHEAP_PAGE_IN_USE], 1);
    assert_int_equal(a.first[ib], PAGEHEAP_PAGE_RELEASED);
    pageheap_free(h, one, 1);
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

/* Visiting while other threads allocate and free (through their page
 * caches and the shard locks) and the background scavenger runs: no
 * deadlock, sane snapshots, a consistent heap afterwards. */
typedef struct churner {
    pageheap *h;
    unsigned seed;
} churner;

static void *churn_thread(void *arg)
{
    churner *c = arg;
    enum { SLOTS = 64, STEPS = 4000 };
    void *p[SLOTS] = { 0 };
    size_t n[SLOTS] = { 0 };
    unsigned x = c->seed;
    for (int i = 0; i < STEPS; i++) {
        x = x * 1103515245u + 12345u;
        unsigned k = (x >> 8) % SLOTS;
        if (p[k])
            pageheap_free(c->h, p[k], n[k]);
        n[k] = 1 + (x >> 20) % 24;          /* below 16: page caches; above: the shard */
        p[k] = pageheap_alloc(c->h, n[k]);
        assert_non_null(p[k]);
    }
    for (int k = 0; k < SLOTS; k++)
        if (p[k])
            pageheap_free(c->h, p[k], n[k]);
    return NULL;
}

static void count_chunk(void *arg, unsigned shard, uintptr_t base,
                        const uint8_t states[PAGEALLOC_CHUNK_PAGES])
{
    uint64_t *pages = arg;              /* [4] per state, [4] chunks */
    assert_true(shard < 2);
    assert_int_equal(base % PAGEALLOC_CHUNK_SIZE, 0);
    for (unsigned i = 0; i < PAGEALLOC_CHUNK_PAGES; i++) {
        assert_true(states[i] <= PAGEHEAP_PAGE_CACHED);
        pages[states[i]]++;
    }
    pages[4]++;
}

static void test_visit_concurrent(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 2, .background_scavenger = 1,
                                                    .scavenger_cpu_fraction = 0.5 });
    assert_non_null(h);
    enum { T = 3 };
    pthread_t th[T];
    churner c[T];
    for (unsigned t = 0; t < T; t++) {
        c[t] = (churner){ .h = h, .seed = 7 + t };
        assert_int_equal(pthread_create(&th[t], NULL, churn_thread, &c[t]), 0);
    }
    unsigned visits = 0;
    for (int i = 0; i < 200; i++) {
        uint64_t pages[5] = { 0 };
        assert_int_equal(pageheap_visit(h, count_chunk, pages), 0);
        assert_int_equal(pages[0] + pages[1] + pages[2] + pages[3], pages[4] * 512);
        visits++;
        if (i % 50 == 0)
            pageheap_release(h, SIZE_MAX);
    }
    for (unsigned t = 0; t < T; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    assert_int_equal(visits, 200);
    pa_expect_heap_ok(h);
    /* Everything freed and the threads gone (their caches flushed): no
     * page is cached. (A run the scavenger is releasing right now shows as
     * in use, so in-use pages are not asserted.) */
    uint64_t pages[5] = { 0 };
    assert_int_equal(pageheap_visit(h, count_chunk, pages), 0);
    assert_true(pages[4] >= 1);
    assert_int_equal(pages[PAGEHEAP_PAGE_CACHED], 0);
    pageheap_delete(h);
}

/* ---- Set-up ----------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/pagealloc-cli-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    static const char *const files[] = {
        "stdout.txt", "stderr.txt", "pagealloc-map.png", "run.png", "map.png", "good.trace",
        "bad.trace", "w4.trace", "map.trace", "objects.png",
    };
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        path_in_tmp(p, files[i]);
        unlink(p);
    }
    rmdir(tmpdir);
    return 0;
}

int main(int argc, char **argv)
{
    (void)argc;
    const char *env = getenv("PAGEALLOC_TOOL");
    if (env) {
        snprintf(tool, sizeof tool, "%s", env);
    } else {
        /* BUILD/tests/test_cli -> BUILD/tools/pagealloc */
        char self[PATH_MAX - 64];
        snprintf(self, sizeof self, "%s", argv[0]);
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(self, sizeof self, ".");
        snprintf(tool, sizeof tool, "%s/../tools/pagealloc", self);
    }
    /* Absolute: the tool runs in a temporary working directory. */
    char abs[PATH_MAX];
    if (realpath(tool, abs))
        memcpy(tool, abs, sizeof tool);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_run_text),
        cmocka_unit_test(test_run_json_and_png),
        cmocka_unit_test(test_run_workloads),
        cmocka_unit_test(test_run_objects),
        cmocka_unit_test(test_run_objects_xthread),
        cmocka_unit_test(test_run_coroutines),
        cmocka_unit_test(test_trace_replay),
        cmocka_unit_test(test_trace_errors),
        cmocka_unit_test(test_trace_generate),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_visit),
        cmocka_unit_test(test_visit_concurrent),
    };
    return PA_RUN_GROUP_TESTS(tests, setup, teardown);
}
