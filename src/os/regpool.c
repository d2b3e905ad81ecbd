/*
 * regpool.c - the registry's region blocks: small ones share pages, large
 * ones are OS blocks of their own (registry.h has the region's layout).
 *
 * Why. Every region (each reserve/alloc that is not absorbed into a hole)
 * needs a header and a state array of 2 bits per page: 72 bytes for a
 * 4 KiB mapping, 160 for a 1.5 MiB one. A block of its own rounded that up
 * to a whole OS page, always resident (the header is written at once). A
 * page heap holds tens of small metadata mappings (summaries, chunk sets,
 * run-map and chunk-map blocks, fixalloc chunks), so after W5 had freed
 * everything and released, 34 such pages (136 KiB) were most of what the
 * heap kept resident beside its arenas' blocks (docs/os-layer.md "Region
 * blocks").
 *
 * Representation. A block of at most SM_POOL_MAX bytes is a slot of a
 * size class (128, 256, 512 or 1024 bytes), cut from a pool page: one page
 * of the primitive table, counted in sm_meta_bytes like any registry
 * block. The page's first slot holds its header (struct pool_page); slots
 * above it are handed out from `bump` upwards, and given-back ones are
 * kept on the page's own free list (the link in the slot's first word).
 * A class's pages that have a slot to give are on one doubly linked list
 * (a full page leaves it, and comes back with its first given-back slot),
 * so taking a slot is the list's head, whatever the number of regions; a
 * page whose last slot is given back is unmapped, so memory returns to
 * the OS as before and sysmem_metadata_bytes goes back to where it was
 * once every region made since has gone.
 *
 * Invariants (all under sm_reg.lock, which also covers fork: the pool
 * is consistent whenever the lock is free):
 *  - a slot handed out reads as zero (fresh pages are zero, a slot is
 *    cleared when given back and its link word when taken), which is what
 *    "a fresh block reads as zero" in registry.h asks of any block;
 *  - used = slots handed out and not given back; a page with used == 0 is
 *    on no list (it was unmapped); a page is on its class's list exactly
 *    when it has a slot to give (a free one, or bump below the page);
 *  - a large block's bytes (a page multiple, >= one page) tell it apart
 *    from a slot (less than a page) when it comes back.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "os/registry.h"

#define SM_POOL_MIN   ((size_t)128)
#define SM_POOL_CLASSES 4             /* 128, 256, 512, 1024 */
#define SM_POOL_MAX   (SM_POOL_MIN << (SM_POOL_CLASSES - 1))

struct pool_page {
    struct pool_page *next, *prev;    /* the class's pages with a slot to give */
    void *free;                       /* given-back slots, linked by word 0 */
    size_t bump;                      /* offset of the first never-used slot */
    size_t used;                      /* slots handed out */
};

static struct pool_page *pool_pages[SM_POOL_CLASSES];   /* sm_reg.lock */

/* The class of a block of `bytes`, or -1 if it is not pooled (too large
 * for a class, or a class too large for a quarter of a page). */
static int pool_class(size_t bytes, size_t page)
{
    size_t slot = SM_POOL_MIN;
    for (int c = 0; c < SM_POOL_CLASSES; c++, slot <<= 1)
        if (bytes <= slot)
            return slot <= page / 4 ? c : -1;
    return -1;
}

static int pool_full(const struct pool_page *pg, size_t page)
{
    return !pg->free && pg->bump >= page;
}

static void pool_unlink(struct pool_page *pg, int c)
{
    if (pg->prev)
        pg->prev->next = pg->next;
    else
        pool_pages[c] = pg->next;
    if (pg->next)
        pg->next->prev = pg->prev;
    pg->next = pg->prev = NULL;
}

static void pool_link(struct pool_page *pg, int c)
{
    pg->prev = NULL;
    pg->next = pool_pages[c];
    if (pg->next)
        pg->next->prev = pg;
    pool_pages[c] = pg;
}

/* A slot from pg, which has one; a page left full leaves the list.
 * sm_reg.lock held. */
static void *pool_take(struct pool_page *pg, int c, size_t slot, size_t page)
{
    void *p = pg->free;
    if (p) {
        pg->free = *(void **)p;
        *(void **)p = NULL;
    } else {
        p = (char *)pg + pg->bump;
        pg->bump += slot;
    }
    pg->used++;
    if (pool_full(pg, page))
        pool_unlink(pg, c);
    return p;
}

