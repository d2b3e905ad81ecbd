/*
 * test_faults.c - OS faults at every call site of growth, metadata
 * growth, scavenging and release, for the page allocator (backed mode)
 * and the page heap.
 *
 * Each scenario builds a fixture, then runs one operation with the OS
 * primitive table replaced by the fault-injecting one (sysmem_fi.h).
 * Run 0 fails nothing and counts the primitive calls the operation makes
 * (N). Run k = 1..N rebuilds the fixture and fails the k-th call, with
 * ENOMEM (map/commit, alloc, reserve) or EAGAIN (release/madvise, unmap,
 * decommit). Then:
 *   - the operation reports the error (an errno return, NULL + errno, or
 *     fewer bytes released) or, where the call was best effort (huge-page
 *     advice), succeeds as in run 0;
 *   - the structure is consistent: pagealloc_check / pageheap_check and
 *     sysmem_check pass, and for the allocator every page's OS state
 *     matches its scavenged bit;
 *   - it stays usable: the same operation then succeeds without faults;
 *   - nothing leaks: once the fixture is deleted, the OS layer's totals
 *     are back to where they were before it (and LeakSanitizer, in the
 *     ASan build, sees no lost malloc).
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

#include "pagealloc/pagealloc.h"
#include "pagealloc/pageheap.h"
#include "pagealloc/sysmem.h"
#include "pagealloc/testing.h"
#include "sysmem_fi.h"
#include "pa_heap_expect.h"

#define PAGE  ((size_t)PAGEALLOC_PAGE_SIZE)
#define CHUNK ((size_t)PAGEALLOC_CHUNK_SIZE)

/* The error a failed primitive returns: ENOMEM for those that obtain
 * memory, EAGAIN for advice and giving back. */
static int fault_err(char prim)
{
    return prim == 'R' || prim == 'A' || prim == 'C' ? ENOMEM : EAGAIN;
}

/* The letter of call k (1-based) in run 0's sequence. */
static char seq_at(const char *seq, unsigned k)
{
    return k >= 1 && k <= strlen(seq) ? seq[k - 1] : '?';
}

static void expect_sysmem_check(void)
{
    char msg[256];
    if (sysmem_check(msg, sizeof msg) != 0)
        fail_msg("sysmem_check: %s", msg);
}

static void expect_totals(const sysmem_totals *t0)
{
    sysmem_totals t;
    sysmem_get_totals(&t);
    if (t.reserved != t0->reserved || t.prepared != t0->prepared || t.ready != t0->ready)
        fail_msg("leak: reserved %llu -> %llu, prepared %llu -> %llu, ready %llu -> %llu",
                 (unsigned long long)t0->reserved, (unsigned long long)t.reserved,
                 (unsigned long long)t0->prepared, (unsigned long long)t.prepared,
                 (unsigned long long)t0->ready, (unsigned long long)t.ready);
}

/* ==== The allocator, backed mode ====================================================== */

/* Two ranges the test reserves and maps itself, chunk aligned, of 2
 * chunks each, and an allocator that manages them. As with Go's heap,
 * grown memory is Prepared (the allocator counts it scavenged); the user
 * makes what it allocates Ready (sysmem_used) when the allocation reports
 * scavenged bytes (pfx_alloc). */
struct pfx {
    pagealloc *pa;
    char *mem[2];          /* the ranges */
    void *res[2];          /* the reservations (one chunk larger, for alignment) */
    int grown;             /* ranges grown so far */
};

static void pfx_make(struct pfx *f, int grow)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < 2; i++) {
        /* The second far away (at 80 TiB, if the kernel agrees: above
         * the sanitizers' shadow memory too), so that growing it needs
         * new metadata at every summary level. */
        assert_int_equal(sysmem_reserve(i ? (void *)(uintptr_t)0x500000000000 : NULL,
                                        3 * CHUNK, &f->res[i]), 0);
        f->mem[i] = (char *)(((uintptr_t)f->res[i] + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1));
        assert_int_equal(sysmem_map(f->mem[i], 2 * CHUNK, NULL), 0);
    }
    f->pa = pagealloc_new(NULL);
    assert_non_null(f->pa);
    for (; f->grown < grow; f->grown++)
        assert_int_equal(pagealloc_grow(f->pa, (uintptr_t)f->mem[f->grown], 2 * CHUNK), 0);
}

static void pfx_free(struct pfx *f)
{
    pagealloc_delete(f->pa);
    for (int i = 0; i < 2; i++)
        assert_int_equal(sysmem_free(f->res[i], 3 * CHUNK, NULL), 0);
}

