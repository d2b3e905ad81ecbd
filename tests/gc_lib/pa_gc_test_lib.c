/*
 * pa_gc_test_lib.c - a tiny shared library for test_gc_basic: its one
 * global, dlopen'd at run time, is a root the collector must find by
 * walking the loaded objects' static data.
 */
void *pa_gc_test_slot;
