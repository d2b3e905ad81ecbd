/*
 * pa_model.c - reference model of the page allocator and a random driver
 * that runs pagealloc and the model side by side. See pa_model.h.
 *
 * The model is written for obviousness, not speed: byte arrays, linear
 * scans, no summaries, no cleverness beyond one "lowest possibly free
 * page" hint that is trivially kept correct (lowered by everything that
 * frees, raised only to a page that was just seen free).
 */
#include "pa_model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PG      ((uintptr_t)8192)
#define CHUNK   ((uintptr_t)4 << 20)
#define CPAGES  512u
#define ADDR48  ((uintptr_t)1 << 48)

/* ===================================================================== */
/* helpers                                                                */
/* ===================================================================== */

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

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        abort();
    return p;
}

static int popcount64(uint64_t x) { return __builtin_popcountll(x); }

/* ===================================================================== */
/* the model                                                              */
/* ===================================================================== */

typedef struct region {
    uintptr_t base;     /* chunk aligned */
    size_t    npages;   /* multiple of 512 */
    uint8_t  *alloc;    /* per page: 1 = allocated */
    uint8_t  *scav;     /* per page: 1 = scavenged */
    uint8_t  *mark;     /* per chunk: scavenge index bit */
} region;

struct pa_model {
    size_t    phys;        /* physical page size */
    size_t    huge;        /* huge page size; 0 = none */
    region   *r;           /* sorted, coalesced */
    size_t    nr, cap;
    uintptr_t lowfree;     /* every heap page below this is allocated */
    /* Go's scavengeIndex.searchAddr: a page address, "marked" after a
     * mark raised it, or cleared. */
    int       idx_cleared;
    int       idx_marked;
    uintptr_t idx_search;
};

static uintptr_t region_end(const region *g) { return g->base + g->npages * PG; }

pa_model *pa_model_new(size_t phys_page_size, size_t huge_page_size)
{
    pa_model *m = xcalloc(1, sizeof *m);
    m->phys = phys_page_size;
    m->huge = huge_page_size == SIZE_MAX ? 0 : huge_page_size;
    /* Go ignores huge pages larger than a chunk (or not a power of 2). */
    if (m->huge > CHUNK || (m->huge & (m->huge - 1)) != 0)
        m->huge = 0;
    m->lowfree = UINTPTR_MAX;
    m->idx_cleared = 1;
    return m;
}

void pa_model_delete(pa_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nr; i++) {
        free(m->r[i].alloc);
        free(m->r[i].scav);
        free(m->r[i].mark);
    }
    free(m->r);
    free(m);
}

/* The region holding [addr, addr + n pages), or NULL. *page = page index. */
static region *find_region(const pa_model *m, uintptr_t addr, size_t n, size_t *page)
{
    for (size_t i = 0; i < m->nr; i++) {
        region *g = &m->r[i];
        if (addr >= g->base && addr < region_end(g)) {
            if (n > (region_end(g) - addr) / PG)
                return NULL;
            *page = (addr - g->base) / PG;
            return g;
        }
    }
    return NULL;
}

static void merge_regions(region *a, region *b)   /* b follows a directly */
{
    size_t np = a->npages + b->npages;
    a->alloc = realloc(a->alloc, np);
    a->scav = realloc(a->scav, np);
    a->mark = realloc(a->mark, np / CPAGES);
    if (!a->alloc || !a->scav || !a->mark)
        abort();
    memcpy(a->alloc + a->npages, b->alloc, b->npages);
    memcpy(a->scav + a->npages, b->scav, b->npages);
    memcpy(a->mark + a->npages / CPAGES, b->mark, b->npages / CPAGES);
    a->npages = np;
    free(b->alloc);
    free(b->scav);
    free(b->mark);
}

int pa_model_grow(pa_model *m, uintptr_t base, size_t size)
{
    if (size == 0 || base >= ADDR48 || size > ADDR48 - base)
        return EINVAL;
    uintptr_t lo = base & ~(CHUNK - 1);
    uintptr_t hi = (base + size + CHUNK - 1) & ~(CHUNK - 1);
    if (lo == 0)
        return EINVAL;
    for (size_t i = 0; i < m->nr; i++)
        if (lo < region_end(&m->r[i]) && m->r[i].base < hi)
            return EEXIST;

    region g;
    g.base = lo;
    g.npages = (hi - lo) / PG;
    g.alloc = xcalloc(g.npages, 1);
    g.scav = malloc(g.npages);
    if (!g.scav)
        abort();
    memset(g.scav, 1, g.npages);
    g.mark = xcalloc(g.npages / CPAGES, 1);

    if (m->nr == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 8;
        m->r = realloc(m->r, m->cap * sizeof *m->r);
        if (!m->r)
            abort();
    }
    size_t at = 0;
    while (at < m->nr && m->r[at].base < lo)
        at++;
    memmove(&m->r[at + 1], &m->r[at], (m->nr - at) * sizeof *m->r);
    m->r[at] = g;
    m->nr++;
    /* Coalesce with the following and the preceding range. */
    if (at + 1 < m->nr && region_end(&m->r[at]) == m->r[at + 1].base) {
        merge_regions(&m->r[at], &m->r[at + 1]);
        memmove(&m->r[at + 1], &m->r[at + 2], (m->nr - at - 2) * sizeof *m->r);
        m->nr--;
    }
    if (at > 0 && region_end(&m->r[at - 1]) == m->r[at].base) {
        merge_regions(&m->r[at - 1], &m->r[at]);
        memmove(&m->r[at], &m->r[at + 1], (m->nr - at - 1) * sizeof *m->r);
        m->nr--;
    }
    if (lo < m->lowfree)
        m->lowfree = lo;
    return 0;
}

/* First fit: lowest run of n free pages. Returns its region and first page
 * in *page, or NULL. Updates the lowfree hint on the way. */
static region *first_fit(pa_model *m, size_t n, size_t *page)
{
    uintptr_t first_free = 0;
    region *found = NULL;
    for (size_t i = 0; i < m->nr && !found; i++) {
        region *g = &m->r[i];
        if (region_end(g) <= m->lowfree)
            continue;
        size_t p = m->lowfree > g->base ? (m->lowfree - g->base) / PG : 0;
        size_t run = 0;
        for (; p < g->npages; p++) {
            if (g->alloc[p]) {
                run = 0;
                continue;
            }
            if (!first_free)
                first_free = g->base + p * PG;
            if (++run == n) {
                found = g;
                *page = p + 1 - n;
                break;
            }
        }
    }
    m->lowfree = first_free ? first_free : UINTPTR_MAX;
    return found;
}

/* Mark [p, p + n) of g allocated; returns the bytes that were scavenged. */
static size_t take_pages(region *g, size_t p, size_t n)
{
    size_t scav = 0;
    for (size_t i = p; i < p + n; i++) {
        scav += g->scav[i];
        g->alloc[i] = 1;
        g->scav[i] = 0;
    }
    return scav * PG;
}

uintptr_t pa_model_alloc(pa_model *m, size_t npages, size_t *scav_bytes)
{
    size_t p;
    region *g = npages ? first_fit(m, npages, &p) : NULL;
    if (scav_bytes)
        *scav_bytes = 0;
    if (!g)
        return 0;
    size_t scav = take_pages(g, p, npages);
    if (scav_bytes)
        *scav_bytes = scav;
    return g->base + p * PG;
}

