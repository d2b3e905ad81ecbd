/*
 * workload.c - the churn workload and the core benchmark workloads W1-W4
 * as event generators: the sequences of workloads/wlcore.c turned inside
 * out, one event per call instead of a loop over the allocator. The sizes,
 * the draws and their order, W2's permutations and the workloads' names
 * and titles all come from workloads/wlgen.h; only the churn workload and
 * the stepping state are the tool's own.
 */
#include "workload.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    W1_SLOTS = WLGEN_W1_SLOTS, W1_STEPS = WLGEN_W1_STEPS,
    W2_N = WLGEN_W2_PAGES, W2_ROUNDS = WLGEN_W2_ROUNDS,
    W3_SLOTS = WLGEN_W3_SLOTS, W3_STEPS = WLGEN_W3_STEPS,
    W4_TOTAL = WLGEN_W4_TOTAL, W4_BATCH = WLGEN_W4_BATCH,
    CHURN_SLOTS = 1024
};

static const char CHURN_NAME[] = "churn";
static const char CHURN_TITLE[] =
    "mixed churn: W1's sizes, live set drifting 10-100 % of 1024 slots";

/* WL_W1..WL_W4 follow wlgen_table's order. */
static const wlgen_info *core_info(wl_kind k)
{
    return &wlgen_table[k - WL_W1];
}

wl_kind wl_lookup(const char *name)
{
    if (!strcasecmp(name, CHURN_NAME))
        return WL_CHURN;
    enum wlgen_id w = wlgen_lookup(name);
    return w == WLGEN_COUNT ? WL_KIND_COUNT : (wl_kind)(WL_W1 + (int)w);
}

const char *wl_name(wl_kind k)
{
    if (k == WL_CHURN)
        return CHURN_NAME;
    return (unsigned)k < WL_KIND_COUNT ? core_info(k)->name : "?";
}

const char *wl_title(wl_kind k)
{
    if (k == WL_CHURN)
        return CHURN_TITLE;
    return (unsigned)k < WL_KIND_COUNT ? core_info(k)->summary : "?";
}

static uint64_t below(wl_gen *g, uint64_t n)
{
    return rng_xorshift_below(&g->rng, n);
}

int wl_gen_init(wl_gen *g, wl_kind k, uint64_t seed)
{
    memset(g, 0, sizeof *g);
    g->kind = k;
    g->rng.x = seed;
    switch (k) {
    case WL_CHURN:
        g->slots = CHURN_SLOTS;
        g->live = calloc(CHURN_SLOTS, 1);
        if (!g->live)
            return ENOMEM;
        break;
    case WL_W1:
        g->slots = W1_SLOTS;
        g->total = W1_SLOTS + 2ull * W1_STEPS;
        break;
    case WL_W3:
        g->slots = W3_SLOTS;
        g->total = W3_SLOTS + 2ull * W3_STEPS;
        break;
    case WL_W2:
        g->slots = W2_N;
        g->total = 2ull * W2_N * W2_ROUNDS;
        g->perm = malloc((size_t)W2_ROUNDS * W2_N * sizeof *g->perm);
        if (!g->perm)
            return ENOMEM;
        /* The five permutations, drawn first. */
        wlgen_w2_permutations(&g->rng, g->perm, NULL);
        break;
    case WL_W4:
        g->slots = W4_BATCH;
        g->total = W4_TOTAL + (uint64_t)(W4_TOTAL / W4_BATCH) * W4_BATCH;
        break;
    default:
        return EINVAL;
    }
    return 0;
}

void wl_gen_destroy(wl_gen *g)
{
    free(g->live);
    free(g->perm);
    memset(g, 0, sizeof *g);
}

static int emit(wl_event *ev, wl_op op, uint32_t slot, uint64_t arg)
{
    *ev = (wl_event){ .op = op, .slot = slot, .arg = arg };
    return 1;
}

/* W1 and W3: fill every slot in order, then steps of wlgen_churn_step:
 * free(live[i]); live[i] = alloc(s). */
