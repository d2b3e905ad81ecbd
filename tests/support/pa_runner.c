/*
 * pa_runner.c - one pagealloc and one reference model driven by the same
 * operations, every answer compared (pa_runner_exec); whole sequences
 * replayed (pa_replay) and shrunk to a shortest failing one (pa_minimize).
 * See pa_runner.h.
 *
 * Data structures.
 *   pa_runner  the library's allocator (unbacked, created by the CONFIG
 *              op with its page sizes) and the model built alongside it;
 *              and the page caches by slot, twice: lc[k] is the library's
 *              copy of the cache the k-th CACHE op produced, mc[k] the
 *              model's. nc slots are in use, capc allocated.
 *   pa_lib_error, pa_lib_errors
 *              what the library reported through its error handler during
 *              the current op: the first message and the count.
 *
 * Invariants.
 *   - Every op but CONFIG needs a CONFIG before it; CONFIG starts over:
 *     allocator, model and cache slots are replaced.
 *   - lc and mc always have the same length and slot k of each is the same
 *     cache on its side; CALLOC and FLUSH name slots, never raw caches, so
 *     an op file stays meaningful when replayed.
 *   - A valid sequence never makes the library report an error, so any
 *     report fails the op. The error handler is process-wide: one runner
 *     at a time; pa_runner_new installs it and pa_runner_delete removes it.
 *   - A free the model calls invalid fails the op before the library sees
 *     it ("invalid free ..."), as do unknown cache slots ("no cache slot
 *     ...") and a missing config ("no config ..."): those messages mean a
 *     malformed sequence, not an allocator bug, and pa_minimize ignores
 *     them while it removes ops.
 *
 * The answers, when asked for, are appended as text in Go's format (one
 * line per op; a CHECK op prints a digest of the whole state), so that
 * test_go_random can compare them with Go's answers line for line.
 */
#include "pa_runner.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct pa_runner {
    pagealloc       *pa;
    pa_model        *m;
    size_t           phys, huge;
    pagealloc_cache *lc, *mc;     /* caches by slot: library's, model's */
    size_t           nc, capc;
};

static char pa_lib_error[512];
static int  pa_lib_errors;

static void runner_error_handler(const char *msg, void *arg)
{
    (void)arg;
    if (pa_lib_errors++ == 0)
        snprintf(pa_lib_error, sizeof pa_lib_error, "%s", msg);
}

pa_runner *pa_runner_new(void)
{
    pa_runner *r = pa_xcalloc(1, sizeof *r);
    pagealloc_set_error_handler(runner_error_handler, NULL);
    return r;
}

static void runner_reset(pa_runner *r)
{
    if (r->pa)
        pagealloc_delete(r->pa);
    pa_model_delete(r->m);
    r->pa = NULL;
    r->m = NULL;
    r->nc = 0;
}

void pa_runner_delete(pa_runner *r)
{
    if (!r)
        return;
    runner_reset(r);
    free(r->lc);
    free(r->mc);
    free(r);
    pagealloc_set_error_handler(NULL, NULL);
}

pagealloc *pa_runner_lib(pa_runner *r) { return r->pa; }
pa_model *pa_runner_model(pa_runner *r) { return r->m; }
size_t pa_runner_ncaches(const pa_runner *r) { return r->nc; }
const pagealloc_cache *pa_runner_cache(const pa_runner *r, size_t k)
{
    return k < r->nc ? &r->lc[k] : NULL;
}