/* Go's scavengeIndex.mark(base, limit). */
static void idx_mark(pa_model *m, uintptr_t base, uintptr_t limit)
{
    for (uintptr_t c = base & ~(CHUNK - 1); c <= ((limit - PG) & ~(CHUNK - 1)); c += CHUNK) {
        size_t p;
        region *g = find_region(m, c, 1, &p);
        if (!g)
            abort();
        g->mark[p / CPAGES] = 1;
    }
    uintptr_t ns = limit - PG;
    if (m->idx_cleared || ns > m->idx_search) {
        m->idx_search = ns;
        m->idx_marked = 1;
        m->idx_cleared = 0;
    }
}

int pa_model_free_valid(const pa_model *m, uintptr_t base, size_t npages)
{
    size_t p;
    const region *g;
    if (npages == 0 || base % PG != 0 || !(g = find_region(m, base, npages, &p)))
        return 0;
    for (size_t i = p; i < p + npages; i++)
        if (!g->alloc[i])
            return 0;
    return 1;
}

/* The pages of a valid free become free, scavenged or not (allocated
 * pages are never scavenged, so scav 0 leaves their bits as they were);
 * mark: index their chunks. */
static void release_pages(pa_model *m, uintptr_t base, size_t npages, int mark, int scav)
{
    size_t p;
    region *g = find_region(m, base, npages, &p);
    if (!g)
        abort();
    for (size_t i = p; i < p + npages; i++) {
        g->alloc[i] = 0;
        g->scav[i] = (uint8_t)(scav != 0);
    }
    if (mark)
        idx_mark(m, base, base + npages * PG);
    if (base < m->lowfree)
        m->lowfree = base;
}

int pa_model_free(pa_model *m, uintptr_t base, size_t npages, int mark)
{
    if (!pa_model_free_valid(m, base, npages))
        return -1;
    release_pages(m, base, npages, mark, 0);
    return 0;
}

int pa_model_scavenge_done(pa_model *m, uintptr_t base, size_t npages, int released)
{
    if (!pa_model_free_valid(m, base, npages))
        return -1;
    release_pages(m, base, npages, !released, released);
    return 0;
}

int pa_model_scavenge_mark_valid(const pa_model *m, uintptr_t base, size_t npages)
{
    size_t p;
    return npages != 0 && base < ADDR48 && npages <= (ADDR48 - base) / PG &&
           find_region(m, base, npages, &p) != NULL;
}

int pa_model_scavenge_mark(pa_model *m, uintptr_t base, size_t npages)
{
    if (!pa_model_scavenge_mark_valid(m, base, npages))
        return -1;
    idx_mark(m, base, base + npages * PG);
    return 0;
}

pagealloc_cache pa_model_alloc_to_cache(pa_model *m)
{
    pagealloc_cache c = {0, 0, 0};
    size_t p;
    region *g = first_fit(m, 1, &p);
    if (!g)
        return c;
    size_t b = p & ~(size_t)63;     /* regions are chunk aligned */
    c.base = g->base + b * PG;
    for (unsigned i = 0; i < 64; i++) {
        if (!g->alloc[b + i]) {
            c.cache |= (uint64_t)1 << i;
            if (g->scav[b + i])
                c.scav |= (uint64_t)1 << i;
            g->alloc[b + i] = 1;
            g->scav[b + i] = 0;
        }
    }
    return c;
}

uintptr_t pa_model_cache_alloc(pagealloc_cache *c, size_t npages, size_t *scav_bytes)
{
    if (scav_bytes)
        *scav_bytes = 0;
    if (c->cache == 0 || npages == 0 || npages > 64)
        return 0;
    uint64_t ones = npages == 64 ? ~(uint64_t)0 : ((uint64_t)1 << npages) - 1;
    for (unsigned i = 0; i + npages <= 64; i++) {
        uint64_t mask = ones << i;
        if ((c->cache & mask) == mask) {
            if (scav_bytes)
                *scav_bytes = (size_t)popcount64(c->scav & mask) * PG;
            c->cache &= ~mask;
            c->scav &= ~mask;
            return c->base + i * PG;
        }
    }
    return 0;
}

int pa_model_cache_flush_valid(const pagealloc_cache *c, const pa_model *m)
{
    if (c->cache == 0)
        return 1;
    size_t p;
    const region *g = find_region(m, c->base, 64, &p);
    if (!g)
        abort();
    for (unsigned i = 0; i < 64; i++)
        if ((c->cache >> i & 1) && !g->alloc[p + i])
            return 0;
    return 1;
}

void pa_model_cache_flush(pagealloc_cache *c, pa_model *m)
{
    if (c->cache == 0)
        return;          /* Go returns early and leaves the struct alone */
    size_t p;
    region *g = find_region(m, c->base, 64, &p);
    if (!g)
        abort();
    for (unsigned i = 0; i < 64; i++) {
        if (c->cache >> i & 1)
            g->alloc[p + i] = 0;
        if (c->scav >> i & 1)
            g->scav[p + i] = 1;
    }
    if (c->base < m->lowfree)
        m->lowfree = c->base;
    c->base = 0;
    c->cache = c->scav = 0;
}

/* Go's scavengeIndex.find: the chunk base to scavenge next, or 0. */
static uintptr_t idx_find(pa_model *m)
{
    if (m->idx_cleared)
        return 0;
    uintptr_t sc = m->idx_search / CHUNK;      /* chunk number */
    uintptr_t best = 0;
    for (size_t i = m->nr; i-- > 0 && !best;) {
        region *g = &m->r[i];
        for (size_t k = g->npages / CPAGES; k-- > 0;) {
            uintptr_t c = g->base / CHUNK + k;
            if (g->mark[k] && c / 8 <= sc / 8) {  /* Go scans whole index bytes */
                best = c;
                break;
            }
        }
    }
    if (!best) {
        if (!m->idx_marked)
            m->idx_cleared = 1;
        return 0;
    }
    if (best != sc) {
        uintptr_t ns = best * CHUNK + CHUNK - PG;
        if (m->idx_marked) {
            m->idx_search = ns;
            m->idx_marked = 0;
        } else if (ns < m->idx_search) {
            m->idx_search = ns;
        }
    }
    return best * CHUNK;
}

/* Go's findScavengeCandidate(511, min, max) on one chunk. */
static int scav_candidate(const pa_model *m, const uint8_t *alloc, const uint8_t *scav,
                          size_t min, size_t max, size_t *start, size_t *size)
{
    uint8_t good[CPAGES];
    max = (max + min - 1) / min * min;
    for (size_t g = 0; g < CPAGES; g += min) {
        int ok = 1;
        for (size_t i = g; i < g + min; i++)
            if (alloc[i] || scav[i])
                ok = 0;
        memset(good + g, ok, min);
    }
    size_t end = CPAGES;
    while (end > 0 && !good[end - 1])
        end--;
    if (end == 0)
        return 0;
    size_t run = 0;
    while (run < end && good[end - 1 - run])
        run++;
    size_t sz = run < max ? run : max;
    size_t st = end - sz;
    if (m->huge > PG && m->huge > m->phys) {
        size_t hp = m->huge / PG;
        size_t above = (st + hp - 1) / hp * hp;
        if (above <= end) {
            size_t below = st / hp * hp;
            if (below >= end - run) {
                sz += st - below;
                st = below;
            }
        }
    }
    *start = st;
    *size = sz;
    return 1;
}

