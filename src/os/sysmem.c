/*
 * sysmem.c - the OS-memory layer: a registry of the address space the
 * layer owns, the state of each of its physical pages, exact accounting,
 * and the calls into the OS primitive table (src/os/linux.c by default).
 *
 * What is managed. Every physical page (sysmem_caps.page_size) the layer
 * has obtained with sysmem_reserve or sysmem_alloc and not yet freed, in one
 * of the states Reserved, Prepared or Ready (sysmem.h has the state table);
 * every other page of the address space is None.
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
 * Errors. Every error return leaves the page states, the totals, the
 * caller's stat and the kernel's mappings as they were. Deliberate limits:
 * a growth of the region table that completed is kept when a later step of
 * the same call fails (only capacity differs, and the next call would grow
 * it again); a metadata block whose unmap fails is leaked and stays counted
 * in sysmem_metadata_bytes(); and if undoing a fresh mapping fails after a
 * later step failed (two failures in one call), that mapping leaks,
 * unregistered. Best-effort calls (hints, returning blocks) never make an
 * operation fail. The layer never prints and never aborts; the assertions
 * that check its lock discipline exist only in debug builds.
 *
 * Primitive calls, in order, per operation (H = huge page size; "best
 * effort" calls have their errors ignored; tests count these):
 *   alloc    alloc(n), then, unless the mapping fell into a hole of a
 *            region, [table growth] alloc(state block); if one of those
 *            fails: unmap(v, n) to undo the mapping.
 *   reserve  as alloc, with reserve(hint, n) in place of alloc(n). The
 *            mapping comes first so that no metadata of ours can take the
 *            place the hint asks for.
 *   free     unmap(v, n); then unmap(state block) for each region that
 *            became empty, best effort.
 *   map      commit(v, n).          fault   decommit(v, n).
 *   used     huge(whole huge pages inside, 1) if H and any, best effort.
 *   unused   release(v, n, mode); then huge(.., 0), best effort, on the
 *            huge pages holding each unaligned end of the range: one call
 *            for both when they are adjacent, else one per end; each window
 *            is clipped to the memory the layer owns around the range.
 *            Go advises before releasing; we release first so that a failed
 *            release leaves the VMA flags untouched (the advice cannot be
 *            undone exactly). The price is a window of a few instructions
 *            in which khugepaged could collapse the released huge page.
 *   huge_page    huge(whole huge pages inside [v, v+n), 1) if H and any.
 *   no_huge_page huge(huge pages touched by [v, v+n), clipped to owned
 *                memory, 0) if H.
 *   Table growth: alloc(new table); unmap(old table), best effort.
 * No other call is made; validation failures make none.
 *
 * Where it stops scaling. One lock for the whole process: fine for the
 * page heap, which calls in a few times per megabyte. A region costs at
 * least one physical page of metadata (its block), and the table is one
 * pointer per region; the kernel's limit on mappings (vm.max_map_count,
 * 65530 by default) bounds the number of regions long before either
 * matters. State arrays of trimmed or holed regions are not shrunk.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pagealloc/sysmem.h"
#include "base/bits.h"
#include "base/export.h"

/* ---- Binding: the primitive table in use and its capabilities ---------- */

/* Written by the first use (pthread_once) and by sysmem_os_set, which must
 * not run while other threads use the layer; read without a lock. A
 * replacement table must report the page size of the memory the layer
 * already owns (the state arrays count pages of that size). */
struct binding {
    const sysmem_os *os;        /* table in use, never NULL once bound */
    sysmem_caps caps;           /* its caps; page_size a power of two;
                                 * huge_page_size 0 or a power of two
                                 * larger than page_size */
    unsigned shift;             /* log2(caps.page_size) */
};

static struct binding g_bind;
static pthread_once_t g_bind_once = PTHREAD_ONCE_INIT;

