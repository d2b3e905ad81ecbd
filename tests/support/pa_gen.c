/*
 * pa_gen.c - random operation sequences (pa_gen.h): a geometry of grows
 * planned up front, then weighted random operations, each run at once
 * through a runner (pa_runner.h) so that the first disagreement between
 * pagealloc and the model stops the sequence where it happened.
 *
 * Data structures.
 *   gen        one sequence being generated: the caller's generator,
 *              configuration and result (which records every op run, in
 *              order, config first), the runner, and what the generator
 *              must know to pick valid operations:
 *   live       the runs allocated and not freed (address, pages), in no
 *              order; a partial free splits a run into its remains.
 *   open       the cache slots (runner slot numbers) not flushed yet.
 *   used       pages in live runs and in open caches, against the model's
 *              heap size: how full the heap is, which tilts the weights.
 *   plan       the grows of the geometry, made first (make_plan); the first
 *              ninit are run at once, the rest later (more likely after an
 *              allocation failed), in plan order.
 *
 * Invariants.
 *   - Every op is valid for the model unless the configuration allows
 *     deliberately invalid ones (go_compatible 0): impossible alloc sizes,
 *     cache allocs larger than a cache, unaligned and bad grows. Those the
 *     library must answer exactly as the model does.
 *   - Frees take a live run (or part of one) and remove it from live;
 *     cache allocs move pages from an open cache into a new live run; a
 *     flush removes its slot from open. So used never counts a page twice.
 *   - The draws from the generator depend only on the seed, the
 *     configuration and the answers, which the model fixes: one seed, one
 *     sequence. Changing the order or number of draws here changes every
 *     seeded sequence.
 */
#include "pa_gen.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define PG    PA_MODEL_PAGE
#define CHUNK PA_MODEL_CHUNK

typedef struct live_run { uintptr_t addr; size_t n; } live_run;

typedef struct gen {
    rng_xoshiro         *rng;
    const pa_gen_config *cfg;
    pa_gen_result       *res;
    pa_runner           *run;
    size_t               opcap;
    live_run            *live;
    size_t               nlive, caplive;
    size_t              *open;        /* cache slots not flushed yet */
    size_t               nopen, capopen;
    uint64_t             used;        /* pages in live runs and in open caches */
    struct { uintptr_t base; size_t size; } plan[64];
    size_t               nplan, nextplan;
    int                  want_answers;
    char                *err;
    size_t               err_size;
} gen;

static void live_add(gen *g, uintptr_t addr, size_t n)
{
    if (g->nlive == g->caplive) {
        g->caplive = g->caplive ? 2 * g->caplive : 256;
        g->live = realloc(g->live, g->caplive * sizeof *g->live);
        if (!g->live)
            abort();
    }
    g->live[g->nlive].addr = addr;
    g->live[g->nlive].n = n;
    g->nlive++;
}

static int emit(gen *g, pa_op op, pa_answer *ans)
{
    pa_gen_result *res = g->res;
    if (res->nops == g->opcap) {
        g->opcap = g->opcap ? 2 * g->opcap : 4096;
        res->ops = realloc(res->ops, g->opcap * sizeof *res->ops);
        if (!res->ops)
            abort();
    }
    res->ops[res->nops++] = op;
    res->counts[op.kind]++;
    char msg[1536];
    if (pa_runner_exec(g->run, &op, ans, g->want_answers ? &res->answers : NULL, msg, sizeof msg) != 0) {
        char line[128];
        pa_op_format(&op, line, sizeof line);
        snprintf(g->err, g->err_size, "op #%zu `%s`: %s", res->nops - 1, line, msg);
        return -1;
    }
    return 0;
}

/* Shuffle the growth plan (Fisher-Yates, the generator's draws). */
static void shuffle_plan(gen *g)
{
    for (size_t i = g->nplan; i > 1; i--) {
        size_t j = (size_t)rng_xoshiro_below(g->rng, i);
        __typeof__(g->plan[0]) t = g->plan[i - 1];
        g->plan[i - 1] = g->plan[j];
        g->plan[j] = t;
    }
}

