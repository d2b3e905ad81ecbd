/*
 * test_sysmem_faults.c - every primitive call failing, one at a time.
 *
 * Each scenario builds a fixture (a region in some mix of states, with
 * recognisable contents in its Ready pages) and names one operation and the
 * exact primitive calls it must make, in order (letters of sysmem_fi.h),
 * marking the calls whose failure the layer ignores by design (hints and
 * metadata returns; see the table in src/sysmem.c).
 *
 * Run 0 makes no call fail: the operation succeeds with exactly those
 * calls. Run k (k = 1 .. number of calls) rebuilds the fixture and fails
 * the k-th call with ENOMEM or EAGAIN:
 *   - a call whose failure matters: the operation returns that error, and
 *     the totals, refused-update count, caller stat, metadata bytes, the
 *     page states, the kernel's view of the fixture (VMAs with permissions
 *     and hg/nh flags, and residency of every page) and the contents of
 *     Ready pages are exactly as before; any mapping a successful earlier
 *     call created has been undone;
 *   - an ignored call: the operation returns 0 and leaves the same page
 *     states, totals and stat as run 0.
 * A separate test grows the region table under failures.
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

#include "pagealloc/sysmem.h"
#include "sysmem_fi.h"
#include "sysmem_kview.h"
#include "sysmem_tu.h"
#include "pa_skip.h"

static size_t PS, HS;

#define MAXP 2048

struct fx {
    char *p;            /* fixture: [p, p + np pages), may be NULL */
    size_t np;
    char *x;            /* a huge-page aligned address inside it, if needed */
    sysmem_stat st;
    void *out;          /* what alloc/reserve returned */
};

struct scenario {
    const char *name;
    int (*setup)(struct fx *);  /* 0, or 1 when the machine cannot build it */
    int (*op)(struct fx *);
    const char *seq;            /* calls, with huge advice letters (H, N) */
    const char *ignored;        /* '1' where that call's failure is ignored */
};

static void fill_ready(struct fx *f, unsigned salt)
{
    for (size_t i = 0; i < f->np; i++)
        if (sysmem_state_of(f->p + i * PS) == SYSMEM_READY)
            sysmem_tu_fill(f->p + i * PS, PS, salt);
}

static int ready_intact(struct fx *f, const char *states, unsigned salt)
{
    for (size_t i = 0; i < f->np; i++)
        if (states[i] == 'y' && !sysmem_tu_filled(f->p + i * PS, PS, salt))
            return 0;
    return 1;
}

/* Frees every page of the fixture still owned, then what the op returned. */
static void cleanup(struct fx *f, size_t out_bytes)
{
    for (size_t i = 0; f->p && i < f->np; i++)
        if (sysmem_state_of(f->p + i * PS) != SYSMEM_NONE)
            assert_int_equal(sysmem_free(f->p + i * PS, PS, NULL), 0);
    if (f->out)
        assert_int_equal(sysmem_free(f->out, out_bytes, NULL), 0);
}

/* ---- fixtures and operations ------------------------------------------------------ */

static int setup_none(struct fx *f)
{
    (void)f;
    return 0;
}

/* 8 pages "rrppyyrr"-like mix: reserved 8, map [2,6), used [4,6). */
static int setup_mixed8(struct fx *f)
{
    f->np = 8;
    assert_int_equal(sysmem_reserve(NULL, 8 * PS, (void **)&f->p), 0);
    assert_int_equal(sysmem_map(f->p + 2 * PS, 4 * PS, &f->st), 0);
    assert_int_equal(sysmem_used(f->p + 4 * PS, 2 * PS), 0);
    return 0;
}

static int setup_reserved8(struct fx *f)
{
    f->np = 8;
    assert_int_equal(sysmem_reserve(NULL, 8 * PS, (void **)&f->p), 0);
    return 0;
}

static int setup_ready8(struct fx *f)
{
    f->np = 8;
    assert_int_equal(sysmem_alloc(8 * PS, &f->st, (void **)&f->p), 0);
    return 0;
}

/* Two adjacent regions of 8 pages (the second placed by address hint). */
static int setup_adjacent(struct fx *f)
{
    void *q;
    f->np = 16;
    assert_int_equal(sysmem_reserve(NULL, 16 * PS, (void **)&f->p), 0);
    assert_int_equal(sysmem_free(f->p + 8 * PS, 8 * PS, NULL), 0);
    assert_int_equal(sysmem_reserve(f->p + 8 * PS, 8 * PS, &q), 0);
    if (q != f->p + 8 * PS) {
        assert_int_equal(sysmem_free(q, 8 * PS, NULL), 0);
        f->np = 8;
        return 1;
    }
    assert_int_equal(sysmem_map(f->p + 6 * PS, 4 * PS, &f->st), 0);
    return 0;
}

