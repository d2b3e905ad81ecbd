/*
 * test_malloc_walk.c - the object allocator's span walk
 * (pa_malloc_visit_spans) and its page-heap accessor (pa_malloc_pageheap),
 * <pagealloc/malloc.h>: objects of known classes and large objects are
 * found in spans of the right class, size and allocated count, in address
 * order and without overlap; frees (local, and remote ones not yet
 * collected by the span's owner) show in the next walk; every page of a
 * span is in use in the allocator's page heap.
 *
 * Every walk here is quiescent (no other thread allocates during it),
 * where the walk is exact. This program uses pa_malloc only through its
 * tests, so the counts of the classes it uses are its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pa_skip.h"

#include "pagealloc/malloc.h"
#include "pagealloc/pagealloc.h"
#include "pagealloc/pageheap.h"

#define PAGE ((size_t)PAGEALLOC_PAGE_SIZE)

/* ---- A walk, copied (the test's own memory is libc's) ---------------------------------- */

typedef struct walk {
    pa_malloc_span *s;
    size_t n, cap;
} walk;

static void add_span(void *arg, const pa_malloc_span *span)
{
    walk *w = arg;
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 256;
        w->s = realloc(w->s, w->cap * sizeof *w->s);
        assert_non_null(w->s);
    }
    w->s[w->n++] = *span;
}

static walk take_walk(void)
{
    walk w = { 0 };
    size_t n = pa_malloc_visit_spans(add_span, &w);
    assert_int_equal(n, w.n);
    /* Address order, no overlap, sane figures. */
    for (size_t i = 0; i < w.n; i++) {
        const pa_malloc_span *s = &w.s[i];
        assert_true(s->pages >= 1);
        assert_int_equal(s->base % PAGE, 0);
        assert_true(s->allocated <= s->objects);
        if (s->size_class == 0) {
            assert_int_equal(s->objects, 1);
            assert_int_equal(s->object_size, s->pages * PAGE);
        } else {
            assert_true(s->size_class < PA_MALLOC_CLASSES);
            assert_int_equal(s->objects, s->pages * PAGE / s->object_size);
        }
        if (i > 0)
            assert_true(w.s[i - 1].base + w.s[i - 1].pages * PAGE <= s->base);
    }
    return w;
}

/* The span holding p, or NULL. */
static const pa_malloc_span *span_of(const walk *w, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    for (size_t i = 0; i < w->n; i++)
        if (w->s[i].base <= a && a < w->s[i].base + w->s[i].pages * PAGE)
            return &w->s[i];
    return NULL;
}

/* The class of n-byte objects, from the statistics' class sizes. */
static unsigned class_of_size(size_t n)
{
    pa_malloc_stats st;
    pa_malloc_get_stats(&st);
    for (unsigned c = 1; c < PA_MALLOC_CLASSES; c++)
        if (st.cls[c].size == n)
            return c;
    fail_msg("no class of %zu bytes", n);
    return 0;
}

/* Allocated objects over the spans of class c. */
static uint64_t class_allocated(const walk *w, unsigned c)
{
    uint64_t n = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->s[i].size_class == c)
            n += w->s[i].allocated;
    return n;
}

/* Each span holding one of ps[0..n) (NULL entries skipped) has exactly as
 * many allocated objects as ps has pointers into it, and the right class. */
static void expect_spans_hold(const walk *w, void **ps, size_t n, unsigned cls, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        if (!ps[i])
            continue;
        const pa_malloc_span *s = span_of(w, ps[i]);
        assert_non_null(s);
        assert_int_equal(s->size_class, cls);
        assert_int_equal(s->object_size, size);
        assert_int_equal(((uintptr_t)ps[i] - s->base) % size, 0);
        size_t mine = 0;
        for (size_t k = 0; k < n; k++)
            mine += ps[k] && span_of(w, ps[k]) == s;
        assert_int_equal(s->allocated, mine);
    }
}

/* ---- Tests ---------------------------------------------------------------------------------- */

static void test_before_first_use(void **state)
{
    (void)state;
    /* Nothing in this program has called the allocator yet. */
    assert_null(pa_malloc_pageheap());
    walk w = { 0 };
    assert_int_equal(pa_malloc_visit_spans(add_span, &w), 0);
    assert_int_equal(w.n, 0);
}

static void test_small_objects(void **state)
{
    (void)state;
    enum { N = 600 };
    void *p48[N], *p256[N];
    for (size_t i = 0; i < N; i++) {
        p48[i] = pa_malloc(40);            /* the 48-byte class */
        p256[i] = pa_malloc(256);
        assert_non_null(p48[i]);
        assert_non_null(p256[i]);
    }
    unsigned c48 = class_of_size(48), c256 = class_of_size(256);
    assert_int_equal(pa_malloc_visit_spans(NULL, NULL), 0);
    walk w = take_walk();
    expect_spans_hold(&w, p48, N, c48, 48);
    expect_spans_hold(&w, p256, N, c256, 256);
    assert_int_equal(class_allocated(&w, c48), N);
    assert_int_equal(class_allocated(&w, c256), N);
    free(w.s);

    /* Free every other one (local frees): the counts follow. */
    for (size_t i = 0; i < N; i += 2) {
        pa_free(p48[i]);
        pa_free(p256[i]);
        p48[i] = p256[i] = NULL;
    }
    w = take_walk();
    expect_spans_hold(&w, p48, N, c48, 48);
    expect_spans_hold(&w, p256, N, c256, 256);
    assert_int_equal(class_allocated(&w, c48), N / 2);
    free(w.s);

    /* Free the rest: no object of either class is left; at most the
     * thread's current span and one spare per class remain. */
    for (size_t i = 1; i < N; i += 2) {
        pa_free(p48[i]);
        pa_free(p256[i]);
    }
    w = take_walk();
    assert_int_equal(class_allocated(&w, c48), 0);
    assert_int_equal(class_allocated(&w, c256), 0);
    size_t spans48 = 0;
    for (size_t i = 0; i < w.n; i++)
        spans48 += w.s[i].size_class == c48;
    assert_true(spans48 <= 2);
    free(w.s);
}

