/*
 * test_bad_input.c - every entry point of pagealloc.h, sysmem.h and
 * pageheap.h with each kind of bad input.
 *
 * The rule (pagealloc.h, pageheap.h, sysmem.h): a call that can return an
 * error returns EINVAL (EEXIST, EOVERFLOW, ...) and changes nothing; a
 * call that cannot reports one line through the error handler,
 *   "pagealloc: CALL(ADDR, N pages): RULE"
 * and, if the handler returns, does nothing. Each case here asserts the
 * return or the exact line (call, address, page count, rule), and that
 * nothing changed: stats and bitmaps equal, pagealloc_check /
 * pageheap_check / sysmem_check pass, and the allocator still works.
 *
 * What is not detectable, and so not tested as refused:
 *   - pagealloc: a deleted handle (its memory is unmapped: the next call
 *     faults at the handle, tested below in a child process);
 *     pagealloc_scavenge_done of a run that take did not hand out but that
 *     is allocated (only runs whose pages are not all allocated, or that
 *     span chunks, are refused: tested);
 *   - pageheap: a free of pages that a thread's page cache owns, at check
 *     level 0 (refused at level 1, tested); a stale handle whose address
 *     was reused by a new heap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pagealloc/pagealloc.h"
#include "pagealloc/pageheap.h"
#include "pagealloc/sysmem.h"
#include "pagealloc/testing.h"
#include "pagealloc/internal.h"      /* to break an invariant on purpose */
#include "pa_child.h"
#include "pa_heap_expect.h"

#define PAGE   ((uintptr_t)PAGEALLOC_PAGE_SIZE)
#define CHUNK  ((uintptr_t)PAGEALLOC_CHUNK_SIZE)
#define BASE   ((uintptr_t)0x3000000000)
#define TOP    ((uintptr_t)1 << 48)

/* ---- Reports ---------------------------------------------------------------- */

static int reports;
static char report[512];

static void record(const char *msg, void *arg)
{
    (void)arg;
    if (reports++ == 0)
        snprintf(report, sizeof report, "%s", msg);
}

static void reports_reset(void)
{
    reports = 0;
    report[0] = 0;
}

/* Exactly one report since the reset, naming call, address, count, rule. */
static void expect_report(const char *call, uintptr_t addr, size_t npages, const char *rule)
{
    char want[256];
    snprintf(want, sizeof want, "pagealloc: %s(%#lx, %zu pages): ", call, (unsigned long)addr,
             npages);
    if (reports != 1 || strncmp(report, want, strlen(want)) != 0 || !strstr(report, rule))
        fail_msg("%d reports; got \"%s\", want \"%s...%s...\"", reports, report, want, rule);
    reports_reset();
}

static void expect_no_report(void)
{
    if (reports)
        fail_msg("unexpected report: %s", report);
}

static int setup(void **state)
{
    (void)state;
    pagealloc_set_error_handler(record, NULL);
    pagealloc_set_check_level(0);
    reports_reset();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pagealloc_set_error_handler(NULL, NULL);
    pagealloc_set_check_level(0);
    return 0;
}

/* ---- Allocator snapshots -------------------------------------------------------- */

#define SNAP_CHUNKS 16
struct snap {
    pagealloc_stats st;
    uintptr_t search;
    uint64_t alloc[SNAP_CHUNKS][8], scav[SNAP_CHUNKS][8];
};

/* The stats, the search hint and the bitmaps of the first 16 chunks from
 * BASE (0 where not grown). */
static void snap_take(const pagealloc *pa, struct snap *s)
{
    memset(s, 0, sizeof *s);
    pagealloc_get_stats(pa, &s->st);
    s->search = pagealloc_test_search_addr(pa);
    for (unsigned c = 0; c < SNAP_CHUNKS; c++)
        (void)pagealloc_test_chunk_bits(pa, BASE + c * CHUNK, s->alloc[c], s->scav[c]);
}

