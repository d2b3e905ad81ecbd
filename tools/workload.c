/*
 * workload.c - the churn workload and the core benchmark workloads W1-W4
 * as event generators: the sequences of workloads/wlcore.c turned inside
 * out, one event per call instead of a loop over the allocator. The sizes,
 * the draws and their order, W2's permutations and the workloads' names
 * and titles all come from workloads/wlgen.h; only the churn workload, the
 * object workloads (objects, objects-xthread: workload.h) and the stepping
 * state are the tool's own.
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
    CHURN_SLOTS = 1024,
    OBJ_SLOTS = 32768,            /* objects: slots per thread */
    XT_INFLIGHT = 65536           /* objects-xthread: in flight at the top, per thread */
};

static const char CHURN_NAME[] = "churn";
static const char CHURN_TITLE[] =
    "mixed churn: W1's sizes, live set drifting 10-100 % of 1024 slots";

static const char OBJ_NAME[] = "objects";
static const char OBJ_TITLE[] =
    "small-object churn on pa_malloc: 16 B-32 KiB skewed small, 0.5 % large, "
    "live set drifting 10-100 % of 32768 slots, oldest die first";
static const char CORO_NAME[] = "coroutines";
static const char CORO_TITLE[] =
    "ucontext coroutines on pa_stack stacks (16 KiB-1 MiB), each touching a varying "
    "depth, created and destroyed in churn on 256 slots per thread";
static const char XT_NAME[] = "objects-xthread";
static const char XT_TITLE[] =
    "producer/consumer on pa_malloc: messages 16 B-4 KiB (some to 256 KiB) freed by "
    "the next thread, 10-100 % of 65536 in flight";

/* WL_W1..WL_W4 follow wlgen_table's order. */
static const wlgen_info *core_info(wl_kind k)
{
    return &wlgen_table[k - WL_W1];
}

wl_kind wl_lookup(const char *name)
{
    if (!strcasecmp(name, CHURN_NAME))
        return WL_CHURN;
    if (!strcasecmp(name, OBJ_NAME))
        return WL_OBJECTS;
    if (!strcasecmp(name, XT_NAME))
        return WL_OBJECTS_XTHREAD;
    if (!strcasecmp(name, CORO_NAME))
        return WL_COROUTINES;
    enum wlgen_id w = wlgen_lookup(name);
    return w == WLGEN_COUNT ? WL_KIND_COUNT : (wl_kind)(WL_W1 + (int)w);
}

const char *wl_name(wl_kind k)
{
    if (k == WL_CHURN)
        return CHURN_NAME;
    if (k == WL_OBJECTS)
        return OBJ_NAME;
    if (k == WL_OBJECTS_XTHREAD)
        return XT_NAME;
    if (k == WL_COROUTINES)
        return CORO_NAME;
    return (unsigned)k < WL_KIND_COUNT ? core_info(k)->name : "?";
}

const char *wl_title(wl_kind k)
{
    if (k == WL_CHURN)
        return CHURN_TITLE;
    if (k == WL_OBJECTS)
        return OBJ_TITLE;
    if (k == WL_OBJECTS_XTHREAD)
        return XT_TITLE;
    if (k == WL_COROUTINES)
        return CORO_TITLE;
    return (unsigned)k < WL_KIND_COUNT ? core_info(k)->summary : "?";
}

int wl_is_objects(wl_kind k)
{
    return k == WL_OBJECTS || k == WL_OBJECTS_XTHREAD;
}

