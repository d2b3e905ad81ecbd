/*
 * test_busy_flag.c - stress test, not a benchmark: the page heap's busy
 * flag (src/pageheap/busy.h; docs/heap.md "The busy flag") excludes its
 * owner and its remote takers from each other, in both protocols.
 *
 * An owner thread takes the flag with the owner's side (the fast try,
 * and the waiting take when the try fails) as fast as it can; two remote
 * threads take it with the remote side (an exchange among remotes, then
 * membarrier(2) in the asymmetric protocol). Every holder checks that
 * nobody else is inside (a plain `inside` word it sets and clears) and
 * adds one to a plain counter with a load and a store, so that a lost
 * exclusion shows as a wrong final count or a caught overlap. The
 * asymmetric protocol runs only where membarrier is usable and not under
 * ThreadSanitizer (which cannot see membarrier's ordering: busy.h keeps
 * the symmetric protocol there, and so does this test).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "os/membarrier.h"
#include "pa_tsan.h"
#include "pageheap/busy.h"

#define REMOTES      2
#define REMOTE_TAKES (PA_UNDER_TSAN ? 2000 : 20000)
#define OWNER_MIN    (PA_UNDER_TSAN ? 200000 : 2000000)

static ph_busy flag;
static volatile int inside;          /* plain: under the flag only */
static uint64_t count;               /* plain: under the flag only */
static atomic_int overlaps, remotes_done;

static void critical(void)
{
    if (inside)
        atomic_fetch_add(&overlaps, 1);
    inside = 1;
    uint64_t c = count;
    __asm__ volatile("" ::: "memory");   /* keep the load and the store apart */
    count = c + 1;
    inside = 0;
}

static void *owner(void *arg)
{
    uint64_t *n = arg;
    for (uint64_t i = 0; i < OWNER_MIN || atomic_load(&remotes_done) < REMOTES; i++) {
        if (!ph_busy_own_try(&flag))
            ph_busy_own(&flag);
        critical();
        ph_busy_own_give(&flag);
        (*n)++;
    }
    return NULL;
}

static void *remote(void *arg)
{
    (void)arg;
    for (int i = 0; i < REMOTE_TAKES; i++) {
        ph_busy_remote(&flag);
        critical();
        ph_busy_remote_give(&flag);
    }
    atomic_fetch_add(&remotes_done, 1);
    return NULL;
}

static void run(int asym)
{
    flag = (ph_busy){ .asym = asym };
    count = 0;
    atomic_store(&overlaps, 0);
    atomic_store(&remotes_done, 0);
    uint64_t owned = 0;
    pthread_t o, r[REMOTES];
    assert_int_equal(pthread_create(&o, NULL, owner, &owned), 0);
    for (int i = 0; i < REMOTES; i++)
        assert_int_equal(pthread_create(&r[i], NULL, remote, NULL), 0);
    for (int i = 0; i < REMOTES; i++)
        pthread_join(r[i], NULL);
    pthread_join(o, NULL);
    printf("# %s: %llu owner takes, %d remote takes\n", asym ? "asymmetric" : "symmetric",
           (unsigned long long)owned, REMOTES * REMOTE_TAKES);
    assert_int_equal(atomic_load(&overlaps), 0);
    assert_true(count == owned + (uint64_t)REMOTES * REMOTE_TAKES);
}

static void test_symmetric(void **state)
{
    (void)state;
    run(0);
}

static void test_asymmetric(void **state)
{
    (void)state;
    if (PA_UNDER_TSAN || !sm_membarrier_usable()) {
        printf("# asymmetric protocol not usable here: skipped\n");
        return;
    }
    assert_true(ph_busy_asym_usable());
    run(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symmetric),
        cmocka_unit_test(test_asymmetric),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