static uintptr_t pfx_alloc(struct pfx *f, size_t npages)
{
    size_t scav;
    uintptr_t a = pagealloc_alloc(f->pa, npages, &scav);
    assert_true(a != 0);
    if (scav)
        assert_int_equal(sysmem_used((void *)a, npages * PAGE), 0);
    return a;
}

/* pagealloc_check, and every grown page's OS state against its
 * scavenged bit: scavenged pages Prepared, the others Ready. */
static void pfx_check(const struct pfx *f)
{
    char msg[256];
    if (pagealloc_check(f->pa, msg, sizeof msg) != 0)
        fail_msg("pagealloc_check: %s", msg);
    for (int i = 0; i < f->grown; i++) {
        for (size_t c = 0; c < 2; c++) {
            uint64_t al[8], sc[8];
            assert_true(pagealloc_test_chunk_bits(f->pa, (uintptr_t)f->mem[i] + c * CHUNK, al, sc));
            for (unsigned p = 0; p < 512; p++) {
                char *a = f->mem[i] + c * CHUNK + p * PAGE;
                int scav = (int)(sc[p / 64] >> (p % 64) & 1);
                sysmem_state s = sysmem_state_of(a);
                if (scav && s != SYSMEM_PREPARED)
                    fail_msg("page %p: scavenged but state %d", (void *)a, (int)s);
                if (!scav && s != SYSMEM_READY)
                    fail_msg("page %p: not scavenged but state %d", (void *)a, (int)s);
            }
        }
    }
    expect_sysmem_check();
}

/* Growth and metadata growth: the first grow (all summary levels, chunk
 * bitmaps, scavenge index, in-use table) and a second, far one. */
static void test_pagealloc_grow_faults(void **state)
{
    (void)state;
    for (int which = 0; which < 2; which++) {
        sysmem_totals t0;
        sysmem_get_totals(&t0);
        char seq[SYSMEM_FI_LOG_MAX + 1];
        unsigned n = 0, errors = 0;
        for (unsigned k = 0; k <= n; k++) {
            struct pfx f;
            pfx_make(&f, which);
            pagealloc_stats before, after;
            pagealloc_get_stats(f.pa, &before);
            sysmem_fi_install();
            if (k)
                sysmem_fi_arm(k, fault_err(seq_at(seq, k)));
            int rc = pagealloc_grow(f.pa, (uintptr_t)f.mem[which], 2 * CHUNK);
            if (k == 0) {
                n = sysmem_fi_ncalls();
                sysmem_fi_sequence(seq, sizeof seq);
                assert_true(n > 0);
            }
            assert_true(k == 0 || sysmem_fi_fired());
            sysmem_fi_uninstall();
            pagealloc_get_stats(f.pa, &after);
            if (rc) {
                errors++;
                assert_int_equal(rc, fault_err(seq_at(seq, k)));
                /* Unchanged, except metadata committed on the way, which
                 * stays (zero, as unused metadata is) and counted. */
                assert_int_equal(after.heap_bytes, before.heap_bytes);
                assert_int_equal(after.chunks, before.chunks);
                assert_int_equal(after.free_bytes, before.free_bytes);
                pfx_check(&f);
                assert_int_equal(pagealloc_grow(f.pa, (uintptr_t)f.mem[which], 2 * CHUNK), 0);
            }
            f.grown = which + 1;
            pfx_check(&f);
            /* Usable: allocate across both chunks, free, scavenge. */
            uintptr_t a = pfx_alloc(&f, 700);
            memset((void *)a, 1, 700 * PAGE);
            pagealloc_free(f.pa, a, 700);
            assert_true(pagealloc_scavenge(f.pa, SIZE_MAX) >= 700 * PAGE);
            pfx_check(&f);
            pfx_free(&f);
            expect_totals(&t0);
            expect_sysmem_check();
        }
        print_message("  grow %d: %u calls (%s), %u failures returned\n", which, n, seq, errors);
        assert_true(errors > 0);
    }
}

/* Scavenging releases through sysmem_unused (release, then best-effort
 * no-huge advice): a failed release stops scavenging there; what was
 * released before stays released, the failed run stays free and
 * resident, and a later scavenge finishes the job. */
