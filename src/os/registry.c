/*
 * registry.c - the OS-memory layer's table of regions: lookups, range
 * walks that count and move page states, the owned memory around a range
 * (for huge-page advice), in-flight records, and the table's own
 * metadata blocks (registry.h has the representation and its rules).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* glibc's adaptive mutex (below) */
#endif
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "base/pause.h"
#include "os/registry.h"

/* ---- The registry ---------------------------------------------------------- */

/* The lock spins a little before it sleeps where the C library can
 * (glibc's adaptive mutex): it is held for about a microsecond at a time
 * (a count and a move of page states), but taken by every allocation that
 * makes released pages Ready, from every thread of every heap. A plain
 * mutex sent a contended taker to sleep in the kernel and its holder into
 * the kernel to wake it: in W6 W2 at two threads, where each thread's
 * page-cache refills make fresh pages Ready every 64 pages, most of a
 * run's futex calls were this lock's (docs/os-layer.md "Locking"). */
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
#define SM_REG_LOCK_INIT PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
#else
#define SM_REG_LOCK_INIT PTHREAD_MUTEX_INITIALIZER
#endif

struct sm_registry sm_reg = {
    .lock = SM_REG_LOCK_INIT,
    .settled = PTHREAD_COND_INITIALIZER,
};

/* 1 while the calling thread holds sm_reg.lock: the debug check behind every
 * "sm_reg.lock held" rule below. */
_Thread_local int sm_locked;

/* A taker that finds the lock held spins this many pauses, trying the
 * lock whenever `busy` reads 0, before it leaves the wait to the mutex
 * (glibc's adaptive spin, ten to a hundred tries, then a sleep). A pause
 * took about 50 ns on this project's VM (a loop of 2 M of them), so
 * this is about 25 us at most; 2,000 saved no more sleeps. Holds are
 * short, but a heap grow's sysmem_map counts and moves 16,384 page
 * states, longer than glibc's spin: the other thread's page-cache refills
 * then slept in the kernel and were woken by a system call of the holder
 * (docs/os-layer.md "Locking"). */
#define SM_REG_SPINS 500

void sm_reg_lock(void)
{
    if (pthread_mutex_trylock(&sm_reg.lock) != 0) {
        int got = 0;
        for (unsigned n = 0; n < SM_REG_SPINS && !got; n++) {
            pa_spin_pause();
            got = !atomic_load_explicit(&sm_reg.busy, memory_order_relaxed) &&
                  pthread_mutex_trylock(&sm_reg.lock) == 0;
        }
        if (!got)
            pthread_mutex_lock(&sm_reg.lock);
    }
    atomic_store_explicit(&sm_reg.busy, 1, memory_order_relaxed);
    sm_locked = 1;
}

void sm_reg_wait_settled(void)
{
    assert(sm_locked);
    atomic_store_explicit(&sm_reg.busy, 0, memory_order_relaxed);
    pthread_cond_wait(&sm_reg.settled, &sm_reg.lock);
    atomic_store_explicit(&sm_reg.busy, 1, memory_order_relaxed);
}

void sm_reg_unlock(void)
{
    assert(sm_locked);
    sm_locked = 0;
    atomic_store_explicit(&sm_reg.busy, 0, memory_order_relaxed);
    pthread_mutex_unlock(&sm_reg.lock);
}

/* Index of the first region whose base is above a (binary search).
 * sm_reg.lock held. */
