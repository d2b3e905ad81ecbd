/*
 * fuzz_malloc.c - libFuzzer target for the object allocator's API
 * (<pagealloc/malloc.h>): each input is decoded into a sequence of calls
 * on 64 slots, good and bad, run against a small model:
 *
 *   - every live object holds a pattern derived from its slot and
 *     generation, checked before it is freed or reallocated (an object
 *     handed out twice, or overlapping another, breaks a pattern);
 *   - sizes, alignment, zeroed calloc memory and realloc's kept prefix are
 *     checked on every allocation;
 *   - bad frees (double frees, also from another thread, interior
 *     pointers, wild addresses, wrong sizes to the sized free) must each
 *     be reported exactly once through the error handler, and good calls
 *     never;
 *   - at the end every object is freed and the allocator's bytes in use
 *     are back where they were.
 *
 * Any difference aborts with a one-line description. Built by
 * scripts/fuzz.sh with clang -fsanitize=fuzzer,address,undefined; with
 * -DPA_FUZZ_REPLAY it is a plain program that runs the files named on its
 * command line (the seeds in tests/fuzz/corpus_malloc).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagealloc/errors.h"
#include "pagealloc/malloc.h"

enum { SLOTS = 64, FREED = 16 };

typedef struct slot {
    unsigned char *p;
    size_t n;                       /* bytes asked for */
    uint32_t gen;
} slot;

static slot slots[SLOTS];
static void *freed[FREED];          /* recently freed pointers, maybe reused since */
static unsigned nfreed;
static uint32_t generation;
static unsigned reports;

static void count_report(const char *msg, void *arg)
{
    (void)msg;
    (void)arg;
    reports++;
}

static void fail(const char *what, const void *p, size_t n)
{
    fprintf(stderr, "fuzz_malloc: %s (%p, %zu bytes)\n", what, p, n);
    abort();
}

static unsigned char pat(const slot *s, size_t i)
{
    return (unsigned char)(s->gen * 131u + i * 7u + 1u);
}

/* Fill the head, the tail and one byte per 4 KiB; check the same. */
static void fill(slot *s)
{
    for (size_t i = 0; i < s->n; i = i < 64 ? i + 1 : i + 4096)
        s->p[i] = pat(s, i);
    if (s->n)
        s->p[s->n - 1] = pat(s, s->n - 1);
}

/* Check what fill wrote below limit (a realloc keeps a prefix). */
static void check_upto(const slot *s, size_t limit)
{
    for (size_t i = 0; i < s->n && i < limit; i = i < 64 ? i + 1 : i + 4096)
        if (s->p[i] != pat(s, i))
            fail("an object's contents changed while it was live", s->p, s->n);
    if (s->n && s->n - 1 < limit && s->p[s->n - 1] != pat(s, s->n - 1))
        fail("an object's last byte changed while it was live", s->p, s->n);
}

static void check(const slot *s)
{
    check_upto(s, s->n);
}

/* A size from two input bytes: mostly small, sometimes up to ~600 KiB. */
static size_t size_of(uint8_t a, uint8_t b)
{
    switch (a >> 6) {
    case 0: return b % 64;
    case 1: return ((size_t)(a & 63) << 8 | b) % 1025;
    case 2: return ((size_t)(a & 63) << 8 | b) % 32769;
    default: return ((size_t)(a & 63) << 8 | b) * 37;
    }
}

static int is_live(const void *p)
{
    for (unsigned k = 0; k < SLOTS; k++)
        if (slots[k].p == p)
            return 1;
    return 0;
}

static void expect_reports(unsigned before, unsigned want, const char *what, const void *p)
{
    if (reports - before != want)
        fail(want ? what : "a good call was reported", p, reports - before);
}

static void remember_freed(void *p)
{
    freed[nfreed++ % FREED] = p;
}

static void take(slot *s, void *p, size_t n, size_t align, const char *call)
{
    if (!p)
        fail(call, NULL, n);          /* no limit is set: every call succeeds */
    if ((uintptr_t)p % align)
        fail("misaligned object", p, align);
    if (pa_usable_size(p) < n)
        fail("usable size below the size asked for", p, n);
    s->p = p;
    s->n = n;
    s->gen = ++generation;
    fill(s);
}

static void drop(slot *s)
{
    if (!s->p)
        return;
    check(s);
    unsigned before = reports;
    pa_free(s->p);
    expect_reports(before, 0, "", s->p);
    remember_freed(s->p);
    s->p = NULL;
}

static void *remote_free_main(void *p)
{
    pa_free(p);
    return NULL;
}