static int is_pow2(size_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

static uintptr_t align_down(uintptr_t x, size_t a)
{
    return x & ~(uintptr_t)(a - 1);
}

static uintptr_t align_up(uintptr_t x, size_t a)
{
    return (x + a - 1) & ~(uintptr_t)(a - 1);
}

/* Binds a table: reads its caps once, and sanitises them so the rest of
 * the file may rely on the invariants stated in struct binding. */
static void bind_table(const sysmem_os *os)
{
    struct binding b = { .os = os };
    os->caps(&b.caps);
    if (!is_pow2(b.caps.page_size))
        b.caps.page_size = 4096;
    if (b.caps.huge_page_size &&
        (!is_pow2(b.caps.huge_page_size) || b.caps.huge_page_size <= b.caps.page_size))
        b.caps.huge_page_size = 0;
    b.shift = (unsigned)__builtin_ctzl((unsigned long)b.caps.page_size);
    g_bind = b;
}

static void bind_default(void)
{
    bind_table(sysmem_os_default());
}

static struct binding binding(void)
{
    pthread_once(&g_bind_once, bind_default);
    return g_bind;
}

/* ---- Accounting ---------------------------------------------------------- */

/* Bytes per state (index = sysmem_state; [SYSMEM_NONE] stays 0). Written
 * only under reg.lock, together with the page states they sum; read at any
 * time. Relaxed atomics. */
static _Atomic uint64_t g_bytes[4];
/* Refused caller-stat updates since start. Relaxed atomic, any thread. */
static _Atomic uint64_t g_stat_errors;
/* Bytes of OS memory held for the registry itself (table and region
 * blocks), including blocks whose unmap failed (leaked, still counted).
 * Relaxed atomic, changed right after the primitive call succeeds. */
static _Atomic uint64_t g_meta_bytes;
/* sysmem_release_mode for sysmem_unused. Relaxed atomic. */
static atomic_int g_release_mode;

/* Applies +n (add) or -n to a caller's counter, or refuses with EOVERFLOW
 * (counting the refusal) if the result would leave [0, UINT64_MAX]. A NULL
 * counter or n == 0 is a no-op. Any lock state. */
static int stat_change(sysmem_stat *s, uint64_t n, int add)
{
    if (!s || n == 0)
        return 0;
    uint64_t old = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
    uint64_t next;
    do {
        if (add ? old > UINT64_MAX - n : old < n) {
            atomic_fetch_add_explicit(&g_stat_errors, 1, memory_order_relaxed);
            return EOVERFLOW;
        }
        next = add ? old + n : old - n;
    } while (!__atomic_compare_exchange_n(&s->bytes, &old, next, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return 0;
}

/* Reverses a stat_change that succeeded. Any lock state. */
static void stat_undo(sysmem_stat *s, uint64_t n, int add)
{
    if (!s || n == 0)
        return;
    if (add)
        __atomic_fetch_sub(&s->bytes, n, __ATOMIC_RELAXED);
    else
        __atomic_fetch_add(&s->bytes, n, __ATOMIC_RELAXED);
}

/* ---- Regions and their state arrays -------------------------------------- */

#define FIELDS_PER_WORD 32u
#define LOW_BITS 0x5555555555555555ull     /* the low bit of every field */

struct region {
    uintptr_t base;       /* first byte of the span; page aligned; the
                           * first and last page of the span are not None.
                           * reg.lock. */
    size_t npages;        /* pages in the span, >= 1. reg.lock. */
    size_t first;         /* state-array index of the span's first page;
                           * first + npages <= nslots. reg.lock. */
    size_t live;          /* pages of the span that are not None, in
                           * [1, npages] while the region is in the table.
                           * reg.lock. */
    size_t nslots;        /* pages the state array can describe. Immutable. */
    size_t block_bytes;   /* bytes of the OS block holding this header and
                           * the array (page multiple). Immutable. */
    unsigned key;         /* stored field = state ^ key (the creation
                           * state). Immutable. */
    struct region *next_dead;  /* after removal from the table only: list
                                * link, owned by the removing thread. */
    uint64_t words[];     /* 2 bits per page, page i at bits 2(i%32) of
                           * words[i/32]. reg.lock. */
};

/* A 2-bit value repeated in all 32 fields of a word. */
static uint64_t rep(unsigned v)
{
    return LOW_BITS * (uint64_t)(v & 3u);
}

/* Both bits of fields [lo, hi) of a word, 0 <= lo < hi <= 32. */
static uint64_t field_mask(unsigned lo, unsigned hi)
{
    uint64_t upto = hi >= FIELDS_PER_WORD ? ~0ull : ((1ull << (2 * hi)) - 1);
    return upto & ~((1ull << (2 * lo)) - 1);
}

static uintptr_t span_bytes(const struct region *r)
{
    return (uintptr_t)r->npages << g_bind.shift;
}

/* State of span page i. reg.lock held. */
static sysmem_state st_get(const struct region *r, size_t i)
{
    size_t p = r->first + i;
    unsigned v = (unsigned)(r->words[p / FIELDS_PER_WORD] >> (2 * (p % FIELDS_PER_WORD))) & 3u;
    return (sysmem_state)(v ^ r->key);
}

/* Adds to c[s] the number of span pages [i, i+n) in each state s.
 * reg.lock held. */
static void st_count(const struct region *r, size_t i, size_t n, size_t c[4])
{
    size_t p = r->first + i, end = p + n;
    while (p < end) {
        size_t w = p / FIELDS_PER_WORD;
        size_t wbase = w * FIELDS_PER_WORD;
        unsigned lo = (unsigned)(p - wbase);
        unsigned hi = end - wbase >= FIELDS_PER_WORD ? FIELDS_PER_WORD : (unsigned)(end - wbase);
        uint64_t m = field_mask(lo, hi) & LOW_BITS;
        uint64_t word = r->words[w];
        size_t seen = 0;
        for (unsigned s = 1; s < 4; s++) {
            uint64_t x = word ^ rep(s ^ r->key);
            size_t k = (size_t)pa_popcount64(~(x | (x >> 1)) & m);
            c[s] += k;
            seen += k;
        }
        c[SYSMEM_NONE] += (hi - lo) - seen;
        p = wbase + hi;
    }
}

/* Sets span pages [i, i+n) to state s. reg.lock held. */
static void st_set(struct region *r, size_t i, size_t n, sysmem_state s)
{
    uint64_t pat = rep((unsigned)s ^ r->key);
    size_t p = r->first + i, end = p + n;
    while (p < end) {
        size_t w = p / FIELDS_PER_WORD;
        size_t wbase = w * FIELDS_PER_WORD;
        unsigned lo = (unsigned)(p - wbase);
        unsigned hi = end - wbase >= FIELDS_PER_WORD ? FIELDS_PER_WORD : (unsigned)(end - wbase);
        uint64_t m = field_mask(lo, hi);
        r->words[w] = (r->words[w] & ~m) | (pat & m);
        p = wbase + hi;
    }
}

/* Span index of the first / one past the last page that is not None;
 * npages / 0 if there is none. reg.lock held. */
static size_t st_first_owned(const struct region *r)
{
    uint64_t none = rep(r->key);
    size_t p = r->first, end = r->first + r->npages;
    while (p < end) {
        size_t w = p / FIELDS_PER_WORD;
        size_t wbase = w * FIELDS_PER_WORD;
        unsigned lo = (unsigned)(p - wbase);
        unsigned hi = end - wbase >= FIELDS_PER_WORD ? FIELDS_PER_WORD : (unsigned)(end - wbase);
        uint64_t x = r->words[w] ^ none;
        uint64_t owned = (x | (x >> 1)) & LOW_BITS & field_mask(lo, hi);
        if (owned)
            return wbase + (size_t)__builtin_ctzll(owned) / 2 - r->first;
        p = wbase + hi;
    }
    return r->npages;
}

static size_t st_end_owned(const struct region *r)
{
    uint64_t none = rep(r->key);
    size_t p = r->first + r->npages;
    while (p > r->first) {
        size_t w = (p - 1) / FIELDS_PER_WORD;
        size_t wbase = w * FIELDS_PER_WORD;
        unsigned lo = r->first > wbase ? (unsigned)(r->first - wbase) : 0;
        unsigned hi = (unsigned)(p - wbase);
        uint64_t x = r->words[w] ^ none;
        uint64_t owned = (x | (x >> 1)) & LOW_BITS & field_mask(lo, hi);
        if (owned)
            return wbase + (size_t)(63 - __builtin_clzll(owned)) / 2 + 1 - r->first;
        p = wbase + lo;
    }
    return 0;
}

/* ---- The registry ---------------------------------------------------------- */

/* An operation between its phases whose range others must not disturb.
 * FREE: [lo, hi) may already be unmapped although its pages are still
 * registered; a reserve/alloc whose new mapping overlaps it waits.
 * ADVICE: a huge-page advice window that may reach beyond the caller's
 * range (into neighbouring owned pages); a free overlapping it waits, so
 * the advice never meets unmapped or foreign memory.
 * Lives on the operating thread's stack; linked into reg.inflight under
 * reg.lock. */
enum inflight_kind { INFLIGHT_FREE, INFLIGHT_ADVICE };

struct inflight {
    uintptr_t lo, hi;
    enum inflight_kind kind;
    struct inflight *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t settled;     /* broadcast when an in-flight record ends */
    struct region **tab;        /* sorted by base, spans disjoint; tab[0,
                                 * count) valid. lock. */
    size_t count;               /* regions in tab. lock. */
    size_t cap;                 /* tab's capacity; count + held <= cap. lock. */
    size_t held;                /* slots promised to reserve/alloc calls
                                 * between slot_take and their insert. lock. */
    size_t tab_bytes;           /* bytes of tab's OS block. lock. */
    struct inflight *inflight;  /* frees and advice in progress. lock. */
} reg = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .settled = PTHREAD_COND_INITIALIZER,
};

/* 1 while the calling thread holds reg.lock: the debug check behind every
 * "reg.lock held" rule below. */
static _Thread_local int t_locked;

static void reg_lock(void)
{
    pthread_mutex_lock(&reg.lock);
    t_locked = 1;
}

static void reg_unlock(void)
{
    assert(t_locked);
    t_locked = 0;
    pthread_mutex_unlock(&reg.lock);
}

/* Index of the first region whose base is above a (binary search).
 * reg.lock held. */
static size_t reg_upper(uintptr_t a)
{
    assert(t_locked);
    size_t lo = 0, hi = reg.count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (reg.tab[mid]->base <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Index of the region whose span holds a, or of the first region above a.
 * reg.lock held. */
static size_t reg_first_at(uintptr_t a)
{
    size_t i = reg_upper(a);
    if (i > 0 && a - reg.tab[i - 1]->base < span_bytes(reg.tab[i - 1]))
        i--;
    return i;
}

/* The region whose span holds a (its page may still be None, in a hole),
 * or NULL. reg.lock held. */
static struct region *reg_containing(uintptr_t a)
{
    size_t i = reg_upper(a);
    if (i == 0)
        return NULL;
    struct region *r = reg.tab[i - 1];
    return a - r->base < span_bytes(r) ? r : NULL;
}

/* Calls piece() for each part of the page-aligned range [a, b) inside a
 * span (region, span index, pages) and gap() with the number of pages
 * outside every span, in address order. The callbacks must not change the
 * table. reg.lock held. */
static void range_walk(uintptr_t a, uintptr_t b,
                       void (*piece)(struct region *, size_t, size_t, void *),
                       void (*gap)(size_t, void *), void *ctx)
{
    unsigned sh = g_bind.shift;
    size_t i = reg_first_at(a);
    while (a < b) {
        if (i < reg.count && reg.tab[i]->base <= a) {
            struct region *r = reg.tab[i];
            uintptr_t e = r->base + span_bytes(r);
            if (e > b)
                e = b;
            piece(r, (a - r->base) >> sh, (e - a) >> sh, ctx);
            a = e;
            i++;
        } else {
            uintptr_t e = i < reg.count && reg.tab[i]->base < b ? reg.tab[i]->base : b;
            gap((e - a) >> sh, ctx);
            a = e;
        }
    }
}

static void count_piece(struct region *r, size_t i, size_t n, void *ctx)
{
    st_count(r, i, n, ctx);
}

static void count_gap(size_t n, void *ctx)
{
    ((size_t *)ctx)[SYSMEM_NONE] += n;
}

/* c[s] = pages of [a, b) in state s; pages outside every span count as
 * None. reg.lock held. */
static void range_count(uintptr_t a, uintptr_t b, size_t c[4])
{
    memset(c, 0, 4 * sizeof(c[0]));
    range_walk(a, b, count_piece, count_gap, c);
}

struct move_ctx {
    sysmem_state to;
    size_t from[4];             /* pages found in each state */
};

static void move_piece(struct region *r, size_t i, size_t n, void *ctx)
{
    struct move_ctx *m = ctx;
    size_t c[4] = { 0 };
    st_count(r, i, n, c);
    if (c[SYSMEM_NONE] == 0 || m->to == SYSMEM_NONE) {
        st_set(r, i, n, m->to);
    } else {
        /* Misuse: a concurrent free took some of these pages. Leave them
         * None rather than resurrect them. */
        for (size_t j = i; j < i + n; j++)
            if (st_get(r, j) != SYSMEM_NONE)
                st_set(r, j, 1, m->to);
    }
    if (m->to == SYSMEM_NONE)
        r->live -= n - c[SYSMEM_NONE];
    for (unsigned s = 0; s < 4; s++)
        m->from[s] += c[s];
}

static void move_gap(size_t n, void *ctx)
{
    (void)n;
    (void)ctx;
}

/* Phase 3 of an operation: every page of [a, b) that is not None goes to
 * state `to`, and the totals move by exactly the pages that changed state.
 * Regions may be left with live == 0 (free_commit drops them).
 * reg.lock held. */
static void range_move(uintptr_t a, uintptr_t b, sysmem_state to)
{
    struct move_ctx m = { .to = to };
    unsigned sh = g_bind.shift;
    range_walk(a, b, move_piece, move_gap, &m);
    uint64_t moved = 0;
    for (unsigned s = SYSMEM_RESERVED; s <= SYSMEM_READY; s++) {
        if (s == (unsigned)to || m.from[s] == 0)
            continue;
        moved += m.from[s];
        atomic_fetch_sub_explicit(&g_bytes[s], (uint64_t)m.from[s] << sh, memory_order_relaxed);
    }
    if (to != SYSMEM_NONE && moved)
        atomic_fetch_add_explicit(&g_bytes[to], moved << sh, memory_order_relaxed);
}

/* Lowest x in [lo, a] such that every page of [x, a) is owned (any state
 * but None). a page aligned, lo <= a. reg.lock held. */
static uintptr_t owned_down(uintptr_t a, uintptr_t lo)
{
    unsigned sh = g_bind.shift;
    uintptr_t x = a;
    while (x > lo) {
        struct region *r = reg_containing(x - 1);
        if (!r)
            break;
        size_t stop = lo > r->base ? (lo - r->base) >> sh : 0;
        size_t i = (x - r->base) >> sh;
        while (i > stop && st_get(r, i - 1) != SYSMEM_NONE)
            i--;
        x = r->base + ((uintptr_t)i << sh);
        if (i > stop)
            break;              /* page i-1 is None */
    }
    return x;
}

/* Highest y in [b, hi] such that every page of [b, y) is owned.
 * reg.lock held. */
static uintptr_t owned_up(uintptr_t b, uintptr_t hi)
{
    unsigned sh = g_bind.shift;
    uintptr_t y = b;
    while (y < hi) {
        struct region *r = reg_containing(y);
        if (!r)
            break;
        size_t stop = (hi - r->base) >> sh;
        if (stop > r->npages)
            stop = r->npages;
        size_t i = (y - r->base) >> sh;
        while (i < stop && st_get(r, i) != SYSMEM_NONE)
            i++;
        y = r->base + ((uintptr_t)i << sh);
        if (i < stop)
            break;              /* page i is None */
    }
    return y;
}

/* [wl, wh) clipped to the owned memory around [a, b), which it overlaps:
 * it stops at the first page outside every region, in a hole, or under a
 * free in flight (those pages may already be unmapped). reg.lock held. */
static void clip_to_owned(uintptr_t a, uintptr_t b, uintptr_t *wl, uintptr_t *wh)
{
    for (const struct inflight *f = reg.inflight; f; f = f->next) {
        if (f->kind != INFLIGHT_FREE)
            continue;
        if (f->hi <= a && f->hi > *wl)
            *wl = f->hi;
        if (f->lo >= b && f->lo < *wh)
            *wh = f->lo;
    }
    if (*wl < a)
        *wl = owned_down(a, *wl);
    if (*wh > b)
        *wh = owned_up(b, *wh);
}

/* The NOHUGEPAGE windows of sysmem_unused (Go's sysUnusedOS): the huge
 * page holding a if a is not huge-page aligned, the one holding b-1 if b is
 * not, as one window when they are adjacent; each clipped to owned memory.
 * Returns the number of windows (0..2) written to w. reg.lock held. */
static int unused_windows(uintptr_t a, uintptr_t b, size_t huge, uintptr_t w[2][2])
{
    int head = (a & (huge - 1)) != 0, tail = (b & (huge - 1)) != 0;
    uintptr_t hp = align_down(a, huge), tp = align_down(b - 1, huge);
    int nw = 0;
    if (head && tail && hp + huge == tp) {
        w[nw][0] = hp;
        w[nw++][1] = hp + 2 * huge;
    } else {
        if (head) {
            w[nw][0] = hp;
            w[nw++][1] = hp + huge;
        }
        if (tail && !(head && tp == hp)) {
            w[nw][0] = tp;
            w[nw++][1] = tp + huge;
        }
    }
    for (int i = 0; i < nw; i++)
        clip_to_owned(a, b, &w[i][0], &w[i][1]);
    return nw;
}

/* Whether [lo, hi) overlaps an in-flight record of that kind.
 * reg.lock held. */
static int inflight_overlaps(uintptr_t lo, uintptr_t hi, enum inflight_kind kind)
{
    assert(t_locked);
    for (const struct inflight *f = reg.inflight; f; f = f->next)
        if (f->kind == kind && f->lo < hi && lo < f->hi)
            return 1;
    return 0;
}

static void inflight_add(struct inflight *rec, uintptr_t lo, uintptr_t hi,
                         enum inflight_kind kind)
{
    assert(t_locked);
    rec->lo = lo;
    rec->hi = hi;
    rec->kind = kind;
    rec->next = reg.inflight;
    reg.inflight = rec;
}

static void inflight_remove(struct inflight *rec)
{
    assert(t_locked);
    struct inflight **pp = &reg.inflight;
    while (*pp != rec)
        pp = &(*pp)->next;
    *pp = rec->next;
    pthread_cond_broadcast(&reg.settled);
}

/* ---- Metadata blocks --------------------------------------------------------- */

/* A zeroed block of `bytes` (a page multiple) from the primitive table.
 * reg.lock not held. */
static int meta_alloc(const struct binding *b, size_t bytes, void **out)
{
    int err = b->os->alloc(bytes, out);
    if (err == 0)
        atomic_fetch_add_explicit(&g_meta_bytes, bytes, memory_order_relaxed);
    return err;
}

/* Returns a block to the OS; if that fails the block leaks and stays
 * counted. reg.lock not held. */
static void meta_free(const struct binding *b, void *p, size_t bytes)
{
    if (b->os->unmap(p, bytes) == 0)
        atomic_fetch_sub_explicit(&g_meta_bytes, bytes, memory_order_relaxed);
}

/* Promises the caller one free slot in reg.tab, growing the table first if
 * needed (alloc(new table), then unmap(old table)). reg.lock not held. */
static int slot_take(const struct binding *b)
{
    reg_lock();
    while (reg.count + reg.held >= reg.cap) {
        size_t ncap = reg.cap ? 2 * reg.cap : b->caps.page_size / sizeof(struct region *);
        size_t bytes = align_up(ncap * sizeof(struct region *), b->caps.page_size);
        ncap = bytes / sizeof(struct region *);
        reg_unlock();
        void *fresh;
        int err = meta_alloc(b, bytes, &fresh);
        if (err)
            return err;
        reg_lock();
        void *spare = fresh;
        size_t spare_bytes = bytes;
        if (reg.count + reg.held >= reg.cap && ncap > reg.cap) {
            if (reg.count)
                memcpy(fresh, reg.tab, reg.count * sizeof(struct region *));
            spare = reg.tab;
            spare_bytes = reg.tab_bytes;
            reg.tab = fresh;
            reg.cap = ncap;
            reg.tab_bytes = bytes;
        }
        if (spare) {
            reg_unlock();
            meta_free(b, spare, spare_bytes);
            reg_lock();
        }
    }
    reg.held++;
    reg_unlock();
    return 0;
}

/* Gives back a slot promised by slot_take. reg.lock not held. */
static void slot_give(void)
{
    reg_lock();
    reg.held--;
    reg_unlock();
}

/* ---- Operations ------------------------------------------------------------- */

/* Checks a range for the state-changing operations: non-NULL, non-empty,
 * page aligned, not wrapping. */
static int check_range(const struct binding *b, const void *v, size_t n, uintptr_t *pa,
                       uintptr_t *pb)
{
    uintptr_t a = (uintptr_t)v, m = b->caps.page_size - 1;
    if (!v || n == 0 || (a & m) || (n & m) || n > UINTPTR_MAX - a)
        return EINVAL;
    *pa = a;
    *pb = a + n;
    return 0;
}

/* Checks a hint range (any alignment) and returns the pages it touches. */
static int check_hint_range(const struct binding *b, const void *v, size_t n, uintptr_t *pa,
                            uintptr_t *pb)
{
    uintptr_t a = (uintptr_t)v;
    size_t slack = 2 * (b->caps.huge_page_size > b->caps.page_size ? b->caps.huge_page_size
                                                                   : b->caps.page_size);
    if (!v || n == 0 || a > UINTPTR_MAX - slack || n > UINTPTR_MAX - slack - a)
        return EINVAL;
    *pa = align_down(a, b->caps.page_size);
    *pb = align_up(a + n, b->caps.page_size);
    return 0;
}

/* Masks of page states, for in_states(). */
#define STATE_BIT(s)  (1u << (s))
#define STATES_MAPPED (STATE_BIT(SYSMEM_PREPARED) | STATE_BIT(SYSMEM_READY))

/* Whether the pages counted in c are all in states of the mask `ok`. */
static int in_states(const size_t c[4], unsigned ok)
{
    for (unsigned s = 0; s < 4; s++)
        if (c[s] && !(ok & STATE_BIT(s)))
            return 0;
    return 1;
}

/* Phase 1's checks for an operation that only reads the page states
 * there: the range (check_range, or with `hint` check_hint_range: the
 * pages it touches) into [*pa, *pb), then EINVAL unless every page of it
 * is in a state of `ok`. reg.lock not held. */
static int check_states(const struct binding *b, const void *v, size_t n, int hint,
                        unsigned ok, uintptr_t *pa, uintptr_t *pb)
{
    int err = hint ? check_hint_range(b, v, n, pa, pb) : check_range(b, v, n, pa, pb);
    if (err)
        return err;
    size_t c[4];
    reg_lock();
    range_count(*pa, *pb, c);
    reg_unlock();
    return in_states(c, ok) ? 0 : EINVAL;
}

/* The body of sysmem_map and sysmem_fault, the operations that move a
 * whole range from one set of states to one state with one primitive
 * call: phase 1, every page of [v, v+n) in a state of `from` (else
 * EINVAL) and the caller's stat changed by n (add: up, else down;
 * EOVERFLOW); phase 2, prim(v, n); phase 3, the stat restored if prim
 * failed, else every page moved to `to`. reg.lock not held. */
static int transition(const struct binding *b, void *v, size_t n, sysmem_stat *stat,
                      unsigned from, int add, int (*prim)(void *, size_t), sysmem_state to)
{
    uintptr_t a, e;
    int err = check_states(b, v, n, 0, from, &a, &e);
    if (err == 0)
        err = stat_change(stat, n, add);
    if (err)
        return err;
    err = prim(v, n);
    if (err) {
        stat_undo(stat, n, add);
        return err;
    }
    reg_lock();
    range_move(a, e, to);
    reg_unlock();
    return 0;
}

enum placement { PLACE_NEW, PLACE_ABSORBED, PLACE_STALE };

/* Where a fresh mapping [a, a+n) goes: inside a hole of a region (it is
 * absorbed there and then: its pages take state `init` and the totals
 * grow), over pages the registry still believes owned (stale), or into a
 * new region at table index *at. Waits first for in-flight frees that
 * overlap it. reg.lock held. */
static enum placement place(uintptr_t a, size_t n, sysmem_state init, size_t *at)
{
    unsigned sh = g_bind.shift;
    size_t npages = n >> sh;
    while (inflight_overlaps(a, a + n, INFLIGHT_FREE))
        pthread_cond_wait(&reg.settled, &reg.lock);
    size_t i = reg_upper(a);
    struct region *prev = i ? reg.tab[i - 1] : NULL;
    if (prev && a - prev->base < span_bytes(prev)) {
        size_t c[4] = { 0 };
        size_t idx = (a - prev->base) >> sh;
        if (n > span_bytes(prev) - (a - prev->base))
            return PLACE_STALE;     /* spans end in owned, mapped pages */
        st_count(prev, idx, npages, c);
        if (c[SYSMEM_NONE] != npages)
            return PLACE_STALE;
        st_set(prev, idx, npages, init);
        prev->live += npages;
        atomic_fetch_add_explicit(&g_bytes[init], (uint64_t)n, memory_order_relaxed);
        return PLACE_ABSORBED;
    }
    if (i < reg.count && reg.tab[i]->base - a < n)
        return PLACE_STALE;
    *at = i;
    return PLACE_NEW;
}

/* None -> `init` (Reserved or Ready) for a fresh mapping: the common body
 * of sysmem_reserve and sysmem_alloc. The mapping is made first, so that
 * nothing of ours occupies the hinted address before it; then, unless it
 * lands in a hole of an existing region, a table slot and a block for the
 * new region. If those fail, the mapping is undone (should that unmap fail
 * too, the mapping leaks: it is neither registered nor counted).
 * reg.lock not held. */
static int new_region(const struct binding *b, void *hint, size_t n, sysmem_state init,
                      void **out)
{
    size_t npages = n >> b->shift;
    size_t words = (npages + FIELDS_PER_WORD - 1) / FIELDS_PER_WORD;
    if (words > (SIZE_MAX - sizeof(struct region) - b->caps.page_size) / sizeof(uint64_t))
        return ENOMEM;
    size_t block = align_up(sizeof(struct region) + words * sizeof(uint64_t), b->caps.page_size);

    void *p = NULL;
    int err = init == SYSMEM_READY ? b->os->alloc(n, &p) : b->os->reserve(hint, n, &p);
    if (err)
        return err;
    uintptr_t a = (uintptr_t)p;
    size_t at = 0;

    reg_lock();
    enum placement where = place(a, n, init, &at);
    reg_unlock();
    if (where == PLACE_NEW) {
        void *blk = NULL;
        err = slot_take(b);
        if (err == 0) {
            err = meta_alloc(b, block, &blk);
            if (err)
                slot_give();
        }
        if (err == 0) {
            reg_lock();
            where = place(a, n, init, &at);     /* the table may have moved */
            if (where == PLACE_NEW) {
                struct region *r = blk;
                r->base = a;
                r->npages = npages;
                r->first = 0;
                r->live = npages;
                r->nslots = words * FIELDS_PER_WORD;
                r->block_bytes = block;
                r->key = (unsigned)init;
                r->next_dead = NULL;
                memmove(&reg.tab[at + 1], &reg.tab[at],
                        (reg.count - at) * sizeof(struct region *));
                reg.tab[at] = r;
                reg.count++;
                atomic_fetch_add_explicit(&g_bytes[init], (uint64_t)n, memory_order_relaxed);
                blk = NULL;
            }
            reg.held--;
            reg_unlock();
            if (blk)
                meta_free(b, blk, block);
        }
    }
    if (err || where == PLACE_STALE) {
        (void)b->os->unmap(p, n);
        return err ? err : EEXIST;
    }
    *out = p;
    return 0;
}

PA_API int sysmem_alloc(size_t n, sysmem_stat *stat, void **out)
{
    struct binding b = binding();
    if (!out || n == 0 || (n & (b.caps.page_size - 1)))
        return EINVAL;
    int err = stat_change(stat, n, 1);
    if (err)
        return err;
    err = new_region(&b, NULL, n, SYSMEM_READY, out);
    if (err)
        stat_undo(stat, n, 1);
    return err;
}

PA_API int sysmem_reserve(void *hint, size_t n, void **out)
{
    struct binding b = binding();
    if (!out || n == 0 || (n & (b.caps.page_size - 1)))
        return EINVAL;
    return new_region(&b, hint, n, SYSMEM_RESERVED, out);
}

/* Phase 3 of sysmem_free: [a, b) goes to None, touched regions are trimmed
 * and the empty ones removed from the table and returned as a list for the
 * caller to unmap. reg.lock held. */
static struct region *free_commit(uintptr_t a, uintptr_t b)
{
    unsigned sh = g_bind.shift;
    size_t i0 = reg_first_at(a);
    range_move(a, b, SYSMEM_NONE);
    struct region *dead = NULL;
    size_t k = i0, w = i0;
    for (; k < reg.count && reg.tab[k]->base < b; k++) {
        struct region *r = reg.tab[k];
        if (r->live == 0) {
            r->next_dead = dead;
            dead = r;
            continue;
        }
        size_t lo = st_first_owned(r), hi = st_end_owned(r);
        r->base += (uintptr_t)lo << sh;
        r->first += lo;
        r->npages = hi - lo;
        reg.tab[w++] = r;
    }
    if (w != k) {
        memmove(&reg.tab[w], &reg.tab[k], (reg.count - k) * sizeof(struct region *));
        reg.count -= k - w;
    }
    return dead;
}

PA_API int sysmem_free(void *v, size_t n, sysmem_stat *stat)
{
    struct binding b = binding();
    uintptr_t a, e;
    int err = check_range(&b, v, n, &a, &e);
    if (err)
        return err;
    size_t c[4];
    struct inflight rec;
    reg_lock();
    while (inflight_overlaps(a, e, INFLIGHT_ADVICE))
        pthread_cond_wait(&reg.settled, &reg.lock);
    range_count(a, e, c);
    uint64_t mapped = (uint64_t)(c[SYSMEM_PREPARED] + c[SYSMEM_READY]) << b.shift;
    err = c[SYSMEM_NONE] ? EINVAL : stat_change(stat, mapped, 0);
    if (err == 0)
        inflight_add(&rec, a, e, INFLIGHT_FREE);
    reg_unlock();
    if (err)
        return err;

    err = b.os->unmap(v, n);

    struct region *dead = NULL;
    reg_lock();
    inflight_remove(&rec);
    if (err == 0)
        dead = free_commit(a, e);
    reg_unlock();
    if (err) {
        stat_undo(stat, mapped, 0);
        return err;
    }
    while (dead) {
        struct region *next = dead->next_dead;
        meta_free(&b, dead, dead->block_bytes);
        dead = next;
    }
    return 0;
}

PA_API int sysmem_map(void *v, size_t n, sysmem_stat *stat)
{
    struct binding b = binding();
    return transition(&b, v, n, stat, STATE_BIT(SYSMEM_RESERVED), 1, b.os->commit,
                      SYSMEM_PREPARED);
}

PA_API int sysmem_used(void *v, size_t n)
{
    return sysmem_used_ex(v, n, 0);
}

PA_API int sysmem_used_ex(void *v, size_t n, unsigned flags)
{
    if (flags & ~(unsigned)SYSMEM_USED_NO_HUGE)
        return EINVAL;
    struct binding b = binding();
    uintptr_t a, e;
    int err = check_range(&b, v, n, &a, &e);
    if (err)
        return err;
    size_t c[4];
    reg_lock();
    range_count(a, e, c);
    int ok = in_states(c, STATES_MAPPED);
    if (ok)
        range_move(a, e, SYSMEM_READY);
    reg_unlock();
    if (!ok)
        return EINVAL;
    size_t huge = b.caps.huge_page_size;
    if (huge && !(flags & SYSMEM_USED_NO_HUGE)) {
        uintptr_t lo = align_up(a, huge), hi = align_down(e, huge);
        if (lo < hi)
            (void)b.os->huge((void *)lo, hi - lo, 1);   /* a hint: errors ignored */
    }
    return 0;
}

PA_API int sysmem_unused(void *v, size_t n)
{
    struct binding b = binding();
    uintptr_t a, e;
    int err = check_states(&b, v, n, 0, STATES_MAPPED, &a, &e);
    if (err)
        return err;
    sysmem_release_mode mode =
        (sysmem_release_mode)atomic_load_explicit(&g_release_mode, memory_order_relaxed);
    err = b.os->release(v, n, mode);
    if (err)
        return err;
    uintptr_t w[2][2];
    struct inflight pin[2];
    int nw = 0;
    reg_lock();
    range_move(a, e, SYSMEM_PREPARED);
    if (b.caps.huge_page_size)
        nw = unused_windows(a, e, b.caps.huge_page_size, w);
    for (int i = 0; i < nw; i++)
        inflight_add(&pin[i], w[i][0], w[i][1], INFLIGHT_ADVICE);
    reg_unlock();
    if (nw == 0)
        return 0;
    for (int i = 0; i < nw; i++)
        (void)b.os->huge((void *)w[i][0], w[i][1] - w[i][0], 0);   /* errors ignored */
    reg_lock();
    for (int i = 0; i < nw; i++)
        inflight_remove(&pin[i]);
    reg_unlock();
    return 0;
}

PA_API int sysmem_fault(void *v, size_t n, sysmem_stat *stat)
{
    struct binding b = binding();
    return transition(&b, v, n, stat, STATES_MAPPED, 0, b.os->decommit, SYSMEM_RESERVED);
}

PA_API int sysmem_huge_page(void *v, size_t n)
{
    struct binding b = binding();
    uintptr_t a, e;
    int err = check_states(&b, v, n, 1, STATES_MAPPED, &a, &e);
    if (err)
        return err;
    size_t huge = b.caps.huge_page_size;
    if (!huge)
        return 0;
    uintptr_t lo = align_up((uintptr_t)v, huge), hi = align_down((uintptr_t)v + n, huge);
    if (lo >= hi)
        return 0;
    return b.os->huge((void *)lo, hi - lo, 1);
}

PA_API int sysmem_no_huge_page(void *v, size_t n)
{
    struct binding b = binding();
    uintptr_t a, e;
    int err = check_hint_range(&b, v, n, &a, &e);
    if (err)
        return err;
    size_t huge = b.caps.huge_page_size;
    size_t c[4];
    uintptr_t lo = 0, hi = 0;
    struct inflight pin;
    reg_lock();
    range_count(a, e, c);
    int ok = in_states(c, STATES_MAPPED);
    if (ok && huge) {
        lo = align_down(a, huge);
        hi = align_up(e, huge);
        clip_to_owned(a, e, &lo, &hi);
        inflight_add(&pin, lo, hi, INFLIGHT_ADVICE);
    }
    reg_unlock();
    if (!ok)
        return EINVAL;
    if (!huge)
        return 0;
    err = b.os->huge((void *)lo, hi - lo, 0);
    reg_lock();
    inflight_remove(&pin);
    reg_unlock();
    return err;
}

/* ---- Queries and settings ------------------------------------------------------ */

PA_API uint64_t sysmem_stat_load(const sysmem_stat *s)
{
    return s ? __atomic_load_n(&s->bytes, __ATOMIC_RELAXED) : 0;
}

PA_API void sysmem_get_totals(sysmem_totals *t)
{
    t->reserved = atomic_load_explicit(&g_bytes[SYSMEM_RESERVED], memory_order_relaxed);
    t->prepared = atomic_load_explicit(&g_bytes[SYSMEM_PREPARED], memory_order_relaxed);
    t->ready = atomic_load_explicit(&g_bytes[SYSMEM_READY], memory_order_relaxed);
    t->stat_errors = atomic_load_explicit(&g_stat_errors, memory_order_relaxed);
}

PA_API uint64_t sysmem_ready_bytes(void)
{
    return atomic_load_explicit(&g_bytes[SYSMEM_READY], memory_order_relaxed);
}

PA_API uint64_t sysmem_metadata_bytes(void)
{
    return atomic_load_explicit(&g_meta_bytes, memory_order_relaxed);
}

PA_API sysmem_state sysmem_state_of(const void *addr)
{
    if (!addr)
        return SYSMEM_NONE;
    (void)binding();
    uintptr_t a = (uintptr_t)addr;
    sysmem_state s = SYSMEM_NONE;
    reg_lock();
    struct region *r = reg_containing(a);
    if (r)
        s = st_get(r, (a - r->base) >> g_bind.shift);
    reg_unlock();
    return s;
}

PA_API size_t sysmem_state_span(const void *addr, size_t max, sysmem_state *state)
{
    struct binding b = binding();
    uintptr_t a = (uintptr_t)addr & ~(uintptr_t)(b.caps.page_size - 1);
    if (max > UINTPTR_MAX - a)
        max = UINTPTR_MAX - a;
    uintptr_t end = align_down(a + max, b.caps.page_size);
    reg_lock();
    struct region *r = reg_containing(a);
    sysmem_state s = r ? st_get(r, (a - r->base) >> b.shift) : SYSMEM_NONE;
    uintptr_t x = a;
    while (x < end) {
        if (!r || x - r->base >= span_bytes(r))
            r = reg_containing(x);
        sysmem_state sx = r ? st_get(r, (x - r->base) >> b.shift) : SYSMEM_NONE;
        if (sx != s)
            break;
        x += b.caps.page_size;
    }
    reg_unlock();
    if (state)
        *state = s;
    return x - a;
}

PA_API void sysmem_set_release_mode(sysmem_release_mode m)
{
    if (m == SYSMEM_RELEASE_DONTNEED || m == SYSMEM_RELEASE_FREE)
        atomic_store_explicit(&g_release_mode, (int)m, memory_order_relaxed);
}

PA_API const sysmem_os *sysmem_os_get(void)
{
    return binding().os;
}

PA_API const sysmem_os *sysmem_os_set(const sysmem_os *os)
{
    const sysmem_os *prev = binding().os;
    bind_table(os ? os : sysmem_os_default());
    return prev;
}

PA_API void sysmem_get_caps(sysmem_caps *out)
{
    *out = binding().caps;
    /* MADV_FREE'd pages may keep their contents until the kernel needs them. */
    if (atomic_load_explicit(&g_release_mode, memory_order_relaxed) != SYSMEM_RELEASE_DONTNEED)
        out->released_reads_zero = 0;
}

/* ---- Invariant checker ----------------------------------------------------------- */

static int check_fail(char *msg, size_t size, const char *what, uintptr_t addr)
{
    if (msg && size)
        snprintf(msg, size, "sysmem_check: %s (at %#lx)", what, (unsigned long)addr);
    return EFAULT;
}

PA_API int sysmem_check(char *msg, size_t msg_size)
{
    (void)binding();
    size_t sum[4] = { 0 };
    int err = 0;
    reg_lock();
    if (reg.count + reg.held > reg.cap)
        err = check_fail(msg, msg_size, "more regions and promised slots than table slots", 0);
    for (size_t i = 0; i < reg.count && !err; i++) {
        const struct region *r = reg.tab[i];
        size_t c[4] = { 0 };
        if (r->npages == 0 || r->first + r->npages > r->nslots ||
            (r->base & (g_bind.caps.page_size - 1)))
            err = check_fail(msg, msg_size, "region span empty, unaligned or beyond its array",
                             r->base);
        else if (i > 0 && reg.tab[i - 1]->base + span_bytes(reg.tab[i - 1]) > r->base)
            err = check_fail(msg, msg_size, "regions not sorted or overlapping", r->base);
        if (err)
            break;
        st_count(r, 0, r->npages, c);
        if (r->live != r->npages - c[SYSMEM_NONE])
            err = check_fail(msg, msg_size, "region live count differs from its states", r->base);
        else if (st_get(r, 0) == SYSMEM_NONE || st_get(r, r->npages - 1) == SYSMEM_NONE)
            err = check_fail(msg, msg_size, "region span starts or ends with a None page",
                             r->base);
        for (unsigned s = 0; s < 4; s++)
            sum[s] += c[s];
    }
    for (unsigned s = SYSMEM_RESERVED; s <= SYSMEM_READY && !err; s++)
        if (((uint64_t)sum[s] << g_bind.shift) !=
            atomic_load_explicit(&g_bytes[s], memory_order_relaxed))
            err = check_fail(msg, msg_size, "totals differ from the page states", s);
    reg_unlock();
    return err;
}
