/*
 * sysmem.h - the OS-memory layer: address space and physical memory from the
 * operating system, with a state machine and exact accounting.
 *
 * Every byte of address space this layer hands out is in exactly one state:
 *
 *   None      not owned by the layer (never reserved, or freed again).
 *   Reserved  owned address space; any access faults; no physical memory.
 *   Prepared  mapped; may be backed or not; reads may return zero; cheap to
 *             make Ready. Memory returned to the OS by sysmem_unused is here.
 *   Ready     mapped and usable; may be resident.
 *
 *   operation         transition                  caller's stat
 *   sysmem_alloc      None -> Ready               += n
 *   sysmem_free       any  -> None                -= bytes that were mapped
 *   sysmem_reserve    None -> Reserved            (none)
 *   sysmem_map        Reserved -> Prepared        += n
 *   sysmem_used       Prepared -> Ready           (none; Ready bytes stay Ready)
 *   sysmem_unused     Ready -> Prepared           (none; Prepared stays Prepared)
 *   sysmem_fault      Prepared|Ready -> Reserved  -= n
 *   sysmem_huge_page, sysmem_no_huge_page: hints only, no transition.
 *
 * The layer tracks the state of every physical page it owns, so the
 * process-wide totals (sysmem_get_totals) are exact and misuse is caught:
 * an operation whose range is not wholly in a state it may start from
 * returns EINVAL and changes nothing. Callers also pass their own counters
 * (sysmem_stat, Go's sysMemStat: bytes of theirs that are mapped, i.e.
 * Prepared or Ready); an update that would overflow or underflow a counter
 * is refused with EOVERFLOW before anything changes, never wrapped.
 *
 * Error convention (every function below): 0 on success or an errno value;
 * on error nothing has changed, neither the mappings nor any counter, with
 * these exceptions, none of which loses track of memory the caller owns:
 * growth of the layer's own region table is kept once done; a bookkeeping
 * block that the OS refuses to unmap stays mapped and counted in
 * sysmem_metadata_bytes; if both a reserve/alloc and the undo of its fresh
 * mapping fail, that mapping is leaked unregistered; and the errors of the
 * huge-page advice made inside used/unused are ignored (as in Go).
 * A NULL sysmem_stat means "no caller counter".
 * Ranges must be aligned to the physical page size (sysmem_caps) except
 * for the hints. All functions are thread-safe; no lock is held across a
 * system call.
 *
 * The OS is reached only through a table of primitives (struct sysmem_os),
 * which tests may replace to inject failures or count calls.
 */
#ifndef PAGEALLOC_SYSMEM_H
#define PAGEALLOC_SYSMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sysmem_state {
    SYSMEM_NONE = 0,
    SYSMEM_RESERVED = 1,
    SYSMEM_PREPARED = 2,
    SYSMEM_READY = 3
} sysmem_state;

/* A caller-owned byte counter. Read it with sysmem_stat_load; it is
 * updated with atomic operations by the layer. Zero-initialise it. */
typedef struct sysmem_stat {
    uint64_t bytes;
} sysmem_stat;

uint64_t sysmem_stat_load(const sysmem_stat *s);

/* Process-wide bytes in each owned state, and the number of refused stat
 * updates (overflow/underflow attempts) since start. */
typedef struct sysmem_totals {
    uint64_t reserved;
    uint64_t prepared;
    uint64_t ready;
    uint64_t stat_errors;
} sysmem_totals;

void sysmem_get_totals(sysmem_totals *t);
uint64_t sysmem_ready_bytes(void);                 /* = totals.ready */
/* Bytes of OS memory the layer holds for its own bookkeeping (its region
 * table and per-region page-state arrays, obtained through the primitive
 * table); not part of the totals above. */
uint64_t sysmem_metadata_bytes(void);
/* Full invariant check of the layer's registry (regions sorted and
 * disjoint, per-region counts consistent, totals equal to the sum of the
 * page states): 0, or EFAULT with a description in msg (if msg_size > 0).
 * Cost: proportional to the pages owned. Read-only; thread-safe. */
int sysmem_check(char *msg, size_t msg_size);

/* State of the physical page holding addr (SYSMEM_NONE if not owned). */
sysmem_state sysmem_state_of(const void *addr);
/* The state of the page holding addr in *state (may be NULL), and how many
 * bytes from the start of that page on, at most max (rounded down to whole
 * pages), are in the same state: one lock for a whole run, where
 * sysmem_state_of takes it per page. */
size_t       sysmem_state_span(const void *addr, size_t max, sysmem_state *state);

/* None -> Ready: n bytes anywhere, zeroed. *out receives the address. */
int sysmem_alloc(size_t n, sysmem_stat *stat, void **out);
/* any -> None. The range must be owned by the layer (EINVAL otherwise). */
int sysmem_free(void *v, size_t n, sysmem_stat *stat);
/* None -> Reserved. hint may be NULL; it is honoured when the kernel can;
 * *out receives the (possibly different) address. EEXIST if the kernel
 * hands out addresses the layer believes it still owns (someone unmapped
 * the layer's memory behind its back); the new mapping is undone. */
