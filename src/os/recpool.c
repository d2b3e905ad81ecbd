/*
 * recpool.c - fixed-size records whose empty pages go back to the OS
 * (recpool.h has the representation and the invariants).
 */
#include <errno.h>
#include <string.h>

#include "os/recpool.h"

int pa_recpool_init(pa_recpool *p, size_t size, size_t align, sysmem_stat *stat)
{
    if (align == 0)
        align = 16;
    if (size == 0 || (align & (align - 1)) || align > 4096)
        return EINVAL;
    if (align < sizeof(void *))
        align = sizeof(void *);
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    size = (size + align - 1) & ~(align - 1);
    if (size > caps.page_size)
        return EINVAL;
    memset(p, 0, sizeof(*p));
    int err = pa_fixalloc_init(&p->descs, sizeof(pa_recblock), 0, stat);
    if (err)
        return err;
    pthread_mutex_init(&p->mu, NULL);
    p->size = size;
    p->page = caps.page_size;
    p->per_page = (uint32_t)(caps.page_size / size);
    p->stat = stat;
    return 0;
}

static void list_remove(pa_recpool *p, pa_recpage *g)
{
    if (g->list == PA_RP_FULL)
        return;
    if (g->prev)
        g->prev->next = g->next;
    else
        p->head[g->list] = g->next;
    if (g->next)
        g->next->prev = g->prev;
    g->next = g->prev = NULL;
    g->list = PA_RP_FULL;
}

static void list_push(pa_recpool *p, pa_recpage *g, uint8_t list)
{
    g->list = list;
    if (list == PA_RP_FULL)
        return;
    g->prev = NULL;
    g->next = p->head[list];
    if (g->next)
        g->next->prev = g;
    p->head[list] = g;
}

/* Where page g belongs by its counts (never RELEASED: trim decides that). */
static uint8_t list_for(const pa_recpool *p, const pa_recpage *g)
{
    if (g->nfree == 0)
        return PA_RP_FULL;
    return g->nfree == p->per_page ? PA_RP_EMPTY : PA_RP_PARTIAL;
}

/* A new block, its pages RELEASED (Ready, untouched, zero); mu held. */
static int grow(pa_recpool *p)
{
    if (p->nblocks == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : p->page / sizeof(pa_recblock *);
        void *mem;
        int err = sysmem_alloc(ncap * sizeof(pa_recblock *), p->stat, &mem);
        if (err)
            return err;
        if (p->blocks) {
            memcpy(mem, p->blocks, p->nblocks * sizeof(pa_recblock *));
            (void)sysmem_free(p->blocks, p->cap * sizeof(pa_recblock *), p->stat);
        }
        p->blocks = mem;
        p->cap = ncap;
    }
    int err = 0;
    pa_recblock *b = pa_fixalloc_alloc(&p->descs, &err);
    if (!b)
        return err ? err : ENOMEM;
    void *mem;
    err = sysmem_alloc(PA_RECPOOL_PAGES * p->page, p->stat, &mem);
    if (err) {
        pa_fixalloc_free(&p->descs, b);
        return err;
    }
    b->mem = mem;
    size_t at = p->nblocks;                        /* keep blocks sorted */
    while (at > 0 && p->blocks[at - 1]->mem > b->mem) {
        p->blocks[at] = p->blocks[at - 1];
        at--;
    }
    p->blocks[at] = b;
    p->nblocks++;
    for (unsigned i = PA_RECPOOL_PAGES; i-- > 0;) {
        pa_recpage *g = &b->page[i];
        g->mem = b->mem + (size_t)i * p->page;
        g->nfree = p->per_page;
        list_push(p, g, PA_RP_RELEASED);
    }
    return 0;
}

void *pa_recpool_alloc(pa_recpool *p, int *err)
{
    pthread_mutex_lock(&p->mu);
    pa_recpage *g = p->head[PA_RP_PARTIAL];
    if (!g)
        g = p->head[PA_RP_EMPTY];
    if (!g) {
        if (!p->head[PA_RP_RELEASED]) {
            int e = grow(p);
            if (e) {
                pthread_mutex_unlock(&p->mu);
                if (err)
                    *err = e;
                return NULL;
            }
        }
        g = p->head[PA_RP_RELEASED];
        if (g->prepared) {
            int e = sysmem_used_ex(g->mem, p->page, SYSMEM_USED_NO_HUGE);
            if (e) {
                pthread_mutex_unlock(&p->mu);
                if (err)
                    *err = e;
                return NULL;
            }
            g->prepared = 0;
            p->prepared--;
        }
    }
    void *r = g->free;
    if (r) {
        g->free = *(void **)r;
    } else {
        if (g->carved == 0)
            p->resident++;
        r = g->mem + (size_t)g->carved * p->size;
        g->carved++;
    }
    memset(r, 0, p->size);      /* a page released with MADV_FREE may keep old bytes */
    g->nfree--;
    p->inuse++;
    uint8_t want = list_for(p, g);
    if (want != g->list) {
        list_remove(p, g);
        list_push(p, g, want);
    }
    pthread_mutex_unlock(&p->mu);
    return r;
}

