/*
 * test_dropin_semantics.c - the malloc semantics suite (tests/support/
 * pa_malloc_sem.h) through the C library's names: this program is not
 * linked with pagealloc; CTest runs it under LD_PRELOAD of
 * libpagealloc-malloc.so (tests/CMakeLists.txt, which says where it can
 * run). The first test proves the allocator in use is ours: pa_malloc is
 * in the process, and usable sizes are our classes' (glibc would say 24
 * for 17 bytes; we say 32), also for memory libc allocates internally
 * (strdup). Then the suite, the drop-in's own entry points (memalign,
 * valloc, pvalloc, reallocarray, mallinfo2, malloc_trim), and bad frees:
 * in a child, each must abort with the one-line report on stderr.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>

#include "pa_skip.h"

#define SEM_MALLOC(n)                    malloc(n)
#define SEM_FREE(p)                      free(p)
#define SEM_CALLOC(c, n)                 calloc(c, n)
#define SEM_REALLOC(p, n)                realloc(p, n)
#define SEM_USABLE(p)                    malloc_usable_size(p)
#define SEM_POSIX_MEMALIGN(out, a, n)    posix_memalign(out, a, n)
#include "pa_malloc_sem.h"

#define OUR_PAGE 8192u

/* GCC folds malloc+free pairs away unless the pointer escapes. */
static void *volatile sink;

static void test_preloaded(void **state)
{
    (void)state;
    if (!dlsym(RTLD_DEFAULT, "pa_malloc"))
        fail_msg("pa_malloc is not in the process: run under LD_PRELOAD=libpagealloc-malloc.so");
    void *p = malloc(17);
    sink = p;
    assert_int_equal(malloc_usable_size(p), 32);
    free(p);
    p = malloc(100000);
    assert_int_equal(malloc_usable_size(p), 13 * OUR_PAGE);
    free(p);
    char *s = strdup("allocated inside libc");
    assert_int_equal(malloc_usable_size(s), 32);
    free(s);
    /* The malloc in libc's own namespace is ours too. */
    void *(*libc_malloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "malloc");
    assert_ptr_equal(libc_malloc, (void *(*)(size_t))malloc);
}

/* ---- Aligned entry points ------------------------------------------------------------ */

static void *e_aligned_alloc(size_t a, size_t n) { return aligned_alloc(a, n); }
static void *e_memalign(size_t a, size_t n) { return memalign(a, n); }
static void *e_valloc(size_t a, size_t n) { (void)a; return valloc(n); }
static void *e_pvalloc(size_t a, size_t n) { (void)a; return pvalloc(n); }
static void *e_posix_memalign(size_t a, size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, a, n) == 0 ? p : NULL;
}

static void test_aligned(void **state)
{
    (void)state;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    const sem_aligned_entry e[] = {
        { "aligned_alloc", 1, (size_t)2 << 20, e_aligned_alloc, 0 },
        { "memalign", 1, (size_t)2 << 20, e_memalign, 0 },
        { "posix_memalign", sizeof(void *), (size_t)2 << 20, e_posix_memalign, 0 },
        { "valloc", pg, pg, e_valloc, 0 },
        { "pvalloc", pg, pg, e_pvalloc, 1 },
    };
    sem_check_aligned_entries(e, sizeof e / sizeof e[0]);
    /* memalign rounds an alignment that is not a power of two up. */
    size_t odd[] = { 3, 24, 48, 100, 3000, 5000 };
    for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
        void *p = memalign(odd[k], 10);
        assert_non_null(p);
        size_t a = 16;
        while (a < odd[k])
            a *= 2;
        if ((uintptr_t)p % a)
            fail_msg("memalign(%zu) = %p: not aligned to %zu", odd[k], p, a);
        free(p);
    }
}

static void test_cross_thread(void **state)
{
    (void)state;
    sem_cross_thread(5000);
}

static void test_thread_exit(void **state)
{
    (void)state;
    sem_thread_exit(600, 2);
}

static void test_fork_threaded(void **state)
{
    (void)state;
    sem_fork_threaded(8);
}

/* ---- The drop-in's other names --------------------------------------------------------- */

