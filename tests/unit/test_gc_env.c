/*
 * test_gc_env.c - the collector's run-time options from the environment
 * and its trace line (docs/gc.md "Pacer"; include/pagealloc/gc.h,
 * pa_gc_options and the trace line's comment):
 *   - PAGEALLOC_GC, read at initialisation: percent, markers, limit and
 *     trace take effect; an unknown name is reported on stderr and ignored;
 *   - the trace line: one per cycle, in the documented shape, its figures
 *     the cycle's own statistics; none once trace is switched off;
 *   - a soft memory limit makes collections more frequent near it (the
 *     goal is capped under the limit) and never makes an allocation fail.
 *
 * stderr is sent to a temporary file around the calls whose lines are read.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pa_clear_stack.h"
#include "pa_skip.h"
#include "pagealloc/gc.h"

#define MiB ((uint64_t)1 << 20)

static char init_err[4096];          /* what initialisation wrote on stderr */

/* Capture stderr into a temporary file between begin and end; end copies
 * what was written into buf (NUL-terminated). */
static int saved_fd = -1;
static FILE *capture_file;

static void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    assert_non_null(capture_file);
    saved_fd = dup(STDERR_FILENO);
    assert_true(saved_fd >= 0);
    assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

static void capture_end(char *buf, size_t size)
{
    fflush(stderr);
    assert_true(dup2(saved_fd, STDERR_FILENO) >= 0);
    close(saved_fd);
    rewind(capture_file);
    size_t n = fread(buf, 1, size - 1, capture_file);
    buf[n] = 0;
    fclose(capture_file);
}

/* One collection with its standard error captured into buf. */
static void collect_captured(char *buf, size_t size)
{
    capture_begin();
    pa_gc_collect();
    capture_end(buf, size);
}

typedef struct node {
    struct node *next;
    char pad[48];
} node;

static node *volatile live_list;

static __attribute__((noinline)) node *make_list(size_t bytes)
{
    node *head = NULL;
    for (size_t i = 0; i < bytes / 64; i++) {
        node *n = pa_gc_malloc(sizeof *n);
        assert_non_null(n);
        n->next = head;
        head = n;
    }
    return head;
}

static __attribute__((noinline)) void churn(size_t bytes)
{
    for (size_t i = 0; i < bytes / 64; i++) {
        void *p = pa_gc_malloc(64);
        assert_non_null(p);
    }
}

static void test_env_options(void **state)
{
    (void)state;
    assert_int_equal(pa_gc_get_percent(), 250);
    assert_int_equal(pa_gc_get_memory_limit(), 512 * MiB);
    assert_non_null(strstr(init_err, "PAGEALLOC_GC: ignored bogus=7"));
    char buf[4096];
    collect_captured(buf, sizeof buf);
    pa_gc_stats st;
    assert_int_equal(pa_gc_get_stats(&st), 0);
    assert_int_equal(st.percent, 250);
    assert_int_equal(st.memory_limit, 512 * MiB);
    assert_int_equal(st.markers, 3);              /* markers=3, not the core count */
}

/* |a - b| <= tol. */
static int fabs_ok(double a, double b, double tol)
{
    return a - b <= tol && b - a <= tol;
}

/* Parse the trace line of cycle n out of text; 1 if found. */
static int parse_trace(const char *text, unsigned long long n, double *pause, double *cpu,
                       double *before, double *after, double *live, double *goal,
                       unsigned *markers)
{
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        unsigned long long k;
        double at;
        int end = 0;
        /* "gc N @Ts: P ms pause (phases), C ms mark cpu, B->L MB, G MB goal,
         * R KB roots, M markers (helpers marked H%)": the heap after the
         * mark is the live set, so after = live. */
        if (sscanf(l, "gc %llu @%lfs: %lf ms pause (stop %*f, roots %*f, drain %*f (idle %*f), "
                      "fin %*f, restart %*f), %lf ms mark cpu, %lf->%lf MB, %lf MB goal, "
                      "%*u KB roots, %u markers (helpers marked %*f%%)%n",
                   &k, &at, pause, cpu, before, live, goal, markers, &end) == 8 &&
            k == n && end > 0 && (l[end] == '\n' || l[end] == 0)) {
            *after = *live;
            return at >= 0;
        }
    }
    return 0;
}