static void check_pa(const pagealloc *pa)
{
    char msg[256];
    if (pagealloc_check(pa, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
}

static void expect_unchanged(const pagealloc *pa, const struct snap *before)
{
    struct snap now;
    snap_take(pa, &now);
    assert_memory_equal(&now.st, &before->st, sizeof now.st);
    assert_memory_equal(now.alloc, before->alloc, sizeof now.alloc);
    assert_memory_equal(now.scav, before->scav, sizeof now.scav);
    check_pa(pa);
}

/* ---- pagealloc: a fixture heap --------------------------------------------------------
 *
 * Chunks 0-1 and 8 from BASE grown (a gap between), 4 KiB physical pages.
 * r1 = 10 pages at page 0, r2 = 600 pages at page 10 (into chunk 1),
 * r3 = 5 pages at 610 (freed again: a hole), r4 = 7 pages at 615; the
 * rest is free.
 */
struct fx {
    pagealloc *pa;
    uintptr_t r1, r2, r3, r4;
};

static void fx_make(struct fx *f)
{
    f->pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1, .phys_page_size = 4096,
                                                .huge_page_size = 2u << 20 });
    assert_non_null(f->pa);
    assert_int_equal(pagealloc_grow(f->pa, BASE, 2 * CHUNK), 0);
    assert_int_equal(pagealloc_grow(f->pa, BASE + 8 * CHUNK, CHUNK), 0);
    f->r1 = pagealloc_alloc(f->pa, 10, NULL);
    f->r2 = pagealloc_alloc(f->pa, 600, NULL);
    f->r3 = pagealloc_alloc(f->pa, 5, NULL);
    f->r4 = pagealloc_alloc(f->pa, 7, NULL);
    assert_int_equal(f->r1, BASE);
    assert_int_equal(f->r2, BASE + 10 * PAGE);
    assert_int_equal(f->r3, BASE + 610 * PAGE);
    assert_int_equal(f->r4, BASE + 615 * PAGE);
    pagealloc_free(f->pa, f->r3, 5);
    expect_no_report();
    check_pa(f->pa);
}

struct bad_free { const char *what; uintptr_t addr; size_t n; const char *rule; };

/* Every kind of bad free on the fixture (addresses from fx_make). */
static size_t bad_frees(const struct fx *f, struct bad_free *out)
{
    const struct bad_free t[] = {
        { "below the heap", BASE - PAGE, 1, "not inside the heap" },
        { "in the gap between ranges", BASE + 2 * CHUNK, 1, "not inside the heap" },
        { "from a range into the gap", BASE + 2 * CHUNK - PAGE, 2, "not inside the heap" },
        { "above the heap", BASE + 9 * CHUNK, 3, "not inside the heap" },
        { "chunk 0", PAGE, 1, "not inside the heap" },
        { "address 0", 0, 1, "not inside the heap" },
        { "unaligned", f->r1 + 4096, 1, "not page aligned" },
        { "unaligned by one byte", f->r2 + 1, 1, "not page aligned" },
        { "zero pages", f->r1, 0, "page count is zero" },
        { "count overflows", f->r1, SIZE_MAX, "overflows" },
        { "count overflows by one page", f->r1, (SIZE_MAX >> 13) + 1, "overflows" },
        { "past 2^48", TOP - PAGE, 2, "overflows" },
        { "at 2^48", TOP, 1, "overflows" },
        { "double free", f->r3, 5, "not allocated" },
        { "one freed page", f->r3 + 2 * PAGE, 1, "not allocated" },
        { "allocated then free page", f->r3 - PAGE, 2, "not allocated" },
        { "free then allocated page", f->r4 - PAGE, 2, "not allocated" },
        { "run plus a free page above", f->r4, 8, "not allocated" },
        { "whole chunk, partly free", BASE + CHUNK, 512, "not allocated" },
        { "never allocated range", BASE + 8 * CHUNK, 1, "not allocated" },
        { "two chunks, second free", BASE, 1024, "not allocated" },
        { "two-chunk run plus a free page above", f->r2, 601, "not allocated" },
    };
    memcpy(out, t, sizeof t);
    return sizeof t / sizeof t[0];
}

/* pagealloc_free and pagealloc_test_free report; try_free returns EINVAL;
 * none of them changes anything. */
static void test_pagealloc_bad_frees(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    struct bad_free t[32];
    size_t n = bad_frees(&f, t);
    struct snap before;
    snap_take(f.pa, &before);
    for (size_t i = 0; i < n; i++) {
        print_message("  %s: (%#lx, %zu)\n", t[i].what, (unsigned long)t[i].addr, t[i].n);
        pagealloc_free(f.pa, t[i].addr, t[i].n);
        expect_report("pagealloc_free", t[i].addr, t[i].n, t[i].rule);
        expect_unchanged(f.pa, &before);
        pagealloc_test_free(f.pa, t[i].addr, t[i].n);
        expect_report("pagealloc_test_free", t[i].addr, t[i].n, t[i].rule);
        expect_unchanged(f.pa, &before);
        assert_int_equal(pagealloc_try_free(f.pa, t[i].addr, t[i].n), EINVAL);
        expect_no_report();
        expect_unchanged(f.pa, &before);
    }
    /* Still usable: the real frees work, and the heap is whole again. */
    assert_int_equal(pagealloc_try_free(f.pa, f.r1, 10), 0);
    pagealloc_free(f.pa, f.r2, 600);
    pagealloc_test_free(f.pa, f.r4, 7);
    expect_no_report();
    check_pa(f.pa);
    assert_int_equal(pagealloc_alloc(f.pa, 1024, NULL), BASE);
    pagealloc_delete(f.pa);
}

/* Frees over several chunks that fail after wholly covered chunks were
 * checked and cleared, with their leaves and run counts written
 * (multichunk.c undoes them), or before: nothing changes, and the checker
 * finds every leaf, count and index bit as it was. */
