/*
 * test_sysmem_random.c - random operation sequences against a model.
 *
 * The model is deliberately simple: a list of areas (one per successful
 * reserve/alloc), each with one state byte and one content tag per page,
 * and plain uint64_t caller stats. A page's state is the state of the area
 * that holds it in a non-None state (areas can only overlap where the older
 * one has a hole, since the kernel may reuse freed addresses), or None.
 *
 * Each step picks an operation and a range near some area (possibly
 * spilling into neighbours or unowned address space, possibly unaligned,
 * empty or NULL), computes the expected result from the model (EINVAL,
 * EOVERFLOW or 0), runs it, and compares: the return code, the totals, the
 * refused-update count, every caller stat, and the state of every page in
 * and around the range. Periodically it also compares every page of every
 * area, the contents of Ready pages (their pattern, or zero after a
 * release), the layer's own invariant check, and the kernel's permissions
 * for every owned page (/proc/self/smaps: ---p for Reserved, rw-p for
 * mapped).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pagealloc/sysmem.h"
#include "sysmem_kview.h"
#include "sysmem_tu.h"

#define MAX_AREAS   12
#define MAX_PAGES   48
#define NSTATS      3           /* index NSTATS means "no stat" (NULL) */
#define OP_COUNT_MAX 16

struct area {
    int used;
    uintptr_t base;
    size_t npages;
    unsigned char st[MAX_PAGES];    /* sysmem_state */
    unsigned tag[MAX_PAGES];        /* Ready pages: 0 = zero, else pattern salt */
};

static struct {
    struct area a[MAX_AREAS];
    uint64_t stat_model[NSTATS];
    sysmem_stat stat[NSTATS];
    uint64_t bytes[4];              /* model totals per state */
    uint64_t stat_errors;
    unsigned next_tag;
    unsigned outcome[OP_COUNT_MAX][3];  /* per op: ok, EINVAL, EOVERFLOW */
} M;

static size_t PS;
static struct sysmem_tu_base BASE;

/* The area and index holding page addr in a non-None state, if any. */
static struct area *owner(uintptr_t addr, size_t *idx)
{
    for (int i = 0; i < MAX_AREAS; i++) {
        struct area *a = &M.a[i];
        if (!a->used || addr < a->base || addr >= a->base + a->npages * PS)
            continue;
        size_t j = (addr - a->base) / PS;
        if (a->st[j] != SYSMEM_NONE) {
            *idx = j;
            return a;
        }
    }
    return NULL;
}

static sysmem_state model_state(uintptr_t addr)
{
    size_t j;
    struct area *a = owner(addr, &j);
    return a ? (sysmem_state)a->st[j] : SYSMEM_NONE;
}

static void model_count(uintptr_t lo, uintptr_t hi, size_t c[4])
{
    memset(c, 0, 4 * sizeof(c[0]));
    for (uintptr_t x = lo; x < hi; x += PS)
        c[model_state(x)]++;
}

/* Moves every page of [lo, hi) to state s (and sets its content tag). */
static void model_set(uintptr_t lo, uintptr_t hi, sysmem_state s)
{
    for (uintptr_t x = lo; x < hi; x += PS) {
        size_t j = 0;
        struct area *a = owner(x, &j);
        assert_non_null(a);
        sysmem_state old = (sysmem_state)a->st[j];
        M.bytes[old] -= PS;
        M.bytes[s] += PS;
        a->st[j] = (unsigned char)s;
        if (s == SYSMEM_READY && old != SYSMEM_READY)
            a->tag[j] = 0;          /* mapped or released pages read zero */
    }
    for (int i = 0; i < MAX_AREAS; i++) {
        struct area *a = &M.a[i];
        if (!a->used)
            continue;
        int any = 0;
        for (size_t j = 0; j < a->npages; j++)
            any |= a->st[j] != SYSMEM_NONE;
        if (!any)
            a->used = 0;
    }
}