int wl_is_stacks(wl_kind k)
{
    return k == WL_COROUTINES;
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
    case WL_OBJECTS:
        g->slots = k == WL_CHURN ? CHURN_SLOTS : OBJ_SLOTS;
        g->live = calloc(g->slots, 1);
        if (!g->live)
            return ENOMEM;
        break;
    case WL_OBJECTS_XTHREAD:
        g->slots = 1;                /* allocate into slot 0, then send it */
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

/* The churn's live-set target at a point of the run, out of n: a raised
 * cosine between 10 % and 100 % over 1.75 periods (up, down, up, and
 * half-way down at the end, so that the final heap holds live data and
 * holes). The object workloads share it. */
static uint32_t drift_target(double progress, uint32_t n)
{
    if (progress < 0) progress = 0;
    if (progress > 1) progress = 1;
    double f = 0.55 - 0.45 * cos(2 * M_PI * 1.75 * progress);
    uint32_t t = (uint32_t)(f * n);
    return t ? t : 1;
}

static uint32_t churn_target(double progress)
{
    return drift_target(progress, CHURN_SLOTS);
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

/* ---- Object workloads ------------------------------------------------------------ */

/* A uniform double in [0, 1). */
static double unit(wl_gen *g)
{
    return (double)(rng_xorshift_next(&g->rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* Log-uniform in [lo, hi]. */
static uint64_t log_uniform(wl_gen *g, double lo, double hi)
{
    return (uint64_t)exp(log(lo) + unit(g) * (log(hi) - log(lo)));
}

/* objects: 16 * 2^(11 u^2) bytes (16 B .. 32 KiB; median ~110 B, 90 %
 * below ~8 KiB), and one in 200 a large object of 32 KiB .. 512 KiB. */
static uint64_t object_size(wl_gen *g)
{
    if (below(g, 200) == 0)
        return log_uniform(g, 32769, 512 << 10);
    double u = unit(g);
    return (uint64_t)(16 * exp2(11 * u * u));
}

/* objects-xthread: messages of 16 * 2^(8 u^2) bytes (16 B .. 4 KiB), 2 %
 * of 4 .. 32 KiB, 0.2 % of 64 .. 256 KiB. */
static uint64_t message_size(wl_gen *g)
{
    uint64_t r = below(g, 1000);
    if (r < 2)
        return log_uniform(g, 65536, 256 << 10);
    if (r < 22)
        return log_uniform(g, 4097, 32768);
    double u = unit(g);
    return (uint64_t)(16 * exp2(8 * u * u));
}

/* objects: slots are filled in allocation order (slot = sequence number
 * mod OBJ_SLOTS); [tail, head) is the window of sequence numbers that may
 * be live. Above the target the oldest live object is freed (objects made
 * together die together, so their spans empty); at the target a random
 * one in the window is, and below it a new one is made at head. A full
 * window frees its oldest first. */
static int next_objects(wl_gen *g, double progress, wl_event *ev)
{
    uint32_t target = drift_target(progress, OBJ_SLOTS);
    for (;;) {
        int retire = g->live_n > target || g->head - g->tail == OBJ_SLOTS;
        if (!retire && g->live_n == target) {
            uint32_t i = (uint32_t)((g->tail + below(g, g->head - g->tail)) % OBJ_SLOTS);
            if (g->live[i]) {
                g->live[i] = 0;
                g->live_n--;
                return emit(ev, WL_FREE, i, 0);
            }
            retire = 1;               /* a hole: free the oldest instead */
        }
        if (retire) {
            /* The window holds live_n >= 1 objects: this ends. */
            uint32_t i = (uint32_t)(g->tail++ % OBJ_SLOTS);
            if (g->live[i]) {
                g->live[i] = 0;
                g->live_n--;
                return emit(ev, WL_FREE, i, 0);
            }
            continue;
        }
        uint32_t i = (uint32_t)(g->head++ % OBJ_SLOTS);
        g->live[i] = 1;
        g->live_n++;
        return emit(ev, WL_ALLOC, i, object_size(g));
    }
}

/* objects-xthread: allocate a message into slot 0 and send it, or free
 * one received. The generator cannot see its inbox; it steers by its own
 * sends minus receives, which the previous thread (the same generator,
 * another seed) matches on average: sending 3 times in 4 below the
 * target, 1 in 4 above it, 1 in 2 at it. */
static int next_xthread(wl_gen *g, double progress, wl_event *ev)
{
    if (g->pending) {
        g->pending = 0;
        g->sent++;
        return emit(ev, WL_SEND, 0, 0);
    }
    uint64_t target = drift_target(progress, XT_INFLIGHT);
    uint64_t est = g->sent > g->recvs ? g->sent - g->recvs : 0;
    uint64_t p_send = est < target ? 3 : est > target ? 1 : 2;
    if (below(g, 4) < p_send) {
        g->pending = 1;
        return emit(ev, WL_ALLOC, 0, message_size(g));
    }
    g->recvs++;
    return emit(ev, WL_RECV, 0, 0);
}

int wl_gen_next(wl_gen *g, double progress, wl_event *ev)
{
    switch (g->kind) {
    case WL_CHURN: return next_churn(g, progress, ev);
    case WL_W1:    return next_w13(g, ev, W1_STEPS, 0);
    case WL_W2:    return next_w2(g, ev);
    case WL_W3:    return next_w13(g, ev, W3_STEPS, 1);
    case WL_W4:    return next_w4(g, ev);
    case WL_OBJECTS:         return next_objects(g, progress, ev);
    case WL_OBJECTS_XTHREAD: return next_xthread(g, progress, ev);
    default:       return 0;
    }
}
