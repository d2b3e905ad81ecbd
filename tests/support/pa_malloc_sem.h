/*
 * pa_malloc_sem.h - the malloc semantics suite, written once and compiled
 * twice: against the prefixed API (tests/unit/test_malloc_api.c, linked
 * with the library) and against the C library's names
 * (tests/dropin/test_dropin_semantics.c, not linked with the library, run
 * under LD_PRELOAD of build/libpagealloc-malloc.so). Header only, every
 * function static; no dependency on the library or pa_test_support.
 *
 * The includer defines, before including this file:
 *   SEM_MALLOC(n) SEM_FREE(p) SEM_CALLOC(c, n) SEM_REALLOC(p, n)
 *   SEM_USABLE(p)            (malloc_usable_size)
 *   SEM_POSIX_MEMALIGN(out, align, n)
 * and, after including it, a table of its aligned entry points
 * (sem_aligned_entry) that it passes to sem_check_aligned_entries.
 *
 * What is checked (issue 10, "Tests"): 16-byte alignment and usable size
 * of every size 0..70000, every aligned entry point with every power of
 * two alignment up to 2 MiB (pointer and usable bytes), malloc(0), realloc
 * grow/shrink/NULL/0 keeping contents, calloc zeroing (also of reused
 * memory) and overflow, huge requests (NULL + ENOMEM), posix_memalign
 * EINVAL (out untouched), errno untouched on success, cross-thread frees
 * (producer/consumer over 8 threads), thread exit with a full cache, fork
 * from a threaded process.
 *
 * Work scale: sem_scale() is 1 normally, smaller under valgrind
 * (PAGEALLOC_UNDER_VALGRIND) and sanitizers.
 */
#ifndef PA_MALLOC_SEM_H
#define PA_MALLOC_SEM_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SEM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SEM_SANITIZED 1
#endif
#endif

static inline double sem_scale(void)
{
    const char *v = getenv("PAGEALLOC_UNDER_VALGRIND");
    if (v && *v && strcmp(v, "0") != 0)
        return 0.05;
#ifdef SEM_SANITIZED
    return 0.3;
#else
    return 1.0;
#endif
}

/* p, unknown to the compiler: no warning about a use after a failed
 * realloc, or about writing to the bytes of malloc(0) (ours has 16). */
static inline void *sem_launder(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

static inline size_t sem_scaled(size_t n)
{
    size_t k = (size_t)((double)n * sem_scale());
    return k ? k : 1;
}

/* A small generator of our own (splitmix64): the suite must not depend
 * on the library's test support. */
static inline uint64_t sem_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The byte at offset i of the object with tag t. */
static inline unsigned char sem_byte(uint64_t t, size_t i)
{
    return (unsigned char)(((t * 0x9e3779b97f4a7c15ull + i * 131u) >> 24) ^ i);
}

static inline void sem_fill(void *p, size_t n, uint64_t t)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = sem_byte(t, i);
}

/* 1 if p holds the pattern of tag t over n bytes. */
static inline int sem_holds(const void *p, size_t n, uint64_t t)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != sem_byte(t, i))
            return 0;
    return 1;
}

static inline int sem_all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* ---- Alignment and usable size of every size --------------------------------------- */

/* Every size 0..70000: step 1 up to 4 KiB and within 2 bytes of every
 * 16-byte boundary (where the classes change), else a step of 7. A
 * valgrind run takes a coarser step between boundaries. */
static __attribute__((unused)) void sem_every_size(void **state)
{
    (void)state;
    size_t far = sem_scale() < 0.1 ? 97 : 7;
    for (size_t n = 0; n <= 70000;) {
        unsigned char *p = SEM_MALLOC(n);
        if (!p)
            fail_msg("malloc(%zu) returned NULL", n);
        if ((uintptr_t)p % 16)
            fail_msg("malloc(%zu) = %p: not 16-byte aligned", n, (void *)p);
        size_t u = SEM_USABLE(p);
        if (u < n || (n == 0 && u == 0))
            fail_msg("malloc(%zu): usable size %zu", n, u);
        p[0] = 1;
        p[u - 1] = 2;
        if (n > 1)
            p[n / 2] = 3;
        SEM_FREE(p);
        size_t r = n % 16;
        n += (n < 4096 || r >= 14 || r <= 1) ? 1 : (r + far > 14 ? 14 - r : far);
    }
}

