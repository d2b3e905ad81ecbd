/*
 * test_malloc_api.c - the malloc semantics suite (tests/support/
 * pa_malloc_sem.h) against the prefixed API of <pagealloc/malloc.h>, plus
 * what only the API shows: the statistics (objects in use come back to
 * their start value), the sized free, usable sizes that are the classes'
 * sizes, and bad frees reported through the error handler with the
 * allocator intact afterwards. tests/dropin/test_dropin_semantics.c runs
 * the same suite through the drop-in's standard names.
 *
 * Label unit: also runs under ASan/UBSan and valgrind (scaled down there,
 * sem_scale); tests/stress/test_malloc_threads.c runs the threaded part
 * at full size under TSan.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pa_skip.h"

#include "pagealloc/errors.h"
#include "pagealloc/malloc.h"
#include "pagealloc/pagealloc.h"

#include "pa_malloc_sem_api.h"

#define PAGE ((size_t)PAGEALLOC_PAGE_SIZE)

/* ---- Aligned entry points ------------------------------------------------------------- */

static void *api_aligned_alloc(size_t a, size_t n)
{
    return pa_aligned_alloc(a, n);
}

static void *api_posix_memalign(size_t a, size_t n)
{
    void *p = NULL;
    return pa_posix_memalign(&p, a, n) == 0 ? p : NULL;
}

static void test_aligned(void **state)
{
    (void)state;
    const sem_aligned_entry e[] = {
        { "pa_aligned_alloc", 1, (size_t)2 << 20, api_aligned_alloc, 0 },
        { "pa_posix_memalign", sizeof(void *), (size_t)2 << 20, api_posix_memalign, 0 },
    };
    sem_check_aligned_entries(e, sizeof e / sizeof e[0]);
    /* Not a power of two: EINVAL, NULL. */
    size_t bad[] = { 0, 3, 24, 48, 100, 3 << 20 };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        errno = 0;
        assert_null(pa_aligned_alloc(bad[k], 10));
        assert_int_equal(errno, EINVAL);
    }
}

static void test_cross_thread(void **state)
{
    (void)state;
    sem_cross_thread(sem_scaled(5000));
}

static void test_thread_exit(void **state)
{
    (void)state;
    sem_thread_exit(sem_scaled(600), 2);
}

static void test_fork_threaded(void **state)
{
    (void)state;
    sem_fork_threaded(sem_scale() < 0.1 ? 2 : 8);
}

/* ---- Usable sizes are class sizes ----------------------------------------------------- */

static void test_usable_classes(void **state)
{
    (void)state;
    pa_malloc_stats st;
    void *keep = pa_malloc(1);              /* the allocator exists */
    pa_malloc_get_stats(&st);
    assert_int_equal(st.version, PA_MALLOC_STATS_VERSION);
    assert_int_equal(st.cls[0].size, 0);
    size_t prev = 0;
    for (size_t n = 0; n <= 40000; n += n < 2048 ? 1 : 61) {
        void *p = pa_malloc(n);
        assert_non_null(p);
        size_t u = pa_usable_size(p);
        if (u < prev)
            fail_msg("usable size of %zu bytes (%zu) below that of a smaller request (%zu)", n, u,
                     prev);
        prev = u;
        if (n <= 32768) {
            /* One of the classes, and the smallest that fits. */
            unsigned c;
            for (c = 1; c < PA_MALLOC_CLASSES && st.cls[c].size != u; c++)
                ;
            if (c == PA_MALLOC_CLASSES)
                fail_msg("malloc(%zu): usable size %zu is no class's size", n, u);
            if (n > 16 && st.cls[c - 1].size >= n)
                fail_msg("malloc(%zu): class of %zu bytes, but %u bytes fit", n, u,
                         st.cls[c - 1].size);
            assert_true(u % 16 == 0);
        } else {
            if (u % PAGE || u - n >= PAGE)
                fail_msg("malloc(%zu): usable size %zu, not its whole pages", n, u);
        }
        pa_free(p);
    }
    assert_int_equal(pa_usable_size(NULL), 0);
    pa_free(keep);
}