/* hn huge pages of Ready memory starting at a huge-page boundary x, inside
 * a region of hn + 1 huge pages (8 pages, x = p, without huge pages). */
static int setup_huge(struct fx *f, size_t hn)
{
    if (!HS)
        return setup_ready8(f);
    f->np = (hn + 1) * HS / PS;
    assert_int_equal(sysmem_alloc(f->np * PS, &f->st, (void **)&f->p), 0);
    f->x = (char *)(((uintptr_t)f->p + HS - 1) & ~(uintptr_t)(HS - 1));
    return 0;
}

static int setup_huge2(struct fx *f)
{
    return setup_huge(f, 2);
}

static int setup_huge3(struct fx *f)
{
    return setup_huge(f, 3);
}

/* Two huge pages released, to be made Ready again. */
static int setup_huge2_prepared(struct fx *f)
{
    setup_huge(f, 2);
    char *x = HS ? f->x : f->p;
    assert_int_equal(sysmem_unused(x, HS ? 2 * HS : 8 * PS), 0);
    return 0;
}

static int op_alloc(struct fx *f)
{
    return sysmem_alloc(4 * PS, &f->st, &f->out);
}

static int op_reserve(struct fx *f)
{
    return sysmem_reserve(NULL, 4 * PS, &f->out);
}

static int op_free_all(struct fx *f)
{
    return sysmem_free(f->p, f->np * PS, &f->st);
}

static int op_free_head(struct fx *f)
{
    return sysmem_free(f->p, 3 * PS, &f->st);
}

static int op_free_middle(struct fx *f)
{
    return sysmem_free(f->p + 3 * PS, 2 * PS, &f->st);
}

static int op_map(struct fx *f)
{
    return sysmem_map(f->p + 2 * PS, 4 * PS, &f->st);
}

static int op_fault(struct fx *f)
{
    return sysmem_fault(f->p + 2 * PS, 4 * PS, &f->st);
}

static int op_unused_one_window(struct fx *f)
{
    return sysmem_unused(f->p + PS, 2 * PS);
}

static int op_unused_two_windows(struct fx *f)
{
    if (!HS)
        return sysmem_unused(f->p + PS, 6 * PS);
    return sysmem_unused(f->x + PS, 2 * HS);
}

static int op_used(struct fx *f)
{
    if (!HS)
        return sysmem_used(f->p, 8 * PS);
    return sysmem_used(f->x, 2 * HS);
}

static int op_huge_page(struct fx *f)
{
    if (!HS)
        return sysmem_huge_page(f->p, 8 * PS);
    return sysmem_huge_page(f->x, HS);
}

static int op_no_huge_page(struct fx *f)
{
    return sysmem_no_huge_page(f->p + PS + 3, 1);
}

static const struct scenario scenarios[] = {
    { "alloc", setup_none, op_alloc, "AA", "00" },
    { "reserve", setup_none, op_reserve, "RA", "00" },
    { "free whole region", setup_mixed8, op_free_all, "UU", "01" },
    { "free head", setup_mixed8, op_free_head, "U", "0" },
    { "free middle", setup_mixed8, op_free_middle, "U", "0" },
    /* the two regions' blocks share a pool page (regpool.c): one unmap */
    { "free two adjacent regions", setup_adjacent, op_free_all, "UU", "01" },
    { "map", setup_reserved8, op_map, "C", "0" },
    { "fault", setup_ready8, op_fault, "D", "0" },
    { "unused, one advice window", setup_ready8, op_unused_one_window, "LN", "01" },
    { "unused, two advice windows", setup_huge3, op_unused_two_windows, "LNN", "011" },
    { "used", setup_huge2_prepared, op_used, "H", "1" },
    { "huge_page", setup_huge2, op_huge_page, "H", "0" },
    { "no_huge_page", setup_ready8, op_no_huge_page, "N", "0" },
};

/* ---- the runner -------------------------------------------------------------------- */

struct picture {
    struct sysmem_tu_base base;
    uint64_t stat;
    char states[MAXP + 1];
    struct sysmem_kv_snap snap;
};

static void take_picture(struct fx *f, struct picture *pic)
{
    sysmem_tu_base_take(&pic->base);
    pic->stat = sysmem_stat_load(&f->st);
    pic->states[0] = '\0';
    memset(&pic->snap, 0, sizeof(pic->snap));
    if (f->p) {
        assert_true(f->np <= MAXP);
        sysmem_tu_states(f->p, f->np, pic->states);
        assert_int_equal(sysmem_kv_snap_take((uintptr_t)f->p, (uintptr_t)f->p + f->np * PS,
                                             &pic->snap), 0);
    }
}

