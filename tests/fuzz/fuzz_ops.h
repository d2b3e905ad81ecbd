/*
 * fuzz_ops.h - the page allocator's fuzz harness: decode bytes into an
 * operation sequence, run it on an unbacked pagealloc and on a reference
 * model side by side, and fail at the first difference.
 *
 * Shared, as static functions, by the libFuzzer target and its replay
 * program (fuzz_pagealloc.c) and by the cmocka test that replays the seed
 * corpus (tests/conformance/test_fuzz_corpus.c).
 *
 * The model is the tests' reference model, tests/support/pa_model.c (see
 * pa_model.h for each rule), with its two-phase scavenging
 * (pa_model_scavenge_take/done), scavenge marks and validity verdicts: the
 * library must refuse exactly the calls the model says are invalid (a
 * free, a scavenge mark, a cache flush: EINVAL, or one report through the
 * error handler) and change nothing. Needs the library, pa_model.c, its
 * state comparison pa_compare.c and pa_testutil.c (tests/support).
 *
 * Input format. Byte 0 is the configuration: bits 0-2 pick the page sizes
 * (0-4: phys 4 KiB / huge 2 MiB, 5: 4 KiB / none, 6: 16 KiB / 2 MiB,
 * 7: 64 KiB / none); bit 3 sets check level 2 (pagealloc_check after every
 * mutating call, inside the library). Then operations, one opcode byte
 * (value % FZ_NOPS) and its argument bytes each; a missing argument byte
 * reads as 0 and ends the input. A growth op is always run first, so that
 * most inputs have a heap. After every operation the answer is compared;
 * every 16 operations and at the end the whole state is compared
 * (bitmaps, in-use ranges, bounds, stats) and pagealloc_check run; at the
 * end the allocator is deleted and the OS layer must be back to its
 * totals from before (nothing leaked) with sysmem_check passing.
 */
#ifndef FUZZ_OPS_H
#define FUZZ_OPS_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagealloc/pagealloc.h"
#include "pagealloc/sysmem.h"
#include "pagealloc/testing.h"
#include "pa_compare.h"
#include "pa_model.h"

#define FZ_PG      ((uintptr_t)8192)
#define FZ_CHUNK   ((uintptr_t)4 << 20)
#define FZ_CPAGES  512u
#define FZ_ADDR48  ((uintptr_t)1 << 48)
#define FZ_BASE    ((uintptr_t)0x3000000000)   /* Go's BaseChunkIdx */
#define FZ_MAX_CHUNKS 40u                      /* heap size cap (model speed) */
#define FZ_MAX_OPS    2000u
#define FZ_LIVE       256u
#define FZ_SLOTS      8u

/* ===================================================================== */
/* the runner                                                             */
/* ===================================================================== */

typedef struct fz_run { uintptr_t addr; size_t n; } fz_run;

typedef struct fz_state {
    const uint8_t  *in;
    size_t          len, pos;
    int             eof;
    pagealloc      *pa;
    pa_model       *m;
    fz_run          live[FZ_LIVE];       /* allocated runs (candidates for frees) */
    size_t          nlive;
    fz_run          dead[32];            /* freed runs (candidates for double frees) */
    size_t          ndead;
    pagealloc_cache lc[FZ_SLOTS], mc[FZ_SLOTS], ghost[FZ_SLOTS];
    fz_run          taken[FZ_SLOTS];     /* scavenge_take runs not done yet */
    uint64_t        ops;
    char           *err;
    size_t          err_size;
} fz_state;

/* Nonzero: print each operation to stderr (the replay program's -v). */
static int fz_trace;

/* Reports through the error handler (one state at a time). */
static int  fz_reports;
static char fz_report_msg[512];

static void fz_error_handler(const char *msg, void *arg)
{
    (void)arg;
    if (fz_reports++ == 0)
        snprintf(fz_report_msg, sizeof fz_report_msg, "%s", msg);
}