/* Free p on a new thread (a remote free), waiting for it. */
static void free_on_thread(void *p)
{
    pthread_t t;
    if (pthread_create(&t, NULL, remote_free_main, p) != 0)
        pa_free(p);
    else
        pthread_join(t, NULL);
}

static void run(const uint8_t *d, size_t size)
{
    pagealloc_set_error_handler(count_report, NULL);
    pa_malloc_stats st;
    pa_malloc_get_stats(&st);
    uint64_t in_use = st.in_use_bytes;
    memset(slots, 0, sizeof slots);
    nfreed = 0;
    for (size_t i = 0; i + 4 <= size; i += 4) {
        uint8_t op = d[i] % 12, a = d[i + 1], b = d[i + 2], c = d[i + 3];
        slot *s = &slots[c % SLOTS];
        size_t n = size_of(a, b);
        unsigned before = reports;
        switch (op) {
        case 0:                                       /* malloc */
        case 1:
            drop(s);
            take(s, pa_malloc(n), n, 16, "malloc failed");
            break;
        case 2: {                                     /* calloc: zeroed */
            drop(s);
            size_t count = 1 + c % 4, each = n / count;
            unsigned char *p = pa_calloc(count, each);
            for (size_t k = 0; p && k < count * each; k = k < 64 ? k + 1 : k + 4096)
                if (p[k])
                    fail("calloc memory not zeroed", p, count * each);
            take(s, p, count * each, 16, "calloc failed");
            break;
        }
        case 3: {                                     /* realloc keeps the prefix */
            if (!s->p || n == 0)
                break;
            check(s);
            slot old = *s;
            unsigned char *p = pa_realloc(s->p, n);
            if (!p)
                fail("realloc failed", s->p, n);
            size_t keep = old.n < n ? old.n : n;
            s->p = p;
            check_upto(s, keep);
            if (p != old.p)
                remember_freed(old.p);
            take(s, p, n, 16, "realloc failed");
            break;
        }
        case 4: {                                     /* aligned */
            drop(s);
            size_t align = (size_t)1 << (4 + b % 14); /* 16 B .. 128 KiB */
            take(s, pa_aligned_alloc(align, n), n, align, "aligned_alloc failed");
            break;
        }
        case 5:                                       /* free */
            drop(s);
            break;
        case 6:                                       /* sized free, right then wrong size */
            if (!s->p)
                break;
            check(s);
            if (b & 1) {
                size_t wrong = s->n + 40000 + a;
                pa_free_sized(s->p, wrong);
                expect_reports(before, 1, "a wrong size to free_sized was not reported", s->p);
                before = reports;
            }
            pa_free_sized(s->p, s->n);
            expect_reports(before, 0, "", s->p);
            remember_freed(s->p);
            s->p = NULL;
            break;
        case 7: {                                     /* double free, here or remote */
            void *p = freed[(a + nfreed) % FREED];
            if (!p || is_live(p))
                break;                                /* reused: a good free now */
            if (b & 1)
                free_on_thread(p);
            else
                pa_free(p);
            expect_reports(before, 1, "a double free was not reported", p);
            break;
        }
        case 8:                                       /* interior pointer */
            if (!s->p || pa_usable_size(s->p) < 32)
                break;
            before = reports;
            pa_free(s->p + 16);
            expect_reports(before, 1, "an interior free was not reported", s->p + 16);
            check(s);
            break;
        case 9: {                                     /* wild addresses */
            char local;
            void *wild = (b & 1) ? (void *)&local : (void *)(uintptr_t)(0x1000 + ((size_t)a << 12));
            pa_free(wild);
            expect_reports(before, 1, "a wild free was not reported", wild);
            break;
        }
        case 10:                                      /* remote free of a live object */
            if (!s->p)
                break;
            check(s);
            free_on_thread(s->p);
            expect_reports(before, 0, "", s->p);
            remember_freed(s->p);
            s->p = NULL;
            break;
        default:                                      /* trim, then check all */
            pa_malloc_trim();
            for (unsigned k = 0; k < SLOTS; k++)
                if (slots[k].p)
                    check(&slots[k]);
            expect_reports(before, 0, "", NULL);
            break;
        }
    }
    for (unsigned k = 0; k < SLOTS; k++)
        drop(&slots[k]);
    pa_malloc_get_stats(&st);
    if (st.in_use_bytes != in_use)
        fail("bytes in use not back to their start value", NULL, (size_t)st.in_use_bytes);
    pagealloc_set_error_handler(NULL, NULL);
}

#ifndef PA_FUZZ_REPLAY

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    return 0;
}

#else

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "%s: cannot read\n", argv[i]);
            return 1;
        }
        static uint8_t buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        run(buf, n);
        printf("%s: ok (%zu bytes)\n", argv[i], n);
    }
    return 0;
}

#endif
