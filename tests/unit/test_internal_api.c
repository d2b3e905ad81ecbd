/*
 * test_internal_api.c - the interfaces between the library's layers that
 * users never call but the layers rely on:
 *   - os/fixalloc.h: fixed-size metadata objects on OS memory (zeroed,
 *     aligned, recycled, charged to the owner's stat, all returned);
 *   - sysmem_state_span: one lookup for a run of pages in one state;
 *   - pagealloc/heapapi.h: pa_alloc_bits reports exactly which pages of an
 *     allocation were scavenged (checked against the chunk bitmaps read
 *     before the call), across chunk boundaries and at every offset; and
 *     pa_chunk_bits reads a grown chunk and refuses others.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "os/fixalloc.h"
#include "pagealloc/heapapi.h"
#include "pagealloc/pagealloc.h"
#include "pagealloc/sysmem.h"
#include "pagealloc/testing.h"
#include "pa_skip.h"

#define PAGE  ((uintptr_t)PAGEALLOC_PAGE_SIZE)
#define CHUNK ((uintptr_t)PAGEALLOC_CHUNK_SIZE)
#define BASE  ((uintptr_t)0x3000000000)

/* ---- fixalloc ------------------------------------------------------------- */

static void test_fixalloc_objects(void **state)
{
    (void)state;
    sysmem_stat st = { 0 };
    pa_fixalloc f;
    assert_int_equal(pa_fixalloc_init(&f, 200, 64, &st), 0);
    assert_int_equal(sysmem_stat_load(&st), 0);     /* nothing taken yet */
    enum { N = 1000 };
    static unsigned char *obj[N];
    for (int i = 0; i < N; i++) {
        obj[i] = pa_fixalloc_alloc(&f, NULL);
        assert_non_null(obj[i]);
        assert_int_equal((uintptr_t)obj[i] % 64, 0);
        for (int k = 0; k < 200; k++)
            assert_int_equal(obj[i][k], 0);
        memset(obj[i], 0xa5, 200);
        for (int j = 0; j < i; j += 97)           /* no overlap with others */
            assert_true(obj[j] + 256 <= obj[i] || obj[i] + 256 <= obj[j]);
    }
    assert_int_equal(f.inuse, N);
    uint64_t charged = sysmem_stat_load(&st);
    assert_true(charged >= (uint64_t)N * 256);
    assert_true(charged <= (uint64_t)N * 256 + 2 * PA_FIXALLOC_BLOCK);
    /* Freed objects come back zeroed, and no new block is taken. */
    for (int i = 0; i < N; i += 2)
        pa_fixalloc_free(&f, obj[i]);
    for (int i = 0; i < N; i += 2) {
        unsigned char *p = pa_fixalloc_alloc(&f, NULL);
        assert_non_null(p);
        for (int k = 0; k < 200; k++)
            assert_int_equal(p[k], 0);
    }
    assert_int_equal(sysmem_stat_load(&st), charged);
    assert_int_equal(f.inuse, N);
    pa_fixalloc_destroy(&f);
    assert_int_equal(sysmem_stat_load(&st), 0);     /* every block returned */
}

