/*
 * states.c - the OS-memory layer's binding to its primitive table, its
 * accounting, and the per-region arrays of page states (registry.h has
 * the representation).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "os/registry.h"

/* ---- Binding: the primitive table in use and its capabilities ---------- */

struct sm_binding sm_bind;
static pthread_once_t sm_bind_once = PTHREAD_ONCE_INIT;

/* Binds a table: reads its caps once, and sanitises them so the rest of
 * the file may rely on the invariants stated in struct sm_binding. */
void sm_bind_table(const sysmem_os *os)
{
    struct sm_binding b = { .os = os };
    os->caps(&b.caps);
    if (!sm_is_pow2(b.caps.page_size))
        b.caps.page_size = 4096;
    if (b.caps.huge_page_size &&
        (!sm_is_pow2(b.caps.huge_page_size) || b.caps.huge_page_size <= b.caps.page_size))
        b.caps.huge_page_size = 0;
    b.shift = (unsigned)__builtin_ctzl((unsigned long)b.caps.page_size);
    sm_bind = b;
}

static void bind_default(void)
{
    sm_bind_table(sysmem_os_default());
}

struct sm_binding sm_binding(void)
{
    pthread_once(&sm_bind_once, bind_default);
    return sm_bind;
}

/* ---- Accounting ---------------------------------------------------------- */

/* Bytes per state (index = sysmem_state; [SYSMEM_NONE] stays 0). Written
 * only under sm_reg.lock, together with the page states they sum; read at any
 * time. Relaxed atomics. */
_Atomic uint64_t sm_bytes[4];
/* Refused caller-stat updates since start. Relaxed atomic, any thread. */
_Atomic uint64_t sm_stat_errors;
/* Bytes of OS memory held for the registry itself (table and region
 * blocks), including blocks whose unmap failed (leaked, still counted).
 * Relaxed atomic, changed right after the primitive call succeeds. */
_Atomic uint64_t sm_meta_bytes;
/* sysmem_release_mode for sysmem_unused. Relaxed atomic. */
atomic_int sm_release_mode;

/* Applies +n (add) or -n to a caller's counter, or refuses with EOVERFLOW
 * (counting the refusal) if the result would leave [0, UINT64_MAX]. A NULL
 * counter or n == 0 is a no-op. Any lock state. */
int sm_stat_change(sysmem_stat *s, uint64_t n, int add)
{
    if (!s || n == 0)
        return 0;
    uint64_t old = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
    uint64_t next;
    do {
        if (add ? old > UINT64_MAX - n : old < n) {
            atomic_fetch_add_explicit(&sm_stat_errors, 1, memory_order_relaxed);
            return EOVERFLOW;
        }
        next = add ? old + n : old - n;
    } while (!__atomic_compare_exchange_n(&s->bytes, &old, next, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return 0;
}

/* Reverses a sm_stat_change that succeeded. Any lock state. */
void sm_stat_undo(sysmem_stat *s, uint64_t n, int add)
{
    if (!s || n == 0)
        return;
    if (add)
        __atomic_fetch_sub(&s->bytes, n, __ATOMIC_RELAXED);
    else
        __atomic_fetch_add(&s->bytes, n, __ATOMIC_RELAXED);
}

/* ---- Regions and their state arrays -------------------------------------- */

/* Adds to c[s] the number of span pages [i, i+n) in each state s.
 * A word whose fields in range all hold one state (the usual case: the
 * heap moves pages in runs of dozens to thousands) costs one compare
 * instead of three popcounts; the count runs under the registry lock on
 * every page-cache refill (docs/os-layer.md "Locking").
 * sm_reg.lock held. */
void sm_st_count(const struct region *r, size_t i, size_t n, size_t c[4])
{
    size_t p = r->first + i, end = p + n;
    while (p < end) {
        size_t w = p / FIELDS_PER_WORD;
        size_t wbase = w * FIELDS_PER_WORD;
        unsigned lo = (unsigned)(p - wbase);
        unsigned hi = end - wbase >= FIELDS_PER_WORD ? FIELDS_PER_WORD : (unsigned)(end - wbase);
        uint64_t word = r->words[w];
        uint64_t both = sm_field_mask(lo, hi);
        unsigned s0 = (unsigned)(word >> (2 * lo)) & 3u;    /* stored field of page p */
        if (((word ^ sm_rep(s0)) & both) == 0) {
            c[s0 ^ r->key] += hi - lo;
            p = wbase + hi;
            continue;
        }
        uint64_t m = both & LOW_BITS;
        size_t seen = 0;
        for (unsigned s = 1; s < 4; s++) {
            uint64_t x = word ^ sm_rep(s ^ r->key);
            size_t k = (size_t)pa_popcount64(~(x | (x >> 1)) & m);
            c[s] += k;
            seen += k;
        }
        c[SYSMEM_NONE] += (hi - lo) - seen;
        p = wbase + hi;
    }
}

/* Sets span pages [i, i+n) to state s. sm_reg.lock held. */
void sm_st_set(struct region *r, size_t i, size_t n, sysmem_state s)
{
    uint64_t pat = sm_rep((unsigned)s ^ r->key);
    size_t p = r->first + i, end = p + n;
    while (p < end) {
        size_t w = p / FIELDS_PER_WORD;
        size_t wbase = w * FIELDS_PER_WORD;
        unsigned lo = (unsigned)(p - wbase);
        unsigned hi = end - wbase >= FIELDS_PER_WORD ? FIELDS_PER_WORD : (unsigned)(end - wbase);
        uint64_t m = sm_field_mask(lo, hi);
        r->words[w] = (r->words[w] & ~m) | (pat & m);
        p = wbase + hi;
    }
}

/* Span index of the first / one past the last page that is not None;
 * npages / 0 if there is none. sm_reg.lock held. */
size_t sm_st_first_owned(const struct region *r)
{
    uint64_t none = sm_rep(r->key);
    size_t p = r->first, end = r->first + r->npages;
    while (p < end) {
        size_t w = p / FIELDS_PER_WORD;
        size_t wbase = w * FIELDS_PER_WORD;
        unsigned lo = (unsigned)(p - wbase);
        unsigned hi = end - wbase >= FIELDS_PER_WORD ? FIELDS_PER_WORD : (unsigned)(end - wbase);
        uint64_t x = r->words[w] ^ none;
        uint64_t owned = (x | (x >> 1)) & LOW_BITS & sm_field_mask(lo, hi);
        if (owned)
            return wbase + (size_t)__builtin_ctzll(owned) / 2 - r->first;
        p = wbase + hi;
    }
    return r->npages;
}

size_t sm_st_end_owned(const struct region *r)
{
    uint64_t none = sm_rep(r->key);
    size_t p = r->first + r->npages;
    while (p > r->first) {
        size_t w = (p - 1) / FIELDS_PER_WORD;
        size_t wbase = w * FIELDS_PER_WORD;
        unsigned lo = r->first > wbase ? (unsigned)(r->first - wbase) : 0;
        unsigned hi = (unsigned)(p - wbase);
        uint64_t x = r->words[w] ^ none;
        uint64_t owned = (x | (x >> 1)) & LOW_BITS & sm_field_mask(lo, hi);
        if (owned)
            return wbase + (size_t)(63 - __builtin_clzll(owned)) / 2 + 1 - r->first;
        p = wbase + lo;
    }
    return 0;
}

