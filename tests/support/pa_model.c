/*
 * pa_model.c - the reference model of the page allocator; its rules are in
 * pa_model.h.
 *
 * Written for obviousness, not speed: byte arrays, linear scans, no
 * summaries, nothing shared with the library's code.
 *
 * Data structures.
 *   region    one maximal run of grown chunks: its base (chunk aligned),
 *             its size in pages (a multiple of 512), and three byte
 *             arrays: alloc[page] (1 = allocated), scav[page] (1 =
 *             scavenged) and mark[chunk] (the chunk's scavenge index bit).
 *   pa_model  the regions in an array sorted by address, the physical and
 *             huge page sizes, the lowfree hint, and Go's
 *             scavengeIndex.searchAddr as three fields: idx_search (a page
 *             address), idx_marked (a mark raised it since the last find)
 *             and idx_cleared (no search position at all).
 *
 * Invariants.
 *   - Regions are sorted and coalesced: two regions never touch, so a grow
 *     next to a region merges into it, and in-use ranges are the regions.
 *   - An allocated page is never scavenged (alloc[p] = 1 implies
 *     scav[p] = 0): taking pages clears their scavenged bits, reporting
 *     them as scavenged bytes.
 *   - lowfree: every heap page below it is allocated. Everything that frees
 *     a page lowers it to that page; only first_fit raises it, and only to
 *     a page it has just seen free (or to UINTPTR_MAX when none is).
 *   - Page caches live outside the model (pagealloc_cache values): their
 *     pages are allocated in the model; a cache's scav bits remember which
 *     of them were scavenged, and a flush gives those bits back.
 */
#include "pa_model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pa_testutil.h"

#define PG      PA_MODEL_PAGE
#define CHUNK   PA_MODEL_CHUNK
#define CPAGES  PA_MODEL_CHUNK_PAGES
#define ADDR48  ((uintptr_t)1 << 48)

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
    pa_model *m = pa_xcalloc(1, sizeof *m);
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
    /* Whole chunks only (pagealloc.h): an unaligned range is refused. */
    if (size == 0 || base == 0 || ((base | size) & (CHUNK - 1)) ||
        base >= ADDR48 || size > ADDR48 - base)
        return EINVAL;
    uintptr_t lo = base, hi = base + size;
    for (size_t i = 0; i < m->nr; i++)
        if (lo < region_end(&m->r[i]) && m->r[i].base < hi)
            return EEXIST;

    region g;
    g.base = lo;
    g.npages = (hi - lo) / PG;
    g.alloc = pa_xcalloc(g.npages, 1);
    g.scav = malloc(g.npages);
    if (!g.scav)
        abort();
    memset(g.scav, 1, g.npages);
    g.mark = pa_xcalloc(g.npages / CPAGES, 1);

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
                *scav_bytes = (size_t)__builtin_popcountll(c->scav & mask) * PG;
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
