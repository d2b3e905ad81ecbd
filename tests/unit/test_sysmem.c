/*
 * test_sysmem.c - the OS-memory layer against the kernel's own view.
 *
 * Every transition is checked three ways: the layer's page states
 * (sysmem_state_of), its totals and the caller's stat, and what the kernel
 * says: residency (mincore), the smaps entry covering the address
 * (permissions, VmFlags hg/nh, Rss, AnonHugePages, THPeligible), and
 * whether a child process touching the address dies of SIGSEGV. Huge-page
 * expectations follow the machine's THP mode; when THP is "never" the
 * advice is still visible in VmFlags and that is what is asserted. What
 * cannot be checked on a machine is reported with PA_SKIP and a reason.
 *
 * Every test frees what it took and ends with the totals and metadata
 * back at its baseline and sysmem_check() passing (teardown).
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
#include <sys/wait.h>
#include <unistd.h>

#include "pagealloc/sysmem.h"
#include "sysmem_fi.h"
#include "sysmem_kview.h"
#include "sysmem_tu.h"
#include "pa_skip.h"

static size_t PS;       /* physical page size */
static size_t HS;       /* huge page size, 0 if none */
static int THP;         /* THP mode letter: 'a', 'm', 'n' or 0 */
static struct sysmem_tu_base BASE;

#define PG(p, i) ((void *)((char *)(p) + (size_t)(i) * PS))
#define STATES(p, n) sysmem_tu_states((p), (n), statebuf)
static char statebuf[4096];

static int group_setup(void **state)
{
    (void)state;
    sysmem_caps c;
    sysmem_get_caps(&c);
    PS = c.page_size;
    HS = c.huge_page_size;
    THP = sysmem_kv_thp_mode();
    /* Create the region table now, so that tests see only their own
     * metadata come and go. */
    void *p;
    if (sysmem_reserve(NULL, PS, &p) != 0 || sysmem_free(p, PS, NULL) != 0)
        return -1;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    sysmem_set_release_mode(SYSMEM_RELEASE_DONTNEED);
    sysmem_tu_base_take(&BASE);
    return 0;
}

static void expect_back_to_base(void);

static int teardown(void **state)
{
    (void)state;
    sysmem_os_set(NULL);
    sysmem_fi_set_huge_size(SIZE_MAX);
    sysmem_set_release_mode(SYSMEM_RELEASE_DONTNEED);
    expect_back_to_base();
    return 0;
}

/* Totals relative to the test's baseline; errors are checked separately. */
static void expect_totals(size_t res, size_t prep, size_t ready)
{
    sysmem_totals t;
    sysmem_get_totals(&t);
    assert_int_equal(t.reserved - BASE.t.reserved, res * PS);
    assert_int_equal(t.prepared - BASE.t.prepared, prep * PS);
    assert_int_equal(t.ready - BASE.t.ready, ready * PS);
    assert_int_equal(sysmem_ready_bytes(), t.ready);
}

static void expect_stat_errors(uint64_t n)
{
    sysmem_totals t;
    sysmem_get_totals(&t);
    assert_int_equal(t.stat_errors - BASE.t.stat_errors, n);
}

static void expect_back_to_base(void)
{
    expect_totals(0, 0, 0);
    assert_int_equal(sysmem_metadata_bytes(), BASE.meta);
    SYSMEM_TU_ASSERT_CHECK();
}

static void expect_perms(void *addr, const char *perms)
{
    struct sysmem_kv_vma v;
    assert_int_equal(sysmem_kv_vma_at(addr, &v), 0);
    assert_string_equal(v.perms, perms);
}

static void expect_unmapped(void *addr)
{
    struct sysmem_kv_vma v;
    assert_int_equal(sysmem_kv_vma_at(addr, &v), ENOENT);
}

static size_t resident(void *p, size_t npages)
{
    size_t k = sysmem_kv_resident(p, npages * PS);
    assert_true(k != (size_t)-1);
    return k;
}

static void touch_pages(void *p, size_t npages, unsigned salt)
{
    for (size_t i = 0; i < npages; i++)
        sysmem_tu_fill(PG(p, i), PS, salt);
}

/* ---- capabilities ----------------------------------------------------------- */

static size_t expected_huge_size(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");
    if (!f)
        return 0;
    unsigned long long h = 0;
    int ok = fscanf(f, "%llu", &h) == 1;
    fclose(f);
    if (!ok || h == 0 || (h & (h - 1)) || h > (4u << 20) || h <= PS)
        return 0;
    return (size_t)h;
}

static void test_caps_match_kernel(void **state)
{
    (void)state;
    sysmem_caps c;
    sysmem_get_caps(&c);
    assert_int_equal(c.page_size, (size_t)sysconf(_SC_PAGESIZE));
    assert_int_equal(c.huge_page_size, expected_huge_size());
    assert_int_equal(c.released_reads_zero, 1);
    assert_ptr_equal(sysmem_os_get(), sysmem_os_default());
    sysmem_caps d;
    sysmem_os_default()->caps(&d);
    assert_int_equal(d.page_size, c.page_size);
    assert_int_equal(d.huge_page_size, c.huge_page_size);
}

/* ---- transitions ----------------------------------------------------------------- */

static void test_alloc_free(void **state)
{
    (void)state;
    sysmem_stat st = { 0 };
    void *p = NULL;
    assert_int_equal(sysmem_alloc(8 * PS, &st, &p), 0);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % PS, 0);
    assert_string_equal(STATES(p, 8), "yyyyyyyy");
    expect_totals(0, 0, 8);
    assert_int_equal(sysmem_stat_load(&st), 8 * PS);
    assert_true(sysmem_tu_zero(p, 8 * PS));
    expect_perms(p, "rw-p");
    touch_pages(p, 8, 1);
    assert_int_equal(resident(p, 8), 8);
    for (size_t i = 0; i < 8; i++)
        assert_true(sysmem_tu_filled(PG(p, i), PS, 1));
    SYSMEM_TU_ASSERT_CHECK();

    assert_int_equal(sysmem_free(p, 8 * PS, &st), 0);
    assert_string_equal(STATES(p, 8), "nnnnnnnn");
    assert_int_equal(sysmem_stat_load(&st), 0);
    expect_unmapped(p);
    expect_back_to_base();
}