/* ---- Statistics ------------------------------------------------------------------------ */

static uint64_t objects_in_use(const pa_malloc_stats *s)
{
    uint64_t n = 0;
    for (unsigned c = 0; c < PA_MALLOC_CLASSES; c++)
        n += s->cls[c].objects;
    return n;
}

static void *stats_worker(void *arg)
{
    void **objs = arg;
    for (size_t i = 0; i < 500; i++)
        objs[i] = pa_malloc(i % 50 == 0 ? 50000 + i : i * 13 % 5000);
    /* Half freed here, half by the main thread after this one exits. */
    for (size_t i = 0; i < 500; i += 2) {
        pa_free(objs[i]);
        objs[i] = NULL;
    }
    return NULL;
}

static void test_stats_consistency(void **state)
{
    (void)state;
    pa_free(pa_malloc(1));
    pa_malloc_stats a, b, c;
    pa_malloc_get_stats(&a);
    uint64_t start = objects_in_use(&a);
    enum { N = 3000 };
    void **mine = pa_calloc(N, sizeof(void *));
    assert_non_null(mine);
    for (size_t i = 0; i < N; i++) {
        mine[i] = pa_malloc(i % 100 == 0 ? 40000 + i * 10 : i * 7 % 3000);
        assert_non_null(mine[i]);
    }
    pa_malloc_get_stats(&b);
    assert_int_equal(objects_in_use(&b), start + N + 1);   /* + the array */
    assert_true(b.in_use_bytes > a.in_use_bytes);
    assert_true(b.span_bytes >= b.in_use_bytes);
    assert_true(b.threads >= 1);
    /* Per class: bytes are objects times size; allocs - frees = objects. */
    for (unsigned k = 1; k < PA_MALLOC_CLASSES; k++) {
        assert_int_equal(b.cls[k].bytes, b.cls[k].objects * b.cls[k].size);
        assert_int_equal(b.cls[k].allocs - b.cls[k].frees, b.cls[k].objects);
    }
    /* Threads that exit holding objects, freed later here. */
    void *objs[4][500];
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, stats_worker, objs[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    pa_malloc_get_stats(&c);
    assert_int_equal(objects_in_use(&c), start + N + 1 + 4 * 250);
    for (int i = 0; i < 4; i++)
        for (size_t k = 0; k < 500; k++)
            pa_free(objs[i][k]);
    for (size_t i = 0; i < N; i++)
        pa_free(mine[i]);
    pa_free(mine);
    pa_malloc_get_stats(&c);
    assert_int_equal(objects_in_use(&c), start);
    for (unsigned k = 0; k < PA_MALLOC_CLASSES; k++)
        if (c.cls[k].objects != a.cls[k].objects)
            fail_msg("class %u: %llu objects in use, %llu at the start", k,
                     (unsigned long long)c.cls[k].objects, (unsigned long long)a.cls[k].objects);
    assert_int_equal(c.in_use_bytes, a.in_use_bytes);
    /* Trimming returns wholly free spans; nothing in use changes. */
    (void)pa_malloc_trim();
    pa_malloc_get_stats(&c);
    assert_int_equal(objects_in_use(&c), start);
    assert_true(c.span_bytes <= b.span_bytes);
    /* The JSON form. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(pa_malloc_stats_json(f), 0);
    fclose(f);
    assert_non_null(strstr(buf, "\"in_use_bytes\""));
    assert_non_null(strstr(buf, "\"classes\""));
    assert_non_null(strstr(buf, "\"pageheap\""));
    free(buf);                          /* open_memstream: libc's malloc */
}

/* ---- The sized free ---------------------------------------------------------------------- */

static char last_msg[512];
static int nreports;

static void record(const char *msg, void *arg)
{
    (void)arg;
    snprintf(last_msg, sizeof last_msg, "%s", msg);
    nreports++;
}

/* The last call reported exactly once, naming call, address and rule. */
static void expect_report_(const char *call, const void *addr, const char *rule, int before,
                           int line)
{
    if (nreports != before + 1)
        fail_msg("line %d: %s(%p): %d reports, want 1 (last: %s)", line, call, addr,
                 nreports - before, nreports > before ? last_msg : "none");
    char want[128];
    snprintf(want, sizeof want, "pagealloc: %s(%#lx, class ", call, (unsigned long)(uintptr_t)addr);
    if (strncmp(last_msg, want, strlen(want)) != 0)
        fail_msg("line %d: report \"%s\" does not start with \"%s\"", line, last_msg, want);
    if (!strstr(last_msg, "): ") || !strstr(last_msg, rule))
        fail_msg("line %d: report \"%s\" does not give the rule \"%s\"", line, last_msg, rule);
}
#define EXPECT_REPORT(call, addr, rule, stmt)                                                  \
    do {                                                                                       \
        int before_ = nreports;                                                                \
        stmt;                                                                                  \
        expect_report_(call, addr, rule, before_, __LINE__);                                   \
    } while (0)

static void test_free_sized(void **state)
{
    (void)state;
    pagealloc_set_error_handler(record, NULL);
    size_t sizes[] = { 1, 16, 100, 1000, 4000, 32768, 32769, 100000, 1 << 20 };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        int before = nreports;
        pa_free_sized(pa_malloc(n), n);
        assert_int_equal(nreports, before);
        /* A size of another (bigger) class, or other pages. */
        void *p = pa_malloc(n);
        size_t wrong = n <= 32768 ? pa_usable_size(p) + 1 : n + 2 * PAGE;
        EXPECT_REPORT("free_sized", p, "size", pa_free_sized(p, wrong));
        if (n > 32768)
            EXPECT_REPORT("free_sized", p, "size", pa_free_sized(p, n / 2));
        /* Still allocated: the right size frees it, once. */
        before = nreports;
        pa_free_sized(p, n);
        assert_int_equal(nreports, before);
        EXPECT_REPORT("free_sized", p, "free", pa_free_sized(p, n));
    }
    /* Aligned objects: the size asked for is the right one. */
    void *a = pa_aligned_alloc(4096, 100);
    int before = nreports;
    pa_free_sized(a, 100);
    assert_int_equal(nreports, before);
    pagealloc_set_error_handler(NULL, NULL);
}