static int block_get(const struct sm_binding *b, size_t bytes, void **out, size_t *block)
{
    size_t page = b->caps.page_size;
    int c = pool_class(bytes, page);
    if (c < 0) {
        *block = sm_align_up(bytes, page);
        return sm_meta_alloc(b, *block, out);
    }
    size_t slot = SM_POOL_MIN << c;
    *block = slot;
    sm_reg_lock();
    if (pool_pages[c]) {
        *out = pool_take(pool_pages[c], c, slot, page);
        sm_reg_unlock();
        return 0;
    }
    sm_reg_unlock();
    void *mem;
    int err = sm_meta_alloc(b, page, &mem);
    if (err)
        return err;
    struct pool_page *pg = mem;
    pg->bump = slot;                  /* slot 0 is the header */
    sm_reg_lock();
    pool_link(pg, c);
    *out = pool_take(pg, c, slot, page);
    sm_reg_unlock();
    return 0;
}

static void block_put(const struct sm_binding *b, void *p, size_t block)
{
    size_t page = b->caps.page_size;
    if (block >= page) {
        sm_meta_free(b, p, block);
        return;
    }
    int c = pool_class(block, page);
    memset(p, 0, block);              /* the caller owns it: no lock needed */
    struct pool_page *pg = (struct pool_page *)sm_align_down((uintptr_t)p, page);
    sm_reg_lock();
    int was_full = pool_full(pg, page);
    *(void **)p = pg->free;
    pg->free = p;
    int empty = --pg->used == 0;
    if (empty && !was_full)
        pool_unlink(pg, c);
    else if (!empty && was_full)
        pool_link(pg, c);
    sm_reg_unlock();
    if (empty)
        sm_meta_free(b, pg, page);
}

/* Bytes of a large state array faulted in before its region is published
 * (see new_region in sysmem.c): all of a 64 MiB heap arena's array (4 KiB
 * of 4 KiB pages), the first states of larger ones. Not more: the array of
 * a large reservation (a span map's, a run map's) is mostly never touched,
 * and 64 KiB a region added ~90 KiB to the drop-in malloc's resident size
 * for no gain (its grows are arenas). */
#define SM_PREFAULT_BYTES ((size_t)8 << 10)

int sm_region_get(const struct sm_binding *b, size_t words, struct region **out)
{
    size_t page = b->caps.page_size, arr = words * sizeof(uint64_t);
    size_t need = sizeof(struct region) + arr, hbytes, abytes;
    void *h, *a;
    int err;
    if (pool_class(need, page) >= 0) {       /* header and array in one slot */
        if ((err = block_get(b, need, &h, &hbytes)) != 0)
            return err;
        struct region *r = h;
        r->words = (uint64_t *)(r + 1);
        r->block_bytes = hbytes;
        *out = r;
        return 0;
    }
    /* A large array gets whole pages of its own, the header a slot: an
     * arena's 4 KiB array and its header no longer take two pages. */
    abytes = sm_align_up(arr, page);         /* >= a page: tells the kinds apart */
    if ((err = sm_meta_alloc(b, abytes, &a)) != 0)
        return err;
    if ((err = block_get(b, sizeof(struct region), &h, &hbytes)) != 0) {
        sm_meta_free(b, a, abytes);
        return err;
    }
    size_t touch = abytes < SM_PREFAULT_BYTES ? abytes : SM_PREFAULT_BYTES;
    for (size_t off = 0; off < touch; off += page)
        *(volatile uint64_t *)((char *)a + off) = 0;
    struct region *r = h;
    r->words = a;
    r->block_bytes = abytes;
    *out = r;
    return 0;
}

void sm_region_put(const struct sm_binding *b, struct region *r)
{
    size_t page = b->caps.page_size;
    if (r->block_bytes < page) {
        block_put(b, r, r->block_bytes);
        return;
    }
    size_t hbytes = sizeof(struct region);
    if (pool_class(hbytes, page) >= 0)
        hbytes = SM_POOL_MIN << pool_class(hbytes, page);
    else
        hbytes = sm_align_up(hbytes, page);
    sm_meta_free(b, r->words, r->block_bytes);
    block_put(b, r, hbytes);
}