static int next_w13(wl_gen *g, wl_event *ev, uint64_t steps, int large)
{
    if (g->pending) {
        g->pending = 0;
        *ev = g->next_ev;
        return 1;
    }
    if (g->index < g->slots) {
        uint64_t n = wlgen_size(&g->rng, large);
        return emit(ev, WL_ALLOC, (uint32_t)g->index++, n);
    }
    if (g->step >= steps)
        return 0;
    g->step++;
    uint64_t n;
    uint32_t i = wlgen_churn_step(&g->rng, g->slots, large, &n);
    g->pending = 1;
    g->next_ev = (wl_event){ .op = WL_ALLOC, .slot = i, .arg = n };
    return emit(ev, WL_FREE, i, 0);
}

/* W2: each round allocates slots 0..n-1 one page each, then frees them in
 * the round's permutation order. phase 0: allocating, 1: freeing. */
static int next_w2(wl_gen *g, wl_event *ev)
{
    if (g->round >= W2_ROUNDS)
        return 0;
    if (g->phase == 0) {
        uint32_t i = (uint32_t)g->index++;
        if (g->index == W2_N) {
            g->index = 0;
            g->phase = 1;
        }
        return emit(ev, WL_ALLOC, i, 1);
    }
    uint32_t slot = g->perm[(size_t)g->round * W2_N + g->index++];
    if (g->index == W2_N) {
        g->index = 0;
        g->phase = 0;
        g->round++;
    }
    return emit(ev, WL_FREE, slot, 0);
}

/* W4: batches of one-page allocations into slots 0..8191; each full batch
 * is then freed in allocation order; the last, partial batch stays.
 * step: allocations done; phase 1: freeing the batch. */
static int next_w4(wl_gen *g, wl_event *ev)
{
    if (g->phase == 1) {
        uint32_t k = (uint32_t)g->index++;
        if (g->index == W4_BATCH) {
            g->index = 0;
            g->phase = 0;
        }
        return emit(ev, WL_FREE, k, 0);
    }
    if (g->step >= W4_TOTAL)
        return 0;
    uint32_t k = (uint32_t)g->index++;
    g->step++;
    if (g->index == W4_BATCH) {
        g->index = 0;
        g->phase = 1;
    }
    return emit(ev, WL_ALLOC, k, 1);
}

/* The churn's live-set target at a point of the run: a raised cosine
 * between 10 % and 100 % over 1.75 periods (up, down, up, and half-way
 * down at the end, so that the final heap holds live data and holes). */
static uint32_t churn_target(double progress)
{
    if (progress < 0) progress = 0;
    if (progress > 1) progress = 1;
    double f = 0.55 - 0.45 * cos(2 * M_PI * 1.75 * progress);
    uint32_t t = (uint32_t)(f * CHURN_SLOTS);
    return t ? t : 1;
}

static int next_churn(wl_gen *g, double progress, wl_event *ev)
{
    if (g->pending) {
        g->pending = 0;
        g->live[g->next_ev.slot] = 1;
        g->live_n++;
        *ev = g->next_ev;
        return 1;
    }
    uint32_t target = churn_target(progress);
    for (;;) {
        /* With live_n >= target >= 1 a live slot exists, so this ends
         * (expected tries: slots / live_n <= 10). */
        uint32_t i = (uint32_t)below(g, CHURN_SLOTS);
        if (g->live[i]) {
            g->live[i] = 0;
            g->live_n--;
            if (g->live_n < target) {
                g->pending = 1;
                g->next_ev = (wl_event){ .op = WL_ALLOC, .slot = i, .arg = wlgen_churn_size(&g->rng) };
            }
            return emit(ev, WL_FREE, i, 0);
        }
        if (g->live_n < target) {
            g->live[i] = 1;
            g->live_n++;
            return emit(ev, WL_ALLOC, i, wlgen_churn_size(&g->rng));
        }
    }
}

int wl_gen_next(wl_gen *g, double progress, wl_event *ev)
{
    switch (g->kind) {
    case WL_CHURN: return next_churn(g, progress, ev);
    case WL_W1:    return next_w13(g, ev, W1_STEPS, 0);
    case WL_W2:    return next_w2(g, ev);
    case WL_W3:    return next_w13(g, ev, W3_STEPS, 1);
    case WL_W4:    return next_w4(g, ev);
    default:       return 0;
    }
}