static void test_pagealloc_bad_multichunk_frees(void **state)
{
    (void)state;
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 });
    assert_non_null(pa);
    assert_int_equal(pagealloc_grow(pa, BASE, 6 * CHUNK), 0);
    /* r: page 100 of chunk 0 to page 50 of chunk 4 (chunks 1-3 wholly);
     * pages 0-99 of chunk 0 and everything from page 50 of chunk 4 free. */
    uintptr_t a = pagealloc_alloc(pa, 100, NULL);
    uintptr_t r = pagealloc_alloc(pa, 412 + 3 * 512 + 50, NULL);
    assert_int_equal(a, BASE);
    assert_int_equal(r, BASE + 100 * PAGE);
    pagealloc_free(pa, a, 100);
    expect_no_report();
    check_pa(pa);
    const struct bad_free t[] = {
        { "tail, covered chunks, head one page too far", r, 412 + 3 * 512 + 51, "not allocated" },
        { "covered chunks, head one page too far", BASE + CHUNK, 3 * 512 + 51, "not allocated" },
        { "tail, covered chunks, last chunk partly free", r, 412 + 4 * 512, "not allocated" },
        { "first covered chunk partly free", BASE, 2 * 512, "not allocated" },
        { "tail partly free", BASE + 50 * PAGE, 462 + 512, "not allocated" },
        { "covered chunks past the heap", BASE + 4 * CHUNK, 3 * 512, "not inside the heap" },
    };
    struct snap before;
    snap_take(pa, &before);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        print_message("  %s: (%#lx, %zu)\n", t[i].what, (unsigned long)t[i].addr, t[i].n);
        pagealloc_free(pa, t[i].addr, t[i].n);
        expect_report("pagealloc_free", t[i].addr, t[i].n, t[i].rule);
        expect_unchanged(pa, &before);
        pagealloc_test_free(pa, t[i].addr, t[i].n);
        expect_report("pagealloc_test_free", t[i].addr, t[i].n, t[i].rule);
        expect_unchanged(pa, &before);
    }
    pagealloc_free(pa, r, 412 + 3 * 512 + 50);
    expect_no_report();
    check_pa(pa);
    assert_int_equal(pagealloc_alloc(pa, 6 * 512, NULL), BASE);
    pagealloc_delete(pa);
}

static void test_pagealloc_bad_grow(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    const struct { const char *what; uintptr_t base; size_t size; int rc; } t[] = {
        { "empty", BASE + 4 * CHUNK, 0, EINVAL },
        { "chunk 0", 0, CHUNK, EINVAL },
        { "inside chunk 0", 100 * PAGE, PAGE, EINVAL },
        { "at 2^48", TOP, CHUNK, EINVAL },
        { "crossing 2^48", TOP - CHUNK, 2 * CHUNK, EINVAL },
        { "size overflows", BASE, SIZE_MAX, EINVAL },
        { "same range", BASE, 2 * CHUNK, EEXIST },
        { "one page of a grown chunk (unaligned)", BASE + CHUNK + 5 * PAGE, 1, EINVAL },
        { "a grown chunk again", BASE + CHUNK, CHUNK, EEXIST },
        { "overlapping below", BASE - CHUNK, 2 * CHUNK, EEXIST },
        { "overlapping above", BASE + 7 * CHUNK, 2 * CHUNK, EEXIST },
        { "enclosing both", BASE - CHUNK, 16 * CHUNK, EEXIST },
        { "unaligned, would round into a grown chunk", BASE + 2 * CHUNK - 1, 2, EINVAL },
        { "unaligned base, free chunks", BASE + 4 * CHUNK + 100, 10, EINVAL },
        { "aligned base, size not a chunk multiple", BASE + 4 * CHUNK, CHUNK + PAGE, EINVAL },
        { "page-aligned, inside a free chunk", BASE + 4 * CHUNK + PAGE, PAGE, EINVAL },
    };
    struct snap before;
    snap_take(f.pa, &before);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        print_message("  %s\n", t[i].what);
        assert_int_equal(pagealloc_grow(f.pa, t[i].base, t[i].size), t[i].rc);
        expect_unchanged(f.pa, &before);
    }
    /* The same chunk, whole: accepted. */
    assert_int_equal(pagealloc_grow(f.pa, BASE + 4 * CHUNK, CHUNK), 0);
    uintptr_t r[4][2];
    assert_int_equal(pagealloc_test_in_use(f.pa, r, 4), 3);
    assert_int_equal(r[1][0], BASE + 4 * CHUNK);
    assert_int_equal(r[1][1], BASE + 5 * CHUNK);
    expect_no_report();
    check_pa(f.pa);
    pagealloc_delete(f.pa);
}

