/*
 * test_malloc_model.c - the object allocator against a model, on one
 * thread (tests/support/pa_mmodel.h): random malloc, calloc, realloc,
 * aligned_alloc, posix_memalign, free and free_sized over about 3000 live
 * objects of 0 bytes to 256 KiB, every live object patterned from its id
 * and checked on free and realloc; at the end every object is freed and
 * the objects in use come back to their start value. Label unit: it also
 * runs under ASan/UBSan and (scaled down) valgrind. PAGEALLOC_TEST_SEED
 * replays a run; PAGEALLOC_TEST_SCALE scales it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pa_skip.h"
#include "pa_testutil.h"
#include "pa_mmodel.h"

static void test_model_one_thread(void **state)
{
    (void)state;
    uint64_t seed = pa_test_seed();
    double scale = pa_test_scale();
    size_t steps = (size_t)(150000 * scale);
    if (steps < 15000)
        steps = 15000;
    size_t target = scale < 0.1 ? 1500 : 3000;
    print_message("seed %#llx (PAGEALLOC_TEST_SEED), %zu steps, %zu live objects\n",
                  (unsigned long long)seed, steps, target);
    pa_free(pa_malloc(1));
    uint64_t start = mm_objects_in_use();
    mm_state m;
    mm_init(&m, seed, 1, target);
    for (size_t i = 0; i < steps && !m.err[0]; i++)
        mm_step(&m);
    if (!m.err[0])
        mm_drain(&m);
    if (m.err[0])
        fail_msg("seed %#llx: %s", (unsigned long long)seed, m.err);
    print_message("malloc %llu, calloc %llu, aligned %llu, realloc %llu, free %llu, free_sized %llu\n",
                  (unsigned long long)m.ops[0], (unsigned long long)m.ops[1],
                  (unsigned long long)m.ops[2], (unsigned long long)m.ops[3],
                  (unsigned long long)m.ops[5], (unsigned long long)m.ops[6]);
    assert_int_equal(mm_objects_in_use(), start);
    free(m.live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_one_thread),
    };
    return PA_RUN_GROUP_TESTS(tests, NULL, NULL);
}
