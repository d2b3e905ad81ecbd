/*
 * pa_testutil.c - the small services every random model test needs; see
 * pa_testutil.h.
 *
 * Nothing here keeps state between calls but what the caller owns: the
 * seed and the scale are read from the environment on every call, and a
 * pa_strbuf is a plain (p, len, cap) triple whose text p[0..len) is always
 * NUL-terminated once anything was printed into it (len < cap). Every
 * allocation failure aborts: a test that runs out of memory has nothing
 * sensible left to report.
 */
#include "pa_testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rng.h"

uint64_t pa_test_seed(void)
{
    const char *s = getenv("PAGEALLOC_TEST_SEED");
    if (s && *s)
        return strtoull(s, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^
                 ((uint64_t)getpid() << 32);
    return rng_splitmix64(&x);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PA_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define PA_SANITIZED 1
#endif
#endif

double pa_test_scale(void)
{
    double scale = 1.0;
#if defined(PA_SANITIZED) || !defined(__OPTIMIZE__)
    scale = 0.3;
#endif
    const char *v = getenv("PAGEALLOC_UNDER_VALGRIND");
    if (v && *v && strcmp(v, "0") != 0)
        scale = 0.01;
    const char *s = getenv("PAGEALLOC_TEST_SCALE");
    if (s && *s) {
        double f = strtod(s, NULL);
        if (f > 0)
            scale *= f;
    }
    return scale;
}

void pa_strbuf_printf(pa_strbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            abort();
        if (b->p && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap ? b->cap * 2 : 4096;
        while (ncap < b->len + (size_t)n + 1)
            ncap *= 2;
        char *p = realloc(b->p, ncap);
        if (!p)
            abort();
        b->p = p;
        b->cap = ncap;
    }
}

void pa_strbuf_free(pa_strbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void *pa_xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        abort();
    return p;
}