/* The state line of a CHECK op (Go's pagealDiffState). */
static void state_line(const pagealloc *pa, pa_strbuf *t)
{
    uintptr_t s, e;
    pagealloc_test_bounds(pa, &s, &e);
    uintptr_t dummy[1][2];
    size_t n = pagealloc_test_in_use(pa, dummy, 1);
    uintptr_t (*rg)[2] = pa_xcalloc(n + 1, sizeof *rg);
    n = pagealloc_test_in_use(pa, rg, n + 1);
    pa_strbuf_printf(t, "chk 0x%" PRIxPTR " 0x%" PRIxPTR " n=%zu", s, e, n);
    uint64_t h = 0xcbf29ce484222325ull;
    uint64_t nfree = 0, nscav = 0;
    for (size_t i = 0; i < n; i++) {
        pa_strbuf_printf(t, " [0x%" PRIxPTR ",0x%" PRIxPTR ")", rg[i][0], rg[i][1]);
        for (uintptr_t c = rg[i][0]; c < rg[i][1]; c += PA_MODEL_CHUNK) {
            uint64_t a[8], sv[8];
            if (!pagealloc_test_chunk_bits(pa, c, a, sv)) {
                pa_strbuf_printf(t, " nochunk=0x%" PRIxPTR, c);
                continue;
            }
            for (int w = 0; w < 8; w++) {
                h = (h ^ a[w]) * 0x100000001b3ull;
                nfree += 64 - (uint64_t)__builtin_popcountll(a[w]);
            }
            for (int w = 0; w < 8; w++) {
                h = (h ^ sv[w]) * 0x100000001b3ull;
                nscav += (uint64_t)__builtin_popcountll(sv[w]);
            }
        }
    }
    pa_strbuf_printf(t, " free=%" PRIu64 " scav=%" PRIu64 " h=0x%016" PRIx64 "\n", nfree, nscav, h);
    free(rg);
}

static int cache_eq(const pagealloc_cache *a, const pagealloc_cache *b)
{
    return a->base == b->base && a->cache == b->cache && a->scav == b->scav;
}

#define FAIL(...) do { snprintf(err, err_size, __VA_ARGS__); return -1; } while (0)