int sysmem_reserve(void *hint, size_t n, void **out);
/* Reserved -> Prepared; the whole range must be Reserved. */
int sysmem_map(void *v, size_t n, sysmem_stat *stat);
/* Prepared -> Ready; every page must be Prepared or Ready (idempotent).
 * Like Go's sysUsed, it also advises MADV_HUGEPAGE on the whole huge pages
 * inside the range (undoing unused's NOHUGEPAGE); sysmem_used_ex with
 * SYSMEM_USED_NO_HUGE skips that advice (for a caller that keeps huge
 * pages off), and then makes no primitive call at all: only the layer's
 * lock and its page states, so a caller may hold its own lock across it
 * (the page heap's fresh windows, docs/heap.md "Page caches"). Other
 * flags: EINVAL. */
int sysmem_used(void *v, size_t n);
#define SYSMEM_USED_NO_HUGE 1u
int sysmem_used_ex(void *v, size_t n, unsigned flags);
/* Ready -> Prepared: physical memory returned, addresses kept. Every page
 * must be Prepared or Ready. Contents are forfeit. */
int sysmem_unused(void *v, size_t n);
/* sysmem_unused with flags. SYSMEM_UNUSED_UNTOUCHED: the caller knows no
 * byte of the range was accessed since it was last Prepared (or fresh
 * from a map), so it holds no physical memory and still reads as it did
 * then: the pages move to Prepared with no primitive call (no release,
 * no huge-page advice: the range's advice is still what it was when
 * Prepared), only the layer's lock and its page states (the page heap's
 * fresh windows, docs/heap.md "Page caches"). The counts are exact as
 * for sysmem_unused. Other flags: EINVAL. */
#define SYSMEM_UNUSED_UNTOUCHED 1u
int sysmem_unused_ex(void *v, size_t n, unsigned flags);
/* Transparent-huge-page hints. huge_page covers the huge pages wholly
 * inside [v, v+n) (aligned inward); no_huge_page covers every huge page
 * the range touches (aligned outward, clipped to memory the layer owns).
 * Without huge pages they validate the range (EINVAL on misuse) and do
 * nothing else. The range must be owned and mapped. */
int sysmem_huge_page(void *v, size_t n);
int sysmem_no_huge_page(void *v, size_t n);
/* Prepared|Ready -> Reserved: any access faults (guard pages, debugging). */
int sysmem_fault(void *v, size_t n, sysmem_stat *stat);

/* Residency query, no transition: vec[i] gets 1 if the i-th physical page
 * of [v, v+n) is resident (in RAM), else 0. Every page must be owned by
 * the layer, in any state (Reserved pages read 0); v and n page aligned.
 * EINVAL on misuse, ENOSYS when the primitive table has no `resident`
 * (a replacement table written before it existed). A snapshot: the answer
 * may be stale by the time it is read. */
int sysmem_resident(const void *v, size_t n, unsigned char *vec);

/* How released memory is returned to the OS by sysmem_unused. */
typedef enum sysmem_release_mode {
    SYSMEM_RELEASE_DONTNEED = 0,   /* default: RSS drops at once, reads zero */
    SYSMEM_RELEASE_FREE = 1        /* MADV_FREE: lazy; falls back to DONTNEED */
} sysmem_release_mode;
void sysmem_set_release_mode(sysmem_release_mode m);

/* ---- The OS primitive contract ------------------------------------------
 * Each primitive returns 0 or an errno value and has no other effect on
 * failure. The layer calls them with physical-page-aligned ranges. */
typedef struct sysmem_caps {
    size_t page_size;           /* physical page size */
    size_t huge_page_size;      /* transparent huge page size; 0 if none or
                                 * not larger than page_size */
    int released_reads_zero;    /* memory released by sysmem_unused reads 0
                                 * (sysmem_get_caps: 0 in MADV_FREE mode) */
} sysmem_caps;

typedef struct sysmem_os {
    /* Map n bytes inaccessible, at hint if possible (hint may be NULL). */
    int (*reserve)(void *hint, size_t n, void **out);
    /* Map n bytes read-write anywhere, zero-filled. */
    int (*alloc)(size_t n, void **out);
    /* Make [v, v+n) read-write, zero-filled, replacing what was there. */
    int (*commit)(void *v, size_t n);
    /* Make [v, v+n) inaccessible, dropping its contents. */
    int (*decommit)(void *v, size_t n);
    /* Return the physical memory of [v, v+n) (advice: MADV_DONTNEED or
     * MADV_FREE per mode), keeping it accessible. */
    int (*release)(void *v, size_t n, sysmem_release_mode mode);
    /* Huge-page advice: huge nonzero = MADV_HUGEPAGE, else MADV_NOHUGEPAGE. */
    int (*huge)(void *v, size_t n, int huge);
    /* Give [v, v+n) back to the OS (munmap). */
    int (*unmap)(void *v, size_t n);
    /* Capabilities of the machine. */
    void (*caps)(sysmem_caps *out);
    /* Residency of [v, v+n) (mincore): vec gets one byte per page, bit 0
     * set if resident. Optional (NULL: sysmem_resident answers ENOSYS);
     * last, so tables written before it still initialise. */
    int (*resident)(const void *v, size_t n, unsigned char *vec);
} sysmem_os;

/* The table in use, and the default one (the platform's). */
const sysmem_os *sysmem_os_get(void);
const sysmem_os *sysmem_os_default(void);
/* Replace the table (NULL restores the default); returns the previous one.
 * Not to be called while other threads use the layer; while the layer owns
 * memory, the new table must report the same page size. */
const sysmem_os *sysmem_os_set(const sysmem_os *os);
/* Capabilities as reported by the table in use (cached per table). */
void sysmem_get_caps(sysmem_caps *out);

#ifdef __cplusplus
}
#endif
#endif /* PAGEALLOC_SYSMEM_H */