static void test_other_names(void **state)
{
    (void)state;
    /* reallocarray: overflow is ENOMEM, the object untouched. */
    unsigned char *p = reallocarray(NULL, 10, 10);
    assert_non_null(p);
    sem_fill(p, 100, 3);
    errno = 0;
    volatile size_t half = SIZE_MAX / 2;
    assert_null(reallocarray(sem_launder(p), half, 3));
    assert_int_equal(errno, ENOMEM);
    assert_true(sem_holds(p, 100, 3));
    p = reallocarray(p, 1000, 10);
    assert_non_null(p);
    assert_true(sem_holds(p, 100, 3));
    free(p);
    /* pvalloc(0): one page. */
    void *v = pvalloc(0);
    assert_non_null(v);
    assert_true(malloc_usable_size(v) >= (size_t)sysconf(_SC_PAGESIZE));
    free(v);
    /* mallinfo2 sees objects in use. */
    void *big = malloc(1 << 20);
    sink = big;
    struct mallinfo2 mi = mallinfo2();
    assert_true(mi.uordblks >= (1 << 20));
    assert_true(mi.hblkhd >= (1 << 20));
    assert_true(mi.arena >= mi.uordblks);
    free(big);
    int r = malloc_trim(0);
    assert_true(r == 0 || r == 1);
    /* libc's own users of malloc. */
    char *line = NULL;
    assert_true(asprintf(&line, "%d %s", 42, "forty-two") > 0);
    assert_string_equal(line, "42 forty-two");
    free(line);
    FILE *f = tmpfile();
    assert_non_null(f);
    for (int i = 0; i < 1000; i++)
        fprintf(f, "line %d\n", i);
    rewind(f);
    size_t cap = 0;
    int lines = 0;
    while (getline(&line, &cap, f) > 0)
        lines++;
    assert_int_equal(lines, 1000);
    free(line);
    fclose(f);
}

/* ---- Bad frees abort with the report ------------------------------------------------- */

typedef void (*bad_fn)(void);

static void bad_interior(void)
{
    char *p = malloc(64);
    sink = p;
    free(p + 16);
}
static void bad_double(void)
{
    char *p = malloc(64);
    sink = p;
    free(p);
    free((void *)sink);
}
static void bad_stack(void)
{
    char buf[32];
    sink = buf;
    free((void *)sink);
}
static void bad_large_interior(void)
{
    char *p = malloc(100000);
    sink = p;
    free(p + 32);
}
static void bad_large_double(void)
{
    char *p = malloc(100000);
    sink = p;
    free(p);
    free((void *)sink);
}

/* Run fn in a child with stderr to a pipe; the child must die of SIGABRT
 * having printed "pagealloc: free(ADDR, class C): RULE". */
static void expect_abort(const char *name, bad_fn fn, const char *rule)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        fn();
        _exit(0);
    }
    close(fd[1]);
    char buf[1024];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof buf - 1 && (k = read(fd[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = 0;
    close(fd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        fail_msg("%s: the child was not aborted (status %#x, stderr \"%s\")", name, status, buf);
    if (strncmp(buf, "pagealloc: free(0x", 18) != 0 || !strstr(buf, ", class ") ||
        !strstr(buf, rule))
        fail_msg("%s: stderr \"%s\": not the report with \"%s\"", name, buf, rule);
}

static void test_bad_frees(void **state)
{
    (void)state;
    expect_abort("interior", bad_interior, "interior pointer");
    expect_abort("double", bad_double, "double free");
    expect_abort("stack", bad_stack, "not allocated");
    expect_abort("large interior", bad_large_interior, "interior pointer");
    expect_abort("large double", bad_large_double, "freed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preloaded),
        cmocka_unit_test(sem_every_size),
        cmocka_unit_test(test_aligned),
        cmocka_unit_test(sem_malloc0),
        cmocka_unit_test(sem_realloc),
        cmocka_unit_test(sem_calloc),
        cmocka_unit_test(sem_huge),
        cmocka_unit_test(sem_posix_memalign_einval),
        cmocka_unit_test(sem_errno_untouched),
        cmocka_unit_test(test_other_names),
        cmocka_unit_test(test_cross_thread),
        cmocka_unit_test(test_thread_exit),
        cmocka_unit_test(test_fork_threaded),
        cmocka_unit_test(test_bad_frees),
    };
    return PA_RUN_GROUP_TESTS(tests, NULL, NULL);
}
