/*
 * sweep.c - sweeping (Go's mgcsweep.go): after a mark, each span's mark
 * bits become its alloc bits (objects not reached are free again), spans
 * left empty go back to the page heap. Sweeping is lazy: a cycle only
 * advances sweepgen and resets every class's sweep cursor (cycle.c);
 * allocation sweeps spans of its class until one has room
 * (gc_sweep_for_alloc), and a background sweeper thread (not registered:
 * it touches no object) sweeps the rest in batches, one class lock at a
 * time; when it is done it releases free pages above the goal
 * (gc_heap_pace). gc_sweep_all finishes the sweep on the calling thread
 * (before a mark, and in pa_gc_collect).
 *
 * Leak-finding mode: an unreached object is not freed by the sweep; it is
 * recorded (leaks, under leak_mu) and stays allocated until the cycle
 * has shown it (gc_leak_pop) and freed it explicitly.
 */
#include <errno.h>
#include <string.h>

#include "gc/gcint.h"

#define LEAK_CAP ((size_t)64 << 10)              /* entries per leak buffer */

typedef struct leak_entry {
    uintptr_t obj;
    size_t size;
} leak_entry;

static pthread_mutex_t leak_mu = PTHREAD_MUTEX_INITIALIZER;
static leak_entry *leaks;                        /* leak_mu */
static size_t nleaks;                            /* leak_mu */

static pthread_mutex_t sweeper_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sweeper_cv = PTHREAD_COND_INITIALIZER;
static int sweeper_work;                         /* sweeper_mu */
static int sweeper_running;                      /* sweeper_mu */

static void leak_record(uintptr_t obj, size_t size)
{
    gc_lock(&leak_mu);
    if (!leaks) {
        void *mem;
        if (sysmem_alloc(LEAK_CAP * sizeof(leak_entry), &gc_g.meta, &mem) == 0)
            leaks = mem;
    }
    if (leaks && nleaks < LEAK_CAP)
        leaks[nleaks++] = (leak_entry){ obj, size };
    pthread_mutex_unlock(&leak_mu);
}

int gc_sweep_span(gc_class *c, gc_span *s)
{
    uint32_t sg = atomic_load_explicit(&gc_g.sweepgen, memory_order_relaxed);
    if (s->sweepgen != sg - 2)
        return 0;
    uint32_t words = gc_span_words(s), n = 0;
    if (s->spc & GC_KIND_UNCOLL) {
        for (uint32_t w = 0; w < words; w++)
            n += (uint32_t)__builtin_popcountll(s->alloc[w]);
    } else {
        int leak = atomic_load_explicit(&gc_g.find_leak, memory_order_relaxed);
        for (uint32_t w = 0; w < words; w++) {
            uint64_t dead = s->alloc[w] & ~s->mark[w];
            if (dead && leak) {
                for (uint64_t d = dead; d; d &= d - 1) {
                    uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(d);
                    leak_record(s->base + (uintptr_t)i * s->size, s->size);
                }
                s->mark[w] |= dead;
            }
            s->alloc[w] = s->mark[w];
            n += (uint32_t)__builtin_popcountll(s->alloc[w]);
        }
    }
    memset(s->mark, 0, words * sizeof(uint64_t));
    if (s->nalloc > n) {
        uint64_t freed = (uint64_t)(s->nalloc - n) * s->size;
        gc_add(&gc_g.swept_bytes, freed);
        gc_add(&gc_g.free_bytes, freed);
    }
    s->nalloc = n;
    s->freeindex = 0;
    s->sweepgen = sg;
    gc_sub(&gc_g.unswept, 1);
    if (c->cur == s || s->run)
        return 1;                                  /* on no list (tcache.c) */
    if (n == 0) {
        gc_release_span(c, s);
        return 2;
    }
    if (n < s->nelems)
        gc_nonfull_push(c, s);
    return 1;
}

static void nonfull_pop(gc_class *c, gc_span *s)
{
    c->nonfull = s->nf_next;
    if (c->nonfull)
        c->nonfull->nf_prev = NULL;
    s->nf_next = s->nf_prev = NULL;
    s->in_nonfull = 0;
}

gc_span *gc_sweep_for_alloc(gc_class *c)
{
    gc_span *s;
    while ((s = c->nonfull) != NULL) {
        if (gc_sweep_span(c, s) == 2)
            continue;                              /* released */
        nonfull_pop(c, s);
        if (s->nalloc < s->nelems)
            return s;
    }
    while ((s = c->sweep_pos) != NULL) {
        c->sweep_pos = s->next;
        if (gc_sweep_span(c, s) == 1 && s->nalloc < s->nelems && !s->run) {
            if (s->in_nonfull)
                nonfull_pop(c, s);                 /* the sweep pushed it on top */
            return s;
        }
    }
    return NULL;
}

/* Sweep up to max spans of class c from its cursor; the lock not held.
 * Returns 1 if the class may have more to sweep. */
static int sweep_some(gc_class *c, unsigned max)
{
    gc_lock(&c->mu);
    gc_span *s;
    unsigned k = 0;
    while (k < max && (s = c->sweep_pos) != NULL) {
        c->sweep_pos = s->next;
        k += gc_sweep_span(c, s) != 0;
    }
    int more = c->sweep_pos != NULL;
    pthread_mutex_unlock(&c->mu);
    return more;
}

size_t gc_sweep_all(void)
{
    size_t before = (size_t)gc_ld(&gc_g.swept_bytes);
    for (unsigned i = 0; i < GC_NSPC; i++)
        while (sweep_some(&gc_g.cls[i], 256))
            ;
    return (size_t)gc_ld(&gc_g.swept_bytes) - before;
}

static void *sweeper_main(void *arg)
{
    (void)arg;
    for (;;) {
        gc_lock(&sweeper_mu);
        while (!sweeper_work)
            pthread_cond_wait(&sweeper_cv, &sweeper_mu);
        sweeper_work = 0;
        pthread_mutex_unlock(&sweeper_mu);
        for (unsigned i = 0; i < GC_NSPC; i++)
            while (sweep_some(&gc_g.cls[i], 32))
                ;
        gc_heap_pace(0);               /* the freed spans are back */
    }
    return NULL;
}

void gc_sweeper_start(void)
{
    gc_lock(&sweeper_mu);
    if (!sweeper_running && gc_g.bg_sweeper) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, sweeper_main, NULL) == 0)
            sweeper_running = 1;
        pthread_attr_destroy(&at);
    }
    pthread_mutex_unlock(&sweeper_mu);
}

void gc_sweeper_kick(void)
{
    gc_lock(&sweeper_mu);
    sweeper_work = 1;
    pthread_cond_signal(&sweeper_cv);
    pthread_mutex_unlock(&sweeper_mu);
}

void gc_sweep_fork_child(void)
{
    pthread_mutex_init(&sweeper_mu, NULL);
    pthread_cond_init(&sweeper_cv, NULL);
    pthread_mutex_init(&leak_mu, NULL);
    sweeper_running = 0;
    sweeper_work = 0;
}

int gc_leak_pop(uintptr_t *obj, size_t *size)
{
    gc_lock(&leak_mu);
    int any = nleaks > 0;
    if (any) {
        nleaks--;
        *obj = leaks[nleaks].obj;
        *size = leaks[nleaks].size;
    }
    pthread_mutex_unlock(&leak_mu);
    return any;
}