/* Plan the grows of one geometry; returns how many to do at the start. */
static size_t make_plan(gen *g)
{
    rng_xoshiro *rng = g->rng;
    uintptr_t b;
    int geo = g->cfg->geometry;
    switch (rng_xoshiro_below(rng, geo == PA_GEO_SPLIT || geo == PA_GEO_MANY ? 3 : 5)) {
    case 0:  b = 0x3000000000; break;       /* Go's tests' BaseChunkIdx */
    case 1:  b = 0xc000000000; break;       /* Go's first heap hint */
    case 2:  b = (uintptr_t)rng_xoshiro_range(rng, ((uintptr_t)1 << 30) / CHUNK,
                                          ((uintptr_t)1 << 45) / CHUNK) * CHUNK;
             break;
    case 3:  b = CHUNK; break;              /* the lowest valid chunk */
    default: b = ((uintptr_t)1 << 47) - 1024 * CHUNK; break;  /* top of user space */
    }
    size_t ninit = 1;
    g->nplan = 0;
#define PLAN(B, S) do { g->plan[g->nplan].base = (B); g->plan[g->nplan].size = (S); g->nplan++; } while (0)
    switch (g->cfg->geometry) {
    case PA_GEO_ONE:
        PLAN(b, CHUNK);
        break;
    case PA_GEO_CONTIG: {
        size_t n = (size_t)rng_xoshiro_range(rng, 2, 8);
        switch (rng_xoshiro_below(rng, 4)) {
        case 0:
            PLAN(b, n * CHUNK);
            break;
        case 1:   /* ascending, later chunks grown when needed */
            for (size_t i = 0; i < n; i++)
                PLAN(b + i * CHUNK, CHUNK);
            ninit = (size_t)rng_xoshiro_range(rng, 1, n);
            break;
        case 2:   /* descending: every grow lands right below the heap */
            for (size_t i = n; i-- > 0;)
                PLAN(b + i * CHUNK, CHUNK);
            ninit = (size_t)rng_xoshiro_range(rng, 1, n);
            break;
        default:  /* random order, in pieces of 1-2 chunks */
            for (size_t i = 0; i < n;) {
                size_t k = i + 1 < n ? (size_t)rng_xoshiro_range(rng, 1, 2) : 1;
                PLAN(b + i * CHUNK, k * CHUNK);
                i += k;
            }
            ninit = (size_t)rng_xoshiro_range(rng, 1, g->nplan);
            shuffle_plan(g);
        }
        break;
    }
    case PA_GEO_SPLIT: {
        size_t k = (size_t)rng_xoshiro_range(rng, 3, 6);
        uintptr_t cur = b;
        for (size_t i = 0; i < k; i++) {
            size_t sz = (size_t)rng_xoshiro_range(rng, 1, 3) * CHUNK;
            if (i > 0) {
                uint64_t r = rng_xoshiro_below(rng, 100);
                if (r < 15)
                    cur += 0;                                        /* adjacent */
                else if (r < 40)
                    cur += rng_xoshiro_range(rng, 1, 8) * CHUNK;          /* near */
                else if (r < 75)
                    cur += rng_xoshiro_range(rng, 256, 4096) * CHUNK;     /* 1-16 GiB */
                else
                    cur += rng_xoshiro_range(rng, 1u << 18, 1u << 20) * CHUNK; /* 1-4 TiB */
            }
            PLAN(cur, sz);
            cur += sz;
        }
        shuffle_plan(g);
        ninit = (size_t)rng_xoshiro_range(rng, 1, k);
        break;
    }
    case PA_GEO_MANY: {
        size_t k = (size_t)rng_xoshiro_range(rng, 20, 60);
        uintptr_t cur = b;
        for (size_t i = 0; i < k; i++) {
            size_t sz = (size_t)rng_xoshiro_range(rng, 1, 2) * CHUNK;
            if (i > 0 && rng_xoshiro_below(rng, 5) != 0)
                cur += rng_xoshiro_range(rng, 1, 4) * CHUNK;
            PLAN(cur, sz);
            cur += sz;
        }
        shuffle_plan(g);
        ninit = (size_t)rng_xoshiro_range(rng, 1, k / 2);
        break;
    }
    default: { /* PA_GEO_BIG */
        size_t n = (size_t)rng_xoshiro_range(rng, 16, 32);
        if (rng_xoshiro_below(rng, 5) == 0) {
            /* 64-600 chunks straddling a 2 GiB (summary level 1) boundary. */
            uintptr_t l1 = (uintptr_t)2 << 30;
            n = (size_t)rng_xoshiro_range(rng, 64, 600);
            uintptr_t edge = (b + l1 - 1) / l1 * l1;
            if (edge + n * CHUNK > ((uintptr_t)1 << 47))
                edge -= l1;
            while (edge < (n + 1) * CHUNK)
                edge += l1;
            b = edge - (uintptr_t)rng_xoshiro_range(rng, 1, n - 1) * CHUNK;
        }
        PLAN(b, n * CHUNK);
        if (b < ((uintptr_t)1 << 46) && rng_xoshiro_below(rng, 2))
            PLAN(b + ((uintptr_t)1 << 38), CHUNK);
        else if (b > ((uintptr_t)65 << 30))
            PLAN(b - ((uintptr_t)rng_xoshiro_range(rng, 1, 64) << 30), CHUNK);
        else
            PLAN(b + n * CHUNK + ((uintptr_t)rng_xoshiro_range(rng, 1, 64) << 30), CHUNK);
        ninit = (size_t)rng_xoshiro_range(rng, 1, 2);
        break;
    }
    }
#undef PLAN
    return ninit;
}