static void test_reserve_map_used_unused_fault(void **state)
{
    (void)state;
    sysmem_stat st = { 0 };
    void *p = NULL;
    assert_int_equal(sysmem_reserve(NULL, 16 * PS, &p), 0);
    assert_string_equal(STATES(p, 16), "rrrrrrrrrrrrrrrr");
    expect_totals(16, 0, 0);
    expect_perms(p, "---p");
    assert_int_equal(resident(p, 16), 0);
    assert_int_equal(sysmem_kv_touch_in_child(PG(p, 3), 0), SIGSEGV);
    assert_int_equal(sysmem_kv_touch_in_child(PG(p, 3), 1), SIGSEGV);

    /* Reserved -> Prepared: accessible, zero, counted in the stat. */
    assert_int_equal(sysmem_map(PG(p, 4), 8 * PS, &st), 0);
    assert_string_equal(STATES(p, 16), "rrrrpppppppprrrr");
    expect_totals(8, 8, 0);
    assert_int_equal(sysmem_stat_load(&st), 8 * PS);
    expect_perms(PG(p, 4), "rw-p");
    expect_perms(PG(p, 11), "rw-p");
    expect_perms(PG(p, 3), "---p");
    expect_perms(PG(p, 12), "---p");
    assert_int_equal(sysmem_kv_touch_in_child(PG(p, 4), 1), 0);
    assert_int_equal(sysmem_kv_touch_in_child(PG(p, 12), 1), SIGSEGV);

    /* Prepared -> Ready: usable. */
    assert_int_equal(sysmem_used(PG(p, 4), 8 * PS), 0);
    assert_string_equal(STATES(p, 16), "rrrryyyyyyyyrrrr");
    expect_totals(8, 0, 8);
    assert_true(sysmem_tu_zero(PG(p, 4), 8 * PS));
    touch_pages(PG(p, 4), 8, 2);
    assert_int_equal(resident(PG(p, 4), 8), 8);

    /* Ready -> Prepared in the middle: those pages leave RAM, the others
     * keep their contents. */
    assert_int_equal(sysmem_unused(PG(p, 6), 4 * PS), 0);
    assert_string_equal(STATES(p, 16), "rrrryyppppyyrrrr");
    expect_totals(8, 4, 4);
    assert_int_equal(sysmem_stat_load(&st), 8 * PS);
    assert_int_equal(resident(PG(p, 6), 4), 0);
    assert_int_equal(resident(PG(p, 4), 2), 2);
    assert_int_equal(resident(PG(p, 10), 2), 2);
    for (size_t i = 4; i < 12; i++)
        if (i < 6 || i >= 10)
            assert_true(sysmem_tu_filled(PG(p, i), PS, 2));

    /* Prepared -> Ready again: released pages read zero. */
    assert_int_equal(sysmem_used(PG(p, 6), 4 * PS), 0);
    assert_string_equal(STATES(p, 16), "rrrryyyyyyyyrrrr");
    expect_totals(8, 0, 8);
    assert_true(sysmem_tu_zero(PG(p, 6), 4 * PS));

    /* Ready -> Reserved: access faults again; the stat drops. */
    assert_int_equal(sysmem_fault(PG(p, 8), 4 * PS, &st), 0);
    assert_string_equal(STATES(p, 16), "rrrryyyyrrrrrrrr");
    expect_totals(12, 0, 4);
    assert_int_equal(sysmem_stat_load(&st), 4 * PS);
    expect_perms(PG(p, 8), "---p");
    assert_int_equal(resident(PG(p, 8), 4), 0);
    assert_int_equal(sysmem_kv_touch_in_child(PG(p, 8), 0), SIGSEGV);
    assert_int_equal(sysmem_kv_touch_in_child(PG(p, 11), 1), SIGSEGV);
    assert_int_equal(sysmem_kv_touch_in_child(PG(p, 7), 1), 0);

    /* Faulted memory can be mapped again, and comes back zero. */
    assert_int_equal(sysmem_map(PG(p, 8), 4 * PS, &st), 0);
    assert_int_equal(sysmem_used(PG(p, 8), 4 * PS), 0);
    assert_true(sysmem_tu_zero(PG(p, 8), 4 * PS));
    assert_string_equal(STATES(p, 16), "rrrryyyyyyyyrrrr");
    SYSMEM_TU_ASSERT_CHECK();

    /* Free everything: the stat loses exactly the mapped bytes. */
    assert_int_equal(sysmem_free(p, 16 * PS, &st), 0);
    assert_int_equal(sysmem_stat_load(&st), 0);
    assert_string_equal(STATES(p, 16), "nnnnnnnnnnnnnnnn");
    expect_unmapped(p);
    expect_unmapped(PG(p, 15));
    expect_back_to_base();
}

static void test_used_unused_idempotent(void **state)
{
    (void)state;
    sysmem_stat st = { 0 };
    void *p;
    assert_int_equal(sysmem_alloc(8 * PS, &st, &p), 0);
    assert_int_equal(sysmem_unused(p, 4 * PS), 0);
    expect_totals(0, 4, 4);
    assert_int_equal(sysmem_unused(p, 8 * PS), 0);          /* 4 already Prepared */
    expect_totals(0, 8, 0);
    assert_int_equal(sysmem_unused(p, 8 * PS), 0);          /* all already Prepared */
    expect_totals(0, 8, 0);
    assert_int_equal(sysmem_used(PG(p, 2), 4 * PS), 0);
    assert_string_equal(STATES(p, 8), "ppyyyypp");
    expect_totals(0, 4, 4);
    assert_int_equal(sysmem_used(p, 8 * PS), 0);            /* 4 already Ready */
    expect_totals(0, 0, 8);
    assert_int_equal(sysmem_used(p, 8 * PS), 0);
    expect_totals(0, 0, 8);
    assert_int_equal(sysmem_stat_load(&st), 8 * PS);        /* stat never moved */
    assert_int_equal(sysmem_free(p, 8 * PS, &st), 0);
    assert_int_equal(sysmem_stat_load(&st), 0);
    expect_back_to_base();
}

/* ---- validation ---------------------------------------------------------------- */