static int model_stat_change(int si, uint64_t n, int add)
{
    if (si == NSTATS || n == 0)
        return 0;
    uint64_t v = M.stat_model[si];
    if (add ? v > UINT64_MAX - n : v < n) {
        M.stat_errors++;
        return EOVERFLOW;
    }
    M.stat_model[si] = add ? v + n : v - n;
    return 0;
}

static sysmem_stat *stat_ptr(int si)
{
    return si == NSTATS ? NULL : &M.stat[si];
}

static void compare_totals(void)
{
    sysmem_totals t;
    sysmem_get_totals(&t);
    assert_int_equal(t.reserved - BASE.t.reserved, M.bytes[SYSMEM_RESERVED]);
    assert_int_equal(t.prepared - BASE.t.prepared, M.bytes[SYSMEM_PREPARED]);
    assert_int_equal(t.ready - BASE.t.ready, M.bytes[SYSMEM_READY]);
    assert_int_equal(t.stat_errors - BASE.t.stat_errors, M.stat_errors);
    for (int i = 0; i < NSTATS; i++)
        assert_int_equal(sysmem_stat_load(&M.stat[i]), M.stat_model[i]);
}

static void compare_pages(uintptr_t lo, uintptr_t hi)
{
    for (uintptr_t x = lo; x < hi; x += PS) {
        sysmem_state want = model_state(x), got = sysmem_state_of((void *)x);
        if (want != got)
            print_error("page %#lx: state %c, model %c\n", (unsigned long)x,
                        sysmem_tu_letter(got), sysmem_tu_letter(want));
        assert_int_equal(got, want);
    }
}

static void compare_everything(int with_kernel)
{
    compare_totals();
    SYSMEM_TU_ASSERT_CHECK();
    for (int i = 0; i < MAX_AREAS; i++) {
        struct area *a = &M.a[i];
        if (!a->used)
            continue;
        compare_pages(a->base, a->base + a->npages * PS);
        struct sysmem_kv_snap snap;
        if (with_kernel)
            assert_int_equal(sysmem_kv_snap_take(a->base, a->base + a->npages * PS, &snap), 0);
        for (size_t j = 0; j < a->npages; j++) {
            void *pg = (void *)(a->base + j * PS);
            if (a->st[j] == SYSMEM_READY) {
                int ok = a->tag[j] ? sysmem_tu_filled(pg, PS, a->tag[j]) : sysmem_tu_zero(pg, PS);
                if (!ok)
                    print_error("page %p: contents differ from tag %u\n", pg, a->tag[j]);
                assert_true(ok);
            }
            if (with_kernel && a->st[j] != SYSMEM_NONE) {
                /* The kernel's permissions for every owned page. */
                const char *perms = NULL;
                for (size_t k = 0; k < snap.nvma; k++)
                    if (snap.vma[k].start <= (uintptr_t)pg && (uintptr_t)pg < snap.vma[k].end)
                        perms = snap.vma[k].perms;
                assert_non_null(perms);
                assert_string_equal(perms, a->st[j] == SYSMEM_RESERVED ? "---p" : "rw-p");
            }
        }
        if (with_kernel)
            sysmem_kv_snap_free(&snap);
    }
}

/* ---- one random step --------------------------------------------------------------- */

enum op { OP_ALLOC, OP_RESERVE, OP_FREE, OP_MAP, OP_USED, OP_UNUSED, OP_FAULT, OP_HUGE,
          OP_NOHUGE, OP_WRITE, OP_STAT, OP_COUNT };

static void tally(enum op op, int rc)
{
    M.outcome[op][rc == 0 ? 0 : rc == EINVAL ? 1 : 2]++;
}

static int live_areas(void)
{
    int k = 0;
    for (int i = 0; i < MAX_AREAS; i++)
        k += M.a[i].used;
    return k;
}

static struct area *pick_area(uint64_t *rng)
{
    int k = live_areas();
    if (!k)
        return NULL;
    int want = (int)sysmem_tu_below(rng, (uint64_t)k);
    for (int i = 0; i < MAX_AREAS; i++)
        if (M.a[i].used && want-- == 0)
            return &M.a[i];
    return NULL;
}