static void test_pagealloc_bad_counts(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    struct snap before;
    snap_take(f.pa, &before);
    const size_t counts[] = { 0, SIZE_MAX, SIZE_MAX / PAGE + 1, ((size_t)1 << 35) + 1,
                              (size_t)1 << 30 };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        size_t scav = 12345;
        assert_int_equal(pagealloc_alloc(f.pa, counts[i], &scav), 0);
        assert_int_equal(scav, 0);
        expect_unchanged(f.pa, &before);
    }
    assert_int_equal(pagealloc_alloc(f.pa, counts[0], NULL), 0);
    /* Scavenging nothing, taking nothing. */
    assert_int_equal(pagealloc_scavenge(f.pa, 0), 0);
    size_t np = 99;
    assert_int_equal(pagealloc_scavenge_take(f.pa, 0, &np), 0);
    assert_int_equal(np, 0);
    expect_unchanged(f.pa, &before);
    /* Page caches: counts of 0 and above 64 give nothing. */
    pagealloc_cache c = pagealloc_alloc_to_cache(f.pa);
    assert_int_equal(c.base, f.r3 & ~(64 * PAGE - 1));
    pagealloc_cache copy = c;
    const size_t cc[] = { 0, 65, SIZE_MAX };
    for (size_t i = 0; i < 3; i++) {
        size_t scav = 1;
        assert_int_equal(pagealloc_cache_alloc(&c, cc[i], &scav), 0);
        assert_int_equal(scav, 0);
        assert_memory_equal(&c, &copy, sizeof c);
    }
    pagealloc_cache_flush(&c, f.pa);
    expect_no_report();
    expect_unchanged(f.pa, &before);
    /* An empty cache gives nothing and flushes to nothing. */
    assert_int_equal(pagealloc_cache_alloc(&c, 1, NULL), 0);
    pagealloc_cache_flush(&c, f.pa);
    expect_no_report();
    pagealloc_delete(f.pa);
    pagealloc_delete(NULL);
}

/* A stale copy of a cache flushed again: reported, nothing changes, the
 * copy is left as it was. */
static void test_pagealloc_stale_cache_flush(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    pagealloc_cache c = pagealloc_alloc_to_cache(f.pa);
    pagealloc_cache copy = c;
    assert_int_not_equal(pagealloc_cache_alloc(&c, 2, NULL), 0);
    pagealloc_cache_flush(&c, f.pa);
    expect_no_report();
    struct snap before;
    snap_take(f.pa, &before);
    pagealloc_cache stale = copy;
    pagealloc_cache_flush(&stale, f.pa);
    expect_report("pagealloc_cache_flush", copy.base, 64, "does not have allocated");
    assert_memory_equal(&stale, &copy, sizeof stale);
    expect_unchanged(f.pa, &before);
    pagealloc_delete(f.pa);
}

/* A forged cache whose base is outside the heap or not a 64-page block. */
static void test_pagealloc_forged_cache_flush(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    struct snap before;
    snap_take(f.pa, &before);
    const uintptr_t bases[] = { 0x7000000000ull, BASE + PAGE, BASE - 64 * PAGE, TOP };
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        pagealloc_cache c = { .base = bases[i], .cache = 1, .scav = 0 };
        pagealloc_cache_flush(&c, f.pa);
        expect_report("pagealloc_cache_flush", bases[i], 64, "not a 64-page block inside the heap");
        expect_unchanged(f.pa, &before);
    }
    pagealloc_delete(f.pa);
}

/* scavenge_done of a run that was freed (and reallocated) meanwhile, or
 * freed and not reallocated: the second would hand pages out twice. */
static void test_pagealloc_bad_scavenge_done(void **state)
{
    (void)state;
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1, .phys_page_size = 4096,
                                                         .huge_page_size = SIZE_MAX });
    assert_non_null(pa);
    assert_int_equal(pagealloc_grow(pa, BASE, CHUNK), 0);
    uintptr_t a = pagealloc_alloc(pa, 2, NULL);
    pagealloc_free(pa, a, 2);
    /* Everything else is allocated, so the only candidate is a's run. */
    while (pagealloc_alloc(pa, 1, NULL) != 0)
        ;
    pagealloc_free(pa, a, 2);
    size_t n;
    uintptr_t t = pagealloc_scavenge_take(pa, SIZE_MAX, &n);
    assert_int_equal(t, a);
    assert_int_equal(n, 2);
    pagealloc_free(pa, t, n);                     /* the caller's mistake */
    expect_no_report();
    struct snap before;
    snap_take(pa, &before);
    pagealloc_scavenge_done(pa, t, n, 1);
    expect_report("pagealloc_scavenge_done", t, n, "not allocated");
    expect_unchanged(pa, &before);
    assert_int_equal(pagealloc_alloc(pa, 2, NULL), a);
    assert_int_equal(pagealloc_alloc(pa, 2, NULL), 0);   /* not handed out twice */
    pagealloc_delete(pa);
}