/* ---- Bad frees ------------------------------------------------------------------------- */

enum { SENT = 200 };
static void *sentinel[SENT];

static size_t sent_size(size_t i)
{
    return i % 20 == 0 ? 33000 + i * 100 : 1 + i * 37 % 4000;
}

static void sentinels_make(void)
{
    for (size_t i = 0; i < SENT; i++) {
        sentinel[i] = pa_malloc(sent_size(i));
        assert_non_null(sentinel[i]);
        sem_fill(sentinel[i], sent_size(i), 0xBEEF00 + i);
    }
}

static void sentinels_check_free(void)
{
    for (size_t i = 0; i < SENT; i++) {
        if (!sem_holds(sentinel[i], sent_size(i), 0xBEEF00 + i))
            fail_msg("live object %zu (%p) was overwritten", i, sentinel[i]);
        pa_free(sentinel[i]);
    }
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Allocate many objects of size n: distinct, none overlapping another or
 * a sentinel, all usable; then free them. Catches a bad free that was
 * accepted after all (an object handed out twice). */
static void check_fresh(size_t n, size_t count)
{
    void **v = pa_calloc(count + SENT, sizeof(void *));
    assert_non_null(v);
    for (size_t i = 0; i < count; i++) {
        v[i] = pa_malloc(n);
        assert_non_null(v[i]);
        sem_fill(v[i], n, 0x5000 + i);
    }
    memcpy(v + count, sentinel, sizeof sentinel);
    qsort(v, count + SENT, sizeof(void *), cmp_ptr);
    for (size_t i = 1; i < count + SENT; i++)
        if ((uintptr_t)v[i - 1] + pa_usable_size(v[i - 1]) > (uintptr_t)v[i])
            fail_msg("objects %p and %p overlap", v[i - 1], v[i]);
    for (size_t i = 0; i < count + SENT; i++) {
        int is_sentinel = 0;
        for (size_t k = 0; k < SENT && !is_sentinel; k++)
            is_sentinel = v[i] == sentinel[k];
        if (!is_sentinel)
            pa_free(v[i]);
    }
    pa_free(v);
}

typedef struct holder {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stage;
    void *p, *q;
} holder;

/* Allocates two objects, waits while the main thread frees them (so the
 * frees are remote: this thread owns their span), then exits. */
static void *holder_main(void *arg)
{
    holder *h = arg;
    h->p = pa_malloc(64);
    h->q = pa_malloc(64);
    pthread_mutex_lock(&h->mu);
    h->stage = 1;
    pthread_cond_broadcast(&h->cv);
    while (h->stage != 2)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    /* Keep allocating in the span that saw the remote frees. */
    void *v[300];
    for (int i = 0; i < 300; i++)
        v[i] = pa_malloc(64);
    for (int i = 0; i < 300; i++)
        pa_free(v[i]);
    pa_free(h->q);
    return NULL;
}

static void test_bad_frees(void **state)
{
    (void)state;
    pagealloc_set_error_handler(record, NULL);
    sentinels_make();

    /* Never ours: the stack, libc's heap, a wild address, a high one. */
    char stack[64];
    EXPECT_REPORT("free", stack + 16, "not allocated", pa_free(stack + 16));
    void *libc = malloc(100);
    assert_non_null(libc);
    EXPECT_REPORT("free", libc, "not allocated", pa_free(libc));
    free(libc);
    EXPECT_REPORT("free", (void *)0x1000, "not allocated", pa_free((void *)0x1000));
    EXPECT_REPORT("free", (void *)0x7ff000000000ull, "not allocated",
                  pa_free((void *)0x7ff000000000ull));
    EXPECT_REPORT("free", (void *)~(uintptr_t)15, "not allocated", pa_free((void *)~(uintptr_t)15));

    /* Interior pointers of a small object. */
    char *p = pa_malloc(64);
    assert_non_null(p);
    EXPECT_REPORT("free", p + 16, "interior pointer", pa_free(p + 16));
    EXPECT_REPORT("free", p + 1, "interior pointer", pa_free(p + 1));
    EXPECT_REPORT("malloc_usable_size", p + 8, "interior pointer",
                  assert_int_equal(pa_usable_size(p + 8), 0));
    EXPECT_REPORT("realloc", p + 8, "interior pointer", assert_null(pa_realloc(p + 8, 100)));
    assert_int_equal(pa_usable_size(p), 64);
    /* Double free, local (this thread owns the span); a realloc of the
     * freed object is reported too and allocates nothing. */
    pa_free(p);
    EXPECT_REPORT("free", p, "double free", pa_free(p));
    pa_malloc_stats s0, s1;
    pa_malloc_get_stats(&s0);
    EXPECT_REPORT("realloc", p, "not allocated", assert_null(pa_realloc(p, 100)));
    pa_malloc_get_stats(&s1);
    assert_int_equal(s1.in_use_bytes, s0.in_use_bytes);
    check_fresh(64, 1000);
    /* p's span may be gone by now: any rule, but a report. */
    EXPECT_REPORT("free", p + 16, "", pa_free(p + 16));

    /* The tail of a span past its last object: class 48 has 170 objects
     * in one page, 32 bytes left over. */
    char *t = pa_malloc(48);
    assert_int_equal(pa_usable_size(t), 48);
    char *tail = (char *)((uintptr_t)t & ~(uintptr_t)(PAGE - 1)) + 170 * 48;
    EXPECT_REPORT("free", tail, "past its last object", pa_free(tail));
    pa_free(t);

    /* Large objects: interior (first page and later), double free. */
    char *big = pa_malloc(100000);
    assert_non_null(big);
    EXPECT_REPORT("free", big + 16, "interior pointer", pa_free(big + 16));
    EXPECT_REPORT("free", big + PAGE, "not allocated", pa_free(big + PAGE));
    EXPECT_REPORT("free", big + 5 * PAGE + 32, "not allocated", pa_free(big + 5 * PAGE + 32));
    memset(big, 7, 100000);
    pa_free(big);
    EXPECT_REPORT("free", big, "", pa_free(big));
    check_fresh(100000, 20);

    /* Double free across threads: the span's owner is alive. */
    holder h = { .stage = 0 };
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, holder_main, &h), 0);
    pthread_mutex_lock(&h.mu);
    while (h.stage != 1)
        pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    pa_free(h.p);
    EXPECT_REPORT("free", h.p, "double free", pa_free(h.p));
    EXPECT_REPORT("free", (char *)h.q + 32, "interior pointer", pa_free((char *)h.q + 32));
    pthread_mutex_lock(&h.mu);
    h.stage = 2;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(th, NULL);
    pthread_cond_destroy(&h.cv);
    pthread_mutex_destroy(&h.mu);
    check_fresh(64, 2000);

    /* Nothing was corrupted: the live objects are intact, and every
     * size still allocates fresh, distinct memory. */
    check_fresh(48, 400);
    check_fresh(5000, 100);
    sentinels_check_free();
    pagealloc_set_error_handler(NULL, NULL);
}