static int fz_fail(fz_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fz_fail(fz_state *s, const char *fmt, ...)
{
    int o = snprintf(s->err, s->err_size, "op %" PRIu64 " (input byte %zu): ", s->ops, s->pos);
    if (o < 0 || (size_t)o >= s->err_size)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err + o, s->err_size - (size_t)o, fmt, ap);
    va_end(ap);
    return -1;
}

static unsigned fz_byte(fz_state *s)
{
    if (s->pos < s->len)
        return s->in[s->pos++];
    s->eof = 1;
    return 0;
}

static void fz_live_add(fz_state *s, uintptr_t a, size_t n)
{
    if (s->nlive < FZ_LIVE)
        s->live[s->nlive++] = (fz_run){ a, n };
    else
        s->live[a / FZ_PG % FZ_LIVE] = (fz_run){ a, n };   /* forget one */
}

static void fz_dead_add(fz_state *s, uintptr_t a, size_t n)
{
    s->dead[s->ndead++ % 32] = (fz_run){ a, n };
}

/* The whole state against the model, and pagealloc_check. */
static int fz_compare(fz_state *s)
{
    char msg[1024];
    if (pa_model_compare(s->m, s->pa, msg, sizeof msg) != 0)
        return fz_fail(s, "%s", msg);
    return 0;
}

/* Grow: a range from a fixed set of places (contiguous chunks, gaps, far
 * apart, chunk 1, the top of the address space, chunk 0 and beyond 48
 * bits), possibly unaligned or overlapping. */
static int fz_op_grow(fz_state *s)
{
    static const uintptr_t place[16] = {
        FZ_BASE, FZ_BASE + FZ_CHUNK, FZ_BASE + 2 * FZ_CHUNK, FZ_BASE + 5 * FZ_CHUNK,
        FZ_BASE + 8 * FZ_CHUNK, FZ_BASE + 9 * FZ_CHUNK, FZ_BASE + 15 * FZ_CHUNK,
        FZ_BASE + 16 * FZ_CHUNK, FZ_BASE + 64 * FZ_CHUNK, FZ_BASE + (1ull << 31),
        0x500000000000ull, FZ_CHUNK, FZ_ADDR48 - 4 * FZ_CHUNK, 0, FZ_ADDR48, FZ_BASE - FZ_CHUNK,
    };
    unsigned a = fz_byte(s), b = fz_byte(s);
    uintptr_t base = place[a % 16];
    size_t size = (size_t)(b % 4 + 1) * FZ_CHUNK;
    if (a & 0x10)
        base += (uintptr_t)(b >> 2) * FZ_PG;            /* unaligned start */
    if (a & 0x20)
        size -= (size_t)(b >> 2) * FZ_PG + 1;           /* ragged end */
    if ((a & 0xc0) == 0xc0)
        size = 0;
    /* Keep the model small: skip a growth past the cap. */
    uintptr_t lo = base & ~(FZ_CHUNK - 1);
    uintptr_t hi = base < FZ_ADDR48 && size <= FZ_ADDR48 - base
                   ? (base + size + FZ_CHUNK - 1) & ~(FZ_CHUNK - 1) : lo;
    if (pa_model_heap_pages(s->m) / FZ_CPAGES + (hi - lo) / FZ_CHUNK > FZ_MAX_CHUNKS)
        return 0;
    int lrc = pagealloc_grow(s->pa, base, size);
    int mrc = pa_model_grow(s->m, base, size);
    if (lrc != mrc)
        return fz_fail(s, "pagealloc_grow(%#" PRIxPTR ", %zu) = %d, model %d", base, size, lrc, mrc);
    return 0;
}

static size_t fz_npages(unsigned b)
{
    if (b < 128) return 1 + b % 16;
    if (b < 192) return 1 + (size_t)(b % 64) * 8;
    if (b < 250) return (size_t)(b - 191) * 64;
    static const size_t odd[6] = { 0, 512, 513, 1024, (size_t)1 << 40, SIZE_MAX };
    return odd[b - 250];
}