static int new_area(uintptr_t p, size_t np, sysmem_state s)
{
    for (uintptr_t x = p; x < p + np * PS; x += PS)
        assert_int_equal(model_state(x), SYSMEM_NONE);  /* the kernel gave it fresh */
    for (int i = 0; i < MAX_AREAS; i++) {
        struct area *a = &M.a[i];
        if (a->used)
            continue;
        memset(a, 0, sizeof(*a));
        a->used = 1;
        a->base = p;
        a->npages = np;
        for (size_t j = 0; j < np; j++)
            a->st[j] = (unsigned char)s;
        M.bytes[s] += np * PS;
        return 0;
    }
    return -1;
}

/* Whether page state s suits op (for ranges aimed to be valid). */
static int suits(enum op op, sysmem_state s)
{
    switch (op) {
    case OP_FREE: return s != SYSMEM_NONE;
    case OP_MAP: return s == SYSMEM_RESERVED;
    case OP_WRITE: return 1;
    default: return s == SYSMEM_PREPARED || s == SYSMEM_READY;
    }
}

/* A range near area a, page aligned. Mostly aimed: inside the run of pages
 * around a random page whose states suit op (so that it is valid if that
 * page suits op); otherwise anywhere near the area, possibly spilling one
 * or two pages beyond it on either side. */
static void pick_range(uint64_t *rng, enum op op, const struct area *a, uintptr_t *lo,
                       uintptr_t *hi)
{
    if (sysmem_tu_below(rng, 10) < 7) {
        size_t fit = 0;
        for (size_t i = 0; i < a->npages; i++)
            fit += (size_t)suits(op, (sysmem_state)a->st[i]);
        size_t j = (size_t)sysmem_tu_below(rng, a->npages);
        if (fit) {
            size_t want = (size_t)sysmem_tu_below(rng, fit);
            for (j = 0; !suits(op, (sysmem_state)a->st[j]) || want-- > 0; j++)
                ;
        }
        size_t s = j, e = j + 1;
        if (suits(op, (sysmem_state)a->st[j])) {
            while (s > 0 && suits(op, (sysmem_state)a->st[s - 1]))
                s--;
            while (e < a->npages && suits(op, (sysmem_state)a->st[e]))
                e++;
        }
        size_t from = s + (size_t)sysmem_tu_below(rng, j - s + 1);
        size_t to = j + 1 + (size_t)sysmem_tu_below(rng, e - j);
        if (sysmem_tu_below(rng, 2)) {      /* often the whole run */
            from = s;
            to = e;
        }
        *lo = a->base + from * PS;
        *hi = a->base + to * PS;
        return;
    }
    long start = (long)sysmem_tu_below(rng, a->npages + 2) - 1;
    long len = 1 + (long)sysmem_tu_below(rng, sysmem_tu_below(rng, 4) == 0 ? a->npages + 2 : 8);
    *lo = a->base + (uintptr_t)(start * (long)PS);
    *hi = *lo + (uintptr_t)len * PS;
}

