/*
 * heapmap.h - a picture of a heap, one pixel per page.
 *
 * heapmap_collect takes a snapshot of every grown chunk of a pageheap
 * (pageheap_visit: each page in use, free and resident, released, or owned
 * by a page cache), sorted by address. From it:
 *   - a PNG, 512 pixels wide (one per page), one row per chunk in address
 *     order, each pixel the page's state colour, optionally magnified;
 *   - a coarse text map, one character per 64 pages (the most common state
 *     of the 64), eight chunks per line, with ANSI colours on a terminal;
 *   - page counts per state and the fragmentation figure: free pages
 *     (resident or released) below the highest allocated page, per shard
 *     (each shard is its own first-fit allocator), summed.
 */
#ifndef PAGEALLOC_TOOL_HEAPMAP_H
#define PAGEALLOC_TOOL_HEAPMAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <pagealloc/pageheap.h>

#define HEAPMAP_STATES 4      /* pageheap_page_state values */

typedef struct heapmap_chunk {
    uintptr_t base;
    unsigned  shard;
    uint8_t   st[PAGEALLOC_CHUNK_PAGES];    /* pageheap_page_state per page */
} heapmap_chunk;

typedef struct heapmap {
    heapmap_chunk *chunks;                  /* sorted by base */
    size_t n, cap;
    uint64_t pages[HEAPMAP_STATES];         /* pages per state */
    uint64_t holes;                         /* free pages below the highest allocated one */
    uint64_t below;                         /* all pages below the highest allocated one */
    int failed;                             /* out of memory while collecting */
} heapmap;

/* Snapshot h. 0, or an errno value (ENOMEM; EINVAL from pageheap_visit). */
int  heapmap_collect(heapmap *m, pageheap *h);
void heapmap_free(heapmap *m);

/* Write the PNG: (512 * scale) x (chunks * scale) pixels, RGB. 0, or -1
 * with a reason in err. An empty heap gives one black row. */
int  heapmap_write_png(const heapmap *m, const char *path, unsigned scale, char *err,
                       size_t err_size);
/* The PNG's size for m at scale. */
void heapmap_png_size(const heapmap *m, unsigned scale, unsigned *width, unsigned *height);

/* The legend: characters and PNG colours of the states. */
void heapmap_print_legend(FILE *f, int colour);
/* The text map (colour: ANSI background colours). */
void heapmap_print_text(const heapmap *m, FILE *f, int colour);

/* Name of a state ("in use", ...) and its JSON key ("in_use", ...). */
const char *heapmap_state_name(unsigned state);
const char *heapmap_state_key(unsigned state);

#endif /* PAGEALLOC_TOOL_HEAPMAP_H */