static int fz_op_alloc(fz_state *s)
{
    size_t n = fz_npages(fz_byte(s));
    size_t ls = 7, ms;
    uintptr_t la = pagealloc_alloc(s->pa, n, &ls);
    uintptr_t ma = pa_model_alloc(s->m, n, &ms);
    if (la != ma || ls != ms)
        return fz_fail(s, "pagealloc_alloc(%zu) = %#" PRIxPTR " scav %zu, model %#" PRIxPTR
                       " scav %zu", n, la, ls, ma, ms);
    if (la)
        fz_live_add(s, la, n);
    return 0;
}

/* A free of any kind: the library must do exactly what the model says is
 * valid, and refuse the rest. how: 0 pagealloc_free, 1 pagealloc_test_free,
 * 2 pagealloc_try_free. */
static int fz_free(fz_state *s, uintptr_t a, size_t n, int how)
{
    static const char *const name[3] = { "pagealloc_free", "pagealloc_test_free",
                                         "pagealloc_try_free" };
    int valid = pa_model_free_valid(s->m, a, n);
    pagealloc_stats before, after;
    pagealloc_get_stats(s->pa, &before);
    fz_reports = 0;
    int rc = 0;
    if (how == 0)
        pagealloc_free(s->pa, a, n);
    else if (how == 1)
        pagealloc_test_free(s->pa, a, n);
    else
        rc = pagealloc_try_free(s->pa, a, n);
    if (how == 2 ? rc != (valid ? 0 : EINVAL) || fz_reports : fz_reports != !valid)
        return fz_fail(s, "%s(%#" PRIxPTR ", %zu): model says %s, library returned %d with %d "
                       "reports (%s)", name[how], a, n, valid ? "valid" : "invalid", rc,
                       fz_reports, fz_reports ? fz_report_msg : "");
    fz_reports = 0;                         /* the expected report */
    if (!valid) {
        pagealloc_get_stats(s->pa, &after);
        if (memcmp(&before, &after, sizeof before) != 0)
            return fz_fail(s, "%s(%#" PRIxPTR ", %zu): refused, but the stats changed",
                           name[how], a, n);
        return 0;
    }
    (void)pa_model_free(s->m, a, n, how != 1);
    fz_dead_add(s, a, n);
    return 0;
}

static int fz_op_free(fz_state *s)
{
    unsigned sel = fz_byte(s), k = fz_byte(s), x = fz_byte(s);
    int how = (int)(sel % 3);
    if ((sel >> 2) % 8 < 5) {
        /* A live run, whole or in part. */
        if (!s->nlive)
            return 0;
        size_t i = k % s->nlive;
        fz_run r = s->live[i];
        s->live[i] = s->live[--s->nlive];
        size_t off = 0, n = r.n;
        if (r.n > 1 && (sel & 0x80)) {
            off = x % r.n;
            n = 1 + (size_t)(x >> 1) % (r.n - off);
            if (off)
                fz_live_add(s, r.addr, off);
            if (off + n < r.n)
                fz_live_add(s, r.addr + (off + n) * FZ_PG, r.n - off - n);
        }
        return fz_free(s, r.addr + off * FZ_PG, n, how);
    }
    /* Probably bad: a freed run again, a live run shifted, stretched or
     * unaligned, zero or overflowing counts, outside the heap. */
    fz_run r = s->ndead && (k & 1) ? s->dead[k / 2 % (s->ndead < 32 ? s->ndead : 32)]
             : s->nlive ? s->live[k % s->nlive] : (fz_run){ FZ_BASE, 1 };
    switch (x % 8) {
    case 0: break;                                        /* as is (double free if dead) */
    case 1: r.addr -= FZ_PG; break;                       /* overlaps the page below */
    case 2: r.n += 1; break;                              /* overlaps the page above */
    case 3: r.addr += 4096; break;                        /* unaligned */
    case 4: r.n = 0; break;
    case 5: r.n = SIZE_MAX / FZ_PG + 1 + (x >> 3); break; /* overflowing count */
    case 6: r.addr = FZ_ADDR48 - FZ_PG; r.n = 2; break;   /* past 2^48 */
    case 7: r.addr = (uintptr_t)(x >> 3) * FZ_CHUNK + FZ_PG; break; /* low, outside */
    }
    return fz_free(s, r.addr, r.n, how);
}

