/*
 * registry.h - the OS-memory layer's books: which address space it owns
 * and the state of each physical page, shared by the files of the layer:
 *   states.c    the table binding, the accounting, per-region state arrays
 *   registry.c  the table of regions, range walks, in-flight records,
 *               metadata blocks
 *   sysmem.c    the operations (<pagealloc/sysmem.h>) and the checker
 * docs/os-layer.md has the design in prose.
 *
 * How it is represented. Each successful reserve/alloc creates a region: a
 * header followed by a state array with 2 bits per page, 32 pages per
 * uint64_t word. Header and array live in one block obtained from the
 * primitive table's alloc (never from malloc) and counted in
 * sysmem_metadata_bytes(). A fresh block reads as zero, and a region stores
 * each state XORed with its `key` (the state the region was created in), so
 * a new region of any size needs no initialisation: zero means "as created".
 *
 * Regions are kept in `reg.tab`, an array of pointers sorted by base
 * address, and found by binary search. A region's span [base, base +
 * npages pages) never overlaps another's. Freeing part of a region marks its
 * pages None; the span is then trimmed so that its first and last pages are
 * never None, and a region with no page left is dropped from the table and
 * its block returned to the OS. Only the interior of a span can hold None
 * pages ("holes"). This matters because the kernel may hand freed address
 * space out again: since both ends of every span are mapped, a new mapping
 * either lies wholly inside one hole (it is then absorbed into that region:
 * its pages are marked in the existing array, no new block is needed) or
 * touches no span at all (it becomes a new region).
 *
 * Searching. reg_upper() is a binary search for the first region whose base
 * lies above an address; the region before it is the only candidate to
 * contain the address. A range operation walks the regions from there in
 * address order, so ranges may span several adjacent regions (the kernel
 * often places new mappings right next to old ones); pages between spans,
 * and holes, count as None, which makes the range "not wholly owned".
 *
 * Locking. One mutex, reg.lock, protects the table, every region header and
 * state array, and the in-flight list; it is never held across a call into
 * the primitive table. Each operation runs in up to three phases:
 *   1. under the lock: validate the range against the page states (EINVAL
 *      with nothing changed), apply the caller's stat change (EOVERFLOW);
 *   2. without the lock: the primitive call(s);
 *   3. under the lock again: look the range up afresh (other threads may have
 *      reshaped the table meanwhile) and commit the new page states and the
 *      totals, from the states found then, so the totals always equal the
 *      sum over the page states. If the primitive failed, phase 3 is instead
 *      "undo the stat change" and nothing else has happened.
 * Concurrent operations on overlapping ranges are caller misuse; two
 * overlaps the layer must handle itself, recorded in `reg.inflight`:
 *  - Address reuse. Once sysmem_free's munmap has succeeded, another
 *    thread's reserve may receive the same addresses before the free
 *    commits. A free publishes its range from phase 1 to phase 3, and a
 *    reserve/alloc whose new mapping overlaps it waits on `reg.settled`.
 *    A new mapping that overlaps owned pages with no free in flight means
 *    the registry is stale (someone unmapped the layer's memory behind its
 *    back): the new mapping is undone and EEXIST returned.
 *  - Advice beyond the caller's range. sysmem_unused and
 *    sysmem_no_huge_page advise whole huge pages, which may include owned
 *    pages of other callers. The window is pinned while the advice runs,
 *    and a free overlapping a pin waits, so the advice never meets pages
 *    unmapped (ENOMEM) or remapped by someone else meanwhile.
 * Nobody waits while holding a record of their own, so waits cannot form
 * a cycle; each wait lasts one system call of another thread.
 *
 * Accounting. g_bytes[state] (Reserved, Prepared, Ready) change only in
 * phase 3, under the lock, by the exact number of pages that changed state,
 * and are readable at any time without it (relaxed atomics: each value is
 * exact, the three are not read as one snapshot). Callers' sysmem_stat
 * counters change with compare-and-swap in phase 1, are refused with
 * EOVERFLOW before anything else happens, and are restored if the
 * primitive fails.
 *
 */
#ifndef PAGEALLOC_OS_REGISTRY_H
#define PAGEALLOC_OS_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bits.h"
#include "pagealloc/sysmem.h"

/* ---- Binding: the primitive table in use and its capabilities ---------- */

/* Written by the first use (pthread_once) and by sysmem_os_set, which must
 * not run while other threads use the layer; read without a lock. A
 * replacement table must report the page size of the memory the layer
 * already owns (the state arrays count pages of that size). */
struct sm_binding {
    const sysmem_os *os;        /* table in use, never NULL once bound */
    sysmem_caps caps;           /* its caps; page_size a power of two;
                                 * huge_page_size 0 or a power of two
                                 * larger than page_size */
    unsigned shift;             /* log2(caps.page_size) */
};

extern struct sm_binding sm_bind;

/* The binding in force, bound to the default table at first use. */
struct sm_binding sm_binding(void);
/* Bind a table (sysmem_os_set); not while other threads use the layer. */
void sm_bind_table(const sysmem_os *os);