/* ---- Aligned entry points ------------------------------------------------------------ */

typedef struct sem_aligned_entry {
    const char *name;
    size_t min_align, max_align;          /* powers of two it is called with */
    void *(*fn)(size_t align, size_t n);  /* NULL on failure */
    int rounds_size;                      /* pvalloc: usable >= size rounded to a page */
} sem_aligned_entry;

/* For every alignment: several sizes, all live at once, each filled with
 * its own pattern over its whole usable size and checked before the free
 * (so no two objects overlap). */
static __attribute__((unused)) void sem_check_aligned_entries(const sem_aligned_entry *e, size_t ne)
{
    for (size_t k = 0; k < ne; k++) {
        for (size_t a = e[k].min_align; a <= e[k].max_align; a *= 2) {
            size_t sizes[] = { 0, 1, 15, 16, 17, a / 2 + 1, a - 1, a, a + 1, 3 * a / 2,
                               1000, 32768, 40000, 100000 };
            enum { NS = sizeof sizes / sizeof sizes[0] };
            void *p[NS];
            size_t u[NS];
            for (size_t i = 0; i < NS; i++) {
                errno = 0;
                p[i] = e[k].fn(a, sizes[i]);
                if (!p[i])
                    fail_msg("%s(%zu, %zu) failed: errno %d", e[k].name, a, sizes[i], errno);
                if (errno != 0)
                    fail_msg("%s(%zu, %zu) succeeded but set errno %d", e[k].name, a, sizes[i],
                             errno);
                if ((uintptr_t)p[i] % a)
                    fail_msg("%s(%zu, %zu) = %p: misaligned", e[k].name, a, sizes[i], p[i]);
                u[i] = SEM_USABLE(p[i]);
                if (u[i] < sizes[i] || u[i] == 0)
                    fail_msg("%s(%zu, %zu): usable size %zu", e[k].name, a, sizes[i], u[i]);
                if (e[k].rounds_size && u[i] < (sizes[i] + a - 1) / a * a)
                    fail_msg("%s(%zu): usable size %zu, not a whole page", e[k].name, sizes[i],
                             u[i]);
                sem_fill(p[i], u[i], a * 64 + i);
            }
            for (size_t i = 0; i < NS; i++) {
                if (!sem_holds(p[i], u[i], a * 64 + i))
                    fail_msg("%s(%zu, %zu) = %p: its bytes were overwritten", e[k].name, a,
                             sizes[i], p[i]);
                SEM_FREE(p[i]);
            }
        }
    }
}

/* ---- malloc(0), realloc ----------------------------------------------------------------- */

static __attribute__((unused)) void sem_malloc0(void **state)
{
    (void)state;
    enum { N = 300 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = SEM_MALLOC(0);
        assert_non_null(p[i]);
        assert_true((uintptr_t)p[i] % 16 == 0);
        assert_true(SEM_USABLE(p[i]) >= 1);
        *(volatile char *)sem_launder(p[i]) = (char)i;
    }
    /* Unique. */
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (p[i] == p[j])
                fail_msg("malloc(0) returned %p twice", p[i]);
    for (int i = 0; i < N; i++) {
        assert_int_equal(*(volatile char *)sem_launder(p[i]), (char)i);
        SEM_FREE(p[i]);
    }
}