/* The next run to scavenge, of at most max bytes (Go's scavengeOne on the
 * chunks scavengeIndex.find hands out): its address, *npages, and its
 * region and first page in *rg, *rp; or 0 when the index has nothing
 * left. A chunk without a candidate (or whose longest free run is shorter
 * than minPages) loses its mark on the way. */
static uintptr_t next_run(pa_model *m, size_t max, size_t *npages, region **rg, size_t *rp)
{
    size_t max_pages = max / PG + (max % PG != 0);
    size_t min_pages = m->phys / PG;
    if (min_pages < 1)
        min_pages = 1;
    for (;;) {
        uintptr_t c = idx_find(m);
        if (!c)
            return 0;
        size_t p;
        region *g = find_region(m, c, CPAGES, &p);
        if (!g)
            abort();
        uint8_t *alloc = g->alloc + p, *scav = g->scav + p;
        size_t longest = 0, run = 0;
        for (size_t i = 0; i < CPAGES; i++) {
            run = alloc[i] ? 0 : run + 1;
            if (run > longest)
                longest = run;
        }
        size_t st, sz;
        if (longest >= min_pages && scav_candidate(m, alloc, scav, min_pages, max_pages, &st, &sz)) {
            *npages = sz;
            *rg = g;
            *rp = p + st;
            return c + st * PG;
        }
        g->mark[p / CPAGES] = 0;
    }
}

size_t pa_model_scavenge(pa_model *m, size_t nbytes)
{
    size_t released = 0;
    while (released < nbytes) {
        size_t n, p;
        region *g;
        if (!next_run(m, nbytes - released, &n, &g, &p))
            break;
        memset(g->scav + p, 1, n);
        released += n * PG;
    }
    return released;
}

uintptr_t pa_model_scavenge_take(pa_model *m, size_t max, size_t *npages)
{
    size_t p;
    region *g;
    *npages = 0;
    if (max == 0)
        return 0;
    uintptr_t a = next_run(m, max, npages, &g, &p);
    if (a)
        (void)take_pages(g, p, *npages);
    return a;
}

int pa_model_chunk_bits(const pa_model *m, uintptr_t chunk_base,
                        uint64_t alloc[8], uint64_t scav[8])
{
    size_t p;
    region *g = find_region(m, chunk_base, CPAGES, &p);
    if (!g)
        return 0;
    for (unsigned w = 0; w < 8; w++) {
        uint64_t a = 0, s = 0;
        for (unsigned i = 0; i < 64; i++) {
            a |= (uint64_t)g->alloc[p + w * 64 + i] << i;
            s |= (uint64_t)g->scav[p + w * 64 + i] << i;
        }
        alloc[w] = a;
        if (scav)
            scav[w] = s;
    }
    return 1;
}

size_t pa_model_in_use(const pa_model *m, uintptr_t (*ranges)[2], size_t cap)
{
    for (size_t i = 0; i < m->nr && i < cap; i++) {
        ranges[i][0] = m->r[i].base;
        ranges[i][1] = region_end(&m->r[i]);
    }
    return m->nr;
}

void pa_model_bounds(const pa_model *m, uintptr_t *start, uintptr_t *end)
{
    *start = m->nr ? m->r[0].base : 0;
    *end = m->nr ? region_end(&m->r[m->nr - 1]) : 0;
}

size_t pa_model_heap_pages(const pa_model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nr; i++)
        n += m->r[i].npages;
    return n;
}

void pa_model_stats(const pa_model *m, pagealloc_stats *out)
{
    memset(out, 0, sizeof *out);
    out->version = PAGEALLOC_STATS_VERSION;
    for (size_t i = 0; i < m->nr; i++) {
        const region *g = &m->r[i];
        out->heap_bytes += g->npages * PG;
        out->chunks += g->npages / CPAGES;
        for (size_t p = 0; p < g->npages; p++) {
            out->free_bytes += g->alloc[p] ? 0 : PG;
            out->scavenged_bytes += g->scav[p] ? PG : 0;
        }
    }
}

int pa_model_compare(const pa_model *m, const pagealloc *pa, char *msg, size_t msg_size)
{
    uintptr_t ls, le, ms, me;
    pagealloc_test_bounds(pa, &ls, &le);
    pa_model_bounds(m, &ms, &me);
    if (ls != ms || le != me) {
        snprintf(msg, msg_size, "bounds: pagealloc [0x%" PRIxPTR ", 0x%" PRIxPTR
                 "), model [0x%" PRIxPTR ", 0x%" PRIxPTR ")", ls, le, ms, me);
        return -1;
    }
    size_t cap = m->nr + 8;
    uintptr_t (*lr)[2] = xcalloc(cap, sizeof *lr);
    size_t ln = pagealloc_test_in_use(pa, lr, cap);
    int bad = ln != m->nr;
    for (size_t i = 0; !bad && i < ln; i++)
        bad = lr[i][0] != m->r[i].base || lr[i][1] != region_end(&m->r[i]);
    if (bad) {
        int o = snprintf(msg, msg_size, "in-use ranges: pagealloc %zu:", ln);
        for (size_t i = 0; i < ln && i < cap && o > 0 && (size_t)o < msg_size; i++)
            o += snprintf(msg + o, msg_size - (size_t)o, " [0x%" PRIxPTR ",0x%" PRIxPTR ")",
                          lr[i][0], lr[i][1]);
        if (o > 0 && (size_t)o < msg_size)
            o += snprintf(msg + o, msg_size - (size_t)o, "; model %zu:", m->nr);
        for (size_t i = 0; i < m->nr && o > 0 && (size_t)o < msg_size; i++)
            o += snprintf(msg + o, msg_size - (size_t)o, " [0x%" PRIxPTR ",0x%" PRIxPTR ")",
                          m->r[i].base, region_end(&m->r[i]));
        free(lr);
        return -1;
    }
    free(lr);
    for (size_t i = 0; i < m->nr; i++) {
        for (uintptr_t c = m->r[i].base; c < region_end(&m->r[i]); c += CHUNK) {
            uint64_t la[8], lsv[8], ma[8], msv[8];
            if (!pagealloc_test_chunk_bits(pa, c, la, lsv)) {
                snprintf(msg, msg_size, "chunk 0x%" PRIxPTR ": pagealloc has no bitmaps", c);
                return -1;
            }
            pa_model_chunk_bits(m, c, ma, msv);
            for (unsigned w = 0; w < 8; w++) {
                if (la[w] != ma[w] || lsv[w] != msv[w]) {
                    uint64_t d = (la[w] ^ ma[w]) | (lsv[w] ^ msv[w]);
                    unsigned b = (unsigned)__builtin_ctzll(d);
                    snprintf(msg, msg_size, "chunk 0x%" PRIxPTR " word %u (first difference: page "
                             "%u, address 0x%" PRIxPTR "): pagealloc alloc 0x%016" PRIx64
                             " scav 0x%016" PRIx64 ", model alloc 0x%016" PRIx64 " scav 0x%016" PRIx64,
                             c, w, w * 64 + b, c + (w * 64 + b) * PG, la[w], lsv[w], ma[w], msv[w]);
                    return -1;
                }
            }
        }
    }
    pagealloc_stats ls_, ms_;
    memset(&ls_, 0, sizeof ls_);
    pagealloc_get_stats(pa, &ls_);
    pa_model_stats(m, &ms_);
    if (ls_.version != PAGEALLOC_STATS_VERSION ||
        ls_.heap_bytes != ms_.heap_bytes || ls_.free_bytes != ms_.free_bytes ||
        ls_.scavenged_bytes != ms_.scavenged_bytes || ls_.chunks != ms_.chunks) {
        snprintf(msg, msg_size, "stats: pagealloc heap %" PRIu64 " free %" PRIu64 " scavenged %" PRIu64
                 " chunks %" PRIu64 "; model heap %" PRIu64 " free %" PRIu64 " scavenged %" PRIu64
                 " chunks %" PRIu64, ls_.heap_bytes, ls_.free_bytes, ls_.scavenged_bytes, ls_.chunks,
                 ms_.heap_bytes, ms_.free_bytes, ms_.scavenged_bytes, ms_.chunks);
        return -1;
    }
    char cm[512] = "";
    int rc = pagealloc_check(pa, cm, sizeof cm);
    if (rc != 0) {
        snprintf(msg, msg_size, "pagealloc_check: %d: %s", rc, cm);
        return -1;
    }
    return 0;
}

