/*
 * pa_gc_tls_lib.c - a tiny shared library linked with test_gc_world: its
 * thread-local variable (in the static TLS of every thread) is a root the
 * collector must find through each thread's TLS blocks.
 */
void **pa_gc_tls_lib_slot(void);

static __thread void *slot;

void **pa_gc_tls_lib_slot(void)
{
    return &slot;
}