static inline int sm_is_pow2(size_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

static inline uintptr_t sm_align_down(uintptr_t x, size_t a)
{
    return x & ~(uintptr_t)(a - 1);
}

static inline uintptr_t sm_align_up(uintptr_t x, size_t a)
{
    return (x + a - 1) & ~(uintptr_t)(a - 1);
}

/* ---- Accounting (states.c) ------------------------------------------------ */

/* Bytes per state (index = sysmem_state; [SYSMEM_NONE] stays 0). Written
 * only under sm_reg.lock, together with the page states they sum; read at
 * any time. Relaxed atomics. */
extern _Atomic uint64_t sm_bytes[4];
/* Refused caller-stat updates since start. Relaxed atomic, any thread. */
extern _Atomic uint64_t sm_stat_errors;
/* Bytes of OS memory held for the registry itself (table and region
 * blocks), including blocks whose unmap failed (leaked, still counted). */
extern _Atomic uint64_t sm_meta_bytes;
/* sysmem_release_mode for sysmem_unused. Relaxed atomic. */
extern atomic_int sm_release_mode;

/* Applies +n (add) or -n to a caller's counter, or refuses with EOVERFLOW
 * (counting the refusal) if the result would leave [0, UINT64_MAX]. A NULL
 * counter or n == 0 is a no-op. Any lock state. */
int  sm_stat_change(sysmem_stat *s, uint64_t n, int add);
/* Reverses a sm_stat_change that succeeded. Any lock state. */
void sm_stat_undo(sysmem_stat *s, uint64_t n, int add);

/* ---- Regions and their state arrays (states.c) ------------------------------ */

#define FIELDS_PER_WORD 32u
#define LOW_BITS 0x5555555555555555ull     /* the low bit of every field */

struct region {
    uintptr_t base;       /* first byte of the span; page aligned; the
                           * first and last page of the span are not None.
                           * sm_reg.lock. */
    size_t npages;        /* pages in the span, >= 1. sm_reg.lock. */
    size_t first;         /* state-array index of the span's first page;
                           * first + npages <= nslots. sm_reg.lock. */
    size_t live;          /* pages of the span that are not None, in
                           * [1, npages] while the region is in the table.
                           * sm_reg.lock. */
    size_t nslots;        /* pages the state array can describe. Immutable. */
    size_t block_bytes;   /* less than a page: header and array share a
                           * pool slot of this size; else the array's own
                           * OS block (a page multiple), the header in a
                           * pool slot (regpool.c). Immutable. */
    unsigned key;         /* stored field = state ^ key (the creation
                           * state). Immutable. */
    struct region *next_dead;  /* after removal from the table only: list
                                * link, owned by the removing thread. */
    uint64_t *words;      /* 2 bits per page, page i at bits 2(i%32) of
                           * words[i/32]; right after the header, or its
                           * own block (block_bytes). Pointer immutable,
                           * words sm_reg.lock. */
};

/* A 2-bit value repeated in all 32 fields of a word. */
static inline uint64_t sm_rep(unsigned v)
{
    return LOW_BITS * (uint64_t)(v & 3u);
}

/* Both bits of fields [lo, hi) of a word, 0 <= lo < hi <= 32. */
static inline uint64_t sm_field_mask(unsigned lo, unsigned hi)
{
    uint64_t upto = hi >= FIELDS_PER_WORD ? ~0ull : ((1ull << (2 * hi)) - 1);
    return upto & ~((1ull << (2 * lo)) - 1);
}

static inline uintptr_t sm_span_bytes(const struct region *r)
{
    return (uintptr_t)r->npages << sm_bind.shift;
}

/* State of span page i. sm_reg.lock held. */
static inline sysmem_state sm_st_get(const struct region *r, size_t i)
{
    size_t p = r->first + i;
    unsigned v = (unsigned)(r->words[p / FIELDS_PER_WORD] >> (2 * (p % FIELDS_PER_WORD))) & 3u;
    return (sysmem_state)(v ^ r->key);
}

/* Adds to c[s] the number of span pages [i, i+n) in each state s. */
void   sm_st_count(const struct region *r, size_t i, size_t n, size_t c[4]);
/* Sets span pages [i, i+n) to state s. */
void   sm_st_set(struct region *r, size_t i, size_t n, sysmem_state s);
/* Span index of the first / one past the last page that is not None;
 * npages / 0 if there is none. */
size_t sm_st_first_owned(const struct region *r);
size_t sm_st_end_owned(const struct region *r);
/* (All of these: sm_reg.lock held.) */

/* ---- The registry (registry.c) ---------------------------------------------- */

/* An operation between its phases whose range others must not disturb.
 * FREE: [lo, hi) may already be unmapped although its pages are still
 * registered; a reserve/alloc whose new mapping overlaps it waits.
 * ADVICE: a huge-page advice window that may reach beyond the caller's
 * range (into neighbouring owned pages); a free overlapping it waits, so
 * the advice never meets unmapped or foreign memory.
 * Lives on the operating thread's stack; linked into sm_reg.inflight under
 * sm_reg.lock. */
enum inflight_kind { INFLIGHT_FREE, INFLIGHT_ADVICE };

struct inflight {
    uintptr_t lo, hi;
    enum inflight_kind kind;
    struct inflight *next;
};

struct sm_registry {
    pthread_mutex_t lock;
    pthread_cond_t settled;     /* broadcast when an in-flight record ends */
    struct region **tab;        /* sorted by base, spans disjoint; tab[0,
                                 * count) valid. lock. */
    size_t count;               /* regions in tab. lock. */
    size_t cap;                 /* tab's capacity; count + held <= cap. lock. */
    size_t held;                /* slots promised to reserve/alloc calls
                                 * between sm_slot_take and their insert. lock. */
    size_t tab_bytes;           /* bytes of tab's OS block. lock. */
    struct inflight *inflight;  /* frees and advice in progress. lock. */
    atomic_int busy;            /* 1 while a thread holds lock (outside
                                 * cond waits): what a taker that finds
                                 * the lock held spins on, reading, so the
                                 * spin does not take the line from the
                                 * holder. Relaxed; a hint only. */
};
extern struct sm_registry sm_reg;

/* 1 while the calling thread holds sm_reg.lock: the debug check behind
 * every "sm_reg.lock held" rule. */
extern _Thread_local int sm_locked;

void   sm_reg_lock(void);
void   sm_reg_unlock(void);
/* Waits on sm_reg.settled (sm_reg.lock held, released while waiting). */
void   sm_reg_wait_settled(void);
/* Index of the first region whose base is above a (binary search). */
size_t sm_reg_upper(uintptr_t a);
/* Index of the region whose span holds a, or of the first region above a. */
size_t sm_reg_first_at(uintptr_t a);
/* The region whose span holds a (its page may still be None), or NULL. */
struct region *sm_reg_containing(uintptr_t a);
/* Calls piece() for each part of the page-aligned range [a, b) inside a
 * span (region, span index, pages) and gap() with the number of pages
 * outside every span, in address order; the callbacks must not change the
 * table. */
void   sm_range_walk(uintptr_t a, uintptr_t b,
                     void (*piece)(struct region *, size_t, size_t, void *),
                     void (*gap)(size_t, void *), void *ctx);
/* c[s] = pages of [a, b) in state s; pages outside every span are None. */
void   sm_range_count(uintptr_t a, uintptr_t b, size_t c[4]);
/* Phase 3: every page of [a, b) that is not None goes to `to`; the totals
 * move by exactly the pages that changed state. */
void   sm_range_move(uintptr_t a, uintptr_t b, sysmem_state to);
/* sm_range_move for a range just counted in c under the same hold, with no
 * None page: sets the states without counting them again. */
void   sm_range_move_counted(uintptr_t a, uintptr_t b, sysmem_state to, const size_t c[4]);
/* The NOHUGEPAGE windows of sysmem_unused, clipped to owned memory;
 * returns how many (0..2) were written to w. */
int    sm_unused_windows(uintptr_t a, uintptr_t b, size_t huge, uintptr_t w[2][2]);
/* [wl, wh) clipped to the owned memory around [a, b), which it overlaps. */
void   sm_clip_to_owned(uintptr_t a, uintptr_t b, uintptr_t *wl, uintptr_t *wh);
/* In-flight records (see struct inflight). */
int    sm_inflight_overlaps(uintptr_t lo, uintptr_t hi, enum inflight_kind kind);
void   sm_inflight_add(struct inflight *rec, uintptr_t lo, uintptr_t hi,
                       enum inflight_kind kind);
void   sm_inflight_remove(struct inflight *rec);
/* (All of the above: sm_reg.lock held, except lock itself.) */

/* Metadata blocks, from the primitive table (never from malloc), counted
 * in sm_meta_bytes. sm_reg.lock not held. */
int    sm_meta_alloc(const struct sm_binding *b, size_t bytes, void **out);
void   sm_meta_free(const struct sm_binding *b, void *p, size_t bytes);
/* A new region (regpool.c): header and state array of `words` words,
 * zeroed, words and block_bytes set, the array's first pages faulted in;
 * and its return. sm_reg.lock not held. */
int    sm_region_get(const struct sm_binding *b, size_t words, struct region **out);
void   sm_region_put(const struct sm_binding *b, struct region *r);
/* Promise the caller one free slot in sm_reg.tab (growing the table
 * first if needed), or give the promise back. sm_reg.lock not held. */
int    sm_slot_take(const struct sm_binding *b);
void   sm_slot_give(void);

/* Fork: take the registry lock before fork, release it after in the
 * parent; in the child, make the lock and condition new and forget the
 * in-flight records of threads that do not exist there (their operations
 * stay half done: memory accounted as at their first phase). */
void   sm_fork_prepare(void);
void   sm_fork_parent(void);
void   sm_fork_child(void);

#endif /* PAGEALLOC_OS_REGISTRY_H */