static void test_large_objects(void **state)
{
    (void)state;
    static const size_t sizes[] = { 40 << 10, 100 << 10, 3 << 20, 32769 };
    enum { N = sizeof sizes / sizeof sizes[0] };
    void *p[N];
    for (size_t i = 0; i < N; i++)
        assert_non_null(p[i] = pa_malloc(sizes[i]));
    void *aligned = pa_aligned_alloc((size_t)1 << 20, 50000);
    assert_non_null(aligned);
    walk w = take_walk();
    for (size_t i = 0; i < N; i++) {
        const pa_malloc_span *s = span_of(&w, p[i]);
        assert_non_null(s);
        assert_int_equal(s->base, (uintptr_t)p[i]);
        assert_int_equal(s->size_class, 0);
        assert_int_equal(s->pages, (sizes[i] + PAGE - 1) / PAGE);
        assert_int_equal(s->allocated, 1);
    }
    const pa_malloc_span *s = span_of(&w, aligned);
    assert_non_null(s);
    assert_int_equal(s->base, (uintptr_t)aligned);
    assert_int_equal(s->pages, (50000 + PAGE - 1) / PAGE);
    free(w.s);

    pa_free(p[1]);
    pa_free(aligned);
    w = take_walk();
    assert_null(span_of(&w, p[1]));
    assert_null(span_of(&w, aligned));
    assert_non_null(span_of(&w, p[2]));
    /* A large span maps its first page only, but its record gives its
     * length: an address in its last page is found in it. */
    assert_ptr_equal(span_of(&w, (char *)p[2] + sizes[2] - 1), span_of(&w, p[2]));
    free(w.s);
    for (size_t i = 0; i < N; i++)
        if (i != 1)
            pa_free(p[i]);
    w = take_walk();
    for (size_t i = 0; i < N; i++)
        assert_null(span_of(&w, p[i]));
    free(w.s);
}

/* Objects of a thread that has exited (its spans went to the central
 * lists), freed by this thread: remote frees, counted at once. */
enum { XN = 500 };
static void *xobj[XN];

static void *alloc_thread(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < XN; i++)
        xobj[i] = pa_malloc(1000);         /* the 1024-byte class */
    return NULL;
}

static void test_remote_frees(void **state)
{
    (void)state;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, alloc_thread, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    unsigned c = class_of_size(1024);
    walk w = take_walk();
    expect_spans_hold(&w, xobj, XN, c, 1024);
    assert_int_equal(class_allocated(&w, c), XN);
    free(w.s);
    for (size_t i = 0; i < XN; i += 3) {
        pa_free(xobj[i]);
        xobj[i] = NULL;
    }
    w = take_walk();
    expect_spans_hold(&w, xobj, XN, c, 1024);
    free(w.s);
    for (size_t i = 0; i < XN; i++)
        pa_free(xobj[i]);
    w = take_walk();
    assert_int_equal(class_allocated(&w, c), 0);
    free(w.s);
}

/* Every page of every span is in use in the allocator's page heap. */
typedef struct chunks {
    uintptr_t base[4096];
    uint8_t st[4096][PAGEALLOC_CHUNK_PAGES];
    size_t n;
} chunks;

static void copy_chunk(void *arg, unsigned shard, uintptr_t base,
                       const uint8_t st[PAGEALLOC_CHUNK_PAGES])
{
    (void)shard;
    chunks *c = arg;
    if (c->n < 4096) {
        c->base[c->n] = base;
        memcpy(c->st[c->n], st, PAGEALLOC_CHUNK_PAGES);
        c->n++;
    }
}

static void test_pages_in_use(void **state)
{
    (void)state;
    void *p[300];
    for (size_t i = 0; i < 300; i++)
        assert_non_null(p[i] = pa_malloc(i % 3 == 0 ? 70000 : 16 * (i + 1)));
    pageheap *h = pa_malloc_pageheap();
    assert_non_null(h);
    chunks *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(pageheap_visit(h, copy_chunk, c), 0);
    assert_true(c->n >= 1 && c->n < 4096);
    walk w = take_walk();
    assert_true(w.n >= 100);
    uint64_t span_pages = 0;
    for (size_t i = 0; i < w.n; i++) {
        for (size_t k = 0; k < w.s[i].pages; k++) {
            uintptr_t a = w.s[i].base + k * PAGE;
            size_t j = 0;
            while (j < c->n && !(c->base[j] <= a && a < c->base[j] + PAGEALLOC_CHUNK_SIZE))
                j++;
            assert_true(j < c->n);
            assert_int_equal(c->st[j][(a - c->base[j]) / PAGE], PAGEHEAP_PAGE_IN_USE);
        }
        span_pages += w.s[i].pages;
    }
    pageheap_stats hs = { .version = PAGEHEAP_STATS_VERSION };
    pageheap_get_stats(h, &hs);
    assert_true(span_pages * PAGE <= hs.in_use_bytes);
    free(w.s);
    free(c);
    for (size_t i = 0; i < 300; i++)
        pa_free(p[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_before_first_use),
        cmocka_unit_test(test_small_objects),
        cmocka_unit_test(test_large_objects),
        cmocka_unit_test(test_remote_frees),
        cmocka_unit_test(test_pages_in_use),
    };
    return PA_RUN_GROUP_TESTS(tests, NULL, NULL);
}