static void test_pagealloc_scavenge_faults(void **state)
{
    (void)state;
    sysmem_totals t0;
    sysmem_get_totals(&t0);
    char seq[SYSMEM_FI_LOG_MAX + 1];
    unsigned n = 0, errors = 0;
    size_t full = 0;
    for (unsigned k = 0; k <= n; k++) {
        struct pfx f;
        pfx_make(&f, 2);
        /* Fragment the free memory so that scavenging takes several runs. */
        for (int r = 0; r < 2; r++) {
            uintptr_t a = pfx_alloc(&f, 1024);
            for (size_t p = 0; p < 1024; p += 450)
                pagealloc_free(f.pa, a + p * PAGE, p + 200 <= 1024 ? 200 : 1024 - p);
        }
        pfx_check(&f);
        sysmem_fi_install();
        if (k)
            sysmem_fi_arm(k, fault_err(seq_at(seq, k)));
        size_t rel = pagealloc_scavenge(f.pa, SIZE_MAX);
        if (k == 0) {
            n = sysmem_fi_ncalls();
            sysmem_fi_sequence(seq, sizeof seq);
            full = rel;
            assert_true(rel > 0);
        }
        assert_true(k == 0 || sysmem_fi_fired());
        sysmem_fi_uninstall();
        pfx_check(&f);
        if (rel < full) {
            errors++;
            assert_int_equal(seq_at(seq, k), 'L');       /* only a release failure counts */
            assert_int_equal(pagealloc_scavenge(f.pa, SIZE_MAX), full - rel);
        } else {
            assert_int_equal(rel, full);
            assert_int_not_equal(seq_at(seq, k), 'L');
        }
        pagealloc_stats st;
        pagealloc_get_stats(f.pa, &st);
        assert_int_equal(st.scavenged_bytes, st.free_bytes);
        pfx_check(&f);
        pfx_free(&f);
        expect_totals(&t0);
    }
    print_message("  scavenge: %u calls (%s), %u stopped early\n", n, seq, errors);
    assert_true(errors > 0);
}

/* pagealloc_new under faults: NULL with the error, nothing leaked. */
static void test_pagealloc_new_faults(void **state)
{
    (void)state;
    sysmem_totals t0;
    sysmem_get_totals(&t0);
    char seq[SYSMEM_FI_LOG_MAX + 1];
    unsigned n = 0, errors = 0;
    for (unsigned k = 0; k <= n; k++) {
        sysmem_fi_install();
        if (k)
            sysmem_fi_arm(k, fault_err(seq_at(seq, k)));
        errno = 0;
        pagealloc *pa = pagealloc_new(NULL);
        if (k == 0) {
            n = sysmem_fi_ncalls();
            sysmem_fi_sequence(seq, sizeof seq);
        }
        int err = errno;
        sysmem_fi_uninstall();
        if (!pa) {
            errors++;
            assert_int_equal(err, fault_err(seq_at(seq, k)));
        } else {
            char msg[256];
            assert_int_equal(pagealloc_check(pa, msg, sizeof msg), 0);
            pagealloc_delete(pa);
        }
        expect_totals(&t0);
        expect_sysmem_check();
    }
    print_message("  new: %u calls (%s), %u failures\n", n, seq, errors);
    assert_true(errors > 0);
}

/* ==== The heap ========================================================================== */

static void check_heap(pageheap *h)
{
    pa_expect_heap_ok(h);
    pageheap_stats s;
    pageheap_get_stats(h, &s);
    assert_int_equal(s.ready_bytes + s.prepared_bytes,
                     s.in_use_bytes + s.cache_bytes + s.free_bytes + s.released_bytes);
    expect_sysmem_check();
}

/* One heap scenario: a fixture, an operation that may fail, and how to
 * tell that it failed. */
struct hfx {
    pageheap *h;
    void *p[4];
    size_t np[4];
    uint64_t r;             /* the operation's numeric result */
};

struct hscen {
    const char *name;
    pageheap_options opts;
    void (*setup)(struct hfx *);
    /* 0 if it succeeded as in run 0, else the error (errno or -1 for "less
     * released"); full is run 0's numeric result. */
    int (*op)(struct hfx *, uint64_t full);
    /* After a failure: show the heap is usable (NULL: run op again, which
     * must succeed). */
    void (*usable)(struct hfx *);
};

static void setup_none(struct hfx *x) { (void)x; }

/* Growth: the first allocation reserves an arena, maps a chunk, grows the
 * chunk map and the allocator's metadata. */
static int op_first_alloc(struct hfx *x, uint64_t full)
{
    (void)full;
    errno = 0;
    x->p[0] = pageheap_alloc(x->h, 20);
    x->np[0] = 20;
    return x->p[0] ? 0 : errno;
}