/* A cache flush on the model if it is valid; the verdict. */
static int fz_model_flush(pagealloc_cache *c, pa_model *m)
{
    int valid = pa_model_cache_flush_valid(c, m);
    if (valid)
        pa_model_cache_flush(c, m);
    return valid;
}

static int fz_op_cache(fz_state *s)
{
    unsigned k = fz_byte(s) % FZ_SLOTS;
    if (s->lc[k].cache) {
        /* Flush the slot's old cache first (refused if a stale copy was
         * flushed before it and freed its pages). */
        fz_reports = 0;
        pagealloc_cache_flush(&s->lc[k], s->pa);
        int valid = fz_model_flush(&s->mc[k], s->m);
        if (fz_reports != !valid)
            return fz_fail(s, "pagealloc_cache_flush of slot %u: model says %s, %d reports",
                           k, valid ? "valid" : "invalid", fz_reports);
        fz_reports = 0;
    }
    pagealloc_cache lc = pagealloc_alloc_to_cache(s->pa);
    pagealloc_cache mc = pa_model_alloc_to_cache(s->m);
    if (lc.base != mc.base || lc.cache != mc.cache || lc.scav != mc.scav)
        return fz_fail(s, "pagealloc_alloc_to_cache = {%#" PRIxPTR ", %016" PRIx64 ", %016" PRIx64
                       "}, model {%#" PRIxPTR ", %016" PRIx64 ", %016" PRIx64 "}",
                       lc.base, lc.cache, lc.scav, mc.base, mc.cache, mc.scav);
    s->lc[k] = s->ghost[k] = lc;
    s->mc[k] = mc;
    return 0;
}

static int fz_op_cache_alloc(fz_state *s)
{
    unsigned k = fz_byte(s) % FZ_SLOTS, b = fz_byte(s);
    size_t n = b < 200 ? 1 + b % 8 : b - 200 + 10;       /* 1-8, 10-65 */
    size_t ls = 7, ms;
    uintptr_t la = pagealloc_cache_alloc(&s->lc[k], n, &ls);
    uintptr_t ma = pa_model_cache_alloc(&s->mc[k], n, &ms);
    if (la != ma || ls != ms || s->lc[k].cache != s->mc[k].cache || s->lc[k].scav != s->mc[k].scav)
        return fz_fail(s, "pagealloc_cache_alloc(%zu) = %#" PRIxPTR " scav %zu, model %#"
                       PRIxPTR " scav %zu", n, la, ls, ma, ms);
    if (la)
        fz_live_add(s, la, n);
    return 0;
}

/* Flush a slot; or (bad) a stale copy of a cache as it was handed out. */
static int fz_op_flush(fz_state *s)
{
    unsigned b = fz_byte(s), k = b % FZ_SLOTS;
    pagealloc_cache lc = (b & 0x80) ? s->ghost[k] : s->lc[k];
    pagealloc_cache mc = lc;
    if (!(b & 0x80))
        mc = s->mc[k];
    pagealloc_stats before, after;
    pagealloc_get_stats(s->pa, &before);
    fz_reports = 0;
    pagealloc_cache_flush(&lc, s->pa);
    int valid = fz_model_flush(&mc, s->m);
    if (fz_reports != !valid)
        return fz_fail(s, "pagealloc_cache_flush({%#" PRIxPTR ", %016" PRIx64 "}): model says %s, "
                       "%d reports (%s)", mc.base, mc.cache, valid ? "valid" : "invalid",
                       fz_reports, fz_reports ? fz_report_msg : "");
    fz_reports = 0;
    if (!valid) {
        pagealloc_get_stats(s->pa, &after);
        if (memcmp(&before, &after, sizeof before) != 0)
            return fz_fail(s, "refused cache flush changed the stats");
        return 0;
    }
    if (lc.cache != 0 || lc.scav != 0)
        return fz_fail(s, "cache not empty after a flush");
    if (!(b & 0x80)) {
        s->lc[k] = lc;
        s->mc[k] = (pagealloc_cache){ 0, 0, 0 };
    }
    return 0;
}