/* ===================================================================== */
/* operations                                                             */
/* ===================================================================== */

static const char *const op_names[] = {
    [PA_OP_CONFIG] = "config", [PA_OP_GROW] = "grow",   [PA_OP_ALLOC] = "alloc",
    [PA_OP_FREE] = "free",     [PA_OP_TFREE] = "tfree", [PA_OP_CACHE] = "cache",
    [PA_OP_CALLOC] = "calloc", [PA_OP_FLUSH] = "flush", [PA_OP_SCAV] = "scav",
    [PA_OP_CHECK] = "check",   [PA_OP_SEARCHADDR] = "searchaddr",
};
static const int op_nargs[] = {
    [PA_OP_CONFIG] = 2, [PA_OP_GROW] = 2,   [PA_OP_ALLOC] = 1, [PA_OP_FREE] = 2,
    [PA_OP_TFREE] = 2,  [PA_OP_CACHE] = 0,  [PA_OP_CALLOC] = 2, [PA_OP_FLUSH] = 1,
    [PA_OP_SCAV] = 1,   [PA_OP_CHECK] = 0,  [PA_OP_SEARCHADDR] = 0,
};

int pa_op_parse(const char *line, pa_op *op)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line == '\0' || *line == '\n' || *line == '\r' || *line == '#')
        return 0;
    char name[16];
    int used = 0;
    if (sscanf(line, "%15s%n", name, &used) != 1)
        return -1;
    for (int k = 0; k <= PA_OP_SEARCHADDR; k++) {
        if (strcmp(name, op_names[k]) != 0)
            continue;
        op->kind = (pa_op_kind)k;
        op->a = op->b = 0;
        const char *s = line + used;
        uint64_t v[2] = {0, 0};
        for (int i = 0; i < op_nargs[k]; i++) {
            while (*s == ' ' || *s == '\t')
                s++;
            char *e;
            if (strncmp(s, "max", 3) == 0) {
                v[i] = UINT64_MAX;
                e = (char *)s + 3;
            } else {
                errno = 0;
                v[i] = strtoull(s, &e, 0);
                if (e == s || errno)
                    return -1;
            }
            s = e;
        }
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        if (*s != '\0')
            return -1;
        op->a = v[0];
        op->b = v[1];
        return 1;
    }
    return -1;
}

void pa_op_format(const pa_op *op, char *buf, size_t size)
{
    switch (op->kind) {
    case PA_OP_CONFIG: snprintf(buf, size, "config %" PRIu64 " %" PRIu64, op->a, op->b); break;
    case PA_OP_GROW:   snprintf(buf, size, "grow 0x%" PRIx64 " 0x%" PRIx64, op->a, op->b); break;
    case PA_OP_ALLOC:  snprintf(buf, size, "alloc %" PRIu64, op->a); break;
    case PA_OP_FREE:
    case PA_OP_TFREE:
        snprintf(buf, size, "%s 0x%" PRIx64 " %" PRIu64, op_names[op->kind], op->a, op->b);
        break;
    case PA_OP_CACHE:  snprintf(buf, size, "cache"); break;
    case PA_OP_CALLOC: snprintf(buf, size, "calloc %" PRIu64 " %" PRIu64, op->a, op->b); break;
    case PA_OP_FLUSH:  snprintf(buf, size, "flush %" PRIu64, op->a); break;
    case PA_OP_SCAV:
        if (op->a == UINT64_MAX)
            snprintf(buf, size, "scav max");
        else
            snprintf(buf, size, "scav %" PRIu64, op->a);
        break;
    case PA_OP_CHECK:  snprintf(buf, size, "check"); break;
    case PA_OP_SEARCHADDR: snprintf(buf, size, "searchaddr"); break;
    }
}

int pa_ops_write(const char *path, const pa_op *ops, size_t nops)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    char line[128];
    for (size_t i = 0; i < nops; i++) {
        pa_op_format(&ops[i], line, sizeof line);
        fprintf(f, "%s\n", line);
    }
    return fclose(f) == 0 ? 0 : -1;
}

int pa_ops_read(const char *path, pa_op **ops, size_t *nops, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = 0, cap = 1024;
    pa_op *v = xcalloc(cap, sizeof *v);
    char line[512];
    unsigned ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        pa_op op;
        int rc = pa_op_parse(line, &op);
        if (rc < 0) {
            snprintf(err, err_size, "%s:%u: cannot parse: %s", path, ln, line);
            free(v);
            fclose(f);
            return -1;
        }
        if (rc == 0)
            continue;
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
            if (!v)
                abort();
        }
        v[n++] = op;
    }
    fclose(f);
    *ops = v;
    *nops = n;
    return 0;
}

/* ===================================================================== */
/* runner                                                                 */
/* ===================================================================== */

struct pa_runner {
    pagealloc       *pa;
    pa_model        *m;
    size_t           phys, huge;
    pagealloc_cache *lc, *mc;     /* caches by slot: library's, model's */
    size_t           nc, capc;
};

static char pa_lib_error[512];
static int  pa_lib_errors;

static void runner_error_handler(const char *msg, void *arg)
{
    (void)arg;
    if (pa_lib_errors++ == 0)
        snprintf(pa_lib_error, sizeof pa_lib_error, "%s", msg);
}

pa_runner *pa_runner_new(void)
{
    pa_runner *r = xcalloc(1, sizeof *r);
    pagealloc_set_error_handler(runner_error_handler, NULL);
    return r;
}

static void runner_reset(pa_runner *r)
{
    if (r->pa)
        pagealloc_delete(r->pa);
    pa_model_delete(r->m);
    r->pa = NULL;
    r->m = NULL;
    r->nc = 0;
}

void pa_runner_delete(pa_runner *r)
{
    if (!r)
        return;
    runner_reset(r);
    free(r->lc);
    free(r->mc);
    free(r);
    pagealloc_set_error_handler(NULL, NULL);
}

pagealloc *pa_runner_lib(pa_runner *r) { return r->pa; }
pa_model *pa_runner_model(pa_runner *r) { return r->m; }
size_t pa_runner_ncaches(const pa_runner *r) { return r->nc; }
const pagealloc_cache *pa_runner_cache(const pa_runner *r, size_t k)
{
    return k < r->nc ? &r->lc[k] : NULL;
}

