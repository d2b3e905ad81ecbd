/*
 * pa_gc_test_lib.c - a tiny shared library for test_gc_basic: its one
 * global, dlopen'd at run time, is a root the collector must find by
 * walking the loaded objects' static data.
 */
void *pa_gc_test_slot;

/* test_gc_world: a thread-local variable of a library loaded at run time
 * (dynamic TLS, made on first use). */
void **pa_gc_test_tls_slot(void);

static __thread void *tls_slot;

void **pa_gc_test_tls_slot(void)
{
    return &tls_slot;
}