static int do_grow(gen *g)
{
    uintptr_t base = g->plan[g->nextplan].base;
    size_t size = g->plan[g->nextplan].size;
    g->nextplan++;
    if (!g->cfg->go_compatible && rng_xoshiro_below(g->rng, 3) == 0) {
        /* The same chunks with unaligned bounds first: refused (EINVAL,
         * nothing changed; the runner compares with the model). */
        uintptr_t limit = base + size;
        uintptr_t nb = base + (uintptr_t)rng_xoshiro_below(g->rng, CHUNK);
        uintptr_t nl = limit - (uintptr_t)rng_xoshiro_below(g->rng, CHUNK - 1);
        if (nl <= nb)
            nl = nb + 1;
        if (((nb | (nl - nb)) & (CHUNK - 1)) != 0) {
            pa_op bad = {PA_OP_GROW, nb, nl - nb};
            pa_answer ba;
            if (emit(g, bad, &ba) != 0)
                return -1;
        }
    }
    pa_op op = {PA_OP_GROW, base, size};
    pa_answer a;
    if (emit(g, op, &a) != 0)
        return -1;
    if (a.rc != 0) {
        snprintf(g->err, g->err_size, "planned grow 0x%" PRIxPTR " + 0x%zx failed: %d", base, size, a.rc);
        return -1;
    }
    return 0;
}

static int do_bad_grow(gen *g)
{
    pa_model *m = pa_runner_model(g->run);
    uintptr_t rg[1][2];
    size_t n = pa_model_in_use(m, rg, 1);
    pa_op op = {PA_OP_GROW, 0, 0};
    switch (rng_xoshiro_below(g->rng, 3)) {
    case 0:  /* empty */
        op.a = (n ? rg[0][0] : (uintptr_t)0x3000000000) + rng_xoshiro_below(g->rng, 1000) * PG;
        op.b = 0;
        break;
    case 1:  /* chunk 0 */
        op.a = rng_xoshiro_below(g->rng, CHUNK);
        op.b = rng_xoshiro_range(g->rng, 1, CHUNK);
        break;
    default: /* overlaps the first in-use range */
        if (!n)
            return 0;
        op.a = rg[0][0] + rng_xoshiro_below(g->rng, rg[0][1] - rg[0][0]);
        op.b = rng_xoshiro_range(g->rng, 1, 3 * CHUNK);
        break;
    }
    pa_answer a;
    return emit(g, op, &a);
}

static size_t alloc_size(rng_xoshiro *rng, size_t heap_pages)
{
    uint64_t r = rng_xoshiro_below(rng, 1000);
    if (r < 550) return 1;
    if (r < 800) return (size_t)rng_xoshiro_range(rng, 2, 8);
    if (r < 900) return (size_t)rng_xoshiro_range(rng, 9, 64);
    if (r < 970) return (size_t)rng_xoshiro_range(rng, 65, 512);
    if (r < 990) return (size_t)rng_xoshiro_range(rng, 513, 1024);
    if (r < 996 || heap_pages < 4) return (size_t)rng_xoshiro_range(rng, 1025, 2560);
    return (size_t)rng_xoshiro_range(rng, heap_pages / 4, heap_pages);   /* a large part of the heap */
}