/* The state line of a CHECK op (Go's pagealDiffState). */
static void state_line(const pagealloc *pa, pa_strbuf *t)
{
    uintptr_t s, e;
    pagealloc_test_bounds(pa, &s, &e);
    uintptr_t dummy[1][2];
    size_t n = pagealloc_test_in_use(pa, dummy, 1);
    uintptr_t (*rg)[2] = xcalloc(n + 1, sizeof *rg);
    n = pagealloc_test_in_use(pa, rg, n + 1);
    pa_strbuf_printf(t, "chk 0x%" PRIxPTR " 0x%" PRIxPTR " n=%zu", s, e, n);
    uint64_t h = 0xcbf29ce484222325ull;
    uint64_t nfree = 0, nscav = 0;
    for (size_t i = 0; i < n; i++) {
        pa_strbuf_printf(t, " [0x%" PRIxPTR ",0x%" PRIxPTR ")", rg[i][0], rg[i][1]);
        for (uintptr_t c = rg[i][0]; c < rg[i][1]; c += CHUNK) {
            uint64_t a[8], sv[8];
            if (!pagealloc_test_chunk_bits(pa, c, a, sv)) {
                pa_strbuf_printf(t, " nochunk=0x%" PRIxPTR, c);
                continue;
            }
            for (int w = 0; w < 8; w++) {
                h = (h ^ a[w]) * 0x100000001b3ull;
                nfree += 64 - (uint64_t)popcount64(a[w]);
            }
            for (int w = 0; w < 8; w++) {
                h = (h ^ sv[w]) * 0x100000001b3ull;
                nscav += (uint64_t)popcount64(sv[w]);
            }
        }
    }
    pa_strbuf_printf(t, " free=%" PRIu64 " scav=%" PRIu64 " h=0x%016" PRIx64 "\n", nfree, nscav, h);
    free(rg);
}

static int cache_eq(const pagealloc_cache *a, const pagealloc_cache *b)
{
    return a->base == b->base && a->cache == b->cache && a->scav == b->scav;
}

#define FAIL(...) do { snprintf(err, err_size, __VA_ARGS__); return -1; } while (0)

int pa_runner_exec(pa_runner *r, const pa_op *op, pa_answer *ans, pa_strbuf *text,
                   char *err, size_t err_size)
{
    pa_answer a;
    memset(&a, 0, sizeof a);
    if (!ans)
        ans = &a;
    memset(ans, 0, sizeof *ans);
    if (op->kind != PA_OP_CONFIG && !r->pa)
        FAIL("no config op before the first operation");
    pa_lib_errors = 0;

    switch (op->kind) {
    case PA_OP_CONFIG: {
        runner_reset(r);
        r->phys = (size_t)op->a;
        r->huge = (size_t)op->b;
        pagealloc_options o;
        memset(&o, 0, sizeof o);
        o.unbacked = 1;
        o.phys_page_size = r->phys;
        o.huge_page_size = r->huge ? r->huge : SIZE_MAX;
        r->pa = pagealloc_new(&o);
        if (!r->pa)
            FAIL("pagealloc_new(phys %zu, huge %zu) failed: %s", r->phys, r->huge, strerror(errno));
        r->m = pa_model_new(r->phys, r->huge ? r->huge : SIZE_MAX);
        if (text)
            pa_strbuf_printf(text, "config %zu %zu\n", r->phys, r->huge);
        break;
    }
    case PA_OP_GROW: {
        int lrc = pagealloc_grow(r->pa, (uintptr_t)op->a, (size_t)op->b);
        int mrc = pa_model_grow(r->m, (uintptr_t)op->a, (size_t)op->b);
        ans->rc = lrc;
        if (text) {
            if (lrc)
                pa_strbuf_printf(text, "err %d\n", lrc);
            else
                pa_strbuf_printf(text, "ok\n");
        }
        if (lrc != mrc)
            FAIL("pagealloc_grow returned %d (%s), model %d (%s)", lrc, strerror(lrc), mrc, strerror(mrc));
        break;
    }
    case PA_OP_ALLOC: {
        size_t ls = 0, ms = 0;
        uintptr_t la = pagealloc_alloc(r->pa, (size_t)op->a, &ls);
        uintptr_t ma = pa_model_alloc(r->m, (size_t)op->a, &ms);
        ans->addr = la;
        ans->scav = ls;
        if (text)
            pa_strbuf_printf(text, "0x%" PRIxPTR " %zu\n", la, ls);
        if (la != ma || ls != ms)
            FAIL("pagealloc 0x%" PRIxPTR " scav %zu, model 0x%" PRIxPTR " scav %zu", la, ls, ma, ms);
        break;
    }
    case PA_OP_FREE:
    case PA_OP_TFREE: {
        int mark = op->kind == PA_OP_FREE;
        if (pa_model_free(r->m, (uintptr_t)op->a, (size_t)op->b, mark) != 0)
            FAIL("invalid free in the sequence (pages not all allocated)");
        if (mark)
            pagealloc_free(r->pa, (uintptr_t)op->a, (size_t)op->b);
        else
            pagealloc_test_free(r->pa, (uintptr_t)op->a, (size_t)op->b);
        if (text)
            pa_strbuf_printf(text, "-\n");
        break;
    }
    case PA_OP_CACHE: {
        if (r->nc == r->capc) {
            r->capc = r->capc ? 2 * r->capc : 16;
            r->lc = realloc(r->lc, r->capc * sizeof *r->lc);
            r->mc = realloc(r->mc, r->capc * sizeof *r->mc);
            if (!r->lc || !r->mc)
                abort();
        }
        pagealloc_cache lc = pagealloc_alloc_to_cache(r->pa);
        pagealloc_cache mc = pa_model_alloc_to_cache(r->m);
        r->lc[r->nc] = lc;
        r->mc[r->nc] = mc;
        r->nc++;
        ans->cache = lc;
        if (text)
            pa_strbuf_printf(text, "0x%" PRIxPTR " 0x%" PRIx64 " 0x%" PRIx64 "\n", lc.base, lc.cache, lc.scav);
        if (!cache_eq(&lc, &mc))
            FAIL("pagealloc cache {0x%" PRIxPTR ", 0x%016" PRIx64 ", 0x%016" PRIx64 "}, model {0x%"
                 PRIxPTR ", 0x%016" PRIx64 ", 0x%016" PRIx64 "}",
                 lc.base, lc.cache, lc.scav, mc.base, mc.cache, mc.scav);
        break;
    }
    case PA_OP_CALLOC: {
        if (op->a >= r->nc)
            FAIL("no cache slot %" PRIu64, op->a);
        pagealloc_cache *lc = &r->lc[op->a], *mc = &r->mc[op->a];
        size_t ls = 0, ms = 0;
        uintptr_t la = pagealloc_cache_alloc(lc, (size_t)op->b, &ls);
        uintptr_t ma = pa_model_cache_alloc(mc, (size_t)op->b, &ms);
        ans->addr = la;
        ans->scav = ls;
        if (text)
            pa_strbuf_printf(text, "0x%" PRIxPTR " %zu\n", la, ls);
        if (la != ma || ls != ms)
            FAIL("pagealloc 0x%" PRIxPTR " scav %zu, model 0x%" PRIxPTR " scav %zu", la, ls, ma, ms);
        if (lc->cache != mc->cache || lc->scav != mc->scav)
            FAIL("cache after: pagealloc {0x%016" PRIx64 ", 0x%016" PRIx64 "}, model {0x%016"
                 PRIx64 ", 0x%016" PRIx64 "}", lc->cache, lc->scav, mc->cache, mc->scav);
        break;
    }
    case PA_OP_FLUSH: {
        if (op->a >= r->nc)
            FAIL("no cache slot %" PRIu64, op->a);
        pagealloc_cache_flush(&r->lc[op->a], r->pa);
        pa_model_cache_flush(&r->mc[op->a], r->m);
        if (text)
            pa_strbuf_printf(text, "-\n");
        if (r->lc[op->a].cache != 0 || r->lc[op->a].scav != 0)
            FAIL("cache not empty after flush: {0x%016" PRIx64 ", 0x%016" PRIx64 "}",
                 r->lc[op->a].cache, r->lc[op->a].scav);
        break;
    }
    case PA_OP_SCAV: {
        size_t n = op->a == UINT64_MAX ? SIZE_MAX : (size_t)op->a;
        size_t lr = pagealloc_scavenge(r->pa, n);
        size_t mr = pa_model_scavenge(r->m, n);
        ans->released = lr;
        if (text)
            pa_strbuf_printf(text, "%zu\n", lr);
        if (lr != mr)
            FAIL("pagealloc released %zu bytes, model %zu", lr, mr);
        break;
    }
    case PA_OP_CHECK: {
        if (text)
            state_line(r->pa, text);
        char msg[1024];
        if (pa_model_compare(r->m, r->pa, msg, sizeof msg) != 0)
            FAIL("state: %s", msg);
        break;
    }
    case PA_OP_SEARCHADDR: {
        uintptr_t sa = pagealloc_test_search_addr(r->pa);
        ans->addr = sa;
        if (text) {
            if (sa == UINTPTR_MAX)
                pa_strbuf_printf(text, "max\n");
            else
                pa_strbuf_printf(text, "0x%" PRIxPTR "\n", sa);
        }
        break;
    }
    }
    if (pa_lib_errors)
        FAIL("pagealloc reported an error: %s", pa_lib_error);
    return 0;
}

