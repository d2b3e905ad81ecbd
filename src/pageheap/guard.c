/*
 * guard.c - guard mode (options.guard): freed pages fault until reused.
 * A free validates under the shard lock, makes the pages Reserved
 * (sysmem_fault) without a lock, then returns them to the allocator as
 * free and scavenged; an allocation whose run has guarded pages maps them
 * again before they are made Ready.
 */
#include <errno.h>

#include "pagealloc/debug.h"
#include "pageheap/heap.h"

int ph_guard_unprotect(pageheap *h, uintptr_t base, size_t npages, const uint64_t *scav)
{
    /* Guarded pages are free and scavenged, so only the scavenged runs
     * can hold them; the OS layer says where, a run at a time. The pages
     * mapped before a failure stay Prepared (heap_undo returns them as
     * scavenged, which they are). */
    for (size_t i = pa_bits_next(scav, 0, npages, 1); i < npages;
         i = pa_bits_next(scav, i, npages, 1)) {
        size_t j = pa_bits_next(scav, i, npages, 0);
        uintptr_t a = base + i * PH_PAGE, end = base + j * PH_PAGE;
        while (a < end) {
            sysmem_state st;
            size_t n = sysmem_state_span((void *)a, end - a, &st);
            if (n == 0)
                return EINVAL;
            if (st == SYSMEM_RESERVED) {
                int err = sysmem_map((void *)a, n, &h->heap_stat);
                if (err)
                    return err;
                ctr_sub(&h->guarded, n);
            }
            a += n;
        }
        i = j;
    }
    return 0;
}

/* Guard mode's free of a validated run: make the pages inaccessible (no
 * lock held), then give them to the allocator as free and scavenged. 1 if
 * done, 0 if the pages could not be protected (the caller frees them
 * normally). */
int ph_guard_free(pageheap *h, ph_shard *s, uintptr_t a, size_t npages)
{
    size_t bytes = npages * PH_PAGE;
    int err = sysmem_fault((void *)a, bytes, &h->heap_stat);
    if (err == EINVAL) {
        /* Not all Ready: another thread freed (some of) them meanwhile. */
        pa_report("pageheap_free", a, npages, "pages freed concurrently (double free?)");
        return 1;
    }
    if (err)
        return 0;
    ctr_sub(&h->ready, bytes);
    ctr_add(&h->guarded, bytes);
    ph_lock_take(&s->mu);
    ph_give_back_scavenged(s, a, npages, "pagealloc_scavenge_done");
    ph_lock_give(&s->mu);
    return 1;
}