/* Growth inside an existing arena, and in a new arena (the first one is
 * 4 MiB: arena_bytes). */
static void setup_one_chunk(struct hfx *x)
{
    x->p[1] = pageheap_alloc(x->h, 500);
    x->np[1] = 500;
    assert_non_null(x->p[1]);
}

static int op_big_alloc(struct hfx *x, uint64_t full)
{
    (void)full;
    errno = 0;
    x->p[0] = pageheap_alloc(x->h, 600);
    x->np[0] = 600;
    return x->p[0] ? 0 : errno;
}

/* Release: flush the caches and scavenge everything (take, unlock,
 * sysmem_unused, lock, done). */
static void setup_freed(struct hfx *x)
{
    for (int i = 1; i < 4; i++) {
        x->np[i] = 100 + 50 * (size_t)i;
        x->p[i] = pageheap_alloc(x->h, x->np[i]);
        assert_non_null(x->p[i]);
        memset(x->p[i], i, x->np[i] * PAGE);
    }
    void *small = pageheap_alloc(x->h, 3);              /* leaves a page cache */
    assert_non_null(small);
    pageheap_free(x->h, small, 3);
    pageheap_free(x->h, x->p[1], x->np[1]);
    pageheap_free(x->h, x->p[3], x->np[3]);
    x->p[1] = x->p[3] = NULL;
}

static int op_release(struct hfx *x, uint64_t full)
{
    x->r = pageheap_release(x->h, SIZE_MAX);
    return x->r < full ? -1 : 0;
}

/* The limit: lowering it below the Ready memory scavenges at once. */
static int op_limit(struct hfx *x, uint64_t full)
{
    x->r = pageheap_set_limit(x->h, 1);
    return x->r < full ? -1 : 0;
}

/* Used: an allocation of released pages (sysmem_used: best-effort huge
 * advice only, so it never fails). */
static void setup_released(struct hfx *x)
{
    setup_freed(x);
    assert_true(pageheap_release(x->h, SIZE_MAX) > 0);
}

static int op_realloc(struct hfx *x, uint64_t full)
{
    (void)full;
    errno = 0;
    x->p[0] = pageheap_alloc(x->h, 150);
    x->np[0] = 150;
    return x->p[0] ? 0 : errno;
}

/* Guard mode: a free protects the pages (decommit); on failure the free
 * happens unprotected. A reuse maps them again (commit); on failure the
 * allocation fails. */
static void setup_guard_live(struct hfx *x)
{
    x->np[1] = 40;
    x->p[1] = pageheap_alloc(x->h, 40);
    assert_non_null(x->p[1]);
}

static int op_guard_free(struct hfx *x, uint64_t full)
{
    (void)full;
    x->r = (uintptr_t)x->p[1];
    pageheap_free(x->h, x->p[1], 40);
    int guarded = sysmem_state_of(x->p[1]) == SYSMEM_RESERVED;
    x->p[1] = NULL;
    return guarded ? 0 : -1;
}

/* The free happened, unguarded: the pages are free, resident, and the
 * next allocation gets them. */
static void guard_free_usable(struct hfx *x)
{
    assert_int_equal(sysmem_state_of((void *)(uintptr_t)x->r), SYSMEM_READY);
    x->p[0] = pageheap_alloc(x->h, 40);
    x->np[0] = 40;
    assert_int_equal((uintptr_t)x->p[0], x->r);
}

static void setup_guard_freed(struct hfx *x)
{
    setup_guard_live(x);
    pageheap_free(x->h, x->p[1], 40);
    x->p[1] = NULL;
}

static int op_guard_reuse(struct hfx *x, uint64_t full)
{
    (void)full;
    errno = 0;
    x->p[0] = pageheap_alloc(x->h, 40);
    x->np[0] = 40;
    return x->p[0] ? 0 : errno;
}