/* ===================================================================== */
/* random sequences                                                       */
/* ===================================================================== */

typedef struct live_run { uintptr_t addr; size_t n; } live_run;

typedef struct gen {
    rng_xoshiro              *rng;
    const pa_gen_config *cfg;
    pa_gen_result       *res;
    pa_runner           *run;
    size_t               opcap;
    live_run            *live;
    size_t               nlive, caplive;
    size_t              *open;        /* cache slots not flushed yet */
    size_t               nopen, capopen;
    uint64_t             used;        /* pages in live runs and in open caches */
    struct { uintptr_t base; size_t size; } plan[64];
    size_t               nplan, nextplan;
    int                  want_answers;
    char                *err;
    size_t               err_size;
} gen;

static void live_add(gen *g, uintptr_t addr, size_t n)
{
    if (g->nlive == g->caplive) {
        g->caplive = g->caplive ? 2 * g->caplive : 256;
        g->live = realloc(g->live, g->caplive * sizeof *g->live);
        if (!g->live)
            abort();
    }
    g->live[g->nlive].addr = addr;
    g->live[g->nlive].n = n;
    g->nlive++;
}

static int emit(gen *g, pa_op op, pa_answer *ans)
{
    pa_gen_result *res = g->res;
    if (res->nops == g->opcap) {
        g->opcap = g->opcap ? 2 * g->opcap : 4096;
        res->ops = realloc(res->ops, g->opcap * sizeof *res->ops);
        if (!res->ops)
            abort();
    }
    res->ops[res->nops++] = op;
    res->counts[op.kind]++;
    char msg[1536];
    if (pa_runner_exec(g->run, &op, ans, g->want_answers ? &res->answers : NULL, msg, sizeof msg) != 0) {
        char line[128];
        pa_op_format(&op, line, sizeof line);
        snprintf(g->err, g->err_size, "op #%zu `%s`: %s", res->nops - 1, line, msg);
        return -1;
    }
    return 0;
}