static void step(uint64_t *rng)
{
    enum op op = (enum op)sysmem_tu_below(rng, OP_COUNT);
    int si = (int)sysmem_tu_below(rng, NSTATS + 1);
    struct area *a = pick_area(rng);
    if (!a && op != OP_STAT)
        op = sysmem_tu_below(rng, 2) ? OP_ALLOC : OP_RESERVE;
    if ((op == OP_ALLOC || op == OP_RESERVE) && live_areas() >= MAX_AREAS - 2)
        op = OP_FREE;

    if (op == OP_ALLOC || op == OP_RESERVE) {
        size_t np = 1 + (size_t)sysmem_tu_below(rng, MAX_PAGES);
        int bad = sysmem_tu_below(rng, 20) == 0;
        size_t n = bad ? np * PS + 1 + (size_t)sysmem_tu_below(rng, PS - 1) : np * PS;
        void *p = NULL;
        int rc, want;
        if (op == OP_ALLOC) {
            want = bad ? EINVAL : model_stat_change(si, n, 1);
            rc = sysmem_alloc(n, stat_ptr(si), &p);
        } else {
            want = bad ? EINVAL : 0;
            rc = sysmem_reserve(NULL, n, &p);
        }
        assert_int_equal(rc, want);
        tally(op, rc);
        if (rc == 0) {
            assert_int_equal(new_area((uintptr_t)p, np,
                                      op == OP_ALLOC ? SYSMEM_READY : SYSMEM_RESERVED), 0);
            compare_pages((uintptr_t)p - PS, (uintptr_t)p + (np + 1) * PS);
        }
        compare_totals();
        return;
    }
    if (op == OP_STAT) {
        /* Move a stat near either end of its range so that refusals happen. */
        if (si == NSTATS)
            return;
        uint64_t v = sysmem_tu_below(rng, 2) ? UINT64_MAX - sysmem_tu_below(rng, 64) * PS
                                             : sysmem_tu_below(rng, 4) * PS;
        M.stat_model[si] = v;
        M.stat[si].bytes = v;
        tally(op, 0);
        return;
    }

    uintptr_t lo, hi;
    pick_range(rng, op, a, &lo, &hi);
    size_t n = hi - lo;
    size_t c[4];
    model_count(lo, hi, c);
    size_t np = n / PS;
    int all_owned = c[SYSMEM_NONE] == 0;
    int all_mapped = all_owned && c[SYSMEM_RESERVED] == 0;

    /* Sometimes break the arguments. */
    int bad = 0;
    void *v = (void *)lo;
    if (op != OP_WRITE && sysmem_tu_below(rng, 16) == 0) {
        switch (sysmem_tu_below(rng, 3)) {
        case 0: v = NULL; break;
        case 1: n = 0; break;
        default:
            if (op == OP_HUGE || op == OP_NOHUGE)
                v = NULL;               /* hints accept unaligned ranges */
            else
                v = (char *)v + 8;
            break;
        }
        bad = 1;
    }

    int rc = 0, want = 0;
    switch (op) {
    case OP_FREE: {
        uint64_t mapped = (uint64_t)(c[SYSMEM_PREPARED] + c[SYSMEM_READY]) * PS;
        want = bad || !all_owned ? EINVAL : model_stat_change(si, mapped, 0);
        rc = sysmem_free(v, n, stat_ptr(si));
        if (want == 0)
            model_set(lo, hi, SYSMEM_NONE);
        break;
    }
    case OP_MAP:
        want = bad || c[SYSMEM_RESERVED] != np ? EINVAL : model_stat_change(si, n, 1);
        rc = sysmem_map(v, n, stat_ptr(si));
        if (want == 0)
            model_set(lo, hi, SYSMEM_PREPARED);
        break;
    case OP_USED:
        want = bad || !all_mapped ? EINVAL : 0;
        rc = sysmem_used(v, n);
        if (want == 0)
            model_set(lo, hi, SYSMEM_READY);
        break;
    case OP_UNUSED:
        want = bad || !all_mapped ? EINVAL : 0;
        rc = sysmem_unused(v, n);
        if (want == 0)
            model_set(lo, hi, SYSMEM_PREPARED);
        break;
    case OP_FAULT:
        want = bad || !all_mapped ? EINVAL : model_stat_change(si, n, 0);
        rc = sysmem_fault(v, n, stat_ptr(si));
        if (want == 0)
            model_set(lo, hi, SYSMEM_RESERVED);
        break;
    case OP_HUGE:
    case OP_NOHUGE: {
        /* An unaligned sub-range: the pages it touches must be mapped. */
        uintptr_t hv = lo + (uintptr_t)sysmem_tu_below(rng, PS / 2);
        size_t hn = n ? (size_t)(hi - (uintptr_t)sysmem_tu_below(rng, PS / 2) - hv) : 0;
        if (v == NULL)
            hv = 0;
        want = bad || !all_mapped ? EINVAL : 0;
        rc = op == OP_HUGE ? sysmem_huge_page((void *)hv, hn) : sysmem_no_huge_page((void *)hv, hn);
        break;
    }
    case OP_WRITE:
        /* Fill the Ready pages of the range with a fresh pattern. */
        for (uintptr_t x = lo; x < hi; x += PS) {
            size_t j;
            struct area *o = owner(x, &j);
            if (o && o->st[j] == SYSMEM_READY) {
                o->tag[j] = ++M.next_tag;
                sysmem_tu_fill((void *)x, PS, o->tag[j]);
            }
        }
        break;
    default:
        break;
    }
    if (rc != want)
        print_error("op %d on [%#lx, +%zu) stat %d: got %d, model says %d\n", (int)op,
                    (unsigned long)(uintptr_t)v, n, si, rc, want);
    assert_int_equal(rc, want);
    tally(op, rc);
    compare_totals();
    compare_pages(lo - 2 * PS, hi + 2 * PS);
}

