/*
 * pa_testutil.h - services shared by the random model tests
 * (test_model_random, test_go_random), the runner and the generator: the
 * test seed, the work scale, a growable text buffer and an allocation that
 * cannot fail.
 */
#ifndef PA_TESTUTIL_H
#define PA_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* The test seed: PAGEALLOC_TEST_SEED (decimal or 0x hex) if set, else one
 * made from the clock and the pid (through splitmix64, workloads/rng.h). */
uint64_t pa_test_seed(void);

/* Work scale for the random tests: 1.0 normally; smaller under a
 * sanitizer, in an unoptimised build or when PAGEALLOC_UNDER_VALGRIND is
 * set; PAGEALLOC_TEST_SCALE (a float) multiplies it. */
double   pa_test_scale(void);

/* Growable text buffer: p holds len bytes of text and a NUL; zero it to
 * start empty. pa_strbuf_printf appends; reset len to 0 to reuse it. */
typedef struct pa_strbuf { char *p; size_t len, cap; } pa_strbuf;
void pa_strbuf_printf(pa_strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pa_strbuf_free(pa_strbuf *b);

/* calloc that aborts on failure; zero counts or sizes allocate one byte. */
void *pa_xcalloc(size_t n, size_t sz);

#endif /* PA_TESTUTIL_H */
