/*
 * os/linux.c - the Linux primitive table behind the OS-memory layer.
 *
 * This is the only file of the library that includes <sys/mman.h> or calls
 * mmap, munmap, madvise or mprotect; everything platform-specific about
 * memory lives here, behind the thin contract of struct sysmem_os
 * (include/pagealloc/sysmem.h). The generic layer (src/os/sysmem.c, registry.c, states.c) decides
 * what to do and keeps the books; these functions only do it.
 *
 * Contract, restated: every primitive returns 0 or an errno value, and on
 * failure has no other effect (as far as the kernel lets us: a MAP_FIXED
 * mmap that fails for lack of memory has, on some kernels, already removed
 * the mapping it was replacing; nothing portable can undo that). Ranges are
 * physical-page aligned; the layer guarantees it.
 *
 * How each state is made:
 *   reserve   mmap PROT_NONE, private anonymous, the address only a hint.
 *   alloc     mmap read-write, private anonymous; the kernel zero-fills it.
 *   commit    mmap read-write MAP_FIXED over the range: fresh zero pages.
 *   decommit  mmap PROT_NONE MAP_FIXED over the range: contents dropped.
 *   release   madvise MADV_DONTNEED (the default: resident pages are
 *             dropped at once and read back as zero), or MADV_FREE in
 *             SYSMEM_RELEASE_FREE mode (pages are reclaimed lazily, only
 *             under memory pressure, and may read back as the old data or
 *             as zero). A kernel without MADV_FREE (before 4.5) answers
 *             EINVAL: we then switch to MADV_DONTNEED for the rest of the
 *             process's life, as Go does.
 *   huge      madvise MADV_HUGEPAGE / MADV_NOHUGEPAGE.
 *   unmap     munmap.
 *   resident  mincore (a query for sysmem_resident, no transition).
 *
 * Capabilities, read once per table binding by the layer (caps()):
 *   page_size            getauxval(AT_PAGESZ), else sysconf(_SC_PAGESIZE).
 *   huge_page_size       /sys/kernel/mm/transparent_hugepage/hpage_pmd_size;
 *                        0 if unreadable, not a power of two, larger than
 *                        4 MiB (one page-allocator chunk, Go's bound) or not
 *                        larger than page_size.
 *   released_reads_zero  1: private anonymous memory released with
 *                        MADV_DONTNEED reads back as zero.
 *
 * Shared state: free_unsupported (below) only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pagealloc/sysmem.h"
#include "base/export.h"

/* Advice values missing from old C libraries; the numbers are the
 * kernel's ABI. Kept out of the function bodies on purpose. */
#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MADV_NOHUGEPAGE
#define MADV_NOHUGEPAGE 15
#endif

#define THP_SIZE_FILE "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
#define MAX_HUGE_PAGE ((size_t)4 << 20)   /* one page-allocator chunk */

/* Set once MADV_FREE has answered EINVAL; from then on release uses
 * MADV_DONTNEED whatever the mode. Never cleared. Relaxed atomics: the
 * flag is a hint that only ever goes from 0 to 1. */
static atomic_int free_unsupported;

static int errno_or(int fallback)
{
    return errno ? errno : fallback;
}

static int linux_reserve(void *hint, size_t n, void **out)
{
    void *p = mmap(hint, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return errno_or(ENOMEM);
    *out = p;
    return 0;
}

static int linux_alloc(size_t n, void **out)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return errno_or(ENOMEM);
    *out = p;
    return 0;
}

/* mmap over [v, v+n) with MAP_FIXED; a result other than v cannot happen
 * with MAP_FIXED, and is reported as EFAULT if it ever does. */
static int map_fixed(void *v, size_t n, int prot)
{
    void *p = mmap(v, n, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED)
        return errno_or(ENOMEM);
    return p == v ? 0 : EFAULT;
}

static int linux_commit(void *v, size_t n)
{
    return map_fixed(v, n, PROT_READ | PROT_WRITE);
}

static int linux_decommit(void *v, size_t n)
{
    return map_fixed(v, n, PROT_NONE);
}

static int linux_release(void *v, size_t n, sysmem_release_mode mode)
{
    if (mode == SYSMEM_RELEASE_FREE &&
        !atomic_load_explicit(&free_unsupported, memory_order_relaxed)) {
        if (madvise(v, n, MADV_FREE) == 0)
            return 0;
        if (errno != EINVAL)
            return errno_or(EINVAL);
        /* No MADV_FREE here (or not for this memory): fall back for good. */
        atomic_store_explicit(&free_unsupported, 1, memory_order_relaxed);
    }
    return madvise(v, n, MADV_DONTNEED) == 0 ? 0 : errno_or(EINVAL);
}

static int linux_huge(void *v, size_t n, int huge)
{
    return madvise(v, n, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) == 0 ? 0 : errno_or(EINVAL);
}

static int linux_unmap(void *v, size_t n)
{
    return munmap(v, n) == 0 ? 0 : errno_or(EINVAL);
}

static int linux_resident(const void *v, size_t n, unsigned char *vec)
{
    return mincore((void *)v, n, vec) == 0 ? 0 : errno_or(EINVAL);
}

static int is_pow2(size_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* The decimal number in THP_SIZE_FILE, or 0 if it cannot be read. */
static size_t read_thp_size(void)
{
    char buf[32];
    int fd = open(THP_SIZE_FILE, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len <= 0)
        return 0;
    size_t v = 0;
    for (ssize_t i = 0; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
        if (v > (SIZE_MAX - 9) / 10)
            return 0;
        v = v * 10 + (size_t)(buf[i] - '0');
    }
    return v;
}

static void linux_caps(sysmem_caps *out)
{
    size_t page = (size_t)getauxval(AT_PAGESZ);
    if (!is_pow2(page)) {
        long sc = sysconf(_SC_PAGESIZE);
        page = sc > 0 ? (size_t)sc : 4096;
    }
    size_t huge = read_thp_size();
    if (!is_pow2(huge) || huge > MAX_HUGE_PAGE || huge <= page)
        huge = 0;
    out->page_size = page;
    out->huge_page_size = huge;
    out->released_reads_zero = 1;
}

static const sysmem_os linux_os = {
    .reserve = linux_reserve,
    .alloc = linux_alloc,
    .commit = linux_commit,
    .decommit = linux_decommit,
    .release = linux_release,
    .huge = linux_huge,
    .unmap = linux_unmap,
    .caps = linux_caps,
    .resident = linux_resident,
};

PA_API const sysmem_os *sysmem_os_default(void)
{
    return &linux_os;
}
