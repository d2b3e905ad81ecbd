/*
 * alloc-rate.c - allocation rate under a large live set. N pointer-free
 * objects (GC_MALLOC_ATOMIC, 32-1024 bytes, drawn) holding LIVE MiB in all
 * are allocated into one scanned array; the first quarter of the slots is
 * the stable part, kept to the end, the other three quarters the ring,
 * whose objects are replaced one slot at a time, in ring order, PASSES
 * times over; with every replacement the program also builds, walks and
 * drops a short-lived list of 4 scanned nodes. Every object carries its
 * tag, size and pattern bytes, checked when it is replaced and at the end,
 * so a collector that frees or overwrites a live object is caught (ok
 * false).
 *
 * Then the live set drops to the stable quarter: the ring's slots are
 * cleared (freed in the malloc build), the collector runs twice
 * (GC_gcollect), and VmRSS is read at once (rss_after_drop_kib) and again
 * after GCB_SETTLE_MS milliseconds (default 1000; rss_settled_kib), which
 * lets background scavengers act. live_after_kib is the bytes still
 * reachable: the stable objects and the two arrays. The stable quarter was
 * allocated first, before any churn, so an allocator can give back all the
 * pages the ring used: the figure measures whether freed memory returns
 * to the OS, not how scattered the survivors are.
 *
 * Usage: gcb-alloc-rate [LIVE_MIB [PASSES]]   (defaults 200 and 8)
 */
#include "gcb.h"

enum { MIN_SIZE = 32, MAX_SIZE = 1024, LIST_LEN = 4 };   /* MIN_SIZE > the header */

typedef struct {
    uint64_t tag;            /* the step that made it */
    uint64_t size;           /* bytes asked for, header included */
} ar_obj;                    /* followed by pattern bytes up to size */

typedef struct ar_node {
    struct ar_node *next;
    uint64_t value;
} ar_node;

static ar_obj *ar_make(uint64_t tag, size_t size)
{
    ar_obj *o = GCB_NEW_ATOMIC(size);
    unsigned char *b = (unsigned char *)o;
    o->tag = tag;
    o->size = size;
    for (size_t i = sizeof *o; i < size; i += 64)
        b[i] = mb_pat(tag, i);
    b[size - 1] = mb_pat(tag, size - 1);
    return o;
}

static int ar_intact(const ar_obj *o, uint64_t tag)
{
    const unsigned char *b = (const unsigned char *)o;
    if (o->tag != tag || o->size < MIN_SIZE || o->size > MAX_SIZE)
        return 0;
    for (size_t i = sizeof *o; i < o->size; i += 64)
        if (b[i] != mb_pat(tag, i))
            return 0;
    return b[o->size - 1] == mb_pat(tag, o->size - 1);
}

/* A short-lived list of LIST_LEN nodes, walked and dropped: its sum. */
static uint64_t ar_churn(uint64_t step)
{
    ar_node *head = NULL;
    for (int i = 0; i < LIST_LEN; i++) {
        ar_node *n = GCB_NEW(sizeof *n);
        n->next = head;
        n->value = step + (uint64_t)i;
        head = n;
    }
    uint64_t sum = 0;
    while (head) {
        ar_node *next = head->next;
        sum += head->value;
        GCB_FREE(head);
        head = next;
    }
    return sum;
}

int main(int argc, char **argv)
{
    long live_mib = gcb_arg(argc, argv, 1, 200);
    long passes = gcb_arg(argc, argv, 2, 8);
    const char *s = getenv("GCB_SETTLE_MS");
    long settle_ms = s && *s ? atol(s) : 1000;
    size_t n = (size_t)live_mib * 1048576 / ((MIN_SIZE + MAX_SIZE) / 2);
    GCB_INIT();
    gcb_run run;
    gcb_begin(&run, "alloc-rate", live_mib, 1);

    mb_rng rng = { 0x5eed0000u + (uint64_t)live_mib };
    ar_obj **ring = GCB_NEW(n * sizeof *ring);
    uint64_t *tags = GCB_NEW_ATOMIC(n * sizeof *tags);
    uint64_t live = n * (sizeof *ring + sizeof *tags), acc = 0;
    size_t keep = n / 4;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        size_t size = (size_t)mb_range(&rng, MIN_SIZE, MAX_SIZE);
        ring[i] = ar_make(i, size);
        tags[i] = i;
        live += size;
    }
    run.live_kib = (long)(live / 1024);
    uint64_t steps = (n - keep) * (uint64_t)passes;
    for (uint64_t step = n; step < n + steps; step++) {
        size_t i = keep + (size_t)((step - n) % (n - keep));
        size_t size = (size_t)mb_range(&rng, MIN_SIZE, MAX_SIZE);
        ok &= ar_intact(ring[i], tags[i]);
        GCB_FREE(ring[i]);
        ring[i] = ar_make(step, size);
        tags[i] = step;
        acc += size + ar_churn(step);
    }
    gcb_end(&run);
    printf("%zu objects (%ld KiB live), %zu stable, %" PRIu64 " replacements, %" PRIu64
           " short-lived nodes: sum %" PRIu64 "\n", n, run.live_kib, keep, steps,
           steps * LIST_LEN, acc);

    /* The drop: only the stable quarter stays. */
    uint64_t live_after = n * (sizeof *ring + sizeof *tags);
    for (size_t i = 0; i < n; i++) {
        if (i < keep) {
            live_after += ring[i]->size;
        } else {
            GCB_FREE(ring[i]);
            ring[i] = NULL;
        }
    }
    GCB_COLLECT();
    GCB_COLLECT();
    run.rss_after_drop_kib = mb_status_kib("VmRSS");
    if (settle_ms > 0) {
        struct timespec ts = { settle_ms / 1000, (settle_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    run.rss_settled_kib = mb_status_kib("VmRSS");
    run.live_after_kib = (long)(live_after / 1024);
    for (size_t i = 0; i < keep; i++)
        ok &= ar_intact(ring[i], tags[i]);
    printf("kept %zu objects (%ld KiB live): %s\n", keep, run.live_after_kib,
           ok ? "intact" : "CHANGED");
    uint64_t h = mb_fold(mb_fold(mb_fold(MB_FNV_INIT, n), acc), (uint64_t)ok);
    for (size_t i = 0; i < keep; i++)
        GCB_FREE(ring[i]);
    GCB_FREE(ring);
    GCB_FREE(tags);
    run.check = h;
    run.ok = ok;
    gcb_report(&run);
    return ok ? 0 : 1;
}