static uint64_t scav_amount(rng_xoshiro *rng)
{
    uint64_t r = rng_xoshiro_below(rng, 100);
    if (r < 2) return 0;
    if (r < 15) return 1;
    if (r < 35) return rng_xoshiro_range(rng, 1, 16) * PG;
    if (r < 55) return rng_xoshiro_range(rng, 1, 256 << 10);
    if (r < 70) return 64 << 10;
    if (r < 88) return rng_xoshiro_range(rng, 1, 8 << 20);
    return UINT64_MAX;
}

int pa_gen_run(rng_xoshiro *rng, const pa_gen_config *cfg, int want_answers,
               pa_gen_result *res, char *err, size_t err_size)
{
    gen g;
    memset(&g, 0, sizeof g);
    memset(res, 0, sizeof *res);
    g.rng = rng;
    g.cfg = cfg;
    g.res = res;
    g.want_answers = want_answers;
    g.err = err;
    g.err_size = err_size;
    g.run = pa_runner_new();
    int rc = -1;

    pa_op cop = {PA_OP_CONFIG, cfg->phys_page_size, cfg->huge_page_size};
    if (emit(&g, cop, NULL) != 0)
        goto out;
    size_t ninit = make_plan(&g);
    for (size_t i = 0; i < ninit; i++)
        if (do_grow(&g) != 0)
            goto out;

    int phase = 0, last_failed = 0;
    uint64_t phase_left = 0;
    for (uint64_t i = 0; i < cfg->nops; i++) {
        if (cfg->check_every && i % cfg->check_every == cfg->check_every - 1) {
            pa_op op = {PA_OP_CHECK, 0, 0};
            if (emit(&g, op, NULL) != 0)
                goto out;
            if (cfg->search_addr) {
                pa_op sop = {PA_OP_SEARCHADDR, 0, 0};
                if (emit(&g, sop, NULL) != 0)
                    goto out;
            }
        }
        if (phase_left-- == 0) {
            phase = (int)rng_xoshiro_below(rng, 3);   /* 0 balanced, 1 fill, 2 drain */
            phase_left = rng_xoshiro_range(rng, 300, 3000);
        }
        size_t heap = pa_model_heap_pages(pa_runner_model(g.run));
        double full = heap ? (double)g.used / (double)heap : 1.0;
        int nonempty = 0;
        for (size_t k = 0; k < g.nopen; k++)
            nonempty += pa_runner_cache(g.run, g.open[k])->cache != 0;

        unsigned w_alloc = phase == 1 ? 500 : phase == 2 ? 120 : 330;
        unsigned w_free = !g.nlive ? 0 : phase == 2 ? 500 : phase == 1 ? 100 : 250;
        if (g.nlive && full > 0.95)
            w_free += 200;
        unsigned w_cache = g.nopen < 4 ? 25 : 0;
        unsigned w_calloc = nonempty ? 70 : 0;
        unsigned w_flush = g.nopen ? 25 : 0;
        unsigned w_scav = 50;
        unsigned w_grow = g.nextplan < g.nplan ? (last_failed ? 300 : 3) : 0;
        unsigned w_bad = cfg->go_compatible ? 0 : 2;
        unsigned total = w_alloc + w_free + w_cache + w_calloc + w_flush + w_scav + w_grow + w_bad;
        unsigned x = (unsigned)rng_xoshiro_below(rng, total);

        if (x < w_alloc) {
            pa_op op = {PA_OP_ALLOC, alloc_size(rng, heap), 0};
            if (!cfg->go_compatible && rng_xoshiro_below(rng, 500) == 0) {
                /* Sizes no allocator can satisfy (or 0): answer 0. */
                static const uint64_t odd[] = {0, UINT64_MAX, UINT64_MAX / PG,
                                               UINT64_MAX / PG + 1, (uint64_t)1 << 40};
                op.a = odd[rng_xoshiro_below(rng, 5)];
            }
            pa_answer a;
            if (emit(&g, op, &a) != 0)
                goto out;
            if (a.addr) {
                live_add(&g, a.addr, (size_t)op.a);
                g.used += op.a;
                last_failed = 0;
            } else {
                res->alloc_fail++;
                last_failed = 1;
            }
            continue;
        }
        x -= w_alloc;
        if (x < w_free) {
            size_t k = (size_t)rng_xoshiro_below(rng, g.nlive);
            live_run lr = g.live[k];
            g.live[k] = g.live[--g.nlive];
            size_t off = 0, n = lr.n;
            if (lr.n > 1 && rng_xoshiro_below(rng, 5) == 0) {   /* part of it */
                off = (size_t)rng_xoshiro_below(rng, lr.n);
                n = (size_t)rng_xoshiro_range(rng, 1, lr.n - off);
                if (off)
                    live_add(&g, lr.addr, off);
                if (off + n < lr.n)
                    live_add(&g, lr.addr + (off + n) * PG, lr.n - off - n);
            }
            pa_op op = {rng_xoshiro_below(rng, 100) < 35 ? PA_OP_TFREE : PA_OP_FREE,
                        lr.addr + off * PG, n};
            if (emit(&g, op, NULL) != 0)
                goto out;
            g.used -= n;
            continue;
        }
        x -= w_free;
        if (x < w_cache) {
            pa_op op = {PA_OP_CACHE, 0, 0};
            pa_answer a;
            if (emit(&g, op, &a) != 0)
                goto out;
            if (a.cache.cache || rng_xoshiro_below(rng, 4) == 0) {
                if (g.nopen == g.capopen) {
                    g.capopen = g.capopen ? 2 * g.capopen : 8;
                    g.open = realloc(g.open, g.capopen * sizeof *g.open);
                    if (!g.open)
                        abort();
                }
                g.open[g.nopen++] = pa_runner_ncaches(g.run) - 1;
            }
            g.used += (uint64_t)__builtin_popcountll(a.cache.cache);
            continue;
        }
        x -= w_cache;
        if (x < w_calloc) {
            size_t pick = (size_t)rng_xoshiro_below(rng, (uint64_t)nonempty), slot = 0;
            for (size_t k = 0; k < g.nopen; k++)
                if (pa_runner_cache(g.run, g.open[k])->cache != 0 && pick-- == 0) {
                    slot = g.open[k];
                    break;
                }
            uint64_t r = rng_xoshiro_below(rng, 100);
            size_t n = r < 70 ? 1 : r < 95 ? (size_t)rng_xoshiro_range(rng, 2, 8)
                                           : (size_t)rng_xoshiro_range(rng, 9, 64);
            if (!cfg->go_compatible && rng_xoshiro_below(rng, 200) == 0)
                n = (size_t)rng_xoshiro_range(rng, 65, 200);   /* more than a cache holds: 0 */
            pa_op op = {PA_OP_CALLOC, slot, n};
            pa_answer a;
            if (emit(&g, op, &a) != 0)
                goto out;
            if (a.addr)
                live_add(&g, a.addr, n);   /* pages move from the cache to a run */
            continue;
        }
        x -= w_calloc;
        if (x < w_flush) {
            size_t k = (size_t)rng_xoshiro_below(rng, g.nopen);
            size_t slot = g.open[k];
            g.open[k] = g.open[--g.nopen];
            g.used -= (uint64_t)__builtin_popcountll(pa_runner_cache(g.run, slot)->cache);
            pa_op op = {PA_OP_FLUSH, slot, 0};
            if (emit(&g, op, NULL) != 0)
                goto out;
            continue;
        }
        x -= w_flush;
        if (x < w_scav) {
            pa_op op = {PA_OP_SCAV, scav_amount(rng), 0};
            pa_answer a;
            if (emit(&g, op, &a) != 0)
                goto out;
            res->scav_bytes += a.released;
            continue;
        }
        x -= w_scav;
        if (x < w_grow) {
            if (do_grow(&g) != 0)
                goto out;
            last_failed = 0;
            continue;
        }
        if (do_bad_grow(&g) != 0)
            goto out;
    }
    {
        pa_op op = {PA_OP_CHECK, 0, 0};
        if (emit(&g, op, NULL) != 0)
            goto out;
    }
    rc = 0;
out:
    pa_runner_delete(g.run);
    free(g.live);
    free(g.open);
    return rc;
}

void pa_gen_result_free(pa_gen_result *res)
{
    free(res->ops);
    res->ops = NULL;
    res->nops = 0;
    pa_strbuf_free(&res->answers);
}