/* ---- The recent-free stack ------------------------------------------------------------ */

/* A thread that frees an object it owns (onto its stack), lets the main
 * thread free it again (a remote double free), then allocates twice. */
typedef struct stacker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stage;
    void *p, *again, *other;
} stacker;

static void stacker_wait(stacker *k, int stage)
{
    pthread_mutex_lock(&k->mu);
    while (k->stage != stage)
        pthread_cond_wait(&k->cv, &k->mu);
    pthread_mutex_unlock(&k->mu);
}

static void stacker_go(stacker *k, int stage)
{
    pthread_mutex_lock(&k->mu);
    k->stage = stage;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

/* Start fn(arg) on a thread that steps through k and wait until it
 * reaches stage 1; stacker_finish lets it go on (stage 2) and joins it. */
static void stacker_start(stacker *k, void *(*fn)(void *), void *arg, pthread_t *th)
{
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    assert_int_equal(pthread_create(th, NULL, fn, arg), 0);
    stacker_wait(k, 1);
}

static void stacker_finish(stacker *k, pthread_t th)
{
    stacker_go(k, 2);
    pthread_join(th, NULL);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
}

static void *stacker_main(void *arg)
{
    stacker *k = arg;
    k->p = pa_malloc(80);
    pa_free(k->p);
    stacker_go(k, 1);
    stacker_wait(k, 2);
    k->again = pa_malloc(80);
    k->other = pa_malloc(80);
    pa_free(k->again);
    pa_free(k->other);
    return NULL;
}

static void test_recent_free_stack(void **state)
{
    (void)state;
    pagealloc_set_error_handler(record, NULL);
    sentinels_make();

    /* Freed objects come back newest first. */
    void *a = pa_malloc(96), *b = pa_malloc(96), *c = pa_malloc(96);
    pa_free(a);
    pa_free(b);
    pa_free(c);
    assert_ptr_equal(pa_malloc(96), c);
    assert_ptr_equal(pa_malloc(96), b);
    assert_ptr_equal(pa_malloc(96), a);

    /* An object on the stack is freed: a size query, a realloc and a
     * second free are reported, and it is handed out once only. */
    pa_free(a);
    EXPECT_REPORT("malloc_usable_size", a, "not allocated", assert_int_equal(pa_usable_size(a), 0));
    EXPECT_REPORT("realloc", a, "not allocated", assert_null(pa_realloc(a, 10)));
    EXPECT_REPORT("free", a, "double free", pa_free(a));
    void *x = pa_malloc(96), *y = pa_malloc(96);
    assert_ptr_equal(x, a);
    assert_ptr_not_equal(y, a);
    pa_free(x);
    pa_free(y);
    pa_free(b);
    pa_free(c);

    /* A remote free of an object on its owner's stack is a double free. */
    stacker k = { .stage = 0 };
    pthread_t th;
    stacker_start(&k, stacker_main, &k, &th);
    EXPECT_REPORT("free", k.p, "double free", pa_free(k.p));
    stacker_finish(&k, th);
    assert_ptr_equal(k.again, k.p);
    assert_ptr_not_equal(k.other, k.p);

    /* Many frees of one class overflow the stack into the spans; after a
     * trim (which empties this thread's stacks) the emptied spans are
     * gone and the objects in use are back where they were. */
    enum { N = 4000 };
    static void *v[N];
    pa_malloc_stats s0, s1, s2;
    pa_malloc_trim();
    pa_malloc_get_stats(&s0);
    for (int i = 0; i < N; i++) {
        v[i] = pa_malloc(48);
        assert_non_null(v[i]);
        memset(v[i], i & 0xff, 48);
    }
    pa_malloc_get_stats(&s1);
    unsigned c48 = 3;                       /* 16, 32, 48 */
    assert_int_equal(s1.cls[c48].size, 48);
    assert_int_equal(s1.cls[c48].objects, s0.cls[c48].objects + N);
    assert_true(s1.cls[c48].spans * 170 >= s1.cls[c48].objects);
    for (int i = 0; i < N; i++)
        pa_free(v[i]);
    pa_malloc_trim();
    pa_malloc_get_stats(&s2);
    assert_int_equal(s2.cls[c48].objects, s0.cls[c48].objects);
    assert_true(s2.cls[c48].spans <= s0.cls[c48].spans + 1);   /* a spare may stay */
    check_fresh(48, 500);
    sentinels_check_free();
    pagealloc_set_error_handler(NULL, NULL);
}

/* An object another thread freed (its remote bit set, not yet folded
 * into its owner's bitmap) is freed: a size query, a realloc and a
 * second free of it are reported, and its owner hands it out again. */
static void *remote_owner_main(void *arg)
{
    stacker *k = arg;
    k->p = pa_malloc(112);
    stacker_go(k, 1);
    stacker_wait(k, 2);
    /* Use the class until the cursor wraps and collects the remote free. */
    enum { M = 2000 };
    static void *w[M];
    for (int i = 0; i < M; i++) {
        w[i] = pa_malloc(112);
        if (w[i] == k->p)
            k->again = w[i];
    }
    for (int i = 0; i < M; i++)
        pa_free(w[i]);
    return NULL;
}

static void test_remote_freed_queries(void **state)
{
    (void)state;
    pagealloc_set_error_handler(record, NULL);
    stacker k = { .stage = 0 };
    pthread_t th;
    stacker_start(&k, remote_owner_main, &k, &th);
    pa_free(k.p);                               /* remote: the owner is alive */
    EXPECT_REPORT("malloc_usable_size", k.p, "not allocated", assert_int_equal(pa_usable_size(k.p), 0));
    EXPECT_REPORT("realloc", k.p, "not allocated", assert_null(pa_realloc(k.p, 10)));
    EXPECT_REPORT("free", k.p, "double free", pa_free(k.p));
    stacker_finish(&k, th);
    assert_ptr_equal(k.again, k.p);             /* freed once, reused */
    pagealloc_set_error_handler(NULL, NULL);
}

/* ---- Spans emptied by other threads ---------------------------------------------------- */

/* A producer allocates many objects that the main thread frees, then
 * keeps allocating a few of its own: the spans the remote frees emptied
 * go back to the page heap at its next refills, not at its exit. */
enum { EMPTIED_N = 20000, EMPTIED_SIZE = 64, EMPTIED_CLS = 4 };

static uint64_t class_spans(void)
{
    pa_malloc_stats st;
    pa_malloc_get_stats(&st);
    return st.cls[EMPTIED_CLS].spans;
}

typedef struct emptier {
    stacker sync;
    void **v;
    uint64_t spans_full, spans_after;
} emptier;

/* The producer's first half: fill, count the spans, hand the objects to
 * the main thread and wait until it has freed what it frees. */
static void produce(emptier *e)
{
    for (int i = 0; i < EMPTIED_N; i++) {
        e->v[i] = pa_malloc(EMPTIED_SIZE);
        assert_non_null(e->v[i]);
    }
    e->spans_full = class_spans();
    stacker_go(&e->sync, 1);
    stacker_wait(&e->sync, 2);
}

static void *emptier_main(void *arg)
{
    emptier *e = arg;
    produce(e);                                /* all freed by the main thread */
    /* A few spans' worth of churn: refills see the emptied spans. */
    void *w[1000];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 1000; i++)
            w[i] = pa_malloc(EMPTIED_SIZE);
        for (int i = 0; i < 1000; i++)
            pa_free(w[i]);
    }
    e->spans_after = class_spans();
    return NULL;
}

