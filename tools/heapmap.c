/*
 * heapmap.c - heap snapshots, their PNG and text rendering, and the object
 * allocator's spans painted by size class (heapmap.h).
 */
#include "heapmap.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name, *key;
    char ch;
    uint8_t rgb[3];
    int ansi;            /* 256-colour background */
    const char *colour;
} state_info[HEAPMAP_STATES] = {
    [PAGEHEAP_PAGE_FREE]     = { "free & resident", "free",     'o', { 245, 121, 0 },   208, "orange" },
    [PAGEHEAP_PAGE_RELEASED] = { "released",        "released", '.', { 211, 215, 207 }, 252, "light grey" },
    [PAGEHEAP_PAGE_IN_USE]   = { "in use",          "in_use",   '#', { 52, 101, 164 },  25,  "blue" },
    [PAGEHEAP_PAGE_CACHED]   = { "page-cached",     "cached",   'c', { 115, 210, 22 },  76,  "green" },
};

/* Pages outside spans in a map painted by class: the state colours would
 * clash with the class hues, so free pages are dark, released ones light
 * grey as before, and in-use pages without a span white (none when the
 * allocator is quiescent, but for a run the background scavenger is
 * releasing at that moment, which pageheap_visit shows as in use). */
static const uint8_t class_mode_rgb[HEAPMAP_STATES][3] = {
    [PAGEHEAP_PAGE_FREE]     = { 46, 52, 54 },       /* dark grey #2e3436 */
    [PAGEHEAP_PAGE_RELEASED] = { 211, 215, 207 },    /* light grey #d3d7cf */
    [PAGEHEAP_PAGE_IN_USE]   = { 255, 255, 255 },    /* white: in use, no span */
    [PAGEHEAP_PAGE_CACHED]   = { 255, 255, 255 },    /* (the allocator's heap has no page caches) */
};
static const uint8_t large_rgb[3] = { 255, 0, 255 };  /* magenta */

/* Class c's colour: hue from 230 degrees (blue, 16 B) to 0 (red, 32 KiB)
 * by class number, saturation 0.85, brightness 0.95 for odd classes and
 * 0.7 for even ones, so neighbouring classes differ. */
static void class_rgb(unsigned c, uint8_t rgb[3])
{
    if (c == HEAPMAP_LARGE || c == 0 || c >= PA_MALLOC_CLASSES) {
        memcpy(rgb, large_rgb, 3);
        return;
    }
    double h = 230.0 * (1.0 - (double)(c - 1) / (PA_MALLOC_CLASSES - 2)) / 60.0;
    double sat = 0.85, v = c % 2 ? 0.95 : 0.7;
    double chroma = v * sat, x = chroma * (1 - fabs(fmod(h, 2) - 1)), m = v - chroma;
    double r = 0, g = 0, b = 0;
    switch ((int)h) {
    case 0: r = chroma; g = x; break;
    case 1: r = x; g = chroma; break;
    case 2: g = chroma; b = x; break;
    case 3: g = x; b = chroma; break;
    default: r = x; b = chroma; break;
    }
    rgb[0] = (uint8_t)lround((r + m) * 255);
    rgb[1] = (uint8_t)lround((g + m) * 255);
    rgb[2] = (uint8_t)lround((b + m) * 255);
}