int pa_runner_exec(pa_runner *r, const pa_op *op, pa_answer *ans, pa_strbuf *text,
                   char *err, size_t err_size)
{
    pa_answer a;
    memset(&a, 0, sizeof a);
    if (!ans)
        ans = &a;
    memset(ans, 0, sizeof *ans);
    if (op->kind != PA_OP_CONFIG && !r->pa)
        FAIL("no config op before the first operation");
    pa_lib_errors = 0;

    switch (op->kind) {
    case PA_OP_CONFIG: {
        runner_reset(r);
        r->phys = (size_t)op->a;
        r->huge = (size_t)op->b;
        pagealloc_options o;
        memset(&o, 0, sizeof o);
        o.unbacked = 1;
        o.phys_page_size = r->phys;
        o.huge_page_size = r->huge ? r->huge : SIZE_MAX;
        r->pa = pagealloc_new(&o);
        if (!r->pa)
            FAIL("pagealloc_new(phys %zu, huge %zu) failed: %s", r->phys, r->huge, strerror(errno));
        r->m = pa_model_new(r->phys, r->huge ? r->huge : SIZE_MAX);
        if (text)
            pa_strbuf_printf(text, "config %zu %zu\n", r->phys, r->huge);
        break;
    }
    case PA_OP_GROW: {
        int lrc = pagealloc_grow(r->pa, (uintptr_t)op->a, (size_t)op->b);
        int mrc = pa_model_grow(r->m, (uintptr_t)op->a, (size_t)op->b);
        ans->rc = lrc;
        if (text) {
            if (lrc)
                pa_strbuf_printf(text, "err %d\n", lrc);
            else
                pa_strbuf_printf(text, "ok\n");
        }
        if (lrc != mrc)
            FAIL("pagealloc_grow returned %d (%s), model %d (%s)", lrc, strerror(lrc), mrc, strerror(mrc));
        break;
    }
    case PA_OP_ALLOC: {
        size_t ls = 0, ms = 0;
        uintptr_t la = pagealloc_alloc(r->pa, (size_t)op->a, &ls);
        uintptr_t ma = pa_model_alloc(r->m, (size_t)op->a, &ms);
        ans->addr = la;
        ans->scav = ls;
        if (text)
            pa_strbuf_printf(text, "0x%" PRIxPTR " %zu\n", la, ls);
        if (la != ma || ls != ms)
            FAIL("pagealloc 0x%" PRIxPTR " scav %zu, model 0x%" PRIxPTR " scav %zu", la, ls, ma, ms);
        break;
    }
    case PA_OP_FREE:
    case PA_OP_TFREE: {
        int mark = op->kind == PA_OP_FREE;
        if (pa_model_free(r->m, (uintptr_t)op->a, (size_t)op->b, mark) != 0)
            FAIL("invalid free in the sequence (pages not all allocated)");
        if (mark)
            pagealloc_free(r->pa, (uintptr_t)op->a, (size_t)op->b);
        else
            pagealloc_test_free(r->pa, (uintptr_t)op->a, (size_t)op->b);
        if (text)
            pa_strbuf_printf(text, "-\n");
        break;
    }
    case PA_OP_CACHE: {
        if (r->nc == r->capc) {
            r->capc = r->capc ? 2 * r->capc : 16;
            r->lc = realloc(r->lc, r->capc * sizeof *r->lc);
            r->mc = realloc(r->mc, r->capc * sizeof *r->mc);
            if (!r->lc || !r->mc)
                abort();
        }
        pagealloc_cache lc = pagealloc_alloc_to_cache(r->pa);
        pagealloc_cache mc = pa_model_alloc_to_cache(r->m);
        r->lc[r->nc] = lc;
        r->mc[r->nc] = mc;
        r->nc++;
        ans->cache = lc;
        if (text)
            pa_strbuf_printf(text, "0x%" PRIxPTR " 0x%" PRIx64 " 0x%" PRIx64 "\n", lc.base, lc.cache, lc.scav);
        if (!cache_eq(&lc, &mc))
            FAIL("pagealloc cache {0x%" PRIxPTR ", 0x%016" PRIx64 ", 0x%016" PRIx64 "}, model {0x%"
                 PRIxPTR ", 0x%016" PRIx64 ", 0x%016" PRIx64 "}",
                 lc.base, lc.cache, lc.scav, mc.base, mc.cache, mc.scav);
        break;
    }
    case PA_OP_CALLOC: {
        if (op->a >= r->nc)
            FAIL("no cache slot %" PRIu64, op->a);
        pagealloc_cache *lc = &r->lc[op->a], *mc = &r->mc[op->a];
        size_t ls = 0, ms = 0;
        uintptr_t la = pagealloc_cache_alloc(lc, (size_t)op->b, &ls);
        uintptr_t ma = pa_model_cache_alloc(mc, (size_t)op->b, &ms);
        ans->addr = la;
        ans->scav = ls;
        if (text)
            pa_strbuf_printf(text, "0x%" PRIxPTR " %zu\n", la, ls);
        if (la != ma || ls != ms)
            FAIL("pagealloc 0x%" PRIxPTR " scav %zu, model 0x%" PRIxPTR " scav %zu", la, ls, ma, ms);
        if (lc->cache != mc->cache || lc->scav != mc->scav)
            FAIL("cache after: pagealloc {0x%016" PRIx64 ", 0x%016" PRIx64 "}, model {0x%016"
                 PRIx64 ", 0x%016" PRIx64 "}", lc->cache, lc->scav, mc->cache, mc->scav);
        break;
    }
    case PA_OP_FLUSH: {
        if (op->a >= r->nc)
            FAIL("no cache slot %" PRIu64, op->a);
        pagealloc_cache_flush(&r->lc[op->a], r->pa);
        pa_model_cache_flush(&r->mc[op->a], r->m);
        if (text)
            pa_strbuf_printf(text, "-\n");
        if (r->lc[op->a].cache != 0 || r->lc[op->a].scav != 0)
            FAIL("cache not empty after flush: {0x%016" PRIx64 ", 0x%016" PRIx64 "}",
                 r->lc[op->a].cache, r->lc[op->a].scav);
        break;
    }
    case PA_OP_SCAV: {
        size_t n = op->a == UINT64_MAX ? SIZE_MAX : (size_t)op->a;
        size_t lr = pagealloc_scavenge(r->pa, n);
        size_t mr = pa_model_scavenge(r->m, n);
        ans->released = lr;
        if (text)
            pa_strbuf_printf(text, "%zu\n", lr);
        if (lr != mr)
            FAIL("pagealloc released %zu bytes, model %zu", lr, mr);
        break;
    }
    case PA_OP_CHECK: {
        if (text)
            state_line(r->pa, text);
        char msg[1024];
        if (pa_model_compare(r->m, r->pa, msg, sizeof msg) != 0)
            FAIL("state: %s", msg);
        break;
    }
    case PA_OP_SEARCHADDR: {
        uintptr_t sa = pagealloc_test_search_addr(r->pa);
        ans->addr = sa;
        if (text) {
            if (sa == UINTPTR_MAX)
                pa_strbuf_printf(text, "max\n");
            else
                pa_strbuf_printf(text, "0x%" PRIxPTR "\n", sa);
        }
        break;
    }
    }
    if (pa_lib_errors)
        FAIL("pagealloc reported an error: %s", pa_lib_error);
    return 0;
}

