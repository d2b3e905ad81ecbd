/*
 * pa_mmodel.h - the object allocator against a model: random malloc,
 * calloc, realloc, aligned_alloc, posix_memalign, free and free_sized
 * over a few thousand live objects of random sizes (small classes and
 * large objects), where every live object is filled with a pattern made
 * from its id and checked when it is freed or reallocated. An object
 * that lost its bytes means two live objects shared memory. Header only;
 * used by tests/unit/test_malloc_model.c (one thread) and
 * tests/stress/test_malloc_model_threads.c (objects handed between
 * threads, so frees and reallocs are remote).
 */
#ifndef PA_MMODEL_H
#define PA_MMODEL_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagealloc/malloc.h"
#include "rng.h"

typedef struct mm_obj {
    unsigned char *p;
    size_t size;          /* bytes asked for (the pattern's length) */
    uint64_t id;
} mm_obj;

typedef struct mm_state {
    mm_obj *live;
    size_t nlive, cap, target;
    rng_xoshiro rng[1];
    uint64_t next_id;     /* ids: thread << 48 | counter */
    char err[256];        /* first failure, empty if none */
    uint64_t ops[8];      /* per kind */
} mm_state;

static inline uint64_t mm_word(uint64_t id, size_t i)
{
    uint64_t z = id * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull;
    return z ^ (z >> 29);
}

static inline void mm_fill(unsigned char *p, size_t n, uint64_t id)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = mm_word(id, i);
        memcpy(p + i, &w, 8);
    }
    uint64_t w = mm_word(id, i);
    memcpy(p + i, &w, n - i);
}

/* The first offset whose byte is wrong, or SIZE_MAX. */
static inline size_t mm_check(const unsigned char *p, size_t n, uint64_t id)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = mm_word(id, i), got;
        memcpy(&got, p + i, 8);
        if (got != w)
            break;
    }
    for (; i < n; i++) {
        uint64_t w = mm_word(id, i & ~(size_t)7);
        if (p[i] != (unsigned char)(w >> (8 * (i & 7))))
            return i;
    }
    return SIZE_MAX;
}

