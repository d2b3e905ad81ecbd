/*
 * fixalloc.c - fixed-size metadata objects on OS memory (fixalloc.h).
 */
#include <errno.h>
#include <string.h>

#include "os/fixalloc.h"

/* The head of every block: its size (for sysmem_free) and the list link. */
struct pa_fixblock {
    struct pa_fixblock *next;
    size_t bytes;
};

int pa_fixalloc_init(pa_fixalloc *f, size_t size, size_t align, sysmem_stat *stat)
{
    if (align == 0)
        align = 16;
    if (size == 0 || (align & (align - 1)) || align > 4096 || size > ((size_t)1 << 40))
        return EINVAL;
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    f->align = align < sizeof(void *) ? sizeof(void *) : align;
    f->size = (size + f->align - 1) & ~(f->align - 1);
    f->stat = stat;
    return 0;
}

/* Offset of the first object in a block: the header, rounded to align. */
static size_t first_offset(const pa_fixalloc *f)
{
    return (sizeof(struct pa_fixblock) + f->align - 1) & ~(f->align - 1);
}

/* A new block with room for at least one object; mu held. */
static int grow(pa_fixalloc *f)
{
    sysmem_caps caps;
    sysmem_get_caps(&caps);
    size_t need = first_offset(f) + f->size;
    size_t bytes = need > PA_FIXALLOC_BLOCK ? need : PA_FIXALLOC_BLOCK;
    bytes = (bytes + caps.page_size - 1) & ~(caps.page_size - 1);
    void *mem;
    int err = sysmem_alloc(bytes, f->stat, &mem);
    if (err)
        return err;
    struct pa_fixblock *b = mem;
    b->bytes = bytes;
    b->next = f->blocks;
    f->blocks = b;
    f->cur = (char *)mem + first_offset(f);
    f->left = bytes - first_offset(f);
    return 0;
}

static void *take(pa_fixalloc *f, int *err, int zero)
{
    pthread_mutex_lock(&f->mu);
    void *p = f->free_list;
    if (p) {
        f->free_list = *(void **)p;
        if (zero)
            memset(p, 0, f->size);
    } else {
        if (f->left < f->size) {
            int e = grow(f);
            if (e) {
                pthread_mutex_unlock(&f->mu);
                if (err)
                    *err = e;
                return NULL;
            }
        }
        p = f->cur;                 /* fresh OS memory reads zero */
        f->cur += f->size;
        f->left -= f->size;
    }
    f->inuse++;
    pthread_mutex_unlock(&f->mu);
    return p;
}

void *pa_fixalloc_alloc(pa_fixalloc *f, int *err)
{
    return take(f, err, 1);
}

void *pa_fixalloc_alloc_raw(pa_fixalloc *f, int *err)
{
    return take(f, err, 0);
}

void pa_fixalloc_free(pa_fixalloc *f, void *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&f->mu);
    *(void **)p = f->free_list;
    f->free_list = p;
    f->inuse--;
    pthread_mutex_unlock(&f->mu);
}

void pa_fixalloc_destroy(pa_fixalloc *f)
{
    pthread_mutex_lock(&f->mu);
    for (struct pa_fixblock *b = f->blocks, *n; b; b = n) {
        n = b->next;
        (void)sysmem_free(b, b->bytes, f->stat);
    }
    f->blocks = NULL;
    f->free_list = NULL;
    f->cur = NULL;
    f->left = 0;
    f->inuse = 0;
    pthread_mutex_unlock(&f->mu);
    pthread_mutex_destroy(&f->mu);
}