size_t sm_reg_upper(uintptr_t a)
{
    assert(sm_locked);
    size_t lo = 0, hi = sm_reg.count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sm_reg.tab[mid]->base <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Index of the region whose span holds a, or of the first region above a.
 * sm_reg.lock held. */
size_t sm_reg_first_at(uintptr_t a)
{
    size_t i = sm_reg_upper(a);
    if (i > 0 && a - sm_reg.tab[i - 1]->base < sm_span_bytes(sm_reg.tab[i - 1]))
        i--;
    return i;
}

/* The region whose span holds a (its page may still be None, in a hole),
 * or NULL. sm_reg.lock held. */
struct region *sm_reg_containing(uintptr_t a)
{
    size_t i = sm_reg_upper(a);
    if (i == 0)
        return NULL;
    struct region *r = sm_reg.tab[i - 1];
    return a - r->base < sm_span_bytes(r) ? r : NULL;
}

/* Calls piece() for each part of the page-aligned range [a, b) inside a
 * span (region, span index, pages) and gap() with the number of pages
 * outside every span, in address order. The callbacks must not change the
 * table. sm_reg.lock held. */
void sm_range_walk(uintptr_t a, uintptr_t b,
                       void (*piece)(struct region *, size_t, size_t, void *),
                       void (*gap)(size_t, void *), void *ctx)
{
    unsigned sh = sm_bind.shift;
    size_t i = sm_reg_first_at(a);
    while (a < b) {
        if (i < sm_reg.count && sm_reg.tab[i]->base <= a) {
            struct region *r = sm_reg.tab[i];
            uintptr_t e = r->base + sm_span_bytes(r);
            if (e > b)
                e = b;
            piece(r, (a - r->base) >> sh, (e - a) >> sh, ctx);
            a = e;
            i++;
        } else {
            uintptr_t e = i < sm_reg.count && sm_reg.tab[i]->base < b ? sm_reg.tab[i]->base : b;
            gap((e - a) >> sh, ctx);
            a = e;
        }
    }
}

static void count_piece(struct region *r, size_t i, size_t n, void *ctx)
{
    sm_st_count(r, i, n, ctx);
}

static void count_gap(size_t n, void *ctx)
{
    ((size_t *)ctx)[SYSMEM_NONE] += n;
}

/* c[s] = pages of [a, b) in state s; pages outside every span count as
 * None. sm_reg.lock held. */
void sm_range_count(uintptr_t a, uintptr_t b, size_t c[4])
{
    memset(c, 0, 4 * sizeof(c[0]));
    sm_range_walk(a, b, count_piece, count_gap, c);
}

struct move_ctx {
    sysmem_state to;
    size_t from[4];             /* pages found in each state */
};

static void move_piece(struct region *r, size_t i, size_t n, void *ctx)
{
    struct move_ctx *m = ctx;
    size_t c[4] = { 0 };
    sm_st_count(r, i, n, c);
    if (c[SYSMEM_NONE] == 0 || m->to == SYSMEM_NONE) {
        sm_st_set(r, i, n, m->to);
    } else {
        /* Misuse: a concurrent free took some of these pages. Leave them
         * None rather than resurrect them. */
        for (size_t j = i; j < i + n; j++)
            if (sm_st_get(r, j) != SYSMEM_NONE)
                sm_st_set(r, j, 1, m->to);
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
 * sm_reg.lock held. */
/* Pages of from[] (counts by state) that a move to `to` changes: every
 * owned state but `to` (None pages stay None). */
static uint64_t pages_moving(const size_t from[4], sysmem_state to)
{
    uint64_t moved = 0;
    for (unsigned s = SYSMEM_RESERVED; s <= SYSMEM_READY; s++)
        if (s != (unsigned)to)
            moved += from[s];
    return moved;
}

/* The process-wide totals after pages counted in from[] went to `to`. */
static void totals_move(const size_t from[4], sysmem_state to)
{
    unsigned sh = sm_bind.shift;
    for (unsigned s = SYSMEM_RESERVED; s <= SYSMEM_READY; s++)
        if (s != (unsigned)to && from[s])
            atomic_fetch_sub_explicit(&sm_bytes[s], (uint64_t)from[s] << sh,
                                      memory_order_relaxed);
    uint64_t moved = pages_moving(from, to);
    if (to != SYSMEM_NONE && moved)
        atomic_fetch_add_explicit(&sm_bytes[to], moved << sh, memory_order_relaxed);
}

void sm_range_move(uintptr_t a, uintptr_t b, sysmem_state to)
{
    struct move_ctx m = { .to = to };
    sm_range_walk(a, b, move_piece, move_gap, &m);
    totals_move(m.from, to);
}

static void set_piece(struct region *r, size_t i, size_t n, void *ctx)
{
    sm_st_set(r, i, n, *(const sysmem_state *)ctx);
}

/* sm_range_move when the caller counted [a, b) into c under this same hold
 * and found no None page (so no gap and no region's live count changes):
 * one walk that only writes, instead of a second count. This is the
 * page heap's refill path (sysmem_used_ex every 64 fresh pages from each
 * thread), where the count was most of the lock's hold
 * (docs/os-layer.md "Locking"). to != None. sm_reg.lock held. */
void sm_range_move_counted(uintptr_t a, uintptr_t b, sysmem_state to, const size_t c[4])
{
    assert(c[SYSMEM_NONE] == 0 && to != SYSMEM_NONE);
    if (pages_moving(c, to) == 0)
        return;                 /* all in state `to` already: nothing to write */
    sm_range_walk(a, b, set_piece, move_gap, &to);
    totals_move(c, to);
}

/* Lowest x in [lo, a] such that every page of [x, a) is owned (any state
 * but None). a page aligned, lo <= a. sm_reg.lock held. */
static uintptr_t sm_owned_down(uintptr_t a, uintptr_t lo)
{
    unsigned sh = sm_bind.shift;
    uintptr_t x = a;
    while (x > lo) {
        struct region *r = sm_reg_containing(x - 1);
        if (!r)
            break;
        size_t stop = lo > r->base ? (lo - r->base) >> sh : 0;
        size_t i = (x - r->base) >> sh;
        while (i > stop && sm_st_get(r, i - 1) != SYSMEM_NONE)
            i--;
        x = r->base + ((uintptr_t)i << sh);
        if (i > stop)
            break;              /* page i-1 is None */
    }
    return x;
}

/* Highest y in [b, hi] such that every page of [b, y) is owned.
 * sm_reg.lock held. */
static uintptr_t sm_owned_up(uintptr_t b, uintptr_t hi)
{
    unsigned sh = sm_bind.shift;
    uintptr_t y = b;
    while (y < hi) {
        struct region *r = sm_reg_containing(y);
        if (!r)
            break;
        size_t stop = (hi - r->base) >> sh;
        if (stop > r->npages)
            stop = r->npages;
        size_t i = (y - r->base) >> sh;
        while (i < stop && sm_st_get(r, i) != SYSMEM_NONE)
            i++;
        y = r->base + ((uintptr_t)i << sh);
        if (i < stop)
            break;              /* page i is None */
    }
    return y;
}

/* [wl, wh) clipped to the owned memory around [a, b), which it overlaps:
 * it stops at the first page outside every region, in a hole, or under a
 * free in flight (those pages may already be unmapped). sm_reg.lock held. */
void sm_clip_to_owned(uintptr_t a, uintptr_t b, uintptr_t *wl, uintptr_t *wh)
{
    for (const struct inflight *f = sm_reg.inflight; f; f = f->next) {
        if (f->kind != INFLIGHT_FREE)
            continue;
        if (f->hi <= a && f->hi > *wl)
            *wl = f->hi;
        if (f->lo >= b && f->lo < *wh)
            *wh = f->lo;
    }
    if (*wl < a)
        *wl = sm_owned_down(a, *wl);
    if (*wh > b)
        *wh = sm_owned_up(b, *wh);
}

/* The NOHUGEPAGE windows of sysmem_unused (Go's sysUnusedOS): the huge
 * page holding a if a is not huge-page aligned, the one holding b-1 if b is
 * not, as one window when they are adjacent; each clipped to owned memory.
 * Returns the number of windows (0..2) written to w. sm_reg.lock held. */
int sm_unused_windows(uintptr_t a, uintptr_t b, size_t huge, uintptr_t w[2][2])
{
    int head = (a & (huge - 1)) != 0, tail = (b & (huge - 1)) != 0;
    uintptr_t hp = sm_align_down(a, huge), tp = sm_align_down(b - 1, huge);
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
        sm_clip_to_owned(a, b, &w[i][0], &w[i][1]);
    return nw;
}

/* Whether [lo, hi) overlaps an in-flight record of that kind.
 * sm_reg.lock held. */
int sm_inflight_overlaps(uintptr_t lo, uintptr_t hi, enum inflight_kind kind)
{
    assert(sm_locked);
    for (const struct inflight *f = sm_reg.inflight; f; f = f->next)
        if (f->kind == kind && f->lo < hi && lo < f->hi)
            return 1;
    return 0;
}

void sm_inflight_add(struct inflight *rec, uintptr_t lo, uintptr_t hi,
                         enum inflight_kind kind)
{
    assert(sm_locked);
    rec->lo = lo;
    rec->hi = hi;
    rec->kind = kind;
    rec->next = sm_reg.inflight;
    sm_reg.inflight = rec;
}

void sm_inflight_remove(struct inflight *rec)
{
    assert(sm_locked);
    struct inflight **pp = &sm_reg.inflight;
    while (*pp != rec)
        pp = &(*pp)->next;
    *pp = rec->next;
    pthread_cond_broadcast(&sm_reg.settled);
}

/* ---- Metadata blocks --------------------------------------------------------- */

/* A zeroed block of `bytes` (a page multiple) from the primitive table.
 * sm_reg.lock not held. */
int sm_meta_alloc(const struct sm_binding *b, size_t bytes, void **out)
{
    int err = b->os->alloc(bytes, out);
    if (err == 0)
        atomic_fetch_add_explicit(&sm_meta_bytes, bytes, memory_order_relaxed);
    return err;
}

/* Returns a block to the OS; if that fails the block leaks and stays
 * counted. sm_reg.lock not held. */
void sm_meta_free(const struct sm_binding *b, void *p, size_t bytes)
{
    if (b->os->unmap(p, bytes) == 0)
        atomic_fetch_sub_explicit(&sm_meta_bytes, bytes, memory_order_relaxed);
}

/* Promises the caller one free slot in sm_reg.tab, growing the table first if
 * needed (alloc(new table), then unmap(old table)). sm_reg.lock not held. */
int sm_slot_take(const struct sm_binding *b)
{
    sm_reg_lock();
    while (sm_reg.count + sm_reg.held >= sm_reg.cap) {
        size_t ncap = sm_reg.cap ? 2 * sm_reg.cap : b->caps.page_size / sizeof(struct region *);
        size_t bytes = sm_align_up(ncap * sizeof(struct region *), b->caps.page_size);
        ncap = bytes / sizeof(struct region *);
        sm_reg_unlock();
        void *fresh;
        int err = sm_meta_alloc(b, bytes, &fresh);
        if (err)
            return err;
        sm_reg_lock();
        void *spare = fresh;
        size_t spare_bytes = bytes;
        if (sm_reg.count + sm_reg.held >= sm_reg.cap && ncap > sm_reg.cap) {
            if (sm_reg.count)
                memcpy(fresh, sm_reg.tab, sm_reg.count * sizeof(struct region *));
            spare = sm_reg.tab;
            spare_bytes = sm_reg.tab_bytes;
            sm_reg.tab = fresh;
            sm_reg.cap = ncap;
            sm_reg.tab_bytes = bytes;
        }
        if (spare) {
            sm_reg_unlock();
            sm_meta_free(b, spare, spare_bytes);
            sm_reg_lock();
        }
    }
    sm_reg.held++;
    sm_reg_unlock();
    return 0;
}

/* Gives back a slot promised by sm_slot_take. sm_reg.lock not held. */
void sm_slot_give(void)
{
    sm_reg_lock();
    sm_reg.held--;
    sm_reg_unlock();
}


void sm_fork_prepare(void)
{
    sm_reg_lock();
}

void sm_fork_parent(void)
{
    sm_reg_unlock();
}

void sm_fork_child(void)
{
    static const pthread_mutex_t fresh = SM_REG_LOCK_INIT;
    memcpy(&sm_reg.lock, &fresh, sizeof fresh);   /* as the static initializer */
    pthread_cond_init(&sm_reg.settled, NULL);
    sm_reg.inflight = NULL;
    atomic_store_explicit(&sm_reg.busy, 0, memory_order_relaxed);
    sm_locked = 0;
}