static void test_trace_line(void **state)
{
    (void)state;
    live_list = make_list(6 * MiB);
    char buf[4096];
    collect_captured(buf, sizeof buf);
    pa_gc_stats st;
    assert_int_equal(pa_gc_get_stats(&st), 0);
    double pause = 0, cpu = 0, before = 0, after = 0, live = 0, goal = 0;
    unsigned markers;
    if (!parse_trace(buf, (unsigned long long)st.collections, &pause, &cpu, &before, &after,
                     &live, &goal, &markers))
        fail_msg("no trace line for cycle %llu in: %s", (unsigned long long)st.collections, buf);
    /* Exactly one line for one cycle. */
    assert_ptr_equal(strchr(buf, '\n'), buf + strlen(buf) - 1);
    assert_int_equal(markers, st.markers);
    assert_true(fabs_ok(pause, (double)st.pause_last_ns / 1e6, 0.002));
    assert_true(cpu >= 0);
    /* The live set is the 6 MiB list, give or take the odd stale word. */
    assert_true(fabs_ok(live, (double)st.live_after_mark / (double)MiB, 0.06));
    assert_true(live >= 5.9 && live < 8);
    assert_true(before >= live - 0.06 && after >= live - 0.06);
    /* The goal of the next cycle: live * (1 + 250 / 100). */
    assert_true(fabs_ok(goal, (double)st.heap_goal / (double)MiB, 0.06));
    assert_true(goal >= live * 3.5 - 0.2);

    pa_gc_set_trace(0);
    collect_captured(buf, sizeof buf);
    assert_null(strstr(buf, "gc "));
    live_list = NULL;
}

/* Collections while 24 MiB of garbage are made beside the live set. */
static __attribute__((noinline)) uint64_t collections_during_churn(void)
{
    pa_gc_stats a, b;
    assert_int_equal(pa_gc_get_stats(&a), 0);
    churn(24 * MiB);
    assert_int_equal(pa_gc_get_stats(&b), 0);
    return b.collections - a.collections;
}

static void test_soft_limit(void **state)
{
    (void)state;
    int old_percent = pa_gc_set_percent(100);
    assert_int_equal(pa_gc_set_memory_limit(0, 0), 0);
    live_list = make_list(4 * MiB);
    pa_clear_stack();
    pa_gc_collect();
    uint64_t free_run = collections_during_churn();
    pa_gc_stats st;
    assert_int_equal(pa_gc_get_stats(&st), 0);
    /* A limit of 1.25 times the live set: the goal (live * 2 without it)
     * is capped at 15/16 of the limit less the metadata, but not below
     * live * 17/16, so at most a quarter of the live set fits between two
     * cycles instead of all of it. */
    uint64_t live = st.live_after_mark;
    uint64_t limit = live + live / 4;
    assert_int_equal(pa_gc_set_memory_limit(limit, 0), 0);
    pa_gc_collect();
    uint64_t limited_run = collections_during_churn();
    assert_int_equal(pa_gc_get_stats(&st), 0);
    assert_true(st.heap_goal <= limit);
    assert_true(st.heap_goal >= st.live_after_mark);
    print_message("collections over 24 MiB: %llu without the limit, %llu with it\n",
                  (unsigned long long)free_run, (unsigned long long)limited_run);
    if (free_run < 2 || limited_run < 3 * free_run)
        fail_msg("collections: %llu without the limit, %llu with it (limit %llu, goal %llu, "
                 "live %llu)",
                 (unsigned long long)free_run, (unsigned long long)limited_run,
                 (unsigned long long)limit, (unsigned long long)st.heap_goal,
                 (unsigned long long)st.live_after_mark);
    assert_int_equal(pa_gc_set_memory_limit(0, 0), 0);
    pa_gc_set_percent(old_percent);
    live_list = NULL;
}

int main(void)
{
    setenv("PAGEALLOC_GC", "percent=250,markers=3,limit=512M,trace=1,bogus=7", 1);
    capture_begin();
    int err = pa_gc_init(NULL);
    capture_end(init_err, sizeof init_err);
    assert_int_equal(err, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_options),
        cmocka_unit_test(test_trace_line),
        cmocka_unit_test(test_soft_limit),
    };
    return pa_test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