/* The same producer, but the main thread frees every other object: the
 * producer's next allocations reuse the half-free spans instead of
 * taking new ones. */
static void *halfer_main(void *arg)
{
    emptier *e = arg;
    produce(e);                                /* the even ones freed */
    for (int i = 0; i < EMPTIED_N; i += 2)
        e->v[i] = pa_malloc(EMPTIED_SIZE);
    e->spans_after = class_spans();
    for (int i = 0; i < EMPTIED_N; i++)
        pa_free(e->v[i]);
    return NULL;
}

static void run_producer(emptier *e, void *(*producer)(void *), int step)
{
    e->v = malloc(EMPTIED_N * sizeof(void *));
    assert_non_null(e->v);
    pthread_t th;
    stacker_start(&e->sync, producer, e, &th);
    for (int i = 0; i < EMPTIED_N; i += step)
        pa_free(e->v[i]);
    stacker_finish(&e->sync, th);
    free(e->v);
}

static void test_remote_half_freed_spans(void **state)
{
    (void)state;
    emptier e = { .sync = { .stage = 0 } };
    run_producer(&e, halfer_main, 2);
    assert_true(e.spans_full >= EMPTIED_N / 128);
    assert_true(e.spans_after <= e.spans_full + 8);     /* not + 78 */
}