static void test_invalid_operations_change_nothing(void **state)
{
    (void)state;
    sysmem_stat st = { 0 };
    void *r, *x, *out = NULL;
    /* r: "rrppyyrr"; x: 3 pages with its middle one freed (a hole that is
     * certainly not owned and not mapped). */
    assert_int_equal(sysmem_reserve(NULL, 8 * PS, &r), 0);
    assert_int_equal(sysmem_map(PG(r, 2), 4 * PS, &st), 0);
    assert_int_equal(sysmem_used(PG(r, 4), 2 * PS), 0);
    assert_int_equal(sysmem_reserve(NULL, 3 * PS, &x), 0);
    assert_int_equal(sysmem_map(x, 3 * PS, &st), 0);
    assert_int_equal(sysmem_free(PG(x, 1), PS, &st), 0);
    assert_string_equal(STATES(r, 8), "rrppyyrr");
    assert_string_equal(STATES(x, 3), "pnp");

    struct sysmem_tu_base before;
    sysmem_tu_base_take(&before);
    uint64_t stat_before = sysmem_stat_load(&st);
    uintptr_t top = UINTPTR_MAX & ~(uintptr_t)(PS - 1);
    char *u = (char *)r + 1;    /* unaligned */

    sysmem_fi_install();
    struct {
        const char *what;
        int rc;
    } cases[] = {
        { "alloc 0", sysmem_alloc(0, &st, &out) },
        { "alloc unaligned", sysmem_alloc(PS + 1, &st, &out) },
        { "alloc NULL out", sysmem_alloc(PS, &st, NULL) },
        { "reserve 0", sysmem_reserve(NULL, 0, &out) },
        { "reserve unaligned", sysmem_reserve(NULL, PS / 2, &out) },
        { "reserve NULL out", sysmem_reserve(NULL, PS, NULL) },
        { "free NULL", sysmem_free(NULL, PS, &st) },
        { "free 0", sysmem_free(r, 0, &st) },
        { "free unaligned v", sysmem_free(u, PS, &st) },
        { "free unaligned n", sysmem_free(r, PS + 8, &st) },
        { "free hole", sysmem_free(PG(x, 1), PS, &st) },
        { "free across hole", sysmem_free(x, 3 * PS, &st) },
        { "free wraps", sysmem_free((void *)top, 2 * PS, &st) },
        { "map Prepared", sysmem_map(PG(r, 2), PS, &st) },
        { "map Ready", sysmem_map(PG(r, 4), PS, &st) },
        { "map mixed", sysmem_map(PG(r, 0), 3 * PS, &st) },
        { "map hole", sysmem_map(PG(x, 1), PS, &st) },
        { "map NULL", sysmem_map(NULL, PS, &st) },
        { "map unaligned", sysmem_map(u, PS, &st) },
        { "map wraps", sysmem_map((void *)top, 4 * PS, &st) },
        { "used Reserved", sysmem_used(PG(r, 0), PS) },
        { "used mixed", sysmem_used(PG(r, 1), 2 * PS) },
        { "used hole", sysmem_used(x, 2 * PS) },
        { "used 0", sysmem_used(PG(r, 2), 0) },
        { "used unaligned", sysmem_used((char *)PG(r, 2) + 8, PS) },
        { "unused Reserved", sysmem_unused(PG(r, 6), PS) },
        { "unused mixed", sysmem_unused(PG(r, 5), 2 * PS) },
        { "unused hole", sysmem_unused(PG(x, 1), 2 * PS) },
        { "unused NULL", sysmem_unused(NULL, PS) },
        { "fault Reserved", sysmem_fault(PG(r, 0), PS, &st) },
        { "fault mixed", sysmem_fault(PG(r, 1), 2 * PS, &st) },
        { "fault hole", sysmem_fault(PG(x, 1), PS, &st) },
        { "fault unaligned n", sysmem_fault(PG(r, 2), 3, &st) },
        { "huge_page Reserved", sysmem_huge_page(PG(r, 0), PS) },
        { "huge_page mixed", sysmem_huge_page((char *)PG(r, 1) + 5, PS) },
        { "huge_page hole", sysmem_huge_page(PG(x, 1), 10) },
        { "huge_page NULL", sysmem_huge_page(NULL, PS) },
        { "huge_page 0", sysmem_huge_page(PG(r, 2), 0) },
        { "huge_page wraps", sysmem_huge_page((void *)top, 4 * PS) },
        { "no_huge_page Reserved", sysmem_no_huge_page(PG(r, 7), 1) },
        { "no_huge_page hole", sysmem_no_huge_page((char *)x + 1, PS) },
        { "no_huge_page NULL", sysmem_no_huge_page(NULL, PS) },
        { "no_huge_page 0", sysmem_no_huge_page(PG(r, 2), 0) },
    };
    unsigned calls = sysmem_fi_ncalls();
    sysmem_fi_uninstall();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].rc != EINVAL)
            print_error("%s: %d\n", cases[i].what, cases[i].rc);
        assert_int_equal(cases[i].rc, EINVAL);
    }
    assert_int_equal(calls, 0);                 /* not a single primitive call */
    assert_null(out);
    assert_string_equal(STATES(r, 8), "rrppyyrr");
    assert_string_equal(STATES(x, 3), "pnp");
    SYSMEM_TU_ASSERT_TOTALS(&before, PS, 0, 0, 0, 0);
    assert_int_equal(sysmem_metadata_bytes(), before.meta);
    assert_int_equal(sysmem_stat_load(&st), stat_before);
    expect_unmapped(PG(x, 1));
    SYSMEM_TU_ASSERT_CHECK();

    assert_int_equal(sysmem_free(r, 8 * PS, &st), 0);
    assert_int_equal(sysmem_free(x, PS, &st), 0);
    assert_int_equal(sysmem_free(PG(x, 2), PS, &st), 0);
    assert_int_equal(sysmem_stat_load(&st), 0);
    expect_back_to_base();
}

/* ---- caller stats ------------------------------------------------------------------ */