/* A foreign handle: memory that is not a pagealloc. */
static void test_pagealloc_foreign_handle(void **state)
{
    (void)state;
    static uint64_t junk[4096];
    pagealloc *pa = (pagealloc *)junk;
    assert_int_equal(pagealloc_alloc(pa, 1, NULL), 0);
    expect_report("pagealloc_alloc", (uintptr_t)pa, 0, "not a live pagealloc handle");
    pagealloc_free(pa, BASE, 1);
    expect_report("pagealloc_free", (uintptr_t)pa, 0, "not a live pagealloc handle");
    assert_int_equal(pagealloc_grow(pa, BASE, CHUNK), EINVAL);
    assert_int_equal(pagealloc_try_free(pa, BASE, 1), EINVAL);
    assert_int_equal(pagealloc_scavenge(pa, SIZE_MAX), 0);
    expect_report("pagealloc_scavenge", (uintptr_t)pa, 0, "not a live pagealloc handle");
    pagealloc_cache c = pagealloc_alloc_to_cache(pa);
    assert_int_equal(c.base, 0);
    expect_report("pagealloc_alloc_to_cache", (uintptr_t)pa, 0, "not a live pagealloc handle");
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        assert_int_equal(junk[i], 0);             /* nothing written */
}

static void test_pagealloc_bad_scavenge_mark(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    const struct { uintptr_t addr; size_t n; } t[] = {
        { BASE - PAGE, 1 }, { BASE + 2 * CHUNK, 1 }, { BASE + 2 * CHUNK - PAGE, 2 },
        { BASE, 0 }, { BASE, SIZE_MAX }, { TOP - PAGE, 2 }, { TOP, 1 }, { 0, 1 },
    };
    struct snap before;
    snap_take(f.pa, &before);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        pagealloc_scavenge_mark(f.pa, t[i].addr, t[i].n);
        expect_report("pagealloc_scavenge_mark", t[i].addr, t[i].n, "not inside the heap");
        expect_unchanged(f.pa, &before);
    }
    /* Refused marks leave scavenging as it was: nothing beyond the hole. */
    assert_int_equal(pagealloc_scavenge(f.pa, SIZE_MAX), 5 * PAGE);
    pagealloc_delete(f.pa);
}

static void test_pagealloc_bad_options(void **state)
{
    (void)state;
    const pagealloc_options t[] = {
        { .phys_page_size = 1000 }, { .phys_page_size = 2048 }, { .phys_page_size = 1u << 20 },
        { .phys_page_size = 3 * 4096 }, { .huge_page_size = 3u << 20 },
        { .huge_page_size = 8u << 20 }, { .huge_page_size = 12345 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        errno = 0;
        assert_null(pagealloc_new(&t[i]));
        assert_int_equal(errno, EINVAL);
    }
    /* Out-of-range dense_pages is clamped, not refused. */
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1, .dense_pages = 100000 });
    assert_non_null(pa);
    pagealloc_delete(pa);
}

/* A deleted allocator's memory is unmapped: the next call faults at the
 * handle (not detectable otherwise; documented). */
static void use_deleted_pagealloc(void *arg)
{
    pagealloc *pa = arg;
    pagealloc_delete(pa);
    (void)pagealloc_alloc(pa, 1, NULL);
}

static void test_pagealloc_deleted_handle(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    uintptr_t addr = 0;
    int sig = pa_run_in_child(use_deleted_pagealloc, f.pa, &addr);
    assert_int_equal(sig, SIGSEGV);
    assert_true(addr >= (uintptr_t)f.pa && addr < (uintptr_t)f.pa + sizeof(struct pagealloc));
    check_pa(f.pa);                                         /* the parent's is intact */
    pagealloc_delete(f.pa);
}

/* ---- Check levels --------------------------------------------------------------------- */