static void run_seed(uint64_t seed, int steps)
{
    memset(&M, 0, sizeof(M));
    sysmem_tu_base_take(&BASE);
    uint64_t rng = seed;
    for (int i = 1; i <= steps; i++) {
        step(&rng);
        if (i % 100 == 0)
            compare_everything(i % 1000 == 0);
    }
    compare_everything(1);
    static const char *names[OP_COUNT] = { "alloc", "reserve", "free", "map", "used", "unused",
                                           "fault", "huge", "nohuge", "write", "stat" };
    char line[512];
    size_t len = 0;
    for (int i = 0; i < OP_COUNT; i++)
        len += (size_t)snprintf(line + len, sizeof(line) - len, " %s %u/%u/%u", names[i],
                                M.outcome[i][0], M.outcome[i][1], M.outcome[i][2]);
    print_message("seed %#llx, ok/EINVAL/EOVERFLOW:%s\n", (unsigned long long)seed, line);
    /* Free what is left, area by area, and expect the baseline back. */
    for (int i = 0; i < MAX_AREAS; i++) {
        struct area *a = &M.a[i];
        for (size_t j = 0; a->used && j < a->npages; j++) {
            if (a->st[j] == SYSMEM_NONE)
                continue;
            uintptr_t x = a->base + j * PS;
            assert_int_equal(sysmem_free((void *)x, PS, NULL), 0);
            model_set(x, x + PS, SYSMEM_NONE);
        }
    }
    for (int i = 0; i < NSTATS; i++)
        M.stat[i].bytes = M.stat_model[i] = 0;
    M.stat_errors = 0;
    sysmem_totals t;
    sysmem_get_totals(&t);
    assert_int_equal(t.reserved, BASE.t.reserved);
    assert_int_equal(t.prepared, BASE.t.prepared);
    assert_int_equal(t.ready, BASE.t.ready);
    assert_int_equal(sysmem_metadata_bytes(), BASE.meta);
    SYSMEM_TU_ASSERT_CHECK();
}

static int steps_per_seed(void)
{
    return sysmem_kv_under_valgrind() ? 2000 : 5000;
}

static void test_random_seed_1(void **state)
{
    (void)state;
    run_seed(1, steps_per_seed());
}

static void test_random_seed_2(void **state)
{
    (void)state;
    run_seed(0x5eed5eed, steps_per_seed());
}

static void test_random_seed_3(void **state)
{
    (void)state;
    run_seed(20221219, steps_per_seed());
}

static int group_setup(void **state)
{
    (void)state;
    return sysmem_tu_group_init(&PS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_seed_1),
        cmocka_unit_test(test_random_seed_2),
        cmocka_unit_test(test_random_seed_3),
    };
    return cmocka_run_group_tests_name("sysmem_random", tests, group_setup, NULL);
}