/* The page holding record r; mu held. NULL if r is not the pool's. */
static pa_recpage *page_of(const pa_recpool *p, const char *r)
{
    size_t lo = 0, hi = p->nblocks;
    size_t bytes = PA_RECPOOL_PAGES * p->page;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        pa_recblock *b = p->blocks[mid];
        if (r < b->mem)
            hi = mid;
        else if (r >= b->mem + bytes)
            lo = mid + 1;
        else
            return &b->page[(size_t)(r - b->mem) / p->page];
    }
    return NULL;
}

void pa_recpool_free(pa_recpool *p, void *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&p->mu);
    pa_recpage *g = page_of(p, r);
    if (g) {
        *(void **)r = g->free;
        g->free = r;
        g->nfree++;
        p->inuse--;
        uint8_t want = list_for(p, g);
        if (want != g->list) {
            list_remove(p, g);
            list_push(p, g, want);
        }
    }
    pthread_mutex_unlock(&p->mu);
}

/* Release pages [first, first + n) of block b (EMPTY, touched); mu held. */
static size_t release_run(pa_recpool *p, pa_recblock *b, unsigned first, unsigned n)
{
    if (n == 0 || sysmem_unused(b->page[first].mem, (size_t)n * p->page) != 0)
        return 0;
    for (unsigned i = first; i < first + n; i++) {
        pa_recpage *g = &b->page[i];
        list_remove(p, g);
        g->free = NULL;
        g->carved = 0;
        g->prepared = 1;
        list_push(p, g, PA_RP_RELEASED);
    }
    p->resident -= n;
    p->prepared += n;
    return (size_t)n * p->page;
}

size_t pa_recpool_trim(pa_recpool *p, uint64_t keep)
{
    size_t bytes = 0;
    pthread_mutex_lock(&p->mu);
    uint64_t spare = p->resident * p->per_page - p->inuse;  /* free, resident */
    for (size_t k = 0; k < p->nblocks && spare > keep; k++) {
        pa_recblock *b = p->blocks[k];
        unsigned first = 0, n = 0;
        for (unsigned i = 0; i < PA_RECPOOL_PAGES; i++) {
            pa_recpage *g = &b->page[i];
            if (spare > keep && g->list == PA_RP_EMPTY && g->carved > 0) {
                if (n == 0)
                    first = i;
                n++;
                spare = spare > p->per_page ? spare - p->per_page : 0;
                continue;
            }
            bytes += release_run(p, b, first, n);
            n = 0;
        }
        bytes += release_run(p, b, first, n);
    }
    pthread_mutex_unlock(&p->mu);
    return bytes;
}

void pa_recpool_usage(pa_recpool *p, pa_recpool_stats *out)
{
    pthread_mutex_lock(&p->mu);
    out->inuse = p->inuse;
    out->resident_bytes = p->resident * p->page;
    out->prepared_bytes = p->prepared * p->page;
    pthread_mutex_unlock(&p->mu);
}

void pa_recpool_destroy(pa_recpool *p)
{
    pthread_mutex_lock(&p->mu);
    for (size_t k = 0; k < p->nblocks; k++)
        (void)sysmem_free(p->blocks[k]->mem, PA_RECPOOL_PAGES * p->page, p->stat);
    if (p->blocks)
        (void)sysmem_free(p->blocks, p->cap * sizeof(pa_recblock *), p->stat);
    p->blocks = NULL;
    p->nblocks = p->cap = 0;
    for (unsigned l = 0; l < PA_RP_NLISTS; l++)
        p->head[l] = NULL;
    p->inuse = p->resident = p->prepared = 0;
    pthread_mutex_unlock(&p->mu);
    pa_fixalloc_destroy(&p->descs);
    pthread_mutex_destroy(&p->mu);
}