static void test_stat_overflow_refused(void **state)
{
    (void)state;
    void *p = NULL, *r;
    sysmem_stat big = { UINT64_MAX - PS + 1 };

    /* alloc: refused before any primitive call. */
    sysmem_fi_install();
    assert_int_equal(sysmem_alloc(PS, &big, &p), EOVERFLOW);
    assert_int_equal(sysmem_fi_ncalls(), 0);
    sysmem_fi_uninstall();
    assert_null(p);
    assert_int_equal(sysmem_stat_load(&big), UINT64_MAX - PS + 1);
    expect_stat_errors(1);
    expect_totals(0, 0, 0);
    assert_int_equal(sysmem_metadata_bytes(), BASE.meta);

    /* Exactly reaching UINT64_MAX is fine. */
    big.bytes = UINT64_MAX - PS;
    assert_int_equal(sysmem_alloc(PS, &big, &p), 0);
    assert_int_equal(sysmem_stat_load(&big), UINT64_MAX);
    assert_int_equal(sysmem_free(p, PS, &big), 0);
    assert_int_equal(sysmem_stat_load(&big), UINT64_MAX - PS);

    /* map: refused, the pages stay Reserved and unmapped. */
    sysmem_stat ok = { 0 };
    assert_int_equal(sysmem_reserve(NULL, 4 * PS, &r), 0);
    big.bytes = UINT64_MAX - PS;
    sysmem_fi_install();
    assert_int_equal(sysmem_map(r, 2 * PS, &big), EOVERFLOW);
    assert_int_equal(sysmem_fi_ncalls(), 0);
    sysmem_fi_uninstall();
    assert_int_equal(sysmem_stat_load(&big), UINT64_MAX - PS);
    assert_string_equal(STATES(r, 4), "rrrr");
    expect_perms(r, "---p");
    expect_stat_errors(2);
    expect_totals(4, 0, 0);

    /* free / fault: underflow of a stat smaller than the mapped bytes. */
    assert_int_equal(sysmem_map(r, 2 * PS, &ok), 0);
    assert_int_equal(sysmem_used(r, 2 * PS), 0);
    touch_pages(r, 2, 3);
    sysmem_stat small = { PS };
    sysmem_fi_install();
    assert_int_equal(sysmem_free(r, 4 * PS, &small), EOVERFLOW);
    assert_int_equal(sysmem_fault(r, 2 * PS, &small), EOVERFLOW);
    assert_int_equal(sysmem_fi_ncalls(), 0);
    sysmem_fi_uninstall();
    assert_int_equal(sysmem_stat_load(&small), PS);
    assert_string_equal(STATES(r, 4), "yyrr");
    assert_true(sysmem_tu_filled(r, PS, 3) && sysmem_tu_filled(PG(r, 1), PS, 3));
    expect_stat_errors(4);
    expect_totals(2, 0, 2);

    /* A stat of exactly the mapped bytes may go to zero; Reserved pages
     * cost nothing, so a zero stat can free them. */
    small.bytes = PS;
    assert_int_equal(sysmem_fault(PG(r, 1), PS, &small), 0);
    assert_int_equal(sysmem_stat_load(&small), 0);
    sysmem_stat zero = { 0 };
    assert_int_equal(sysmem_free(PG(r, 1), 3 * PS, &zero), 0);
    assert_int_equal(sysmem_stat_load(&zero), 0);
    /* NULL stats are accepted (no caller counter). */
    assert_int_equal(sysmem_free(r, PS, NULL), 0);
    assert_int_equal(sysmem_alloc(PS, NULL, &p), 0);
    assert_int_equal(sysmem_free(p, PS, NULL), 0);
    expect_stat_errors(4);
    expect_back_to_base();
}

/* ---- partial frees, holes, neighbouring regions ------------------------------------- */

static void test_partial_free_holes(void **state)
{
    (void)state;
    sysmem_stat st = { 0 };
    void *p;
    assert_int_equal(sysmem_reserve(NULL, 16 * PS, &p), 0);
    uint64_t meta_one = sysmem_metadata_bytes();
    assert_int_equal(sysmem_free(p, 2 * PS, &st), 0);
    assert_int_equal(sysmem_free(PG(p, 14), 2 * PS, &st), 0);
    assert_int_equal(sysmem_free(PG(p, 6), 4 * PS, &st), 0);
    assert_string_equal(STATES(p, 16), "nnrrrrnnnnrrrrnn");
    expect_totals(8, 0, 0);
    expect_unmapped(p);
    expect_unmapped(PG(p, 7));
    expect_unmapped(PG(p, 15));
    expect_perms(PG(p, 2), "---p");
    assert_int_equal(sysmem_metadata_bytes(), meta_one);
    SYSMEM_TU_ASSERT_CHECK();

    assert_int_equal(sysmem_map(PG(p, 2), 4 * PS, &st), 0);
    assert_int_equal(sysmem_map(PG(p, 4), 8 * PS, &st), EINVAL);    /* across the hole */
    assert_int_equal(sysmem_map(PG(p, 10), 4 * PS, &st), 0);
    assert_string_equal(STATES(p, 16), "nnppppnnnnppppnn");
    expect_totals(0, 8, 0);
    assert_int_equal(sysmem_stat_load(&st), 8 * PS);
    assert_int_equal(sysmem_free(PG(p, 2), 4 * PS, &st), 0);
    assert_int_equal(sysmem_metadata_bytes(), meta_one);
    assert_int_equal(sysmem_free(PG(p, 10), 4 * PS, &st), 0);   /* last pages: dropped */
    assert_int_equal(sysmem_stat_load(&st), 0);
    expect_back_to_base();
}

static void test_adjacent_regions(void **state)
{
    (void)state;
    sysmem_stat st = { 0 };
    void *p, *q;
    assert_int_equal(sysmem_reserve(NULL, 16 * PS, &p), 0);
    assert_int_equal(sysmem_free(PG(p, 8), 8 * PS, &st), 0);
    assert_int_equal(sysmem_reserve(PG(p, 8), 8 * PS, &q), 0);
    if (q != PG(p, 8)) {
        assert_int_equal(sysmem_free(q, 8 * PS, &st), 0);
        assert_int_equal(sysmem_free(p, 8 * PS, &st), 0);
        PA_SKIP("the kernel did not honour the address hint, so two "
                "adjacent regions could not be made");
    }
    /* Two regions, one range: every operation may span them. */
    assert_int_equal(sysmem_map(PG(p, 4), 8 * PS, &st), 0);
    assert_string_equal(STATES(p, 16), "rrrrpppppppprrrr");
    assert_int_equal(sysmem_used(PG(p, 4), 8 * PS), 0);
    touch_pages(PG(p, 4), 8, 4);
    assert_int_equal(sysmem_unused(PG(p, 6), 4 * PS), 0);
    assert_int_equal(resident(PG(p, 6), 4), 0);
    assert_int_equal(sysmem_fault(PG(p, 7), 2 * PS, &st), 0);
    assert_string_equal(STATES(p, 16), "rrrryyprrpyyrrrr");
    expect_totals(10, 2, 4);
    assert_int_equal(sysmem_stat_load(&st), 6 * PS);
    SYSMEM_TU_ASSERT_CHECK();
    /* Freeing across the boundary trims both. */
    assert_int_equal(sysmem_free(PG(p, 6), 4 * PS, &st), 0);
    assert_string_equal(STATES(p, 16), "rrrryynnnnyyrrrr");
    SYSMEM_TU_ASSERT_CHECK();
    assert_int_equal(sysmem_free(p, 6 * PS, &st), 0);
    assert_int_equal(sysmem_free(PG(p, 10), 6 * PS, &st), 0);
    assert_int_equal(sysmem_stat_load(&st), 0);
    expect_back_to_base();
}