static inline void mm_fail(mm_state *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void mm_fail(mm_state *m, const char *fmt, ...)
{
    if (m->err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
}

static inline void mm_init(mm_state *m, uint64_t seed, unsigned thread, size_t target)
{
    memset(m, 0, sizeof *m);
    rng_xoshiro_seed(m->rng, seed ^ ((uint64_t)thread * 0x632be59bd9b4e019ull));
    m->next_id = (uint64_t)thread << 48;
    m->target = target;
    m->cap = target * 2 + 16;
    m->live = calloc(m->cap, sizeof(mm_obj));   /* the test's own memory: libc */
    if (!m->live)
        abort();
}

static inline size_t mm_size(mm_state *m)
{
    uint64_t r = rng_xoshiro_below(m->rng, 100);
    if (r < 2)
        return 0;
    if (r < 60)
        return (size_t)rng_xoshiro_below(m->rng, 257);
    if (r < 85)
        return 257 + (size_t)rng_xoshiro_below(m->rng, 4096 - 257);
    if (r < 97)
        return 4097 + (size_t)rng_xoshiro_below(m->rng, 32768 - 4096);
    return 32769 + (size_t)rng_xoshiro_below(m->rng, 262144 - 32768);
}

/* Check an object's bytes (and that it is still ours: usable size). */
static inline int mm_verify(mm_state *m, const mm_obj *o, const char *when)
{
    size_t bad = mm_check(o->p, o->size, o->id);
    if (bad != SIZE_MAX) {
        mm_fail(m, "%s: object %#llx (%p, %zu bytes) overwritten at offset %zu", when,
                (unsigned long long)o->id, (void *)o->p, o->size, bad);
        return 0;
    }
    size_t u = pa_usable_size(o->p);
    if (u < o->size || u == 0) {
        mm_fail(m, "%s: object %#llx (%p, %zu bytes): usable size %zu", when,
                (unsigned long long)o->id, (void *)o->p, o->size, u);
        return 0;
    }
    return 1;
}

/* Take a new object into the live set (filled). */
static inline void mm_adopt(mm_state *m, unsigned char *p, size_t size, uint64_t id)
{
    if (m->nlive == m->cap) {
        m->cap *= 2;
        m->live = realloc(m->live, m->cap * sizeof(mm_obj));
        if (!m->live)
            abort();
    }
    mm_fill(p, size, id);
    m->live[m->nlive++] = (mm_obj){ p, size, id };
}

/* Remove live object i (swap with the last) and return it. */
static inline mm_obj mm_take(mm_state *m, size_t i)
{
    mm_obj o = m->live[i];
    m->live[i] = m->live[--m->nlive];
    return o;
}

static inline void mm_free_obj(mm_state *m, mm_obj o)
{
    if (!mm_verify(m, &o, "free"))
        return;
    if (rng_xoshiro_below(m->rng, 2)) {
        pa_free_sized(o.p, o.size);
        m->ops[6]++;
    } else {
        pa_free(o.p);
        m->ops[5]++;
    }
}

/* One random operation. */
static inline void mm_step(mm_state *m)
{
    uint64_t r = rng_xoshiro_below(m->rng, 100);
    /* Keep the live set around its target. */
    if (m->nlive > m->target + m->target / 4 && r < 60)
        r += 40;
    if (m->nlive < m->target / 2 && r >= 60)
        r -= 60;
    if (m->nlive == 0 && r >= 40)
        r = 0;
    if (r < 25) {                                   /* malloc */
        size_t n = mm_size(m);
        unsigned char *p = pa_malloc(n);
        if (!p) {
            mm_fail(m, "malloc(%zu) failed: errno %d", n, errno);
            return;
        }
        if ((uintptr_t)p % 16)
            mm_fail(m, "malloc(%zu) = %p: misaligned", n, (void *)p);
        mm_adopt(m, p, n, m->next_id++);
        m->ops[0]++;
    } else if (r < 33) {                            /* calloc */
        size_t n = mm_size(m), k = 1 + (size_t)rng_xoshiro_below(m->rng, 8);
        n = n / k;
        unsigned char *p = pa_calloc(k, n);
        if (!p) {
            mm_fail(m, "calloc(%zu, %zu) failed", k, n);
            return;
        }
        for (size_t i = 0; i < k * n; i++)
            if (p[i]) {
                mm_fail(m, "calloc(%zu, %zu) = %p: byte %zu is %d", k, n, (void *)p, i, p[i]);
                break;
            }
        mm_adopt(m, p, k * n, m->next_id++);
        m->ops[1]++;
    } else if (r < 40) {                            /* aligned */
        size_t a = (size_t)1 << (3 + rng_xoshiro_below(m->rng, 14));     /* 8 .. 64 KiB */
        if (rng_xoshiro_below(m->rng, 50) == 0)
            a = (size_t)2 << 20;
        size_t n = mm_size(m);
        void *p = NULL;
        if (rng_xoshiro_below(m->rng, 2)) {
            p = pa_aligned_alloc(a, n);
        } else if (pa_posix_memalign(&p, a, n) != 0) {
            p = NULL;
        }
        if (!p) {
            mm_fail(m, "aligned(%zu, %zu) failed", a, n);
            return;
        }
        if ((uintptr_t)p % a)
            mm_fail(m, "aligned(%zu, %zu) = %p: misaligned", a, n, p);
        mm_adopt(m, p, n, m->next_id++);
        m->ops[2]++;
    } else if (r < 55) {                            /* realloc */
        size_t i = (size_t)rng_xoshiro_below(m->rng, m->nlive);
        mm_obj o = mm_take(m, i);
        if (!mm_verify(m, &o, "realloc"))
            return;
        size_t n = rng_xoshiro_below(m->rng, 4) ? mm_size(m) : o.size + rng_xoshiro_below(m->rng, 64);
        if (n == 0)
            n = 1;                                  /* realloc(p, 0) frees */
        unsigned char *q = pa_realloc(o.p, n);
        if (!q) {
            mm_fail(m, "realloc(%p, %zu) failed", (void *)o.p, n);
            return;
        }
        size_t keep = o.size < n ? o.size : n;
        size_t bad = mm_check(q, keep, o.id);
        if (bad != SIZE_MAX)
            mm_fail(m, "realloc %zu -> %zu (%p -> %p): contents lost at %zu", o.size, n,
                    (void *)o.p, (void *)q, bad);
        mm_adopt(m, q, n, o.id);
        m->ops[3]++;
    } else {                                        /* free */
        size_t i = (size_t)rng_xoshiro_below(m->rng, m->nlive);
        mm_free_obj(m, mm_take(m, i));
    }
}

/* Free every live object (checked). */
static inline void mm_drain(mm_state *m)
{
    while (m->nlive)
        mm_free_obj(m, mm_take(m, m->nlive - 1));
}

static inline uint64_t mm_objects_in_use(void)
{
    pa_malloc_stats s;
    pa_malloc_get_stats(&s);
    uint64_t n = 0;
    for (unsigned c = 0; c < PA_MALLOC_CLASSES; c++)
        n += s.cls[c].objects;
    return n;
}

#endif