static void test_remote_emptied_spans(void **state)
{
    (void)state;
    emptier e = { .sync = { .stage = 0 } };
    run_producer(&e, emptier_main, 1);
    /* 20000 objects filled 157 spans of 128; 1000 need 8. */
    assert_true(e.spans_full >= EMPTIED_N / 128);
    assert_true(e.spans_after <= e.spans_full - EMPTIED_N / 128 + 16);
}

/* ---- The suite --------------------------------------------------------------------------- */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sem_every_size),
        cmocka_unit_test(test_aligned),
        cmocka_unit_test(sem_malloc0),
        cmocka_unit_test(sem_realloc),
        cmocka_unit_test(sem_calloc),
        cmocka_unit_test(sem_huge),
        cmocka_unit_test(sem_posix_memalign_einval),
        cmocka_unit_test(sem_errno_untouched),
        cmocka_unit_test(test_usable_classes),
        cmocka_unit_test(test_cross_thread),
        cmocka_unit_test(test_thread_exit),
        cmocka_unit_test(test_fork_threaded),
        cmocka_unit_test(test_stats_consistency),
        cmocka_unit_test(test_free_sized),
        cmocka_unit_test(test_bad_frees),
        cmocka_unit_test(test_recent_free_stack),
        cmocka_unit_test(test_remote_freed_queries),
        cmocka_unit_test(test_remote_emptied_spans),
        cmocka_unit_test(test_remote_half_freed_spans),
    };
    return PA_RUN_GROUP_TESTS(tests, NULL, NULL);
}