/* ---- replay and minimisation ------------------------------------------ */

size_t pa_replay(const pa_op *ops, size_t n, char *msg, size_t msg_size, FILE *trace)
{
    pa_runner *r = pa_runner_new();
    pa_strbuf ans = {0};
    size_t i;
    for (i = 0; i < n; i++) {
        ans.len = 0;
        int rc = pa_runner_exec(r, &ops[i], NULL, trace ? &ans : NULL, msg, msg_size);
        if (trace) {
            char line[128];
            pa_op_format(&ops[i], line, sizeof line);
            fprintf(trace, "#%zu %-32s -> %.*s", i, line, (int)ans.len, ans.p ? ans.p : "\n");
        }
        if (rc != 0)
            break;
    }
    pa_strbuf_free(&ans);
    pa_runner_delete(r);
    return i;
}

/* A failure that is about the allocator, not a sequence made invalid by
 * removing operations. */
static int real_failure(const char *msg)
{
    return strncmp(msg, "invalid free", 12) != 0 && strncmp(msg, "no cache slot", 13) != 0 &&
           strncmp(msg, "no config", 9) != 0;
}

size_t pa_minimize(pa_op *ops, size_t n)
{
    char msg[2048];
    size_t at = pa_replay(ops, n, msg, sizeof msg, NULL);
    if (at == n || !real_failure(msg))
        return n;
    n = at + 1;                                 /* nothing after the failure matters */
    pa_op_kind kind = ops[at].kind;
    pa_op *tmp = malloc(n * sizeof *ops);
    size_t *slotmap = malloc(n * sizeof *slotmap);
    for (size_t chunk = n / 2; chunk >= 1; chunk = chunk > 1 ? chunk / 2 : 0) {
        int progress = 1;
        while (progress) {
            progress = 0;
            for (size_t s = 1; s < n;) {        /* op 0 is the config */
                size_t e = s + chunk < n ? s + chunk : n;
                /* Cache slots are numbered by cache op: renumber them,
                 * and drop the uses of a removed cache. */
                size_t nslots = 0, kept = 0;
                for (size_t i = 0; i < n; i++)
                    if (ops[i].kind == PA_OP_CACHE) {
                        slotmap[nslots++] = (i >= s && i < e) ? SIZE_MAX : kept;
                        kept += !(i >= s && i < e);
                    }
                size_t m = 0;
                for (size_t i = 0; i < n; i++) {
                    if (i >= s && i < e)
                        continue;
                    tmp[m] = ops[i];
                    if (tmp[m].kind == PA_OP_CALLOC || tmp[m].kind == PA_OP_FLUSH) {
                        if (tmp[m].a >= nslots || slotmap[tmp[m].a] == SIZE_MAX)
                            continue;
                        tmp[m].a = slotmap[tmp[m].a];
                    }
                    m++;
                }
                size_t f = pa_replay(tmp, m, msg, sizeof msg, NULL);
                if (f < m && real_failure(msg) && tmp[f].kind == kind) {
                    memcpy(ops, tmp, (f + 1) * sizeof *ops);
                    n = f + 1;
                    progress = 1;
                } else {
                    s = e;
                }
            }
        }
        if (chunk == 1)
            break;
    }
    free(tmp);
    free(slotmap);
    return n;
}