static void test_reserve_into_hole_is_absorbed(void **state)
{
    (void)state;
    void *p, *q;
    assert_int_equal(sysmem_reserve(NULL, 16 * PS, &p), 0);
    uint64_t meta_one = sysmem_metadata_bytes();
    assert_int_equal(sysmem_free(PG(p, 4), 4 * PS, NULL), 0);
    assert_string_equal(STATES(p, 16), "rrrrnnnnrrrrrrrr");
    assert_int_equal(sysmem_reserve(PG(p, 4), 4 * PS, &q), 0);
    if (q != PG(p, 4)) {
        assert_int_equal(sysmem_free(q, 4 * PS, NULL), 0);
        assert_int_equal(sysmem_free(p, 4 * PS, NULL), 0);
        assert_int_equal(sysmem_free(PG(p, 8), 8 * PS, NULL), 0);
        PA_SKIP("the kernel did not honour the address hint into the hole");
    }
    /* The hole is filled in the existing region: no second block kept. */
    assert_string_equal(STATES(p, 16), "rrrrrrrrrrrrrrrr");
    assert_int_equal(sysmem_metadata_bytes(), meta_one);
    expect_totals(16, 0, 0);
    SYSMEM_TU_ASSERT_CHECK();
    assert_int_equal(sysmem_free(p, 16 * PS, NULL), 0);
    expect_back_to_base();
}

static void test_reserve_hint_honoured(void **state)
{
    (void)state;
    void *p, *q;
    assert_int_equal(sysmem_reserve(NULL, 4 * PS, &p), 0);
    assert_int_equal(sysmem_free(p, 4 * PS, NULL), 0);
    assert_int_equal(sysmem_reserve(p, 4 * PS, &q), 0);
    assert_string_equal(STATES(q, 4), "rrrr");
    assert_int_equal(sysmem_free(q, 4 * PS, NULL), 0);
    expect_back_to_base();
    if (q != p) {
        PA_SKIP("the kernel chose another address than the free hint");
    }
}

static void test_stale_registration_eexist(void **state)
{
    (void)state;
    void *p, *q = NULL;
    assert_int_equal(sysmem_reserve(NULL, 4 * PS, &p), 0);
    /* Unmap behind the layer's back, then ask for the same place. */
    assert_int_equal(sysmem_os_default()->unmap(p, 4 * PS), 0);
    uint64_t meta = sysmem_metadata_bytes();
    int rc = sysmem_reserve(p, 4 * PS, &q);
    if (rc == 0) {
        /* The kernel put it elsewhere: nothing stale was touched. */
        assert_ptr_not_equal(q, p);
        assert_int_equal(sysmem_free(q, 4 * PS, NULL), 0);
    } else {
        assert_int_equal(rc, EEXIST);
        assert_null(q);
        expect_unmapped(p);             /* the fresh mapping was undone */
    }
    assert_int_equal(sysmem_metadata_bytes(), meta);
    assert_string_equal(STATES(p, 4), "rrrr");
    expect_totals(4, 0, 0);
    SYSMEM_TU_ASSERT_CHECK();
    /* Freeing the stale range cleans the registry (munmap of nothing is fine). */
    assert_int_equal(sysmem_free(p, 4 * PS, NULL), 0);
    expect_back_to_base();
    if (rc == 0) {
        PA_SKIP("the kernel did not reuse the address, EEXIST not reachable");
    }
}

static void test_state_of(void **state)
{
    (void)state;
    void *p;
    assert_int_equal(sysmem_state_of(NULL), SYSMEM_NONE);
    assert_int_equal(sysmem_reserve(NULL, 3 * PS, &p), 0);
    assert_int_equal(sysmem_map(PG(p, 1), PS, NULL), 0);
    assert_int_equal(sysmem_used(PG(p, 1), PS), 0);
    assert_int_equal(sysmem_state_of((char *)p + 17), SYSMEM_RESERVED);
    assert_int_equal(sysmem_state_of((char *)PG(p, 2) - 1), SYSMEM_READY);
    assert_int_equal(sysmem_state_of((char *)PG(p, 3) - 1), SYSMEM_RESERVED);
    assert_int_equal(sysmem_free(p, 3 * PS, NULL), 0);
    assert_int_equal(sysmem_state_of((char *)p + 17), SYSMEM_NONE);
    expect_back_to_base();
}

static void test_metadata_accounting(void **state)
{
    (void)state;
    void *p;
    /* Warm up the region table, then: one small region = one page. */
    assert_int_equal(sysmem_reserve(NULL, PS, &p), 0);
    assert_int_equal(sysmem_free(p, PS, NULL), 0);
    uint64_t m0 = sysmem_metadata_bytes();
    assert_int_equal(sysmem_reserve(NULL, PS, &p), 0);
    assert_int_equal(sysmem_metadata_bytes(), m0 + PS);
    assert_int_equal(sysmem_free(p, PS, NULL), 0);
    assert_int_equal(sysmem_metadata_bytes(), m0);
    /* 1 GiB: 2 bits per page, rounded to pages. */
    size_t n = (size_t)1 << 30;
    size_t array = (n / PS) / 4;
    assert_int_equal(sysmem_reserve(NULL, n, &p), 0);
    uint64_t m = sysmem_metadata_bytes() - m0;
    assert_true(m > array && m <= array + PS);
    expect_totals(n / PS, 0, 0);
    assert_int_equal(sysmem_map(PG(p, n / PS - 1), PS, NULL), 0);
    assert_int_equal(sysmem_state_of(PG(p, n / PS - 1)), SYSMEM_PREPARED);
    assert_int_equal(sysmem_state_of(PG(p, n / PS - 2)), SYSMEM_RESERVED);
    assert_int_equal(sysmem_free(p, n, NULL), 0);
    assert_int_equal(sysmem_metadata_bytes(), m0);
}

/* ---- the primitive table ----------------------------------------------------------- */