static __attribute__((unused)) void sem_realloc(void **state)
{
    (void)state;
    /* NULL: a malloc. */
    unsigned char *p = SEM_REALLOC(NULL, 40);
    assert_non_null(p);
    assert_true(SEM_USABLE(p) >= 40);
    sem_fill(p, 40, 7);
    /* Grow through small classes, into large objects, and back down;
     * contents kept up to the smaller size at every step. */
    size_t steps[] = { 41,    48,     100,   1000,  1024, 1025,  8000, 32768, 32769,
                       40000, 100000, 81920, 81921, 1 << 20, 3 << 20, 20000, 33, 1, 17, 5000 };
    size_t have = 40;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t n = steps[i];
        errno = EDOM;
        unsigned char *q = SEM_REALLOC(p, n);
        if (!q)
            fail_msg("realloc(%p, %zu) failed", (void *)p, n);
        assert_int_equal(errno, EDOM);
        assert_true((uintptr_t)q % 16 == 0);
        assert_true(SEM_USABLE(q) >= n);
        size_t keep = have < n ? have : n;
        if (!sem_holds(q, keep, 7))
            fail_msg("realloc %zu -> %zu lost the contents", have, n);
        sem_fill(q, n, 7);
        p = q;
        have = n;
    }
    /* Same size, and within the usable size: contents kept. */
    unsigned char *q = SEM_REALLOC(p, have);
    assert_non_null(q);
    assert_true(sem_holds(q, have, 7));
    p = q;
    /* realloc(p, 0) frees p and returns NULL (glibc). */
    errno = EDOM;
    assert_null(SEM_REALLOC(p, 0));
    assert_int_equal(errno, EDOM);
    /* realloc(NULL, 0) is malloc(0): a unique pointer. */
    p = SEM_REALLOC(NULL, 0);
    assert_non_null(p);
    SEM_FREE(p);
    /* Many objects reallocated in turn, all live: none disturbs another. */
    enum { N = 64 };
    unsigned char *v[N];
    size_t sz[N];
    uint64_t rs = 42;
    for (int i = 0; i < N; i++) {
        sz[i] = 1 + sem_rand(&rs) % 3000;
        v[i] = SEM_MALLOC(sz[i]);
        assert_non_null(v[i]);
        sem_fill(v[i], sz[i], 1000 + (uint64_t)i);
    }
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < N; i++) {
            size_t n = 1 + sem_rand(&rs) % (round % 3 == 2 ? 70000 : 3000);
            unsigned char *w = SEM_REALLOC(v[i], n);
            assert_non_null(w);
            if (!sem_holds(w, sz[i] < n ? sz[i] : n, 1000 + (uint64_t)i))
                fail_msg("object %d: realloc %zu -> %zu lost the contents", i, sz[i], n);
            sem_fill(w, n, 1000 + (uint64_t)i);
            v[i] = w;
            sz[i] = n;
        }
    }
    for (int i = 0; i < N; i++) {
        assert_true(sem_holds(v[i], sz[i], 1000 + (uint64_t)i));
        SEM_FREE(v[i]);
    }
}

/* ---- calloc ---------------------------------------------------------------------------------- */

static __attribute__((unused)) void sem_calloc(void **state)
{
    (void)state;
    size_t sizes[] = { 0, 1, 16, 17, 100, 1000, 4096, 8192, 20000, 32768, 32769, 100000, 1 << 20 };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        /* Dirty memory of this size, freed, then calloc'ed: several
         * rounds, so the same slots come back. */
        for (int round = 0; round < 4; round++) {
            void *d[8];
            for (int i = 0; i < 8; i++) {
                d[i] = SEM_MALLOC(n);
                assert_non_null(d[i]);
                memset(d[i], 0xA5, SEM_USABLE(d[i]));
            }
            for (int i = 7; i >= 0; i--)
                SEM_FREE(d[i]);
            for (int i = 0; i < 8; i++) {
                errno = EDOM;
                d[i] = round % 2 ? SEM_CALLOC(n, 1) : SEM_CALLOC(1, n);
                assert_non_null(d[i]);
                assert_int_equal(errno, EDOM);
                if (!sem_all_zero(d[i], n))
                    fail_msg("calloc(%zu) of reused memory is not zeroed", n);
            }
            for (int i = 0; i < 8; i++)
                SEM_FREE(d[i]);
        }
    }
    /* Element counts times sizes. */
    unsigned *a = SEM_CALLOC(1000, sizeof(unsigned));
    assert_non_null(a);
    assert_true(sem_all_zero(a, 1000 * sizeof(unsigned)));
    SEM_FREE(a);
    /* Overflow of count * size: NULL and ENOMEM. */
    struct { size_t c, s; } ov[] = {
        { SIZE_MAX, 2 }, { 2, SIZE_MAX }, { SIZE_MAX / 2 + 1, 2 },
        { (size_t)1 << 32, (size_t)1 << 32 }, { SIZE_MAX, SIZE_MAX },
    };
    for (size_t k = 0; k < sizeof ov / sizeof ov[0]; k++) {
        errno = 0;
        void *p = SEM_CALLOC(ov[k].c, ov[k].s);
        if (p)
            fail_msg("calloc(%zu, %zu) did not fail", ov[k].c, ov[k].s);
        assert_int_equal(errno, ENOMEM);
    }
}

/* ---- Failures and errno ------------------------------------------------------------------- */

