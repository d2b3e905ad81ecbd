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
 *
 * For the object allocator's heap, heapmap_paint_spans adds its spans
 * (pa_malloc_visit_spans): each page of a span gets the span's size class,
 * and the PNG colours span pages by class (a hue from blue for the
 * smallest objects to red for 32 KiB, alternating in brightness between
 * neighbouring classes; large objects magenta) and the other pages by
 * state (free & resident dark grey, released light grey, in use without a
 * span white). Per class it counts spans, pages, objects and allocated
 * objects: the key printed with the summary.
 */
#ifndef PAGEALLOC_TOOL_HEAPMAP_H
#define PAGEALLOC_TOOL_HEAPMAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <pagealloc/malloc.h>
#include <pagealloc/pageheap.h>

#define HEAPMAP_STATES 4      /* pageheap_page_state values */
#define HEAPMAP_NO_SPAN 0     /* heapmap_chunk.cls: a page in no span */
#define HEAPMAP_LARGE 255     /* heapmap_chunk.cls: a large object's page */

typedef struct heapmap_chunk {
    uintptr_t base;
    unsigned  shard;
    uint8_t   st[PAGEALLOC_CHUNK_PAGES];    /* pageheap_page_state per page */
    uint8_t   cls[PAGEALLOC_CHUNK_PAGES];   /* by_class: 1..65, HEAPMAP_LARGE or NO_SPAN */
} heapmap_chunk;

/* The spans of one class (class 0: large objects) in a painted map. */
typedef struct heapmap_class {
    uint32_t size;                          /* bytes per object (0: large) */
    uint64_t spans, pages, objects, allocated;
    uint64_t allocated_bytes;               /* allocated * object size */
} heapmap_class;

typedef struct heapmap {
    heapmap_chunk *chunks;                  /* sorted by base */
    size_t n, cap;
    uint64_t pages[HEAPMAP_STATES];         /* pages per state */
    uint64_t holes;                         /* free pages below the highest allocated one */
    uint64_t below;                         /* all pages below the highest allocated one */
    int failed;                             /* out of memory while collecting */
    int by_class;                           /* heapmap_paint_spans ran */
    heapmap_class cls[PA_MALLOC_CLASSES];   /* by_class: per class */
    uint64_t spans;                         /* by_class: spans painted */
    uint64_t span_pages_not_in_use;         /* by_class: should stay 0 */
    uint64_t in_use_no_span;                /* by_class: in-use pages outside spans */
} heapmap;

/* Snapshot h. 0, or an errno value (ENOMEM; EINVAL from pageheap_visit). */
int  heapmap_collect(heapmap *m, pageheap *h);
void heapmap_free(heapmap *m);
/* Paint the object allocator's spans on m, collected from its heap
 * (pa_malloc_pageheap), with no other thread allocating or freeing. 0 or
 * EINVAL (a span outside the collected chunks). */
int  heapmap_paint_spans(heapmap *m);

/* Write the PNG: (512 * scale) x (chunks * scale) pixels, RGB. 0, or -1
 * with a reason in err. An empty heap gives one black row. */
int  heapmap_write_png(const heapmap *m, const char *path, unsigned scale, char *err,
                       size_t err_size);
/* The PNG's size for m at scale. */
void heapmap_png_size(const heapmap *m, unsigned scale, unsigned *width, unsigned *height);

/* The legend: characters and PNG colours of the states. */
void heapmap_print_legend(FILE *f, int colour);
/* A painted map's key: per class with spans, its spans, pages, objects,
 * allocated objects and PNG colour; then the colours of the other pages.
 * indent: spaces before each line. */
void heapmap_print_class_key(FILE *f, const heapmap *m, int indent);
/* The PNG colour of class c (1..65, or HEAPMAP_LARGE) as "#rrggbb". */
void heapmap_class_hex(unsigned c, char hex[8]);
/* The PNG colours of pages outside spans in a painted map, by state
 * (HEAPMAP_STATES) and for in-use pages with no span ("no_span"). */
void heapmap_state_hex_by_class(unsigned state, char hex[8]);

/* The text map (colour: ANSI background colours). */
void heapmap_print_text(const heapmap *m, FILE *f, int colour);

/* Name of a state ("in use", ...) and its JSON key ("in_use", ...). */
const char *heapmap_state_name(unsigned state);
const char *heapmap_state_key(unsigned state);

#endif /* PAGEALLOC_TOOL_HEAPMAP_H */