static void test_check_level_env(void **state)
{
    (void)state;
    const struct { const char *v; int level; } t[] = {
        { "0", 0 }, { "1", 1 }, { "2", 2 }, { "7", 2 }, { "-3", 0 }, { "x", 0 }, { "", 0 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        setenv("PAGEALLOC_CHECK", t[i].v, 1);
        pagealloc_set_check_level(-1);             /* re-read the variable */
        assert_int_equal(pagealloc_get_check_level(), t[i].level);
    }
    unsetenv("PAGEALLOC_CHECK");
    pagealloc_set_check_level(-1);
    assert_int_equal(pagealloc_get_check_level(), 0);
    pagealloc_set_check_level(5);
    assert_int_equal(pagealloc_get_check_level(), 2);
    pagealloc_set_check_level(1);
    assert_int_equal(pagealloc_get_check_level(), 1);
    pagealloc_set_check_level(0);
}

/* Level 2 runs the checker after every mutating call: a state broken
 * behind the allocator's back (a scavenged bit on an allocated page) is
 * reported by the next call, naming it; at level 0 it goes unnoticed. */
static void test_check_level_full(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    pagealloc_set_check_level(2);
    uintptr_t a = pagealloc_alloc(f.pa, 3, NULL);     /* a healthy heap: no report */
    pagealloc_free(f.pa, a, 3);
    assert_int_equal(pagealloc_grow(f.pa, BASE + 12 * CHUNK, CHUNK), 0);
    expect_no_report();

    pagealloc_set_check_level(0);
    pa_chunk_of(f.pa, pa_chunk_index(BASE))->scav[0] |= 1;    /* page 0: r1, allocated */
    a = pagealloc_alloc(f.pa, 1, NULL);
    expect_no_report();
    pagealloc_set_check_level(2);
    pagealloc_free(f.pa, a, 1);
    expect_report("pagealloc_free", a, 1, "allocated and scavenged");
    a = pagealloc_alloc(f.pa, 2, NULL);
    expect_report("pagealloc_alloc", a, 2, "invariant broken after the call");
    pagealloc_set_check_level(0);
    pagealloc_delete(f.pa);
}

/* ---- sysmem ------------------------------------------------------------------------- */

static void expect_sysmem_check(void)
{
    char msg[256];
    if (sysmem_check(msg, sizeof msg) != 0)
        fail_msg("%s", msg);
}

/* Every call with a bad range or from a wrong state: EINVAL or EOVERFLOW,
 * totals, page states and the caller's stat unchanged. (test_sysmem.c
 * covers the layer in depth; this is the one-line-per-call inventory.) */
static void test_sysmem_bad_input(void **state)
{
    (void)state;
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    size_t ps = caps.page_size;
    /* r: 8 pages: Ready Ready Prepared Prepared Reserved x4. */
    sysmem_stat st = { 0 };
    char *r;
    assert_int_equal(sysmem_reserve(NULL, 8 * ps, (void **)&r), 0);
    assert_int_equal(sysmem_map(r, 4 * ps, &st), 0);
    assert_int_equal(sysmem_used(r, 2 * ps), 0);
    /* n: a range owned by nobody (reserved and freed again). */
    char *n;
    assert_int_equal(sysmem_reserve(NULL, 2 * ps, (void **)&n), 0);
    assert_int_equal(sysmem_free(n, 2 * ps, NULL), 0);

    sysmem_totals t0, t1;
    sysmem_get_totals(&t0);
    sysmem_stat zero = { 0 }, full = { UINT64_MAX - ps + 1 };
    void *out = NULL;
    const struct { const char *what; int rc, want; } t[] = {
        { "alloc 0", sysmem_alloc(0, NULL, &out), EINVAL },
        { "alloc unaligned", sysmem_alloc(ps + 1, NULL, &out), EINVAL },
        { "alloc no out", sysmem_alloc(ps, NULL, NULL), EINVAL },
        { "alloc stat overflow", sysmem_alloc(ps, &full, &out), EOVERFLOW },
        { "reserve 0", sysmem_reserve(NULL, 0, &out), EINVAL },
        { "reserve unaligned", sysmem_reserve(NULL, ps - 1, &out), EINVAL },
        { "reserve no out", sysmem_reserve(NULL, ps, NULL), EINVAL },
        { "free NULL", sysmem_free(NULL, ps, NULL), EINVAL },
        { "free 0", sysmem_free(r, 0, NULL), EINVAL },
        { "free unaligned addr", sysmem_free(r + 1, ps, NULL), EINVAL },
        { "free unaligned len", sysmem_free(r, ps + 1, NULL), EINVAL },
        { "free wrapping", sysmem_free(r, SIZE_MAX - ps + 1, NULL), EINVAL },
        { "free not owned", sysmem_free(n, ps, NULL), EINVAL },
        { "free stat underflow", sysmem_free(r, 8 * ps, &zero), EOVERFLOW },
        { "map Ready", sysmem_map(r, ps, &st), EINVAL },
        { "map Prepared", sysmem_map(r + 2 * ps, ps, &st), EINVAL },
        { "map mixed", sysmem_map(r + 3 * ps, 2 * ps, &st), EINVAL },
        { "map not owned", sysmem_map(n, ps, &st), EINVAL },
        { "map stat overflow", sysmem_map(r + 4 * ps, ps, &full), EOVERFLOW },
        { "used Reserved", sysmem_used(r + 4 * ps, ps), EINVAL },
        { "used mixed", sysmem_used(r + 3 * ps, 2 * ps), EINVAL },
        { "used unaligned", sysmem_used(r + 1, ps), EINVAL },
        { "unused Reserved", sysmem_unused(r + 4 * ps, ps), EINVAL },
        { "unused not owned", sysmem_unused(n, ps), EINVAL },
        { "unused 0", sysmem_unused(r, 0), EINVAL },
        { "fault Reserved", sysmem_fault(r + 4 * ps, ps, &st), EINVAL },
        { "fault stat underflow", sysmem_fault(r, 2 * ps, &zero), EOVERFLOW },
        { "fault not owned", sysmem_fault(n, ps, &st), EINVAL },
        { "huge_page not owned", sysmem_huge_page(n, ps), EINVAL },
        { "huge_page NULL", sysmem_huge_page(NULL, ps), EINVAL },
        { "no_huge_page not owned", sysmem_no_huge_page(n, ps), EINVAL },
        { "no_huge_page 0", sysmem_no_huge_page(r, 0), EINVAL },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (t[i].rc != t[i].want)
            fail_msg("%s: %d, want %d", t[i].what, t[i].rc, t[i].want);
    }
    sysmem_get_totals(&t1);
    assert_int_equal(t1.reserved, t0.reserved);
    assert_int_equal(t1.prepared, t0.prepared);
    assert_int_equal(t1.ready, t0.ready);
    assert_int_equal(sysmem_stat_load(&st), 4 * ps);
    assert_int_equal(sysmem_stat_load(&zero), 0);
    assert_int_equal(sysmem_stat_load(&full), UINT64_MAX - ps + 1);
    const sysmem_state want[8] = { SYSMEM_READY, SYSMEM_READY, SYSMEM_PREPARED, SYSMEM_PREPARED,
                                   SYSMEM_RESERVED, SYSMEM_RESERVED, SYSMEM_RESERVED,
                                   SYSMEM_RESERVED };
    for (int i = 0; i < 8; i++)
        assert_int_equal(sysmem_state_of(r + i * ps), want[i]);
    assert_int_equal(sysmem_state_of(n), SYSMEM_NONE);
    assert_int_equal(sysmem_state_of(NULL), SYSMEM_NONE);
    /* A bad release mode is ignored. */
    sysmem_set_release_mode((sysmem_release_mode)9);
    expect_sysmem_check();
    assert_int_equal(sysmem_free(r, 8 * ps, &st), 0);
    assert_int_equal(sysmem_stat_load(&st), 0);
    expect_sysmem_check();
}

/* ---- pageheap -------------------------------------------------------------------------- */

static void test_pageheap_bad_frees(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    /* Pages 0-39 big, 40-41 small (from this thread's cache, which holds
     * 42-63), 64-103 other (freed again: a hole), 104-123 third. */
    char *big = pageheap_alloc(h, 40);
    char *small = pageheap_alloc(h, 2);
    char *other = pageheap_alloc(h, 40);
    char *third = pageheap_alloc(h, 20);
    assert_non_null(big);
    assert_ptr_equal(small, big + 40 * PAGE);
    assert_ptr_equal(other, big + 64 * PAGE);
    assert_ptr_equal(third, big + 104 * PAGE);
    pageheap_free(h, other, 40);
    static char outside[4 * 8192] __attribute__((aligned(8192)));
    char local;
    char *heap_mem = malloc(3 * PAGE);
    const struct { const char *what; void *p; size_t n; const char *rule; } t[] = {
        { "NULL, 1 page", NULL, 1, "not inside the heap" },
        { "unaligned", big + 100, 1, "not page aligned" },
        { "static memory", outside, 1, "not inside the heap" },
        { "stack memory", &local, 1, "" },
        { "malloc memory", heap_mem, 1, "" },
        { "zero pages", big, 0, "page count is zero" },
        { "count overflows", big, SIZE_MAX, "overflows" },
        { "double free", other, 40, "not allocated" },
        { "overlapping a free run below", third - PAGE, 2, "not allocated" },
        { "overlapping a free run above", other - PAGE, 2, "not allocated" },
        { "longer than allocated", third, 21, "not allocated" },
        { "past 2^48", (void *)(TOP - PAGE), 2, "overflows" },
    };
    pageheap_stats s0, s1;
    pageheap_get_stats(h, &s0);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        print_message("  %s\n", t[i].what);
        pageheap_free(h, t[i].p, t[i].n);
        expect_report("pageheap_free", (uintptr_t)t[i].p, t[i].n, t[i].rule);
        pageheap_get_stats(h, &s1);
        assert_int_equal(s1.frees, s0.frees);
        assert_int_equal(s1.in_use_bytes, s0.in_use_bytes);
        assert_int_equal(s1.free_bytes, s0.free_bytes);
        assert_int_equal(s1.cache_bytes, s0.cache_bytes);
        pa_expect_heap_ok(h);
    }
    free(heap_mem);

    /* A page the cache owns (never handed out): refused at level 1. */
    pagealloc_set_check_level(1);
    pageheap_free(h, small + 2 * PAGE, 1);
    expect_report("pageheap_free", (uintptr_t)(small + 2 * PAGE), 1, "owned by a page cache");
    pageheap_free(h, small, 3);             /* its own pages and one cached */
    expect_report("pageheap_free", (uintptr_t)small, 3, "owned by a page cache");
    pageheap_free(h, small, 2);             /* the real free is fine at level 1 */
    expect_no_report();
    pagealloc_set_check_level(0);
    pa_expect_heap_ok(h);
    pageheap_free(h, big, 40);
    pageheap_free(h, third, 20);
    expect_no_report();
    pa_expect_heap_ok(h);
    pageheap_delete(h);
}