static const struct hscen scenarios[] = {
    { .name = "first allocation (arena, chunk, chunk map, metadata)",
      .opts = { .shards = 1 }, .setup = setup_none, .op = op_first_alloc },
    { .name = "growth in a new arena", .opts = { .shards = 1, .arena_bytes = 4u << 20 },
      .setup = setup_one_chunk, .op = op_big_alloc },
    { .name = "growth in the same arena", .opts = { .shards = 1 }, .setup = setup_one_chunk,
      .op = op_big_alloc },
    { .name = "release", .opts = { .shards = 1 }, .setup = setup_freed, .op = op_release },
    { .name = "limit", .opts = { .shards = 1 }, .setup = setup_freed, .op = op_limit },
    { .name = "allocation of released pages", .opts = { .shards = 1 },
      .setup = setup_released, .op = op_realloc },
    { .name = "guard: free", .opts = { .shards = 1, .guard = 1 }, .setup = setup_guard_live,
      .op = op_guard_free, .usable = guard_free_usable },
    { .name = "guard: reuse", .opts = { .shards = 1, .guard = 1 }, .setup = setup_guard_freed,
      .op = op_guard_reuse },
};

static void run_heap_scenario(const struct hscen *sc)
{
    sysmem_totals t0;
    sysmem_get_totals(&t0);
    char seq[SYSMEM_FI_LOG_MAX + 1] = "";
    unsigned n = 0, errors = 0;
    uint64_t full = 0;
    for (unsigned k = 0; k <= n; k++) {
        struct hfx x;
        memset(&x, 0, sizeof x);
        x.h = pageheap_new(&sc->opts);
        assert_non_null(x.h);
        sc->setup(&x);
        check_heap(x.h);
        pageheap_stats before;
        pageheap_get_stats(x.h, &before);
        sysmem_fi_install();
        if (k)
            sysmem_fi_arm(k, fault_err(seq_at(seq, k)));
        int rc = sc->op(&x, full);
        if (k == 0) {
            n = sysmem_fi_ncalls();
            sysmem_fi_sequence(seq, sizeof seq);
            full = x.r;
            assert_int_equal(rc, 0);
        }
        assert_true(k == 0 || sysmem_fi_fired());
        sysmem_fi_uninstall();
        check_heap(x.h);
        if (rc) {
            errors++;
            if (rc > 0)
                assert_int_equal(rc, ENOMEM);
            pageheap_stats after;
            pageheap_get_stats(x.h, &after);
            if (rc > 0) {
                /* A failed allocation changes nothing the user sees. */
                assert_int_equal(after.allocs, before.allocs);
                assert_int_equal(after.in_use_bytes, before.in_use_bytes);
            }
            /* Usable: the same operation, without faults, succeeds. */
            if (sc->usable)
                sc->usable(&x);
            else
                assert_int_equal(sc->op(&x, 0), 0);
            check_heap(x.h);
        }
        for (int i = 0; i < 4; i++)
            if (x.p[i]) {
                memset(x.p[i], 0x77, x.np[i] * PAGE);     /* really Ready */
                pageheap_free(x.h, x.p[i], x.np[i]);
            }
        check_heap(x.h);
        pageheap_delete(x.h);
        expect_totals(&t0);
        expect_sysmem_check();
    }
    print_message("  %s: %u calls (%s), %u failures reported\n", sc->name, n, seq, errors);
    /* Only the scenario whose system calls are all best effort may see
     * no failure. */
    if (sc->op != op_realloc)
        assert_true(errors > 0);
}

static void test_pageheap_faults(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        run_heap_scenario(&scenarios[i]);
}

/* pageheap_new under faults: NULL with the error, nothing leaked. */
static void test_pageheap_new_faults(void **state)
{
    (void)state;
    sysmem_totals t0;
    sysmem_get_totals(&t0);
    char seq[SYSMEM_FI_LOG_MAX + 1];
    unsigned n = 0, errors = 0;
    for (unsigned k = 0; k <= n; k++) {
        sysmem_fi_install();
        if (k)
            sysmem_fi_arm(k, fault_err(seq_at(seq, k)));
        errno = 0;
        pageheap *h = pageheap_new(&(pageheap_options){ .shards = 1 });
        if (k == 0) {
            n = sysmem_fi_ncalls();
            sysmem_fi_sequence(seq, sizeof seq);
        }
        int err = errno;
        sysmem_fi_uninstall();
        if (!h) {
            errors++;
            assert_int_equal(err, fault_err(seq_at(seq, k)));
        } else {
            check_heap(h);
            pageheap_delete(h);
        }
        expect_totals(&t0);
        expect_sysmem_check();
    }
    print_message("  pageheap_new: %u calls (%s), %u failures\n", n, seq, errors);
    assert_true(errors > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pagealloc_new_faults),
        cmocka_unit_test(test_pagealloc_grow_faults),
        cmocka_unit_test(test_pagealloc_scavenge_faults),
        cmocka_unit_test(test_pageheap_new_faults),
        cmocka_unit_test(test_pageheap_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