static void test_fixalloc_bad_init_and_big_objects(void **state)
{
    (void)state;
    pa_fixalloc f;
    assert_int_equal(pa_fixalloc_init(&f, 0, 0, NULL), EINVAL);
    assert_int_equal(pa_fixalloc_init(&f, 8, 3, NULL), EINVAL);
    assert_int_equal(pa_fixalloc_init(&f, 8, 8192, NULL), EINVAL);
    sysmem_stat st = { 0 };
    /* An object larger than a block gets a block of its own. */
    assert_int_equal(pa_fixalloc_init(&f, 3 * PA_FIXALLOC_BLOCK, 0, &st), 0);
    void *a = pa_fixalloc_alloc(&f, NULL), *b = pa_fixalloc_alloc(&f, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    memset(a, 1, 3 * PA_FIXALLOC_BLOCK);
    memset(b, 2, 3 * PA_FIXALLOC_BLOCK);
    assert_int_equal(((unsigned char *)a)[3 * PA_FIXALLOC_BLOCK - 1], 1);
    pa_fixalloc_destroy(&f);
    assert_int_equal(sysmem_stat_load(&st), 0);
}

/* ---- sysmem_state_span ---------------------------------------------------- */

static void test_state_span(void **state)
{
    (void)state;
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    size_t pg = caps.page_size;
    char *r;
    assert_int_equal(sysmem_reserve(NULL, 16 * pg, (void **)&r), 0);
    sysmem_stat st = { 0 };
    assert_int_equal(sysmem_map(r + 4 * pg, 8 * pg, &st), 0);    /* Prepared */
    assert_int_equal(sysmem_used(r + 6 * pg, 2 * pg), 0);        /* Ready */
    sysmem_state s;
    assert_int_equal(sysmem_state_span(r, 16 * pg, &s), 4 * pg);
    assert_int_equal(s, SYSMEM_RESERVED);
    assert_int_equal(sysmem_state_span(r + 4 * pg, 16 * pg, &s), 2 * pg);
    assert_int_equal(s, SYSMEM_PREPARED);
    assert_int_equal(sysmem_state_span(r + 6 * pg + 5, 100 * pg, &s), 2 * pg);
    assert_int_equal(s, SYSMEM_READY);
    assert_int_equal(sysmem_state_span(r + 8 * pg, 3 * pg, &s), 3 * pg);  /* capped */
    assert_int_equal(s, SYSMEM_PREPARED);
    assert_int_equal(sysmem_state_span(r + 12 * pg, 4 * pg, NULL), 4 * pg);
    assert_int_equal(sysmem_free(r, 16 * pg, &st), 0);
    assert_int_equal(sysmem_state_span(r, 16 * pg, &s), 16 * pg);
    assert_int_equal(s, SYSMEM_NONE);
}

/* ---- pa_alloc_bits ------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

/* The scavenged bit of page a, read from the chunk bitmaps. */
static int scav_bit(const pagealloc *pa, uintptr_t a)
{
    uint64_t sb[8];
    assert_true(pa_chunk_bits(pa, a & ~(CHUNK - 1), NULL, sb));
    unsigned p = (unsigned)((a & (CHUNK - 1)) / PAGE);
    return (int)(sb[p / 64] >> (p % 64) & 1);
}

static void test_alloc_bits_exact(void **state)
{
    (void)state;
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 });
    assert_non_null(pa);
    assert_int_equal(pagealloc_grow(pa, BASE, 8 * CHUNK), 0);
    /* Mix scavenged and resident free pages: allocate everything, then
     * in rounds free random runs (resident) and scavenge part of what is
     * free (highest first), so both kinds end up all over the heap. */
    size_t total = 8 * CHUNK / PAGE;
    assert_int_equal(pagealloc_alloc(pa, total, NULL), BASE);
    for (int pass = 0; pass < 4; pass++) {
        for (size_t i = (size_t)pass * 3; i < total;) {
            size_t n = 1 + next() % 20;
            if (i + n > total)
                n = total - i;
            uintptr_t a = BASE + i * PAGE;
            int all = 1;
            for (size_t k = 0; k < n; k++) {
                uintptr_t q = a + k * PAGE;
                unsigned pg = (unsigned)((q & (CHUNK - 1)) / PAGE);
                uint64_t qb[8];
                assert_true(pa_chunk_bits(pa, q & ~(CHUNK - 1), qb, NULL));
                all &= (int)(qb[pg / 64] >> (pg % 64) & 1);
            }
            if (all && next() % 3 == 0)
                pagealloc_free(pa, a, n);
            i += n + next() % 30;
        }
        pagealloc_scavenge(pa, (size_t)(next() % 600) * PAGE);
    }
    /* Allocate runs of many sizes; each answer's bits must equal the
     * scavenged bits its pages had. */
    static uint64_t bits[(8 * 512 + 63) / 64 + 1];
    static int want[8 * 512];
    size_t seen_scav = 0, seen_resident = 0;
    for (int round = 0; round < 200; round++) {
        size_t n = round % 7 == 0 ? 40 + next() % 300 : 1 + next() % 60;
        /* Find the answer first fit will give: read bits of the whole heap. */
        for (size_t i = 0; i < total; i++)
            want[i] = scav_bit(pa, BASE + i * PAGE);
        bits[pa_scav_words(n)] = 0xdeadbeefull;         /* guard word */
        size_t sb;
        uintptr_t a = pa_alloc_bits(pa, n, &sb, bits);
        if (a == 0)
            continue;                   /* no run that long is free */
        assert_int_equal(bits[pa_scav_words(n)], 0xdeadbeefull);
        size_t first = (a - BASE) / PAGE, count = 0;
        if (sb == 0) {                  /* the bits are unspecified then */
            for (size_t i = 0; i < n; i++)
                assert_int_equal(want[first + i], 0);
            seen_resident += n;
            if (next() % 3 == 0)
                pagealloc_test_free(pa, a, n);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            int got = (int)(bits[i / 64] >> (i % 64) & 1);
            assert_int_equal(got, want[first + i]);
            count += (size_t)got;
        }
        for (size_t i = n; i < pa_scav_words(n) * 64; i++)
            assert_int_equal(bits[i / 64] >> (i % 64) & 1, 0);
        assert_int_equal(sb, count * PAGE);
        seen_scav += count;
        seen_resident += n - count;
        if (next() % 3 == 0)
            pagealloc_test_free(pa, a, n);
    }
    print_message("scavenged %zu, resident %zu\n", seen_scav, seen_resident);
    assert_true(seen_scav > 100 && seen_resident > 100);    /* both kinds met */
    char msg[200];
    assert_int_equal(pagealloc_check(pa, msg, sizeof msg), 0);
    pagealloc_delete(pa);
}

/* A run across four chunks whose scavenged part starts mid-chunk: the
 * bitmap is assembled from pieces at unaligned offsets. */