static size_t fz_bytes(unsigned b)
{
    if (b < 16) return b;
    if (b < 128) return (size_t)(b - 15) * FZ_PG;
    if (b < 250) return (size_t)(b - 127) * 64 * FZ_PG / 3;
    return b == 255 ? SIZE_MAX : (size_t)(b - 249) << 22;
}

static int fz_op_scavenge(fz_state *s)
{
    size_t n = fz_bytes(fz_byte(s));
    size_t lr = pagealloc_scavenge(s->pa, n);
    size_t mr = pa_model_scavenge(s->m, n);
    if (lr != mr)
        return fz_fail(s, "pagealloc_scavenge(%zu) = %zu, model %zu", n, lr, mr);
    return 0;
}

static int fz_op_take(fz_state *s)
{
    unsigned k = fz_byte(s) % FZ_SLOTS;
    size_t max = fz_bytes(fz_byte(s));
    if (s->taken[k].addr)
        return 0;                           /* the slot's run is still out */
    size_t ln = 7, mn;
    uintptr_t la = pagealloc_scavenge_take(s->pa, max, &ln);
    uintptr_t ma = pa_model_scavenge_take(s->m, max, &mn);
    if (la != ma || ln != mn)
        return fz_fail(s, "pagealloc_scavenge_take(%zu) = %#" PRIxPTR " n %zu, model %#" PRIxPTR
                       " n %zu", max, la, ln, ma, mn);
    if (la && (la / FZ_CHUNK != (la + ln * FZ_PG - 1) / FZ_CHUNK))
        return fz_fail(s, "scavenge_take run %#" PRIxPTR " + %zu crosses a chunk", la, ln);
    s->taken[k] = (fz_run){ la, ln };
    return 0;
}

static int fz_op_done(fz_state *s)
{
    unsigned b = fz_byte(s), k = b % FZ_SLOTS;
    fz_run r = s->taken[k];
    if (!r.addr)
        return 0;
    s->taken[k] = (fz_run){ 0, 0 };
    if (!pa_model_free_valid(s->m, r.addr, r.n))
        return 0;   /* freed meanwhile: done does not validate (see the report) */
    int released = (b >> 3) & 1;
    pagealloc_scavenge_done(s->pa, r.addr, r.n, released);
    (void)pa_model_scavenge_done(s->m, r.addr, r.n, released);
    return 0;
}

static int fz_op_mark(fz_state *s)
{
    unsigned b = fz_byte(s), k = fz_byte(s);
    fz_run r = s->nlive ? s->live[k % s->nlive] : (fz_run){ FZ_BASE, 1 };
    if (b & 1)
        r.addr = FZ_BASE + (uintptr_t)k * FZ_CHUNK / 4;  /* maybe outside the heap */
    if (b & 2)
        r.n = fz_npages((unsigned)k);
    fz_reports = 0;
    pagealloc_scavenge_mark(s->pa, r.addr, r.n);
    int valid = pa_model_scavenge_mark(s->m, r.addr, r.n) == 0;
    if (fz_reports != !valid)
        return fz_fail(s, "pagealloc_scavenge_mark(%#" PRIxPTR ", %zu): model says %s, %d reports",
                       r.addr, r.n, valid ? "valid" : "invalid", fz_reports);
    fz_reports = 0;
    return 0;
}

enum {
    FZ_OP_GROW, FZ_OP_ALLOC, FZ_OP_ALLOC2, FZ_OP_FREE, FZ_OP_FREE2, FZ_OP_CACHE,
    FZ_OP_CALLOC, FZ_OP_FLUSH, FZ_OP_SCAV, FZ_OP_TAKE, FZ_OP_DONE, FZ_OP_MARK,
    FZ_OP_CHECK, FZ_NOPS
};

/*
 * Run one input. 0 if the library agreed with the model throughout, else
 * -1 with the first difference in err. Installs its own error handler
 * and check level, and restores the defaults (handler, level 0) after.
 */