static void test_pageheap_bad_counts_and_options(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    const struct { size_t n; int err; } t[] = {
        { 0, EINVAL }, { ((size_t)1 << 34) + 1, ENOMEM }, { SIZE_MAX, ENOMEM },
        { SIZE_MAX / PAGE + 1, ENOMEM },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        errno = 0;
        assert_null(pageheap_alloc(h, t[i].n));
        assert_int_equal(errno, t[i].err);
        errno = 0;
        assert_null(pageheap_alloc_zeroed(h, t[i].n));
        assert_int_equal(errno, t[i].err);
    }
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    assert_int_equal(s.allocs, 0);
    assert_int_equal(s.in_use_bytes, 0);
    assert_int_equal(pageheap_release(h, 0), 0);
    pa_expect_heap_ok(h);
    pageheap_delete(h);

    static const pageheap_clock no_fn = { .now_ns = NULL };
    const pageheap_options bad[] = {
        { .scavenger_cpu_fraction = -0.5 }, { .scavenger_cpu_fraction = 1.5 },
        { .huge_pages = (pageheap_huge_policy)3 }, { .shards = 17 }, { .clock = &no_fn },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        assert_null(pageheap_new(&bad[i]));
        assert_int_equal(errno, EINVAL);
    }
}

/* NULL and foreign handles: error returns where the call has one, else a
 * report naming the call; nothing happens. */