/* Plan the grows of one geometry; returns how many to do at the start. */
static size_t make_plan(gen *g)
{
    rng_xoshiro *rng = g->rng;
    uintptr_t b;
    int geo = g->cfg->geometry;
    switch (rng_xoshiro_below(rng, geo == PA_GEO_SPLIT || geo == PA_GEO_MANY ? 3 : 5)) {
    case 0:  b = 0x3000000000; break;       /* Go's tests' BaseChunkIdx */
    case 1:  b = 0xc000000000; break;       /* Go's first heap hint */
    case 2:  b = (uintptr_t)rng_xoshiro_range(rng, ((uintptr_t)1 << 30) / CHUNK,
                                          ((uintptr_t)1 << 45) / CHUNK) * CHUNK;
             break;
    case 3:  b = CHUNK; break;              /* the lowest valid chunk */
    default: b = ((uintptr_t)1 << 47) - 1024 * CHUNK; break;  /* top of user space */
    }
    size_t ninit = 1;
    g->nplan = 0;
#define PLAN(B, S) do { g->plan[g->nplan].base = (B); g->plan[g->nplan].size = (S); g->nplan++; } while (0)
    switch (g->cfg->geometry) {
    case PA_GEO_ONE:
        PLAN(b, CHUNK);
        break;
    case PA_GEO_CONTIG: {
        size_t n = (size_t)rng_xoshiro_range(rng, 2, 8);
        switch (rng_xoshiro_below(rng, 4)) {
        case 0:
            PLAN(b, n * CHUNK);
            break;
        case 1:   /* ascending, later chunks grown when needed */
            for (size_t i = 0; i < n; i++)
                PLAN(b + i * CHUNK, CHUNK);
            ninit = (size_t)rng_xoshiro_range(rng, 1, n);
            break;
        case 2:   /* descending: every grow lands right below the heap */
            for (size_t i = n; i-- > 0;)
                PLAN(b + i * CHUNK, CHUNK);
            ninit = (size_t)rng_xoshiro_range(rng, 1, n);
            break;
        default:  /* random order, in pieces of 1-2 chunks */
            for (size_t i = 0; i < n;) {
                size_t k = i + 1 < n ? (size_t)rng_xoshiro_range(rng, 1, 2) : 1;
                PLAN(b + i * CHUNK, k * CHUNK);
                i += k;
            }
            ninit = (size_t)rng_xoshiro_range(rng, 1, g->nplan);
            for (size_t i = g->nplan; i > 1; i--) {
                size_t j = (size_t)rng_xoshiro_below(rng, i);
                __typeof__(g->plan[0]) t = g->plan[i - 1];
                g->plan[i - 1] = g->plan[j];
                g->plan[j] = t;
            }
        }
        break;
    }
    case PA_GEO_SPLIT: {
        size_t k = (size_t)rng_xoshiro_range(rng, 3, 6);
        uintptr_t cur = b;
        for (size_t i = 0; i < k; i++) {
            size_t sz = (size_t)rng_xoshiro_range(rng, 1, 3) * CHUNK;
            if (i > 0) {
                uint64_t r = rng_xoshiro_below(rng, 100);
                if (r < 15)
                    cur += 0;                                        /* adjacent */
                else if (r < 40)
                    cur += rng_xoshiro_range(rng, 1, 8) * CHUNK;          /* near */
                else if (r < 75)
                    cur += rng_xoshiro_range(rng, 256, 4096) * CHUNK;     /* 1-16 GiB */
                else
                    cur += rng_xoshiro_range(rng, 1u << 18, 1u << 20) * CHUNK; /* 1-4 TiB */
            }
            PLAN(cur, sz);
            cur += sz;
        }
        for (size_t i = g->nplan; i > 1; i--) {
            size_t j = (size_t)rng_xoshiro_below(rng, i);
            __typeof__(g->plan[0]) t = g->plan[i - 1];
            g->plan[i - 1] = g->plan[j];
            g->plan[j] = t;
        }
        ninit = (size_t)rng_xoshiro_range(rng, 1, k);
        break;
    }
    case PA_GEO_MANY: {
        size_t k = (size_t)rng_xoshiro_range(rng, 20, 60);
        uintptr_t cur = b;
        for (size_t i = 0; i < k; i++) {
            size_t sz = (size_t)rng_xoshiro_range(rng, 1, 2) * CHUNK;
            if (i > 0 && rng_xoshiro_below(rng, 5) != 0)
                cur += rng_xoshiro_range(rng, 1, 4) * CHUNK;
            PLAN(cur, sz);
            cur += sz;
        }
        for (size_t i = g->nplan; i > 1; i--) {
            size_t j = (size_t)rng_xoshiro_below(rng, i);
            __typeof__(g->plan[0]) t = g->plan[i - 1];
            g->plan[i - 1] = g->plan[j];
            g->plan[j] = t;
        }
        ninit = (size_t)rng_xoshiro_range(rng, 1, k / 2);
        break;
    }
    default: { /* PA_GEO_BIG */
        size_t n = (size_t)rng_xoshiro_range(rng, 16, 32);
        if (rng_xoshiro_below(rng, 5) == 0) {
            /* 64-600 chunks straddling a 2 GiB (summary level 1) boundary. */
            uintptr_t l1 = (uintptr_t)2 << 30;
            n = (size_t)rng_xoshiro_range(rng, 64, 600);
            uintptr_t edge = (b + l1 - 1) / l1 * l1;
            if (edge + n * CHUNK > ((uintptr_t)1 << 47))
                edge -= l1;
            while (edge < (n + 1) * CHUNK)
                edge += l1;
            b = edge - (uintptr_t)rng_xoshiro_range(rng, 1, n - 1) * CHUNK;
        }
        PLAN(b, n * CHUNK);
        if (b < ((uintptr_t)1 << 46) && rng_xoshiro_below(rng, 2))
            PLAN(b + ((uintptr_t)1 << 38), CHUNK);
        else if (b > ((uintptr_t)65 << 30))
            PLAN(b - ((uintptr_t)rng_xoshiro_range(rng, 1, 64) << 30), CHUNK);
        else
            PLAN(b + n * CHUNK + ((uintptr_t)rng_xoshiro_range(rng, 1, 64) << 30), CHUNK);
        ninit = (size_t)rng_xoshiro_range(rng, 1, 2);
        break;
    }
    }
#undef PLAN
    return ninit;
}

static int do_grow(gen *g)
{
    uintptr_t base = g->plan[g->nextplan].base;
    size_t size = g->plan[g->nextplan].size;
    g->nextplan++;
    if (!g->cfg->go_compatible && rng_xoshiro_below(g->rng, 3) == 0) {
        /* Same chunks, unaligned bounds: grow rounds out to chunks. */
        uintptr_t limit = base + size;
        uintptr_t nb = base + (uintptr_t)rng_xoshiro_below(g->rng, CHUNK);
        uintptr_t nl = limit - (uintptr_t)rng_xoshiro_below(g->rng, CHUNK - 1);
        if (nl <= nb)
            nl = nb + 1;
        base = nb;
        size = nl - nb;
    }
    pa_op op = {PA_OP_GROW, base, size};
    pa_answer a;
    if (emit(g, op, &a) != 0)
        return -1;
    if (a.rc != 0) {
        snprintf(g->err, g->err_size, "planned grow 0x%" PRIxPTR " + 0x%zx failed: %d", base, size, a.rc);
        return -1;
    }
    return 0;
}

static int do_bad_grow(gen *g)
{
    pa_model *m = pa_runner_model(g->run);
    uintptr_t rg[1][2];
    size_t n = pa_model_in_use(m, rg, 1);
    pa_op op = {PA_OP_GROW, 0, 0};
    switch (rng_xoshiro_below(g->rng, 3)) {
    case 0:  /* empty */
        op.a = (n ? rg[0][0] : (uintptr_t)0x3000000000) + rng_xoshiro_below(g->rng, 1000) * PG;
        op.b = 0;
        break;
    case 1:  /* chunk 0 */
        op.a = rng_xoshiro_below(g->rng, CHUNK);
        op.b = rng_xoshiro_range(g->rng, 1, CHUNK);
        break;
    default: /* overlaps the first in-use range */
        if (!n)
            return 0;
        op.a = rg[0][0] + rng_xoshiro_below(g->rng, rg[0][1] - rg[0][0]);
        op.b = rng_xoshiro_range(g->rng, 1, 3 * CHUNK);
        break;
    }
    pa_answer a;
    return emit(g, op, &a);
}

static size_t alloc_size(rng_xoshiro *rng, size_t heap_pages)
{
    uint64_t r = rng_xoshiro_below(rng, 1000);
    if (r < 550) return 1;
    if (r < 800) return (size_t)rng_xoshiro_range(rng, 2, 8);
    if (r < 900) return (size_t)rng_xoshiro_range(rng, 9, 64);
    if (r < 970) return (size_t)rng_xoshiro_range(rng, 65, 512);
    if (r < 990) return (size_t)rng_xoshiro_range(rng, 513, 1024);
    if (r < 996 || heap_pages < 4) return (size_t)rng_xoshiro_range(rng, 1025, 2560);
    return (size_t)rng_xoshiro_range(rng, heap_pages / 4, heap_pages);   /* a large part of the heap */
}

static uint64_t scav_amount(rng_xoshiro *rng)
{
    uint64_t r = rng_xoshiro_below(rng, 100);
    if (r < 2) return 0;
    if (r < 15) return 1;
    if (r < 35) return rng_xoshiro_range(rng, 1, 16) * PG;
    if (r < 55) return rng_xoshiro_range(rng, 1, 256 << 10);
    if (r < 70) return 64 << 10;
    if (r < 88) return rng_xoshiro_range(rng, 1, 8 << 20);
    return UINT64_MAX;
}