static void test_os_set_rereads_caps(void **state)
{
    (void)state;
    const sysmem_os *def = sysmem_os_default();
    assert_ptr_equal(sysmem_os_get(), def);
    sysmem_fi_set_huge_size(0);
    sysmem_fi_install();
    const sysmem_os *fi = sysmem_os_get();
    assert_ptr_not_equal(fi, def);
    sysmem_caps c;
    sysmem_get_caps(&c);
    assert_int_equal(c.huge_page_size, 0);
    assert_int_equal(c.page_size, PS);
    assert_ptr_equal(sysmem_os_set(NULL), fi);
    assert_ptr_equal(sysmem_os_get(), def);
    sysmem_get_caps(&c);
    assert_int_equal(c.huge_page_size, HS);
    assert_ptr_equal(sysmem_os_set(fi), def);
    assert_ptr_equal(sysmem_os_set(def), fi);
    assert_ptr_equal(sysmem_os_get(), def);
    sysmem_fi_set_huge_size(SIZE_MAX);
}

/* Without huge pages the hints make no call and return 0, unused only
 * releases and used makes no call at all. */
static void test_no_huge_pages_machine(void **state)
{
    (void)state;
    void *p;
    char seq[64];
    sysmem_fi_set_huge_size(0);
    sysmem_fi_install();
    assert_int_equal(sysmem_alloc(8 * PS, NULL, &p), 0);
    sysmem_fi_reset();
    assert_int_equal(sysmem_huge_page(p, 8 * PS), 0);
    assert_int_equal(sysmem_no_huge_page((char *)p + 1, PS), 0);
    assert_int_equal(sysmem_fi_ncalls(), 0);
    assert_int_equal(sysmem_huge_page(PG(p, 8), PS), EINVAL);     /* still validated */
    assert_int_equal(sysmem_unused(PG(p, 1), PS), 0);
    assert_int_equal(sysmem_used(p, 8 * PS), 0);
    sysmem_fi_sequence(seq, sizeof(seq));
    assert_string_equal(seq, "L");
    assert_int_equal(sysmem_free(p, 8 * PS, NULL), 0);
    sysmem_fi_uninstall();
    sysmem_fi_set_huge_size(SIZE_MAX);
    expect_back_to_base();
}

/* sysmem_unused_ex with SYSMEM_UNUSED_UNTOUCHED: Ready (or Prepared) ->
 * Prepared with no primitive call (no release, no advice), the totals
 * exact; the same checks as unused (a Reserved page: EINVAL, nothing
 * moved); an unknown flag: EINVAL. */
static void test_unused_untouched(void **state)
{
    (void)state;
    void *p;
    assert_int_equal(sysmem_alloc(8 * PS, NULL, &p), 0);
    sysmem_fi_install();
    sysmem_fi_reset();
    assert_int_equal(sysmem_unused_ex(PG(p, 1), 3 * PS, SYSMEM_UNUSED_UNTOUCHED), 0);
    expect_totals(0, 3, 5);
    assert_int_equal(sysmem_state_of(PG(p, 1)), SYSMEM_PREPARED);
    assert_int_equal(sysmem_state_of(PG(p, 4)), SYSMEM_READY);
    assert_int_equal(sysmem_unused_ex(p, 8 * PS, SYSMEM_UNUSED_UNTOUCHED), 0);
    expect_totals(0, 8, 0);
    assert_int_equal(sysmem_fi_ncalls(), 0);
    assert_int_equal(sysmem_unused_ex(p, PS, 2u), EINVAL);
    assert_int_equal(sysmem_used(p, 8 * PS), 0);
    assert_int_equal(sysmem_fault(PG(p, 7), PS, NULL), 0);
    assert_int_equal(sysmem_unused_ex(p, 8 * PS, SYSMEM_UNUSED_UNTOUCHED), EINVAL);
    expect_totals(1, 0, 7);
    assert_int_equal(sysmem_unused_ex(p, 7 * PS, 0), 0);    /* the plain form */
    expect_totals(1, 7, 0);
    SYSMEM_TU_ASSERT_CHECK();
    sysmem_fi_uninstall();
    assert_int_equal(sysmem_free(p, 8 * PS, NULL), 0);
    expect_back_to_base();
}

/* ---- huge pages, against smaps ------------------------------------------------------ */

static void need_huge_pages(void)
{
    if (!HS) {
        PA_SKIP("no transparent huge page size on this machine (%s); the "
                "no-huge-page behaviour is covered by no_huge_pages_machine",
                "hpage_pmd_size unreadable or unusable");
    }
}

static void expect_flags(void *addr, int hg, int nh)
{
    struct sysmem_kv_vma v;
    assert_int_equal(sysmem_kv_vma_at(addr, &v), 0);
    if (v.hg != hg || v.nh != nh)
        print_error("VMA %#lx-%#lx: hg=%d nh=%d, expected hg=%d nh=%d\n",
                    (unsigned long)v.start, (unsigned long)v.end, v.hg, v.nh, hg, nh);
    assert_int_equal(v.hg, hg);
    assert_int_equal(v.nh, nh);
    if (v.thp_eligible >= 0 && THP) {
        int want = sysmem_kv_thp_expected(v.start, v.end, hg, nh);
        if (v.thp_eligible != want)
            print_error("VMA %#lx-%#lx: THPeligible %d, expected %d (THP mode %c)\n",
                        (unsigned long)v.start, (unsigned long)v.end, v.thp_eligible, want, THP);
        assert_int_equal(v.thp_eligible, want);
    }
}

static void test_huge_page_hints(void **state)
{
    (void)state;
    need_huge_pages();
    void *p;
    size_t hp = HS / PS;
    assert_int_equal(sysmem_alloc(3 * HS, NULL, &p), 0);
    char *x = (char *)(((uintptr_t)p + HS - 1) & ~(uintptr_t)(HS - 1));
    char *end = (char *)p + 3 * HS;

    /* no_huge_page on one page: the whole huge page holding it (outward),
     * before anything is touched so no huge page exists there yet. */
    assert_int_equal(sysmem_no_huge_page(x + PS + 5, 7), 0);
    /* huge_page on an unaligned range: only the huge page wholly inside. */
    assert_int_equal(sysmem_huge_page(x + HS - PS + 1, HS + PS), 0);
    expect_flags(x, 0, 1);
    expect_flags(x + HS - PS, 0, 1);
    expect_flags(x + HS, 1, 0);
    expect_flags(x + 2 * HS - PS, 1, 0);
    if (x > (char *)p)
        expect_flags(x - PS, 0, 0);
    if (x + 2 * HS < end)
        expect_flags(x + 2 * HS, 0, 0);

    /* Touch both: the nh one must not get a huge page; its Rss is exact
     * because the advice made it a VMA of its own. */
    touch_pages(x, 2 * hp, 5);
    struct sysmem_kv_vma v;
    assert_int_equal(sysmem_kv_vma_at(x, &v), 0);
    assert_int_equal(v.start, (uintptr_t)x);
    assert_int_equal(v.end, (uintptr_t)x + HS);
    assert_int_equal(v.anon_huge_kb, 0);
    assert_int_equal(v.rss_kb, (long)(HS / 1024));
    assert_int_equal(sysmem_kv_vma_at(x + HS, &v), 0);
    assert_int_equal(v.start, (uintptr_t)x + HS);
    assert_int_equal(v.end, (uintptr_t)x + 2 * HS);
    assert_int_equal(v.rss_kb, (long)(HS / 1024));
    if (THP == 'n')
        assert_int_equal(v.anon_huge_kb, 0);
    assert_int_equal(resident(x, 2 * hp), 2 * hp);

    /* Hints keep contents, in both directions. */
    assert_int_equal(sysmem_huge_page(x, 2 * HS), 0);
    expect_flags(x, 1, 0);
    assert_int_equal(sysmem_no_huge_page(x + HS, HS), 0);
    expect_flags(x + HS, 0, 1);
    for (size_t i = 0; i < 2 * hp; i++)
        assert_true(sysmem_tu_filled(x + i * PS, PS, 5));
    assert_string_equal(STATES(x, 1), "y");
    expect_totals(0, 0, 3 * hp);
    assert_int_equal(sysmem_free(p, 3 * HS, NULL), 0);
    expect_back_to_base();
}

