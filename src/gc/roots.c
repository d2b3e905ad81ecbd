/*
 * roots.c - the root ranges besides thread stacks: the writable static
 * data of the program and of every loaded shared object (the writable
 * PT_LOAD segments dl_iterate_phdr reports; this library's own are skipped
 * when it is a shared object of its own, since it keeps no object pointer
 * in static data), ranges the program adds, and excluded ranges (never
 * scanned, cut out of the static segments).
 *
 * The loaded objects are listed before the world stops (gc_roots_gather):
 * dl_iterate_phdr takes the loader's lock, which a stopped thread could
 * hold. A shared object unloaded between the listing and the scan would
 * fault the scan; programs must not dlclose while a collection runs
 * (bdwgc has the same rule unless dlopen is wrapped).
 *
 * The same walk lists the collecting thread's TLS blocks (dlpi_tls_data:
 * static ones, and dynamic ones it has made by then, of modules loaded at
 * any time), scanned as segments; other threads' TLS is world.c's.
 *
 * Each list is an array of [lo, hi) pairs in OS memory that doubles when
 * full; roots_mu guards all of them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <string.h>

#include "gc/gcint.h"

typedef struct range_list {
    uintptr_t (*r)[2];
    size_t n, cap;
} range_list;

static pthread_mutex_t roots_mu = PTHREAD_MUTEX_INITIALIZER;
static range_list added, excluded;                  /* roots_mu */
static range_list segments;                         /* collect_mu */

void gc_roots_lock(void)
{
    gc_lock(&roots_mu);
}

void gc_roots_unlock(void)
{
    pthread_mutex_unlock(&roots_mu);
}

static int list_push(range_list *l, uintptr_t lo, uintptr_t hi)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        void *mem;
        int err = sysmem_alloc(cap * sizeof *l->r, &gc_g.meta, &mem);
        if (err)
            return err;
        if (l->r) {
            memcpy(mem, l->r, l->n * sizeof *l->r);
            sysmem_free(l->r, l->cap * sizeof *l->r, &gc_g.meta);
        }
        l->r = mem;
        l->cap = cap;
    }
    l->r[l->n][0] = lo;
    l->r[l->n][1] = hi;
    l->n++;
    return 0;
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    int main_prog = !info->dlpi_name || !info->dlpi_name[0];
    uintptr_t me = (uintptr_t)&gc_g;
    if (!main_prog) {
        for (int i = 0; i < info->dlpi_phnum; i++) {
            const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            if (ph->p_type == PT_LOAD && me >= lo && me < lo + ph->p_memsz)
                return 0;                          /* this library */
        }
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_TLS && info->dlpi_tls_data) {
            /* The collecting thread's block, static or dynamic. */
            uintptr_t lo = (uintptr_t)info->dlpi_tls_data;
            (void)list_push(&segments, lo, lo + ph->p_memsz);
            continue;
        }
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || (!main_prog && !gc_g.static_roots))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        (void)list_push(&segments, lo, lo + ph->p_memsz);
    }
    return 0;
}

void gc_roots_gather(void)
{
    /* The collector's own state holds heap addresses (the heap's bounds);
     * when this library is linked into the program it is static data. */
    static int self_excluded;
    if (!self_excluded)
        self_excluded = pa_gc_exclude_static_roots(&gc_g, &gc_g + 1) == 0;
    /* segments belongs to the collecting thread (collect_mu); roots_mu is
     * not held across the loader's lock (a dlopen'd constructor may add
     * roots). */
    segments.n = 0;
    dl_iterate_phdr(phdr_cb, NULL);
}

/* Scan [lo, hi) minus the excluded ranges. */
static void scan_minus(uintptr_t lo, uintptr_t hi)
{
    for (size_t k = 0; k < excluded.n && lo < hi; k++) {
        uintptr_t xlo = excluded.r[k][0], xhi = excluded.r[k][1];
        if (xhi <= lo || xlo >= hi)
            continue;
        if (xlo > lo)
            scan_minus(lo, xlo);
        lo = xhi;
    }
    if (lo < hi)
        gc_mark_range(lo, hi);
}

void gc_scan_roots(void)
{
    for (size_t k = 0; k < segments.n; k++)
        scan_minus(segments.r[k][0], segments.r[k][1]);
    for (size_t k = 0; k < added.n; k++)
        gc_mark_range(added.r[k][0], added.r[k][1]);
}

PA_API int pa_gc_add_roots(void *lo, void *hi)
{
    if ((uintptr_t)lo > (uintptr_t)hi)
        return EINVAL;
    gc_lock(&roots_mu);
    int err = list_push(&added, (uintptr_t)lo, (uintptr_t)hi);
    pthread_mutex_unlock(&roots_mu);
    return err;
}

PA_API int pa_gc_remove_roots(void *lo, void *hi)
{
    gc_lock(&roots_mu);
    for (size_t k = 0; k < added.n;) {
        if (added.r[k][0] >= (uintptr_t)lo && added.r[k][1] <= (uintptr_t)hi) {
            added.r[k][0] = added.r[added.n - 1][0];
            added.r[k][1] = added.r[added.n - 1][1];
            added.n--;
        } else {
            k++;
        }
    }
    pthread_mutex_unlock(&roots_mu);
    return 0;
}

PA_API void pa_gc_clear_roots(void)
{
    gc_lock(&roots_mu);
    added.n = 0;
    pthread_mutex_unlock(&roots_mu);
}

PA_API int pa_gc_exclude_static_roots(void *lo, void *hi)
{
    if ((uintptr_t)lo > (uintptr_t)hi)
        return EINVAL;
    gc_lock(&roots_mu);
    int err = list_push(&excluded, (uintptr_t)lo, (uintptr_t)hi);
    /* Keep the list sorted by lo (insertion), as scan_minus needs. */
    for (size_t k = excluded.n; err == 0 && k-- > 1 && excluded.r[k][0] < excluded.r[k - 1][0];) {
        uintptr_t t0 = excluded.r[k][0], t1 = excluded.r[k][1];
        excluded.r[k][0] = excluded.r[k - 1][0];
        excluded.r[k][1] = excluded.r[k - 1][1];
        excluded.r[k - 1][0] = t0;
        excluded.r[k - 1][1] = t1;
    }
    pthread_mutex_unlock(&roots_mu);
    return err;
}

void gc_roots_fork_child(void)
{
    pthread_mutex_init(&roots_mu, NULL);
}