static int fz_run_input(const uint8_t *data, size_t size, char *err, size_t err_size)
{
    static fz_state st;                      /* large: not on the stack */
    fz_state *s = &st;
    memset(s, 0, sizeof *s);
    s->in = data;
    s->len = size;
    s->err = err;
    s->err_size = err_size;
    if (err_size)
        err[0] = 0;

    /* (The OS layer's own metadata may grow for good: its region table
     * never shrinks. Its totals must come back exactly.) */
    sysmem_totals t0, t1;
    sysmem_get_totals(&t0);

    unsigned cfg = fz_byte(s);
    static const size_t phys[8] = { 4096, 4096, 4096, 4096, 4096, 4096, 16384, 65536 };
    static const size_t huge[8] = { 2 << 20, 2 << 20, 2 << 20, 2 << 20, 2 << 20, 0, 2 << 20, 0 };
    pagealloc_options o = { .unbacked = 1, .phys_page_size = phys[cfg & 7],
                            .huge_page_size = huge[cfg & 7] ? huge[cfg & 7] : SIZE_MAX };
    s->pa = pagealloc_new(&o);
    if (!s->pa) {
        snprintf(err, err_size, "pagealloc_new: %s", strerror(errno));
        return -1;
    }
    s->m = pa_model_new(phys[cfg & 7], huge[cfg & 7]);
    pagealloc_set_error_handler(fz_error_handler, NULL);
    if (cfg & 8)
        pagealloc_set_check_level(2);

    int rc = fz_op_grow(s);
    while (rc == 0 && !s->eof && s->pos < s->len && s->ops < FZ_MAX_OPS) {
        unsigned op = fz_byte(s) % FZ_NOPS;
        s->ops++;
        if (fz_trace)
            fprintf(stderr, "op %" PRIu64 ": %u at byte %zu\n", s->ops, op, s->pos - 1);
        fz_reports = 0;
        switch (op) {
        case FZ_OP_GROW: rc = fz_op_grow(s); break;
        case FZ_OP_ALLOC: case FZ_OP_ALLOC2: rc = fz_op_alloc(s); break;
        case FZ_OP_FREE: case FZ_OP_FREE2: rc = fz_op_free(s); break;
        case FZ_OP_CACHE: rc = fz_op_cache(s); break;
        case FZ_OP_CALLOC: rc = fz_op_cache_alloc(s); break;
        case FZ_OP_FLUSH: rc = fz_op_flush(s); break;
        case FZ_OP_SCAV: rc = fz_op_scavenge(s); break;
        case FZ_OP_TAKE: rc = fz_op_take(s); break;
        case FZ_OP_DONE: rc = fz_op_done(s); break;
        case FZ_OP_MARK: rc = fz_op_mark(s); break;
        case FZ_OP_CHECK: rc = fz_compare(s); break;
        }
        if (rc == 0 && fz_reports)
            rc = fz_fail(s, "unexpected report: %s", fz_report_msg);
        if (rc == 0 && s->ops % 16 == 0)
            rc = fz_compare(s);
    }
    if (rc == 0)
        rc = fz_compare(s);
    pagealloc_delete(s->pa);
    pa_model_delete(s->m);
    pagealloc_set_check_level(0);
    pagealloc_set_error_handler(NULL, NULL);
    if (rc != 0)
        return rc;
    /* Nothing leaked: the OS layer is back where it was. */
    sysmem_get_totals(&t1);
    if (t1.reserved != t0.reserved || t1.prepared != t0.prepared || t1.ready != t0.ready) {
        snprintf(err, err_size, "leak: reserved %" PRIu64 " -> %" PRIu64 ", prepared %" PRIu64
                 " -> %" PRIu64 ", ready %" PRIu64 " -> %" PRIu64, t0.reserved, t1.reserved,
                 t0.prepared, t1.prepared, t0.ready, t1.ready);
        return -1;
    }
    char msg[256];
    if (sysmem_check(msg, sizeof msg) != 0) {
        snprintf(err, err_size, "sysmem_check: %s", msg);
        return -1;
    }
    return 0;
}

/* Read a whole file; NULL on error. */
__attribute__((unused)) static uint8_t *fz_read_file(const char *path, size_t *size)
{
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    *size = n;
    return buf;
}

#endif /* FUZZ_OPS_H */