static void test_thp_backing(void **state)
{
    (void)state;
    need_huge_pages();
    if (THP == 'n' || THP == 0) {
        PA_SKIP("THP is %s here: no huge page can back memory, which "
                "huge_page_hints already asserts", THP ? "\"never\"" : "unknown");
    }
    void *p;
    size_t hp = HS / PS;
    assert_int_equal(sysmem_alloc(2 * HS, NULL, &p), 0);
    char *x = (char *)(((uintptr_t)p + HS - 1) & ~(uintptr_t)(HS - 1));
    assert_int_equal(sysmem_huge_page(x, HS), 0);
    touch_pages(x, hp, 6);
    struct sysmem_kv_vma v;
    assert_int_equal(sysmem_kv_vma_at(x, &v), 0);
    if (!sysmem_kv_thp_expected(v.start, v.end, 1, 0)) {
        assert_int_equal(sysmem_free(p, 2 * HS, NULL), 0);
        PA_SKIP("no huge page size is enabled for MADV_HUGEPAGE memory here "
                "(hugepages-<N>kB/enabled)");
    }
    if (v.thp_eligible >= 0)
        assert_int_equal(v.thp_eligible, 1);
    long huge_kb = v.anon_huge_kb;
    if (huge_kb) {
        assert_int_equal(huge_kb, (long)(HS / 1024));
        /* Releasing part of it splits the huge page: the rest stays, but no
         * longer as a huge page, and the released part reads zero. */
        assert_int_equal(sysmem_unused(x + PS, PS), 0);
        assert_int_equal(sysmem_kv_vma_at(x, &v), 0);
        assert_int_equal(v.anon_huge_kb, 0);
        assert_int_equal(resident(x + PS, 1), 0);
        assert_int_equal(sysmem_used(x + PS, PS), 0);
        assert_true(sysmem_tu_zero(x + PS, PS));
        assert_true(sysmem_tu_filled(x, PS, 6));
        assert_true(sysmem_tu_filled(x + 2 * PS, PS, 6));
    }
    assert_int_equal(sysmem_free(p, 2 * HS, NULL), 0);
    expect_back_to_base();
    if (!huge_kb) {
        PA_SKIP("the kernel backed the MADV_HUGEPAGE range with small pages "
                "(no free huge page, or the defrag policy); AnonHugePages not "
                "checkable now");
    }
}

/* sysmem_unused advises NOHUGEPAGE like Go's sysUnusedOS, and sysmem_used
 * re-advises HUGEPAGE on the whole huge pages inside; checked both in the
 * calls made and in smaps. */
static void test_unused_used_huge_advice(void **state)
{
    (void)state;
    need_huge_pages();
    void *p;
    size_t hp = HS / PS;
    char seq[64];
    assert_int_equal(sysmem_alloc(4 * HS, NULL, &p), 0);
    char *x = (char *)(((uintptr_t)p + HS - 1) & ~(uintptr_t)(HS - 1));
    touch_pages(x, 3 * hp, 7);
    sysmem_fi_install();

    /* Both ends unaligned, adjacent huge pages: one call over both. */
    assert_int_equal(sysmem_unused(x + PS, HS), 0);
    sysmem_fi_sequence(seq, sizeof(seq));
    assert_string_equal(seq, "LN");
    assert_int_equal(sysmem_fi_call_at(0)->v, (uintptr_t)x + PS);
    assert_int_equal(sysmem_fi_call_at(0)->n, HS);
    assert_int_equal(sysmem_fi_call_at(1)->v, (uintptr_t)x);
    assert_int_equal(sysmem_fi_call_at(1)->n, 2 * HS);
    expect_flags(x, 0, 1);
    expect_flags(x + HS, 0, 1);
    expect_flags(x + 2 * HS, 0, 0);
    assert_int_equal(resident(x + PS, hp), 0);
    assert_int_equal(resident(x, 1), 1);
    assert_int_equal(resident(x + HS + PS, 1), 1);

    /* used: HUGEPAGE on the whole huge pages inside, nothing else. */
    sysmem_fi_reset();
    assert_int_equal(sysmem_used(x, 3 * HS), 0);
    sysmem_fi_sequence(seq, sizeof(seq));
    assert_string_equal(seq, "H");
    assert_int_equal(sysmem_fi_call_at(0)->v, (uintptr_t)x);
    assert_int_equal(sysmem_fi_call_at(0)->n, 3 * HS);
    expect_flags(x, 1, 0);
    expect_flags(x + 2 * HS, 1, 0);
    assert_true(sysmem_tu_zero(x + PS, HS));
    assert_true(sysmem_tu_filled(x, PS, 7));
    assert_true(sysmem_tu_filled(x + HS + PS, PS, 7));

    /* Ends in non-adjacent huge pages: one call each; the middle keeps hg. */
    sysmem_fi_reset();
    assert_int_equal(sysmem_unused(x + PS, 2 * HS), 0);
    sysmem_fi_sequence(seq, sizeof(seq));
    assert_string_equal(seq, "LNN");
    assert_int_equal(sysmem_fi_call_at(1)->v, (uintptr_t)x);
    assert_int_equal(sysmem_fi_call_at(1)->n, HS);
    assert_int_equal(sysmem_fi_call_at(2)->v, (uintptr_t)x + 2 * HS);
    assert_int_equal(sysmem_fi_call_at(2)->n, HS);
    expect_flags(x, 0, 1);
    expect_flags(x + HS, 1, 0);
    expect_flags(x + 2 * HS, 0, 1);

    /* Aligned range: no advice. Inside one huge page: one call. */
    assert_int_equal(sysmem_used(x, 3 * HS), 0);
    sysmem_fi_reset();
    assert_int_equal(sysmem_unused(x + HS, HS), 0);
    sysmem_fi_sequence(seq, sizeof(seq));
    assert_string_equal(seq, "L");
    sysmem_fi_reset();
    assert_int_equal(sysmem_unused(x + 2 * HS + PS, PS), 0);
    sysmem_fi_sequence(seq, sizeof(seq));
    assert_string_equal(seq, "LN");
    assert_int_equal(sysmem_fi_call_at(1)->v, (uintptr_t)x + 2 * HS);
    assert_int_equal(sysmem_fi_call_at(1)->n, HS);
    /* used on a range with no whole huge page inside: no call. */
    sysmem_fi_reset();
    assert_int_equal(sysmem_used(x + 2 * HS + PS, PS), 0);
    assert_int_equal(sysmem_fi_ncalls(), 0);
    expect_totals(0, hp, 3 * hp);
    assert_int_equal(sysmem_free(p, 4 * HS, NULL), 0);
    sysmem_fi_uninstall();
    expect_back_to_base();
}

