/*
 * heapmap.c - heap snapshots, their PNG and text rendering (heapmap.h).
 */
#include "heapmap.h"

#include <errno.h>
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
                      .text = "pagealloc heap map: one pixel per 8 KiB page, one row per "
                              "4 MiB chunk; blue in use, green page-cached, orange free "
                              "and resident, light grey released" };
    png_set_text(png, info, &text, 1);
    png_write_info(png, info);
    for (size_t c = 0; c < (m->n ? m->n : 1); c++) {
        for (unsigned p = 0; p < PAGEALLOC_CHUNK_PAGES; p++) {
            static const uint8_t black[3] = { 0, 0, 0 };
            const uint8_t *rgb = m->n ? state_info[m->chunks[c].st[p] % HEAPMAP_STATES].rgb
                                      : black;
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
