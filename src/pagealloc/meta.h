/*
 * meta.h - how the page allocator's metadata becomes memory: every
 * structure that grows with the heap (summary levels, the scavenge index)
 * is reserved once as address space and committed through the OS layer
 * (Reserved -> Prepared -> Ready) a physical page at a time as it is
 * needed, charged to the allocator's metadata stat.
 */
#ifndef PAGEALLOC_PAGEALLOC_META_H
#define PAGEALLOC_PAGEALLOC_META_H

#include <stddef.h>

#include "pagealloc/sysmem.h"

/* Commit reserved metadata: Reserved -> Ready, or nothing on error. */
static inline int pa_meta_commit(void *v, size_t n, sysmem_stat *stat)
{
    int err = sysmem_map(v, n, stat);
    if (err)
        return err;
    err = sysmem_used(v, n);
    if (err)
        (void)sysmem_fault(v, n, stat);   /* back to Reserved */
    return err;
}

#endif /* PAGEALLOC_PAGEALLOC_META_H */
