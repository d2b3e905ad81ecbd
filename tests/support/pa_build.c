/*
 * pa_build.c - see pa_build.h.
 */
#include "pa_build.h"

#include <stdio.h>
#include <string.h>

#include "rng.h"

void pa_ranges_to_bits(const pa_range *r, size_t nr, uint64_t bits[8])
{
    for (size_t k = 0; k < nr; k++) {
        for (unsigned p = r[k].i; p < r[k].i + r[k].n; p++) {
            if (p >= PAGEALLOC_CHUNK_PAGES)
                fail_msg("range {%u, %u} runs past the chunk", r[k].i, r[k].n);
            bits[p / 64] |= (uint64_t)1 << (p % 64);
        }
    }
}

pagealloc *pa_new_test_alloc(void)
{
    pagealloc_options o;
    memset(&o, 0, sizeof o);
    o.unbacked = 1;
    o.phys_page_size = PA_TEST_PHYS_PAGE_SIZE;
    o.huge_page_size = PA_TEST_HUGE_PAGE_SIZE;
    pagealloc *pa = pagealloc_new(&o);
    if (pa == NULL)
        fail_msg("pagealloc_new (unbacked) failed");
    return pa;
}

pagealloc *pa_build_n(const pa_chunk_desc *chunks, size_t nchunks,
                      const pa_chunk_desc *scav, size_t nscav)
{
    pagealloc *pa = pa_new_test_alloc();
    for (size_t k = 0; k < nchunks; k++) {
        uint64_t alloc[8] = { 0 }, sc[8] = { 0 };
        pa_ranges_to_bits(chunks[k].r, PA_MAX_RANGES, alloc);
        for (size_t s = 0; scav != NULL && s < nscav; s++)
            if (scav[s].off == chunks[k].off)
                pa_ranges_to_bits(scav[s].r, PA_MAX_RANGES, sc);
        int err = pagealloc_test_init_chunk(pa, go_chunk_base(chunks[k].off), alloc, sc);
        if (err != 0) {
            pagealloc_delete(pa);
            fail_msg("pagealloc_test_init_chunk(base chunk + 0x%llx) failed: error %d",
                     (unsigned long long)chunks[k].off, err);
        }
    }
    return pa;
}

pagealloc *pa_build(const pa_heap_desc *chunks, const pa_heap_desc *scav)
{
    return pa_build_n(chunks->c, chunks->n, scav ? scav->c : NULL, scav ? scav->n : 0);
}

/* Print runs of pages where got and want differ, with the values. */
unsigned pa_diff_bits(const char *what, const uint64_t got[8], const uint64_t want[8])
{
    unsigned ndiff = 0, lines = 0;
    unsigned p = 0;
    while (p < PAGEALLOC_CHUNK_PAGES) {
        int g = (int)((got[p / 64] >> (p % 64)) & 1);
        int w = (int)((want[p / 64] >> (p % 64)) & 1);
        if (g == w) {
            p++;
            continue;
        }
        unsigned q = p + 1;
        while (q < PAGEALLOC_CHUNK_PAGES &&
               (int)((got[q / 64] >> (q % 64)) & 1) == g &&
               (int)((want[q / 64] >> (q % 64)) & 1) == w)
            q++;
        ndiff += q - p;
        if (lines++ < 16)
            print_error("  %s: pages [%u, %u) (%u page%s): got %d, want %d\n",
                        what, p, q, q - p, q - p == 1 ? "" : "s", g, w);
        p = q;
    }
    if (lines > 16)
        print_error("  %s: ... %u more differing runs\n", what, lines - 16);
    return ndiff;
}

static void chunk_label(char *buf, size_t n, uintptr_t base)
{
    long long off = ((long long)base - (long long)PA_BASE_CHUNK_ADDR) /
                    (long long)PAGEALLOC_CHUNK_SIZE;
    snprintf(buf, n, "chunk base%+lld (0x%llx)", off, (unsigned long long)base);
}

int pa_diff_allocs(const pagealloc *want, const pagealloc *got)
{
    uintptr_t ws, we, gs, ge;
    pagealloc_test_bounds(want, &ws, &we);
    pagealloc_test_bounds(got, &gs, &ge);
    if (ws != gs || we != ge) {
        char a[64], b[64], c[64], d[64];
        chunk_label(a, sizeof a, gs);
        chunk_label(b, sizeof b, ge);
        chunk_label(c, sizeof c, ws);
        chunk_label(d, sizeof d, we);
        print_error("bounds differ: got [%s, %s), want [%s, %s)\n", a, b, c, d);
        return 1;
    }
    int bad = 0;
    for (uintptr_t base = gs; base < ge; base += PAGEALLOC_CHUNK_SIZE) {
        uint64_t wa[8], wsc[8], ga[8], gsc[8];
        int wp = pagealloc_test_chunk_bits(want, base, wa, wsc);
        int gp = pagealloc_test_chunk_bits(got, base, ga, gsc);
        if (!wp && !gp)
            continue;
        char label[64];
        chunk_label(label, sizeof label, base);
        if (wp != gp) {
            print_error("%s: present in %s only\n", label, gp ? "got" : "want");
            bad++;
            continue;
        }
        if (memcmp(wa, ga, sizeof wa) == 0 && memcmp(wsc, gsc, sizeof wsc) == 0)
            continue;
        print_error("%s differs:\n", label);
        pa_diff_bits("in-use bitmap", ga, wa);
        pa_diff_bits("scavenged bitmap", gsc, wsc);
        bad++;
    }
    return bad;
}

const char *pa_fmt_addr(char buf[PA_ADDR_STR], uintptr_t a)
{
    if (a == 0) {
        snprintf(buf, PA_ADDR_STR, "0");
        return buf;
    }
    long long rel = (long long)a - (long long)PA_BASE_CHUNK_ADDR;
    long long chunk = rel / (long long)PAGEALLOC_CHUNK_SIZE;
    long long in = rel % (long long)PAGEALLOC_CHUNK_SIZE;
    if (in < 0) {
        chunk--;
        in += PAGEALLOC_CHUNK_SIZE;
    }
    if (in % PAGEALLOC_PAGE_SIZE == 0)
        snprintf(buf, PA_ADDR_STR, "base%+lld:%lld (0x%llx)", chunk,
                 in / (long long)PAGEALLOC_PAGE_SIZE, (unsigned long long)a);
    else
        snprintf(buf, PA_ADDR_STR, "0x%llx", (unsigned long long)a);
    return buf;
}

uint64_t pa_rng_next(pa_rng *g)
{
    return rng_splitmix64(&g->s);
}

uint64_t pa_rng_below(pa_rng *g, uint64_t n)
{
    return rng_splitmix64_below(&g->s, n);
}