void heapmap_class_hex(unsigned c, char hex[8])
{
    uint8_t rgb[3];
    class_rgb(c, rgb);
    snprintf(hex, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

void heapmap_state_hex_by_class(unsigned state, char hex[8])
{
    const uint8_t *rgb = class_mode_rgb[state % HEAPMAP_STATES];
    snprintf(hex, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

const char *heapmap_state_name(unsigned s)
{
    return s < HEAPMAP_STATES ? state_info[s].name : "?";
}

const char *heapmap_state_key(unsigned s)
{
    return s < HEAPMAP_STATES ? state_info[s].key : "?";
}

/* pageheap_visit's callback: runs under the heap's locks, so it only
 * copies (malloc is not the heap's). */
static void collect_chunk(void *arg, unsigned shard, uintptr_t base,
                          const uint8_t st[PAGEALLOC_CHUNK_PAGES])
{
    heapmap *m = arg;
    if (m->failed)
        return;
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        heapmap_chunk *c = realloc(m->chunks, cap * sizeof *c);
        if (!c) {
            m->failed = 1;
            return;
        }
        m->chunks = c;
        m->cap = cap;
    }
    heapmap_chunk *c = &m->chunks[m->n++];
    c->base = base;
    c->shard = shard;
    memcpy(c->st, st, PAGEALLOC_CHUNK_PAGES);
}

static int by_base(const void *a, const void *b)
{
    uintptr_t x = ((const heapmap_chunk *)a)->base, y = ((const heapmap_chunk *)b)->base;
    return x < y ? -1 : x > y;
}

static int allocated(uint8_t s)
{
    return s == PAGEHEAP_PAGE_IN_USE || s == PAGEHEAP_PAGE_CACHED;
}

int heapmap_collect(heapmap *m, pageheap *h)
{
    memset(m, 0, sizeof *m);
    int err = pageheap_visit(h, collect_chunk, m);
    if (err || m->failed) {
        heapmap_free(m);
        return err ? err : ENOMEM;
    }
    qsort(m->chunks, m->n, sizeof *m->chunks, by_base);
    for (size_t i = 0; i < m->n; i++)
        for (unsigned p = 0; p < PAGEALLOC_CHUNK_PAGES; p++)
            m->pages[m->chunks[i].st[p] % HEAPMAP_STATES]++;
    /* Fragmentation, shard by shard: the highest allocated page of the
     * shard, then the shard's pages below it. */
    pageheap_stats stats = { .version = PAGEHEAP_STATS_VERSION };
    pageheap_get_stats(h, &stats);
    for (unsigned s = 0; s < stats.shards; s++) {
        size_t top_chunk = SIZE_MAX;
        unsigned top_page = 0;
        for (size_t i = m->n; i-- > 0 && top_chunk == SIZE_MAX;) {
            if (m->chunks[i].shard != s)
                continue;
            for (unsigned p = PAGEALLOC_CHUNK_PAGES; p-- > 0;)
                if (allocated(m->chunks[i].st[p])) {
                    top_chunk = i;
                    top_page = p;
                    break;
                }
        }
        if (top_chunk == SIZE_MAX)
            continue;
        for (size_t i = 0; i <= top_chunk; i++) {
            if (m->chunks[i].shard != s)
                continue;
            unsigned end = i == top_chunk ? top_page : PAGEALLOC_CHUNK_PAGES;
            for (unsigned p = 0; p < end; p++) {
                m->below++;
                m->holes += !allocated(m->chunks[i].st[p]);
            }
        }
    }
    return 0;
}

/* ---- Spans by class -------------------------------------------------------------- */

typedef struct paint_ctx {
    heapmap *m;
    int bad;
} paint_ctx;

static heapmap_chunk *chunk_of(heapmap *m, uintptr_t a)
{
    uintptr_t base = a & ~(uintptr_t)(PAGEALLOC_CHUNK_SIZE - 1);
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->chunks[mid].base < base)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n && m->chunks[lo].base == base ? &m->chunks[lo] : NULL;
}

/* pa_malloc_visit_spans's callback: no lock is held, but nothing here
 * allocates either (the table was sized by heapmap_collect). */
static void paint_span(void *arg, const pa_malloc_span *sp)
{
    paint_ctx *p = arg;
    heapmap *m = p->m;
    unsigned c = sp->size_class < PA_MALLOC_CLASSES ? sp->size_class : 0;
    heapmap_class *k = &m->cls[c];
    k->spans++;
    k->pages += sp->pages;
    k->objects += sp->objects;
    k->allocated += sp->allocated;
    k->allocated_bytes += (uint64_t)sp->allocated * sp->object_size;
    m->spans++;
    for (size_t i = 0; i < sp->pages; i++) {
        uintptr_t a = sp->base + i * PAGEALLOC_PAGE_SIZE;
        heapmap_chunk *ch = chunk_of(m, a);
        if (!ch) {
            p->bad = 1;
            continue;
        }
        unsigned pg = (unsigned)((a - ch->base) / PAGEALLOC_PAGE_SIZE);
        ch->cls[pg] = c ? (uint8_t)c : HEAPMAP_LARGE;
        m->span_pages_not_in_use += ch->st[pg] != PAGEHEAP_PAGE_IN_USE;
    }
}

int heapmap_paint_spans(heapmap *m)
{
    pa_malloc_stats st;
    pa_malloc_get_stats(&st);
    for (unsigned c = 0; c < PA_MALLOC_CLASSES; c++)
        m->cls[c] = (heapmap_class){ .size = st.cls[c].size };
    for (size_t i = 0; i < m->n; i++)
        memset(m->chunks[i].cls, HEAPMAP_NO_SPAN, PAGEALLOC_CHUNK_PAGES);
    paint_ctx p = { .m = m };
    m->by_class = 1;
    m->spans = 0;
    m->span_pages_not_in_use = 0;
    pa_malloc_visit_spans(paint_span, &p);
    m->in_use_no_span = 0;
    for (size_t i = 0; i < m->n; i++)
        for (unsigned pg = 0; pg < PAGEALLOC_CHUNK_PAGES; pg++)
            m->in_use_no_span += m->chunks[i].st[pg] == PAGEHEAP_PAGE_IN_USE &&
                                 m->chunks[i].cls[pg] == HEAPMAP_NO_SPAN;
    return p.bad ? EINVAL : 0;
}

void heapmap_print_class_key(FILE *f, const heapmap *m, int indent)
{
    char hex[8], size[32], name[16];
    fprintf(f, "%*sclass      size    spans    pages    objects  allocated   use  colour\n",
            indent, "");
    for (unsigned c = 1; c <= PA_MALLOC_CLASSES; c++) {
        unsigned k = c % PA_MALLOC_CLASSES;       /* large (0) last */
        const heapmap_class *h = &m->cls[k];
        if (!h->spans)
            continue;
        heapmap_class_hex(k ? k : HEAPMAP_LARGE, hex);
        if (k) {
            snprintf(name, sizeof name, "%u", k);
            snprintf(size, sizeof size, "%u B", h->size);
        } else {
            snprintf(name, sizeof name, "large");
            snprintf(size, sizeof size, "-");
        }
        fprintf(f, "%*s%5s %9s %8llu %8llu %10llu %10llu %4.0f %%  %s%s\n", indent, "", name,
                size, (unsigned long long)h->spans, (unsigned long long)h->pages,
                (unsigned long long)h->objects, (unsigned long long)h->allocated,
                h->objects ? 100.0 * (double)h->allocated / (double)h->objects : 0.0, hex,
                k ? "" : " magenta");
    }
    char fr[8], rl[8], nu[8];
    heapmap_state_hex_by_class(PAGEHEAP_PAGE_FREE, fr);
    heapmap_state_hex_by_class(PAGEHEAP_PAGE_RELEASED, rl);
    heapmap_state_hex_by_class(PAGEHEAP_PAGE_IN_USE, nu);
    fprintf(f, "%*sother pages: free & resident %s dark grey, released %s light grey, "
               "in use without a span %s white\n", indent, "", fr, rl, nu);
}

void heapmap_free(heapmap *m)
{
    free(m->chunks);
    memset(m, 0, sizeof *m);
}

void heapmap_png_size(const heapmap *m, unsigned scale, unsigned *width, unsigned *height)
{
    *width = PAGEALLOC_CHUNK_PAGES * scale;
    *height = (unsigned)(m->n ? m->n : 1) * scale;
}

int heapmap_write_png(const heapmap *m, const char *path, unsigned scale, char *err,
                      size_t err_size)
{
    unsigned w, hgt;
    heapmap_png_size(m, scale, &w, &hgt);
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    png_bytep row = malloc((size_t)w * 3);
    png_structp png = row ? png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL)
                          : NULL;
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        snprintf(err, err_size, "%s: out of memory", path);
        png_destroy_write_struct(&png, NULL);
        free(row);
        fclose(f);
        return -1;
    }
    /* libpng reports errors by longjmp; nothing below changes a local
     * that is read after the jump. */
    if (setjmp(png_jmpbuf(png))) {
        snprintf(err, err_size, "%s: libpng failed to write the image", path);
        png_destroy_write_struct(&png, &info);
        free(row);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, w, hgt, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_text text = { .compression = PNG_TEXT_COMPRESSION_NONE, .key = "Description",
                      .text = m->by_class
                                  ? "pagealloc heap map of the object allocator: one pixel per "
                                    "8 KiB page, one row per 4 MiB chunk; span pages coloured "
                                    "by size class (blue smallest to red 32 KiB, brightness "
                                    "alternating between neighbouring classes), magenta large "
                                    "objects, dark grey free and resident, light grey "
                                    "released, white in use without a span"
                                  : "pagealloc heap map: one pixel per 8 KiB page, one row per "
                                    "4 MiB chunk; blue in use, green page-cached, orange free "
                                    "and resident, light grey released" };
    png_set_text(png, info, &text, 1);
    png_write_info(png, info);
    for (size_t c = 0; c < (m->n ? m->n : 1); c++) {
        for (unsigned p = 0; p < PAGEALLOC_CHUNK_PAGES; p++) {
            static const uint8_t black[3] = { 0, 0, 0 };
            uint8_t painted[3];
            const uint8_t *rgb = m->n ? state_info[m->chunks[c].st[p] % HEAPMAP_STATES].rgb
                                      : black;
            if (m->n && m->by_class) {
                unsigned k = m->chunks[c].cls[p];
                if (k != HEAPMAP_NO_SPAN) {
                    class_rgb(k, painted);
                    rgb = painted;
                } else {
                    rgb = class_mode_rgb[m->chunks[c].st[p] % HEAPMAP_STATES];
                }
            }
            for (unsigned k = 0; k < scale; k++)
                memcpy(row + ((size_t)p * scale + k) * 3, rgb, 3);
        }
        for (unsigned k = 0; k < scale; k++)
            png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    if (fclose(f) != 0) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

void heapmap_print_legend(FILE *f, int colour)
{
    fprintf(f, "legend (text: one character per 64 pages, the most common state; "
               "PNG: one pixel per page, one row per chunk):\n");
    for (unsigned s = 0; s < HEAPMAP_STATES; s++) {
        static const unsigned order[HEAPMAP_STATES] = {
            PAGEHEAP_PAGE_IN_USE, PAGEHEAP_PAGE_CACHED, PAGEHEAP_PAGE_FREE, PAGEHEAP_PAGE_RELEASED
        };
        unsigned k = order[s];
        if (colour)
            fprintf(f, "  \033[48;5;%dm%c\033[0m", state_info[k].ansi, state_info[k].ch);
        else
            fprintf(f, "  %c", state_info[k].ch);
        fprintf(f, "  %-16s PNG %s #%02x%02x%02x\n", state_info[k].name, state_info[k].colour,
                state_info[k].rgb[0], state_info[k].rgb[1], state_info[k].rgb[2]);
    }
}

/* The most common state of 64 pages. */
static unsigned cell_state(const uint8_t *st)
{
    unsigned n[HEAPMAP_STATES] = { 0 }, best = 0;
    for (unsigned i = 0; i < 64; i++)
        n[st[i] % HEAPMAP_STATES]++;
    for (unsigned s = 1; s < HEAPMAP_STATES; s++)
        if (n[s] > n[best])
            best = s;
    return best;
}

void heapmap_print_text(const heapmap *m, FILE *f, int colour)
{
    enum { PER_LINE = 8, CELLS = PAGEALLOC_CHUNK_PAGES / 64 };
    size_t on_line = 0;
    for (size_t i = 0; i < m->n; i++) {
        const heapmap_chunk *c = &m->chunks[i];
        int gap = i > 0 && c->base != m->chunks[i - 1].base + PAGEALLOC_CHUNK_SIZE;
        if (on_line == PER_LINE || (gap && on_line)) {
            fputc('\n', f);
            on_line = 0;
        }
        if (on_line == 0)
            fprintf(f, "%#014llx ", (unsigned long long)c->base);
        fputc(' ', f);
        for (unsigned k = 0; k < CELLS; k++) {
            unsigned s = cell_state(c->st + k * 64);
            if (colour)
                fprintf(f, "\033[48;5;%dm%c", state_info[s].ansi, state_info[s].ch);
            else
                fputc(state_info[s].ch, f);
        }
        if (colour)
            fputs("\033[0m", f);
        on_line++;
    }
    if (on_line)
        fputc('\n', f);
}
