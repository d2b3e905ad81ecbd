/*
 * test_sysmem_used_ex.c - sysmem_used_ex: the same transition as
 * sysmem_used, with or without Go's MADV_HUGEPAGE advice on the whole huge
 * pages inside the range. Primitive calls are counted through the
 * call-logging table (tests/support/sysmem_fi.h); a 2 MiB huge page size is
 * reported by that table, so the test does not depend on the machine's THP.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "pagealloc/sysmem.h"
#include "sysmem_fi.h"

#define HUGE ((size_t)2 << 20)

/* A range of two whole huge pages, mapped and Prepared. */
static void *prepared_range(sysmem_stat *st)
{
    void *r;
    assert_int_equal(sysmem_reserve(NULL, 3 * HUGE, &r), 0);
    uintptr_t a = ((uintptr_t)r + HUGE - 1) & ~(uintptr_t)(HUGE - 1);
    assert_int_equal(sysmem_map((void *)a, 2 * HUGE, st), 0);
    return r;
}

static void run(unsigned flags, const char *want_seq)
{
    sysmem_fi_set_huge_size(HUGE);
    sysmem_fi_install();
    sysmem_stat st = { 0 };
    void *r = prepared_range(&st);
    uintptr_t a = ((uintptr_t)r + HUGE - 1) & ~(uintptr_t)(HUGE - 1);
    sysmem_totals before, after;
    sysmem_get_totals(&before);
    sysmem_fi_reset();
    assert_int_equal(sysmem_used_ex((void *)a, 2 * HUGE, flags), 0);
    char seq[64];
    sysmem_fi_sequence(seq, sizeof seq);
    assert_string_equal(seq, want_seq);
    sysmem_get_totals(&after);
    assert_int_equal(after.ready - before.ready, 2 * HUGE);
    assert_int_equal(before.prepared - after.prepared, 2 * HUGE);
    assert_int_equal(sysmem_state_of((void *)a), SYSMEM_READY);
    assert_int_equal(sysmem_free(r, 3 * HUGE, &st), 0);
    assert_int_equal(sysmem_stat_load(&st), 0);
    sysmem_fi_uninstall();
    sysmem_fi_set_huge_size(SIZE_MAX);
}

static void test_used_advises_huge(void **state)
{
    (void)state;
    run(0, "H");
}

static void test_used_no_huge_skips_advice(void **state)
{
    (void)state;
    run(SYSMEM_USED_NO_HUGE, "");
}

static void test_used_ex_bad_flags(void **state)
{
    (void)state;
    sysmem_stat st = { 0 };
    void *p;
    assert_int_equal(sysmem_alloc(HUGE, &st, &p), 0);
    sysmem_totals before, after;
    sysmem_get_totals(&before);
    assert_int_equal(sysmem_used_ex(p, HUGE, 2), EINVAL);
    assert_int_equal(sysmem_used_ex(p, HUGE, ~0u), EINVAL);
    sysmem_get_totals(&after);
    assert_memory_equal(&before, &after, sizeof before);
    assert_int_equal(sysmem_free(p, HUGE, &st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_used_advises_huge),
        cmocka_unit_test(test_used_no_huge_skips_advice),
        cmocka_unit_test(test_used_ex_bad_flags),
    };
    return cmocka_run_group_tests_name("sysmem_used_ex", tests, NULL, NULL);
}