/* Requests no machine can satisfy: NULL with ENOMEM, through every entry
 * point; a failed realloc leaves the object alone. */
static __attribute__((unused)) void sem_huge(void **state)
{
    (void)state;
    size_t huge[] = { SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX - (1 << 21), SIZE_MAX / 2,
                      SIZE_MAX / 2 + 1, (size_t)1 << 56, (size_t)1 << 50 };
    for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++) {
        size_t n = huge[k];
        errno = 0;
        void *p = SEM_MALLOC(n);
        if (p)
            fail_msg("malloc(%#zx) succeeded", n);
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(SEM_CALLOC(1, n));
        assert_int_equal(errno, ENOMEM);
        void *out = (void *)0x1234;
        errno = EDOM;
        assert_int_equal(SEM_POSIX_MEMALIGN(&out, 1 << 21, n), ENOMEM);
        assert_ptr_equal(out, (void *)0x1234);
        errno = EDOM;
        assert_int_equal(SEM_POSIX_MEMALIGN(&out, 64, n), ENOMEM);
        assert_ptr_equal(out, (void *)0x1234);
        unsigned char *q = SEM_MALLOC(100);
        assert_non_null(q);
        sem_fill(q, 100, 5);
        errno = 0;
        assert_null(SEM_REALLOC(sem_launder(q), n));
        assert_int_equal(errno, ENOMEM);
        assert_true(sem_holds(q, 100, 5));
        SEM_FREE(q);
    }
}

static __attribute__((unused)) void sem_posix_memalign_einval(void **state)
{
    (void)state;
    size_t bad[] = { 0, 1, 2, 3, 4, 5, 12, 24, 48, 96, 100, 4095, 4097, 3 << 20,
                     ((size_t)1 << 20) + 16, SIZE_MAX };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        void *out = (void *)0x5678;
        errno = EDOM;
        int rc = SEM_POSIX_MEMALIGN(&out, bad[k], 100);
        if (rc != EINVAL)
            fail_msg("posix_memalign(align %zu) returned %d, not EINVAL", bad[k], rc);
        assert_ptr_equal(out, (void *)0x5678);
        assert_int_equal(errno, EDOM);
    }
    /* The smallest legal alignment: sizeof(void *). */
    void *out = NULL;
    assert_int_equal(SEM_POSIX_MEMALIGN(&out, sizeof(void *), 10), 0);
    assert_non_null(out);
    assert_true((uintptr_t)out % 16 == 0);
    SEM_FREE(out);
}

/* Successful calls leave errno alone, whatever it holds. */
static __attribute__((unused)) void sem_errno_untouched(void **state)
{
    (void)state;
    int vals[] = { 0, ENOMEM, EINVAL, EDOM };
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        errno = vals[k];
        void *a = SEM_MALLOC(10);
        void *b = SEM_MALLOC(50000);
        void *c = SEM_CALLOC(3, 7);
        a = SEM_REALLOC(a, 5000);
        b = SEM_REALLOC(b, 10);
        void *d = NULL;
        assert_int_equal(SEM_POSIX_MEMALIGN(&d, 4096, 10), 0);
        assert_non_null(a);
        assert_non_null(b);
        assert_non_null(c);
        (void)SEM_USABLE(a);
        SEM_FREE(a);
        SEM_FREE(b);
        SEM_FREE(c);
        SEM_FREE(d);
        SEM_FREE(NULL);
        assert_int_equal(errno, vals[k]);
    }
}

/* ---- Threads: cross-thread frees ------------------------------------------------------------ */

typedef struct sem_obj {
    uint64_t tag;
    size_t size;
} sem_obj;                                   /* the first bytes of each object */

enum { SEM_QCAP = 256, SEM_THREADS = 8 };

typedef struct sem_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_full, not_empty;
    void *slot[SEM_QCAP];
    unsigned head, count, producers_left;
} sem_queue;

typedef struct sem_prod {
    sem_queue *q;
    unsigned id;
    size_t n;
    size_t consumed;                         /* consumers: objects checked and freed */
} sem_prod;

static __attribute__((unused)) void sem_queue_push(sem_queue *q, void *p)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == SEM_QCAP)
        pthread_cond_wait(&q->not_full, &q->mu);
    q->slot[(q->head + q->count) % SEM_QCAP] = p;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