int pa_gen_run(rng_xoshiro *rng, const pa_gen_config *cfg, int want_answers,
               pa_gen_result *res, char *err, size_t err_size)
{
    gen g;
    memset(&g, 0, sizeof g);
    memset(res, 0, sizeof *res);
    g.rng = rng;
    g.cfg = cfg;
    g.res = res;
    g.want_answers = want_answers;
    g.err = err;
    g.err_size = err_size;
    g.run = pa_runner_new();
    int rc = -1;

    pa_op cop = {PA_OP_CONFIG, cfg->phys_page_size, cfg->huge_page_size};
    if (emit(&g, cop, NULL) != 0)
        goto out;
    size_t ninit = make_plan(&g);
    for (size_t i = 0; i < ninit; i++)
        if (do_grow(&g) != 0)
            goto out;

    int phase = 0, last_failed = 0;
    uint64_t phase_left = 0;
    for (uint64_t i = 0; i < cfg->nops; i++) {
        if (cfg->check_every && i % cfg->check_every == cfg->check_every - 1) {
            pa_op op = {PA_OP_CHECK, 0, 0};
            if (emit(&g, op, NULL) != 0)
                goto out;
            if (cfg->search_addr) {
                pa_op sop = {PA_OP_SEARCHADDR, 0, 0};
                if (emit(&g, sop, NULL) != 0)
                    goto out;
            }
        }
        if (phase_left-- == 0) {
            phase = (int)rng_xoshiro_below(rng, 3);   /* 0 balanced, 1 fill, 2 drain */
            phase_left = rng_xoshiro_range(rng, 300, 3000);
        }
        size_t heap = pa_model_heap_pages(pa_runner_model(g.run));
        double full = heap ? (double)g.used / (double)heap : 1.0;
        int nonempty = 0;
        for (size_t k = 0; k < g.nopen; k++)
            nonempty += pa_runner_cache(g.run, g.open[k])->cache != 0;

        unsigned w_alloc = phase == 1 ? 500 : phase == 2 ? 120 : 330;
        unsigned w_free = !g.nlive ? 0 : phase == 2 ? 500 : phase == 1 ? 100 : 250;
        if (g.nlive && full > 0.95)
            w_free += 200;
        unsigned w_cache = g.nopen < 4 ? 25 : 0;
        unsigned w_calloc = nonempty ? 70 : 0;
        unsigned w_flush = g.nopen ? 25 : 0;
        unsigned w_scav = 50;
        unsigned w_grow = g.nextplan < g.nplan ? (last_failed ? 300 : 3) : 0;
        unsigned w_bad = cfg->go_compatible ? 0 : 2;
        unsigned total = w_alloc + w_free + w_cache + w_calloc + w_flush + w_scav + w_grow + w_bad;
        unsigned x = (unsigned)rng_xoshiro_below(rng, total);

        if (x < w_alloc) {
            pa_op op = {PA_OP_ALLOC, alloc_size(rng, heap), 0};
            if (!cfg->go_compatible && rng_xoshiro_below(rng, 500) == 0) {
                /* Sizes no allocator can satisfy (or 0): answer 0. */
                static const uint64_t odd[] = {0, UINT64_MAX, UINT64_MAX / PG,
                                               UINT64_MAX / PG + 1, (uint64_t)1 << 40};
                op.a = odd[rng_xoshiro_below(rng, 5)];
            }
            pa_answer a;
            if (emit(&g, op, &a) != 0)
                goto out;
            if (a.addr) {
                live_add(&g, a.addr, (size_t)op.a);
                g.used += op.a;
                last_failed = 0;
            } else {
                res->alloc_fail++;
                last_failed = 1;
            }
            continue;
        }
        x -= w_alloc;
        if (x < w_free) {
            size_t k = (size_t)rng_xoshiro_below(rng, g.nlive);
            live_run lr = g.live[k];
            g.live[k] = g.live[--g.nlive];
            size_t off = 0, n = lr.n;
            if (lr.n > 1 && rng_xoshiro_below(rng, 5) == 0) {   /* part of it */
                off = (size_t)rng_xoshiro_below(rng, lr.n);
                n = (size_t)rng_xoshiro_range(rng, 1, lr.n - off);
                if (off)
                    live_add(&g, lr.addr, off);
                if (off + n < lr.n)
                    live_add(&g, lr.addr + (off + n) * PG, lr.n - off - n);
            }
            pa_op op = {rng_xoshiro_below(rng, 100) < 35 ? PA_OP_TFREE : PA_OP_FREE,
                        lr.addr + off * PG, n};
            if (emit(&g, op, NULL) != 0)
                goto out;
            g.used -= n;
            continue;
        }
        x -= w_free;
        if (x < w_cache) {
            pa_op op = {PA_OP_CACHE, 0, 0};
            pa_answer a;
            if (emit(&g, op, &a) != 0)
                goto out;
            if (a.cache.cache || rng_xoshiro_below(rng, 4) == 0) {
                if (g.nopen == g.capopen) {
                    g.capopen = g.capopen ? 2 * g.capopen : 8;
                    g.open = realloc(g.open, g.capopen * sizeof *g.open);
                    if (!g.open)
                        abort();
                }
                g.open[g.nopen++] = pa_runner_ncaches(g.run) - 1;
            }
            g.used += (uint64_t)popcount64(a.cache.cache);
            continue;
        }
        x -= w_cache;
        if (x < w_calloc) {
            size_t pick = (size_t)rng_xoshiro_below(rng, (uint64_t)nonempty), slot = 0;
            for (size_t k = 0; k < g.nopen; k++)
                if (pa_runner_cache(g.run, g.open[k])->cache != 0 && pick-- == 0) {
                    slot = g.open[k];
                    break;
                }
            uint64_t r = rng_xoshiro_below(rng, 100);
            size_t n = r < 70 ? 1 : r < 95 ? (size_t)rng_xoshiro_range(rng, 2, 8)
                                           : (size_t)rng_xoshiro_range(rng, 9, 64);
            if (!cfg->go_compatible && rng_xoshiro_below(rng, 200) == 0)
                n = (size_t)rng_xoshiro_range(rng, 65, 200);   /* more than a cache holds: 0 */
            pa_op op = {PA_OP_CALLOC, slot, n};
            pa_answer a;
            if (emit(&g, op, &a) != 0)
                goto out;
            if (a.addr)
                live_add(&g, a.addr, n);   /* pages move from the cache to a run */
            continue;
        }
        x -= w_calloc;
        if (x < w_flush) {
            size_t k = (size_t)rng_xoshiro_below(rng, g.nopen);
            size_t slot = g.open[k];
            g.open[k] = g.open[--g.nopen];
            g.used -= (uint64_t)popcount64(pa_runner_cache(g.run, slot)->cache);
            pa_op op = {PA_OP_FLUSH, slot, 0};
            if (emit(&g, op, NULL) != 0)
                goto out;
            continue;
        }
        x -= w_flush;
        if (x < w_scav) {
            pa_op op = {PA_OP_SCAV, scav_amount(rng), 0};
            pa_answer a;
            if (emit(&g, op, &a) != 0)
                goto out;
            res->scav_bytes += a.released;
            continue;
        }
        x -= w_scav;
        if (x < w_grow) {
            if (do_grow(&g) != 0)
                goto out;
            last_failed = 0;
            continue;
        }
        if (do_bad_grow(&g) != 0)
            goto out;
    }
    {
        pa_op op = {PA_OP_CHECK, 0, 0};
        if (emit(&g, op, NULL) != 0)
            goto out;
    }
    rc = 0;
out:
    pa_runner_delete(g.run);
    free(g.live);
    free(g.open);
    return rc;
}

void pa_gen_result_free(pa_gen_result *res)
{
    free(res->ops);
    res->ops = NULL;
    res->nops = 0;
    pa_strbuf_free(&res->answers);
}
