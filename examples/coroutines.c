/*
 * coroutines.c - 100,000 coroutines on pagealloc stacks (<pagealloc/stack.h>).
 *
 * Each coroutine is a generator (ucontext: makecontext / swapcontext): it
 * yields the first TERMS terms of the Collatz sequence of its number (fewer
 * if it reaches 1), one per resume, using a little of its stack on the
 * way. (glibc's swapcontext makes a system call for the signal mask, so
 * a resume costs about a microsecond; TERMS keeps the run short.) A round-robin scheduler keeps
 * LIVE coroutines running at a time and starts a new one whenever one
 * finishes, until TOTAL have run; every finished coroutine's stack is
 * freed and reused through the thread cache and pools. The sum of all
 * yielded terms is checked against a direct computation, then the stacks
 * are released and the statistics printed.
 *
 *   coroutines [TOTAL [LIVE]]     defaults: 100000 1000
 *
 * Why LIVE is bounded: each held guarded stack costs the kernel two
 * mappings, and vm.max_map_count (default 65530) caps them (stack.h).
 * Exit status 0 when the sums agree and every stack went back.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "pagealloc/stack.h"

#define STACK_BYTES ((size_t)16 << 10)
#define TERMS 12

typedef struct coro {
    ucontext_t ctx;
    pa_stack stack;
    uint64_t n;          /* the generator's number */
    uint64_t value;      /* last yielded term */
    int done;
} coro;

static ucontext_t sched_ctx;
static coro *current;

static void yield(uint64_t v)
{
    current->value = v;
    swapcontext(&current->ctx, &sched_ctx);
}

/* A little recursion per term, so each coroutine touches some stack. */
static uint64_t step(uint64_t x, int depth)
{
    volatile char pad[64];
    pad[0] = (char)x;
    if (depth > 0)
        return step(x, depth - 1) + (uint64_t)pad[0] * 0;
    return (x & 1) ? 3 * x + 1 : x / 2;
}

static void body(void)
{
    uint64_t x = current->n;
    yield(x);
    for (int k = 1; k < TERMS && x != 1; k++) {
        x = step(x, (int)(x % 8));
        yield(x);
    }
    current->done = 1;
    swapcontext(&current->ctx, &sched_ctx);
}

static uint64_t direct_sum(uint64_t n)
{
    uint64_t s = n;
    for (int k = 1; k < TERMS && n != 1; k++) {
        n = (n & 1) ? 3 * n + 1 : n / 2;
        s += n;
    }
    return s;
}

static int start(pa_stack_allocator *a, coro *c, uint64_t n)
{
    int err = pa_stack_alloc(a, STACK_BYTES, &c->stack);
    if (err) {
        fprintf(stderr, "pa_stack_alloc: %s\n", strerror(err));
        return err;
    }
    c->n = n;
    c->done = 0;
    getcontext(&c->ctx);
    c->ctx.uc_stack.ss_sp = c->stack.lo;
    c->ctx.uc_stack.ss_size = c->stack.size;
    c->ctx.uc_link = NULL;
    makecontext(&c->ctx, body, 0);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    size_t live = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000;
    if (total == 0 || live == 0) {
        fprintf(stderr, "usage: coroutines [TOTAL [LIVE]]\n");
        return 2;
    }
    if (live > total)
        live = (size_t)total;
    pa_stack_overflow_install();
    pa_stack_allocator *a = pa_stack_allocator_new(NULL);
    coro *cs = calloc(live, sizeof *cs);
    if (!a || !cs) {
        perror("setup");
        return 1;
    }
    uint64_t next = 1, finished = 0, sum = 0, want = 0, resumes = 0;
    size_t deepest = 0;
    for (size_t i = 0; i < live; i++) {
        want += direct_sum(next);
        if (start(a, &cs[i], next++))
            return 1;
    }
    while (finished < total) {
        for (size_t i = 0; i < live; i++) {
            coro *c = &cs[i];
            if (c->n == 0)
                continue;
            current = c;
            swapcontext(&sched_ctx, &c->ctx);
            resumes++;
            if (!c->done) {
                sum += c->value;
                continue;
            }
            size_t hw;
            if (finished % 1000 == 0 && pa_stack_high_water(a, &c->stack, &hw) == 0 && hw > deepest)
                deepest = hw;
            pa_stack_free(a, &c->stack);
            finished++;
            c->n = 0;
            if (next <= total) {
                want += direct_sum(next);
                if (start(a, c, next++))
                    return 1;
            }
        }
    }
    pa_stack_stats st;
    pa_stack_get_stats(a, &st);
    printf("coroutines: %llu run, at most %zu at a time, %llu resumes\n",
           (unsigned long long)finished, live, (unsigned long long)resumes);
    printf("sum of yielded terms: %llu (direct: %llu)\n", (unsigned long long)sum,
           (unsigned long long)want);
    printf("stacks: %llu allocations, %llu runs from the heap, %llu refills, %llu flushes, "
           "deepest sampled use %zu bytes of %zu\n",
           (unsigned long long)st.allocs, (unsigned long long)st.heap_allocs,
           (unsigned long long)st.refills, (unsigned long long)st.flushes, deepest, STACK_BYTES);
    size_t released = pa_stack_release(a);
    pa_stack_get_stats(a, &st);
    printf("after release: %zu bytes released, %llu stacks held, %llu bytes resident\n", released,
           (unsigned long long)(st.live + st.cached + st.pooled),
           (unsigned long long)st.resident_bytes);
    int ok = sum == want && st.live == 0 && st.cached + st.pooled == 0 && st.resident_bytes == 0;
    pa_stack_allocator_delete(a);
    free(cs);
    printf("%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