/* An object, or NULL once every producer is done and the queue is empty. */
static __attribute__((unused)) void *sem_queue_pop(sem_queue *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && q->producers_left > 0)
        pthread_cond_wait(&q->not_empty, &q->mu);
    void *p = NULL;
    if (q->count) {
        p = q->slot[q->head];
        q->head = (q->head + 1) % SEM_QCAP;
        q->count--;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->mu);
    return p;
}

/* An object of size n (at least a header) tagged t, its bytes after the
 * header patterned. */
static __attribute__((unused)) void *sem_make(size_t n, uint64_t t)
{
    if (n < sizeof(sem_obj))
        n = sizeof(sem_obj);
    unsigned char *p = SEM_MALLOC(n);
    if (!p)
        return NULL;
    sem_obj h = { t, n };
    memcpy(p, &h, sizeof h);
    sem_fill(p + sizeof h, n - sizeof h, t);
    return p;
}

/* 1 if p still holds what sem_make wrote. */
static __attribute__((unused)) int sem_intact(const void *p)
{
    sem_obj h;
    memcpy(&h, p, sizeof h);
    return sem_holds((const unsigned char *)p + sizeof h, h.size - sizeof h, h.tag);
}

static __attribute__((unused)) void *sem_producer(void *arg)
{
    sem_prod *pr = arg;
    uint64_t rs = 0x1000 + pr->id;
    for (size_t i = 0; i < pr->n; i++) {
        uint64_t r = sem_rand(&rs);
        size_t n = r % 16 == 0 ? 32769 + r % 60000 : 16 + r % 2000;
        void *p = sem_make(n, ((uint64_t)pr->id << 40) | i);
        if (!p)
            return (void *)1;
        sem_queue_push(pr->q, p);
    }
    pthread_mutex_lock(&pr->q->mu);
    pr->q->producers_left--;
    pthread_cond_broadcast(&pr->q->not_empty);
    pthread_mutex_unlock(&pr->q->mu);
    return NULL;
}

static __attribute__((unused)) void *sem_consumer(void *arg)
{
    sem_prod *c = arg;
    void *p;
    while ((p = sem_queue_pop(c->q)) != NULL) {
        if (!sem_intact(p))
            return (void *)1;
        /* Every fourth object is freed after a realloc on this thread. */
        if (c->consumed % 4 == 3) {
            sem_obj h;
            memcpy(&h, p, sizeof h);
            unsigned char *q = SEM_REALLOC(p, h.size + 100);
            if (!q || !sem_intact(q))
                return (void *)1;
            p = q;
        }
        SEM_FREE(p);
        c->consumed++;
    }
    return NULL;
}

/* 4 producers and 4 consumers through one bounded queue: every object is
 * freed by another thread than the one that made it. */
static __attribute__((unused)) void sem_cross_thread(size_t per_producer)
{
    sem_queue q;
    memset(&q, 0, sizeof q);
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.not_full, NULL);
    pthread_cond_init(&q.not_empty, NULL);
    q.producers_left = SEM_THREADS / 2;
    sem_prod w[SEM_THREADS];
    pthread_t t[SEM_THREADS];
    for (unsigned i = 0; i < SEM_THREADS; i++) {
        w[i] = (sem_prod){ .q = &q, .id = i, .n = per_producer };
        assert_int_equal(pthread_create(&t[i], NULL, i % 2 ? sem_consumer : sem_producer, &w[i]),
                         0);
    }
    size_t consumed = 0;
    int bad = 0;
    for (unsigned i = 0; i < SEM_THREADS; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        bad |= rv != NULL;
        if (i % 2)
            consumed += w[i].consumed;
    }
    if (bad)
        fail_msg("a producer or consumer failed (allocation failed or an object was overwritten)");
    assert_int_equal(consumed, per_producer * (SEM_THREADS / 2));
    pthread_cond_destroy(&q.not_full);
    pthread_cond_destroy(&q.not_empty);
    pthread_mutex_destroy(&q.mu);
}

/* ---- Threads that exit with a full cache ------------------------------------------------ */

typedef struct sem_exiter {
    unsigned id;
    size_t n;
    void **objs;
} sem_exiter;

