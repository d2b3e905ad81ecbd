/*
 * sysmem_kview.h - the kernel's own view of the process's memory, for the
 * OS-memory layer's tests: residency (mincore), the /proc/self/smaps entry
 * covering an address (permissions, VmFlags hg/nh, Rss, AnonHugePages,
 * THPeligible), what happens when a child process touches an address, and
 * snapshots of a range that can be compared for equality.
 *
 * No <sys/mman.h> here: the only file allowed to include it is
 * src/os/linux.c, so mincore and mlock go through syscall(2).
 */
#ifndef SYSMEM_KVIEW_H
#define SYSMEM_KVIEW_H

#include <stddef.h>
#include <stdint.h>

/* One VMA as smaps describes it. Sizes in kB; thp_eligible is -1 when the
 * kernel does not print the field. */
struct sysmem_kv_vma {
    uintptr_t start, end;
    char perms[5];              /* "rw-p", "---p", ... */
    int hg, nh;                 /* VmFlags contains hg / nh */
    long rss_kb;
    long anon_huge_kb;
    int thp_eligible;
};

/* mincore(2) of [p, p+n): vec gets one byte per page; 0 or errno. */
int sysmem_kv_mincore(const void *p, size_t n, unsigned char *vec);
/* Pages of [p, p+n) resident, or (size_t)-1 if mincore failed. */
size_t sysmem_kv_resident(const void *p, size_t n);
/* 1 if every page of [p, p+n) is mapped (by anyone), 0 if some page is
 * not (mincore's ENOMEM: cheap, unlike reading smaps). */
int sysmem_kv_mapped(const void *p, size_t n);
/* The smaps entry covering addr: 0, ENOENT if no VMA covers it, or errno. */
int sysmem_kv_vma_at(const void *addr, struct sysmem_kv_vma *out);

/* Forks a child that touches *p (writes if write, else reads) and exits 0.
 * Returns the signal that killed it, 0 if it exited normally, -1 if fork
 * or wait failed. The child restores the default SIGSEGV/SIGBUS actions
 * first, so sanitizers' handlers do not turn the signal into an exit. */
int sysmem_kv_touch_in_child(void *p, int write);

/* /sys/kernel/mm/transparent_hugepage/enabled: 'a' always, 'm' madvise,
 * 'n' never, 0 unreadable. */
int sysmem_kv_thp_mode(void);
/* THPeligible the kernel should report for an anonymous VMA [start, end)
 * with these flags: 1 if some huge page size is enabled for it (the global
 * mode, or per size under hugepages-<N>kB/ where the kernel has them:
 * always, or madvise with hg, inherit meaning the global mode) and the VMA
 * holds a block of that size aligned to it; never with nh. */
int sysmem_kv_thp_expected(uintptr_t start, uintptr_t end, int hg, int nh);

/* mlock(2) / munlock(2) through syscall(2); 0 or errno. */
int sysmem_kv_mlock(const void *p, size_t n);
int sysmem_kv_munlock(const void *p, size_t n);

/* 1 when running under valgrind (PAGEALLOC_UNDER_VALGRIND set, or the
 * valgrind preload library present). */
int sysmem_kv_under_valgrind(void);

/* A snapshot of [lo, hi): the VMAs clipped to it (adjacent entries with
 * equal attributes merged) and one byte per page: resident bit from
 * mincore, or 2 where no VMA maps the page. */
#define SYSMEM_KV_SNAP_VMAS 64
struct sysmem_kv_snap {
    uintptr_t lo, hi;
    size_t nvma;
    struct sysmem_kv_vma vma[SYSMEM_KV_SNAP_VMAS];
    size_t npages;
    unsigned char *res;
};
int sysmem_kv_snap_take(uintptr_t lo, uintptr_t hi, struct sysmem_kv_snap *s);
/* 1 if equal (perms, hg, nh and residency; not Rss), else 0 with a reason. */
int sysmem_kv_snap_equal(const struct sysmem_kv_snap *a, const struct sysmem_kv_snap *b,
                         char *why, size_t size);
void sysmem_kv_snap_free(struct sysmem_kv_snap *s);

#endif /* SYSMEM_KVIEW_H */