static void test_alloc_bits_across_chunks(void **state)
{
    (void)state;
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 });
    assert_non_null(pa);
    assert_int_equal(pagealloc_grow(pa, BASE, 8 * CHUNK), 0);
    assert_int_equal(pagealloc_alloc(pa, 1200, NULL), BASE);
    pagealloc_free(pa, BASE + 300 * PAGE, 900);          /* [300, 1200) resident */
    assert_int_equal(pagealloc_scavenge(pa, 8 * CHUNK), 900 * PAGE);     /* the rest never was resident */
    assert_int_equal(pagealloc_alloc(pa, 100, NULL), BASE + 300 * PAGE);  /* resident again */
    pagealloc_free(pa, BASE + 300 * PAGE, 100);
    /* Now [300, 400) resident, [400, 4096) scavenged. */
    static uint64_t bits[(2000 + 63) / 64];
    size_t sb;
    assert_int_equal(pa_alloc_bits(pa, 2000, &sb, bits), BASE + 300 * PAGE);
    for (size_t i = 0; i < 2000; i++)
        assert_int_equal(bits[i / 64] >> (i % 64) & 1, i >= 100);
    assert_int_equal(sb, 1900 * PAGE);
    pagealloc_delete(pa);
}

/* The scavenged-chunk bits (scavchunks.h) follow the scavenged bitmaps
 * both ways: a run over chunks that an allocation took whole (their bits
 * cleared) reports no scavenged page and leaves scav_bits alone; after a
 * scavenge has set the bits again, the same run reports every page. */
static void test_alloc_bits_scavenged_again(void **state)
{
    (void)state;
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 });
    assert_non_null(pa);
    assert_int_equal(pagealloc_grow(pa, BASE, 4 * CHUNK), 0);
    static uint64_t bits[(4 * 512 + 63) / 64];
    size_t sb;
    char msg[200];
    /* Fresh memory is released: every page is reported. */
    assert_int_equal(pa_alloc_bits(pa, 4 * 512, &sb, bits), BASE);
    assert_int_equal(sb, 4 * CHUNK);
    pagealloc_free(pa, BASE, 4 * 512);
    assert_int_equal(pagealloc_check(pa, msg, sizeof msg), 0);
    /* Used once and freed resident: a run over all four chunks, with end
     * pieces, reports nothing and writes no bit. */
    for (size_t w = 0; w < sizeof bits / sizeof bits[0]; w++)
        bits[w] = 0x5a5a5a5a5a5a5a5aull;
    assert_int_equal(pagealloc_alloc(pa, 100, NULL), BASE);
    assert_int_equal(pa_alloc_bits(pa, 1500, &sb, bits), BASE + 100 * PAGE);
    assert_int_equal(sb, 0);
    for (size_t w = 0; w < sizeof bits / sizeof bits[0]; w++)
        assert_int_equal(bits[w], 0x5a5a5a5a5a5a5a5aull);
    pagealloc_free(pa, BASE, 1600);
    /* Scavenged again (all of it): the same run reports every page. */
    assert_int_equal(pagealloc_scavenge(pa, 4 * CHUNK), 4 * CHUNK);
    assert_int_equal(pagealloc_check(pa, msg, sizeof msg), 0);
    assert_int_equal(pagealloc_alloc(pa, 100, NULL), BASE);
    assert_int_equal(pa_alloc_bits(pa, 1500, &sb, bits), BASE + 100 * PAGE);
    assert_int_equal(sb, 1500 * PAGE);
    for (size_t i = 0; i < 1500; i++)
        assert_int_equal(bits[i / 64] >> (i % 64) & 1, 1);
    assert_int_equal(bits[1500 / 64] >> (1500 % 64), 0);
    assert_int_equal(pagealloc_check(pa, msg, sizeof msg), 0);
    pagealloc_delete(pa);
}

static void test_chunk_bits(void **state)
{
    (void)state;
    pagealloc *pa = pagealloc_new(&(pagealloc_options){ .unbacked = 1 });
    assert_non_null(pa);
    assert_int_equal(pagealloc_grow(pa, BASE, 2 * CHUNK), 0);
    uint64_t ab[8], sb[8];
    assert_true(pa_chunk_bits(pa, BASE + CHUNK, ab, sb));
    for (int w = 0; w < 8; w++) {
        assert_int_equal(ab[w], 0);
        assert_int_equal(sb[w], ~(uint64_t)0);          /* grown memory is released */
    }
    assert_false(pa_chunk_bits(pa, BASE + 2 * CHUNK, ab, sb));
    assert_false(pa_chunk_bits(pa, BASE - CHUNK, NULL, NULL));
    assert_false(pa_chunk_bits(pa, ~(uintptr_t)0 & ~(CHUNK - 1), NULL, NULL));
    pagealloc_delete(pa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixalloc_objects),
        cmocka_unit_test(test_fixalloc_bad_init_and_big_objects),
        cmocka_unit_test(test_state_span),
        cmocka_unit_test(test_alloc_bits_exact),
        cmocka_unit_test(test_alloc_bits_across_chunks),
        cmocka_unit_test(test_alloc_bits_scavenged_again),
        cmocka_unit_test(test_chunk_bits),
    };
    return PA_RUN_GROUP_TESTS(tests, NULL, NULL);
}