static __attribute__((unused)) void *sem_exiter_main(void *arg)
{
    sem_exiter *e = arg;
    uint64_t rs = 0x2000 + e->id;
    /* Objects of every class and some large ones; half freed again, so
     * the thread's spans are partly free when it exits. */
    for (size_t i = 0; i < e->n; i++) {
        uint64_t r = sem_rand(&rs);
        size_t n = r % 32 == 0 ? 32769 + r % 100000 : 1 + r % 32768;
        e->objs[i] = sem_make(n, ((uint64_t)e->id << 40) | i);
        if (!e->objs[i])
            return (void *)1;
    }
    for (size_t i = 0; i < e->n; i += 2) {
        SEM_FREE(e->objs[i]);
        e->objs[i] = NULL;
    }
    return NULL;
}

static __attribute__((unused)) void sem_thread_exit(size_t per_thread, int rounds)
{
    for (int round = 0; round < rounds; round++) {
        sem_exiter e[SEM_THREADS];
        pthread_t t[SEM_THREADS];
        for (unsigned i = 0; i < SEM_THREADS; i++) {
            e[i] = (sem_exiter){ .id = i + 100 * (unsigned)round, .n = per_thread };
            e[i].objs = SEM_CALLOC(per_thread, sizeof(void *));
            assert_non_null(e[i].objs);
            assert_int_equal(pthread_create(&t[i], NULL, sem_exiter_main, &e[i]), 0);
        }
        for (unsigned i = 0; i < SEM_THREADS; i++) {
            void *rv;
            pthread_join(t[i], &rv);
            assert_null(rv);
        }
        /* The threads are gone: their objects are intact and free here. */
        for (unsigned i = 0; i < SEM_THREADS; i++) {
            for (size_t k = 0; k < per_thread; k++) {
                if (!e[i].objs[k])
                    continue;
                if (!sem_intact(e[i].objs[k]))
                    fail_msg("object %zu of exited thread %u was overwritten", k, i);
                SEM_FREE(e[i].objs[k]);
            }
            SEM_FREE(e[i].objs);
        }
    }
}

/* ---- fork from a threaded process -------------------------------------------------------- */

static volatile int sem_stop_churn;

static __attribute__((unused)) void *sem_churn(void *arg)
{
    uint64_t rs = (uintptr_t)arg;
    void *held[32] = { 0 };
    while (!__atomic_load_n(&sem_stop_churn, __ATOMIC_RELAXED)) {
        unsigned k = (unsigned)(sem_rand(&rs) % 32);
        SEM_FREE(held[k]);
        uint64_t r = sem_rand(&rs);
        held[k] = SEM_MALLOC(r % 8 == 0 ? 40000 + r % 30000 : r % 3000);
    }
    for (unsigned k = 0; k < 32; k++)
        SEM_FREE(held[k]);
    return NULL;
}

/* In the child: allocate and free, also objects the parent made. */
static __attribute__((unused)) int sem_child_work(void **parent_objs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!sem_intact(parent_objs[i]))
            return 2;
    for (size_t i = 0; i < n; i += 2)
        SEM_FREE(parent_objs[i]);
    void *mine[200];
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < 200; i++) {
            mine[i] = sem_make(1 + i * 397 % 50000, 0x77000 + i);
            if (!mine[i])
                return 3;
        }
        for (size_t i = 0; i < 200; i++) {
            if (!sem_intact(mine[i]))
                return 4;
            SEM_FREE(mine[i]);
        }
    }
    return 0;
}

static __attribute__((unused)) void sem_fork_threaded(int forks)
{
    enum { CHURNERS = 3, NOBJ = 64 };
    pthread_t t[CHURNERS];
    __atomic_store_n(&sem_stop_churn, 0, __ATOMIC_RELAXED);
    for (uintptr_t i = 0; i < CHURNERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sem_churn, (void *)(i + 1)), 0);
    void *objs[NOBJ];
    for (size_t i = 0; i < NOBJ; i++) {
        objs[i] = sem_make(1 + i * 911 % 40000, 0x99000 + i);
        assert_non_null(objs[i]);
    }
    int failures = 0, last = 0;
    for (int f = 0; f < forks; f++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(sem_child_work(objs, NOBJ));
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failures++;
            last = status;
        }
    }
    __atomic_store_n(&sem_stop_churn, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < CHURNERS; i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < NOBJ; i++) {
        assert_true(sem_intact(objs[i]));
        SEM_FREE(objs[i]);
    }
    if (failures)
        fail_msg("%d of %d children failed (last wait status %#x)", failures, forks, last);
}

#endif