static int64_t delta(uint64_t after, uint64_t before)
{
    return (int64_t)(after - before);
}

static void run_scenario(void **state)
{
    const struct scenario *sc = *state;
    char seq[64], ignored[64], got[SYSMEM_FI_LOG_MAX + 1];
    /* Without huge pages there is no advice: drop those calls. */
    size_t m = 0;
    for (size_t i = 0; sc->seq[i]; i++) {
        if (!HS && (sc->seq[i] == 'H' || sc->seq[i] == 'N'))
            continue;
        seq[m] = sc->seq[i];
        ignored[m++] = sc->ignored[i];
    }
    seq[m] = ignored[m] = '\0';
    size_t out_bytes = 4 * PS;

    char ok_states[MAXP + 1] = "";
    int64_t ok_delta[4] = { 0 }, ok_stat = 0;
    for (unsigned k = 0; k <= m; k++) {
        struct fx f;
        memset(&f, 0, sizeof(f));
        sysmem_fi_install();
        if (sc->setup(&f)) {
            cleanup(&f, out_bytes);
            sysmem_fi_uninstall();
            PA_SKIP("%s: the kernel did not honour an address hint", sc->name);
        }
        fill_ready(&f, 11 + k);
        struct picture before, after;
        take_picture(&f, &before);
        int err = k % 2 ? ENOMEM : EAGAIN;
        sysmem_fi_reset();
        sysmem_fi_arm(k, err);
        int rc = sc->op(&f);
        int fired = sysmem_fi_fired();
        sysmem_fi_sequence(got, sizeof(got));
        sysmem_fi_arm(0, 0);
        take_picture(&f, &after);
        int64_t d[4] = { delta(after.base.t.reserved, before.base.t.reserved),
                         delta(after.base.t.prepared, before.base.t.prepared),
                         delta(after.base.t.ready, before.base.t.ready),
                         delta(after.base.t.stat_errors, before.base.t.stat_errors) };
        int64_t dstat = delta(after.stat, before.stat);

        if (k == 0) {
            if (strcmp(got, seq) != 0)
                print_error("%s: calls %s, expected %s\n", sc->name, got, seq);
            assert_int_equal(rc, 0);
            assert_string_equal(got, seq);
            strcpy(ok_states, after.states);
            memcpy(ok_delta, d, sizeof(d));
            ok_stat = dstat;
        } else {
            assert_true(fired);
            assert_true(strlen(got) >= k);
            assert_memory_equal(got, seq, k);       /* same calls up to the failing one */
            if (ignored[k - 1] == '1') {
                if (rc != 0)
                    print_error("%s: failing call %u (%c) was not ignored\n", sc->name, k,
                                seq[k - 1]);
                assert_int_equal(rc, 0);
                assert_string_equal(after.states, ok_states);
                assert_memory_equal(d, ok_delta, sizeof(d));
                assert_int_equal(dstat, ok_stat);
            } else {
                char why[256] = "";
                if (rc != err)
                    print_error("%s: failing call %u (%c) returned %d\n", sc->name, k,
                                seq[k - 1], rc);
                assert_int_equal(rc, err);
                assert_null(f.out);
                assert_string_equal(after.states, before.states);
                for (int i = 0; i < 4; i++)
                    assert_int_equal(d[i], 0);
                assert_int_equal(dstat, 0);
                assert_int_equal(after.base.meta, before.base.meta);
                if (f.p && !sysmem_kv_snap_equal(&before.snap, &after.snap, why, sizeof(why)))
                    print_error("%s: failing call %u changed the kernel's view: %s\n",
                                sc->name, k, why);
                assert_true(!f.p || sysmem_kv_snap_equal(&before.snap, &after.snap, why,
                                                         sizeof(why)));
                assert_true(!f.p || ready_intact(&f, before.states, 11 + k));
                /* Whatever an earlier call mapped has been unmapped again. */
                for (unsigned i = 0; i + 1 < k; i++) {
                    const struct sysmem_fi_call *c = sysmem_fi_call_at(i);
                    if ((c->prim == 'A' || c->prim == 'R') && c->err == 0)
                        assert_false(sysmem_kv_mapped((void *)c->v, c->n));
                }
                SYSMEM_TU_ASSERT_CHECK();
            }
        }
        sysmem_kv_snap_free(&before.snap);
        sysmem_kv_snap_free(&after.snap);
        cleanup(&f, out_bytes);
        sysmem_fi_uninstall();
    }
}

