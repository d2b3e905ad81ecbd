/*
 * auto.c - the default finalization mode: finalizers of unreachable
 * objects run without GC_invoke_finalizers, by the time GC_gcollect and a
 * few allocations are done; GC_should_invoke_finalizers is then 0.
 */
#include <gc.h>

#include "compat.h"

#define N 200

static int ran;

static void fin(void *obj, void *cd)
{
    (void)obj;
    (void)cd;
    ran++;
}

static __attribute__((noinline)) void build(void)
{
    for (int i = 0; i < N; i++)
        GC_REGISTER_FINALIZER_NO_ORDER(GC_MALLOC(48), fin, NULL, NULL, NULL);
}

int main(void)
{
    GC_INIT();
    compat_check("finalize on demand off by default", GC_get_finalize_on_demand() == 0);
    build();
    compat_clear_stack();
    GC_gcollect();
    for (int i = 0; i < 1000; i++)
        (void)GC_MALLOC(48);
    compat_check("finalizers ran by themselves: 90%+", ran >= N * 9 / 10);
    compat_check("none left pending", !GC_should_invoke_finalizers());
    compat_check("GC_invoke_finalizers finds nothing left", GC_invoke_finalizers() == 0);
    return compat_done();
}