/* The advice never reaches memory the layer does not own: windows are
 * clipped to the owned memory around the range. */
static void test_huge_advice_clipped_to_owned(void **state)
{
    (void)state;
    need_huge_pages();
    char seq[64];
    void *q;
    sysmem_fi_install();
    assert_int_equal(sysmem_alloc(4 * PS, NULL, &q), 0);
    uintptr_t lo = (uintptr_t)q, hi = lo + 4 * PS;
    uintptr_t h = ((uintptr_t)q + PS) & ~(uintptr_t)(HS - 1);
    uintptr_t wl = h > lo ? h : lo, wh = h + HS < hi ? h + HS : hi;

    sysmem_fi_reset();
    assert_int_equal(sysmem_unused(PG(q, 1), PS), 0);
    sysmem_fi_sequence(seq, sizeof(seq));
    assert_string_equal(seq, "LN");
    assert_int_equal(sysmem_fi_call_at(1)->v, wl);
    assert_int_equal(sysmem_fi_call_at(1)->n, wh - wl);
    expect_flags(PG(q, 1), 0, 1);

    sysmem_fi_reset();
    assert_int_equal(sysmem_no_huge_page(PG(q, 2), 1), 0);
    sysmem_fi_sequence(seq, sizeof(seq));
    assert_string_equal(seq, "N");
    uintptr_t h2 = ((uintptr_t)q + 2 * PS) & ~(uintptr_t)(HS - 1);
    uintptr_t wl2 = h2 > lo ? h2 : lo, wh2 = h2 + HS < hi ? h2 + HS : hi;
    assert_int_equal(sysmem_fi_call_at(0)->v, wl2);
    assert_int_equal(sysmem_fi_call_at(0)->n, wh2 - wl2);

    /* huge_page on a range smaller than a huge page: nothing to advise. */
    sysmem_fi_reset();
    assert_int_equal(sysmem_huge_page(q, 4 * PS), 0);
    assert_int_equal(sysmem_fi_ncalls(), 0);
    assert_int_equal(sysmem_free(q, 4 * PS, NULL), 0);
    sysmem_fi_uninstall();
    expect_back_to_base();
}

/* ---- release modes ------------------------------------------------------------------ */

static void test_release_free_mode(void **state)
{
    (void)state;
    void *p;
    sysmem_set_release_mode(SYSMEM_RELEASE_FREE);
    assert_int_equal(sysmem_alloc(8 * PS, NULL, &p), 0);
    touch_pages(p, 8, 8);
    assert_int_equal(sysmem_unused(p, 8 * PS), 0);
    assert_string_equal(STATES(p, 8), "pppppppp");
    expect_totals(0, 8, 0);
    /* Lazily freed: each page reads either its old contents or zero. */
    for (size_t i = 0; i < 8; i++)
        assert_true(sysmem_tu_filled(PG(p, i), PS, 8) || sysmem_tu_zero(PG(p, i), PS));
    assert_int_equal(sysmem_used(p, 8 * PS), 0);
    expect_totals(0, 0, 8);
    assert_int_equal(sysmem_free(p, 8 * PS, NULL), 0);
    sysmem_set_release_mode(SYSMEM_RELEASE_DONTNEED);
    expect_back_to_base();
}

/* MADV_FREE refused with EINVAL switches release to MADV_DONTNEED for good.
 * Locked memory makes the kernel refuse it; the switch is process-wide, so
 * it runs in a child. Child exit codes: 0 ok, 77 mlock impossible,
 * 2 release did not fail as expected, 3 still lazy after the switch. */
static void test_release_free_fallback(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        void *p;
        if (sysmem_alloc(2 * PS, NULL, &p) != 0)
            _exit(4);
        touch_pages(p, 2, 9);
        if (sysmem_kv_mlock(p, PS) != 0)
            _exit(77);
        if (sysmem_os_default()->release(p, PS, SYSMEM_RELEASE_FREE) != EINVAL)
            _exit(2);
        sysmem_kv_munlock(p, PS);
        sysmem_set_release_mode(SYSMEM_RELEASE_FREE);
        if (sysmem_unused(p, 2 * PS) != 0)
            _exit(5);
        if (sysmem_kv_resident(p, 2 * PS) != 0)
            _exit(3);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == 77) {
        PA_SKIP("mlock is not permitted here (RLIMIT_MEMLOCK), so the "
                "MADV_FREE refusal cannot be provoked");
    }
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_caps_match_kernel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserve_map_used_unused_fault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_used_unused_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_operations_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stat_overflow_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_free_holes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adjacent_regions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserve_into_hole_is_absorbed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserve_hint_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_registration_eexist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_of, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_accounting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_os_set_rereads_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_huge_pages_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unused_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_page_hints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thp_backing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unused_used_huge_advice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_advice_clipped_to_owned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_free_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_free_fallback, setup, teardown),
    };
    return PA_RUN_GROUP_TESTS_NAME("sysmem", tests, group_setup, NULL);
}