/* The region table grows inside reserve (alloc new table, unmap old one,
 * after the reservation and before the region's block): fail those calls
 * too. Every reserve is tried with its first call failing, then its second;
 * when that second call was a table allocation (larger than the one page
 * of a region's block), the next try fails, for two growths in turn, call 3
 * (unmap of the old table: ignored, the old table leaks and stays counted)
 * and call 4 (the region's block, after the growth, when it needs a new
 * pool page; a slot of a page already there takes no call). A completed
 * growth is kept even when a later call of the same reserve fails: only
 * the table's capacity differs. Metadata bytes always move by exactly the successful
 * metadata allocs minus the successful metadata unmaps of the attempt. */
static void test_table_growth_under_failures(void **state)
{
    (void)state;
    enum { N = 3000 };
    static void *got[N];
    static const unsigned plan[2] = { 3, 4 };
    size_t n = 0;
    unsigned tested = 0;
    char seq[SYSMEM_FI_LOG_MAX + 1];
    struct sysmem_tu_base start;
    sysmem_tu_base_take(&start);
    sysmem_fi_install();
    while (n < N && tested < 2) {
        for (unsigned k = 1;;) {
            struct sysmem_tu_base b;
            sysmem_tu_base_take(&b);
            sysmem_fi_reset();
            sysmem_fi_arm(k, ENOMEM);
            void *out = NULL;
            int rc = sysmem_reserve(NULL, PS, &out);
            int fired = sysmem_fi_fired();
            sysmem_fi_sequence(seq, sizeof(seq));
            const struct sysmem_fi_call *second = sysmem_fi_call_at(1);
            int growing = second && second->prim == 'A' && second->n > PS;
            /* Metadata: every successful A, minus every successful U that
             * is not the undoing of the reservation (call 1). */
            int64_t meta = 0;
            uintptr_t mapping = sysmem_fi_call_at(0)->v;
            for (unsigned i = 1; i < sysmem_fi_ncalls(); i++) {
                const struct sysmem_fi_call *c = sysmem_fi_call_at(i);
                if (c->err == 0 && c->prim == 'A')
                    meta += (int64_t)c->n;
                if (c->err == 0 && c->prim == 'U' && c->v != mapping)
                    meta -= (int64_t)c->n;
            }
            assert_int_equal(delta(sysmem_metadata_bytes(), b.meta), meta);
            SYSMEM_TU_ASSERT_CHECK();
            if (rc == 0) {
                /* the block: a pool page (A) or a slot of one (no call) */
                assert_true(strcmp(seq, "R") == 0 || strcmp(seq, "RA") == 0 ||
                            strcmp(seq, "RAU") == 0 || strcmp(seq, "RAUA") == 0);
                if (fired)      /* only the old table's unmap may fail silently */
                    assert_true(k == 3 && seq[2] == 'U');
                SYSMEM_TU_ASSERT_TOTALS(&b, PS, 1, 0, 0, 0);
                got[n++] = out;
                break;
            }
            assert_int_equal(rc, ENOMEM);
            assert_null(out);
            SYSMEM_TU_ASSERT_TOTALS(&b, PS, 0, 0, 0, 0);
            if (k > 1) {        /* the reservation was undone */
                assert_int_equal(seq[strlen(seq) - 1], 'U');
                assert_false(sysmem_kv_mapped((void *)mapping, PS));
            }
            if (growing && k == 2)
                k = plan[tested++];
            else
                k++;
        }
    }
    sysmem_fi_uninstall();
    assert_int_equal(tested, 2);
    SYSMEM_TU_ASSERT_TOTALS(&start, PS, n, 0, 0, 0);
    while (n--)
        assert_int_equal(sysmem_free(got[n], PS, NULL), 0);
    SYSMEM_TU_ASSERT_TOTALS(&start, PS, 0, 0, 0, 0);
    SYSMEM_TU_ASSERT_CHECK();
}

static int group_setup(void **state)
{
    (void)state;
    sysmem_caps c;
    sysmem_get_caps(&c);
    PS = c.page_size;
    HS = c.huge_page_size;
    void *p;
    if (sysmem_reserve(NULL, PS, &p) != 0 || sysmem_free(p, PS, NULL) != 0)
        return -1;
    return 0;
}

#define SCENARIO(i) \
    { scenarios[i].name, run_scenario, NULL, NULL, (void *)&scenarios[i] }

int main(void)
{
    const struct CMUnitTest tests[] = {
        SCENARIO(0), SCENARIO(1), SCENARIO(2), SCENARIO(3), SCENARIO(4),
        SCENARIO(5), SCENARIO(6), SCENARIO(7), SCENARIO(8), SCENARIO(9),
        SCENARIO(10), SCENARIO(11), SCENARIO(12),
        cmocka_unit_test(test_table_growth_under_failures),
    };
    _Static_assert(sizeof(scenarios) / sizeof(scenarios[0]) == 13, "list every scenario");
    return PA_RUN_GROUP_TESTS_NAME("sysmem_faults", tests, group_setup, NULL);
}
