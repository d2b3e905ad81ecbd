/*
 * resident.c - sysmem_resident, the layer's one residency query: which
 * pages of an owned range are in RAM. It changes no state and keeps no
 * books; it validates the range against the registry (every page owned,
 * in any state) under the registry lock, then asks the primitive table
 * with no lock held. The stack layer reads stacks' high-water marks
 * through it (docs/stack.md), so no other layer needs <sys/mman.h>.
 */
#include <errno.h>
#include <stdint.h>

#include "base/export.h"
#include "os/registry.h"

PA_API int sysmem_resident(const void *v, size_t n, unsigned char *vec)
{
    struct sm_binding b = sm_binding();
    uintptr_t a = (uintptr_t)v, m = b.caps.page_size - 1;
    if (!v || !vec || n == 0 || (a & m) || (n & m) || n > UINTPTR_MAX - a)
        return EINVAL;
    size_t c[4];
    sm_reg_lock();
    sm_range_count(a, a + n, c);
    sm_reg_unlock();
    if (c[SYSMEM_NONE])
        return EINVAL;
    if (!b.os->resident)
        return ENOSYS;
    int err = b.os->resident(v, n, vec);
    if (err)
        return err;
    for (size_t i = 0; i < (n >> b.shift); i++)
        vec[i] &= 1;
    return 0;
}