static void test_pageheap_bad_handles(void **state)
{
    (void)state;
    static uint64_t fake[512];                              /* readable, not a heap */
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 });
    assert_non_null(pa);
    pageheap *const handles[] = { NULL, (pageheap *)fake, (pageheap *)pa };
    for (size_t i = 0; i < 3; i++) {
        pageheap *h = handles[i];
        errno = 0;
        assert_null(pageheap_alloc(h, 1));
        assert_int_equal(errno, EINVAL);
        errno = 0;
        assert_null(pageheap_alloc_zeroed(h, 1));
        assert_int_equal(errno, EINVAL);
        char msg[128];
        assert_int_equal(pageheap_check(h, msg, sizeof msg), EINVAL);
        assert_non_null(strstr(msg, "not a live pageheap"));
        expect_no_report();

        pageheap_free(h, (void *)(BASE + PAGE), 3);
        expect_report("pageheap_free", BASE + PAGE, 3, "not a live pageheap");
        assert_int_equal(pageheap_release(h, 10 * PAGE), 0);
        expect_report("pageheap_release", 0, 10, "not a live pageheap");
        assert_int_equal(pageheap_set_limit(h, 64 * PAGE), 0);
        expect_report("pageheap_set_limit", 0, 64, "not a live pageheap");
        assert_int_equal(pageheap_get_limit(h), 0);
        expect_report("pageheap_get_limit", 0, 0, "not a live pageheap");
        pageheap_flush_caches(h);
        expect_report("pageheap_flush_caches", 0, 0, "not a live pageheap");
        pageheap_stats s;
        memset(&s, 0xff, sizeof s);
        pageheap_get_stats(h, &s);
        expect_report("pageheap_get_stats", (uintptr_t)&s, 0, "not a live pageheap");
        assert_int_equal(s.version, 0);
        assert_int_equal(s.ready_bytes, 0);
        if (h) {
            pageheap_delete(h);
            expect_report("pageheap_delete", (uintptr_t)h, 0, "not a live pageheap");
        }
    }
    pageheap_delete(NULL);                                  /* documented no-op */
    expect_no_report();
    for (size_t i = 0; i < 512; i++)
        assert_int_equal(fake[i], 0);                       /* untouched */
    check_pa(pa);
    pagealloc_delete(pa);
}

/* A deleted heap: its memory is returned to the OS, so the next call
 * faults at the handle (where the magic word is read). */
static void use_deleted_heap(void *arg)
{
    pageheap *h = arg;
    pageheap_delete(h);
    (void)pageheap_alloc(h, 1);
}

static void test_pageheap_deleted_handle(void **state)
{
    (void)state;
    pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
    assert_non_null(h);
    assert_non_null(pageheap_alloc(h, 1));
    uintptr_t addr = 0;
    int sig = pa_run_in_child(use_deleted_heap, h, &addr);
    assert_int_equal(sig, SIGSEGV);
    assert_int_equal(addr, (uintptr_t)h);
    pa_expect_heap_ok(h);                                          /* the parent's is intact */
    pageheap_delete(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pagealloc_bad_frees, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagealloc_bad_multichunk_frees, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagealloc_bad_grow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagealloc_bad_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagealloc_stale_cache_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagealloc_forged_cache_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagealloc_bad_scavenge_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagealloc_foreign_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagealloc_bad_scavenge_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagealloc_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagealloc_deleted_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_level_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_level_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sysmem_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pageheap_bad_frees, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pageheap_bad_counts_and_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pageheap_bad_handles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pageheap_deleted_handle, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
