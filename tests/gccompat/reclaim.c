/*
 * reclaim.c - unreachable objects are reclaimed: a long churn keeps the
 * heap bounded; objects that are unreachable (or reachable only through
 * hidden pointers or from atomic objects) have their disappearing links
 * cleared by a collection; objects still reachable keep theirs.
 */
#include <gc.h>

#include "compat.h"

#define LINKS 1000

static void **links;                     /* libc memory: never scanned */
static GC_hidden_pointer hidden[LINKS];  /* .bss, but disguised */
static void *kept[LINKS / 10];

/* Allocates LINKS objects each watched by a disappearing link; keeps
 * every tenth reachable when keep, and hides all of them in hidden[]. */
static __attribute__((noinline)) int make_watched(int keep)
{
    for (int i = 0; i < LINKS; i++) {
        void *o = GC_MALLOC(64);
        if (o == NULL)
            return 0;
        links[i] = o;
        int rc = GC_GENERAL_REGISTER_DISAPPEARING_LINK(&links[i], o);
        if (rc == GC_UNIMPLEMENTED)
            compat_skip("disappearing links are not implemented by this collector");
        if (rc != GC_SUCCESS)
            return 0;
        hidden[i] = GC_HIDE_POINTER(o);
        if (keep && i % 10 == 0)
            kept[i / 10] = o;
    }
    return 1;
}

static int cleared(int every_tenth_kept)
{
    int n = 0;
    for (int i = 0; i < LINKS; i++)
        if (every_tenth_kept && i % 10 == 0)
            continue;
        else if (links[i] == NULL)
            n++;
    return n;
}

static __attribute__((noinline)) void pointer_only_in_atomic(void **atomic_box)
{
    for (int i = 0; i < LINKS; i++) {
        void *o = GC_MALLOC(64);
        GC_unregister_disappearing_link(&links[i]);   /* earlier round's */
        links[i] = o;
        GC_GENERAL_REGISTER_DISAPPEARING_LINK(&links[i], o);
        atomic_box[i] = o;
    }
}

static __attribute__((noinline)) size_t churn(void)
{
    size_t peak = 0;
    for (int round = 0; round < 200; round++) {
        void **head = NULL;
        for (int i = 0; i < 1000; i++) {      /* ~1 MiB per round */
            void **o = GC_MALLOC(1024);
            o[0] = head;
            head = o;
        }
        size_t h = GC_get_heap_size();
        if (h > peak)
            peak = h;
    }
    return peak;
}

int main(void)
{
    GC_INIT();
    links = malloc(LINKS * sizeof *links);

    size_t peak = churn();
    compat_check("200 MiB of garbage, heap stays under 64 MiB", peak < (64u << 20));

    if (!make_watched(1)) {
        printf("registration failed\n");
        return 1;
    }
    compat_clear_stack();
    GC_gcollect();
    GC_gcollect();
    /* A conservative collector may keep a few by false references. */
    compat_check("unreachable (hidden pointers only) reclaimed: 90%+",
                 cleared(1) >= (LINKS - LINKS / 10) * 9 / 10);
    int kept_ok = 1;
    for (int i = 0; i < LINKS; i += 10)
        kept_ok &= links[i] == kept[i / 10] && links[i] != NULL;
    compat_check("reachable objects keep their links", kept_ok);
    compat_check("hidden pointers reveal the kept objects",
                 GC_REVEAL_POINTER(hidden[10]) == kept[1]);

    void **atomic_box = GC_MALLOC_ATOMIC(LINKS * sizeof(void *));
    pointer_only_in_atomic(atomic_box);
    compat_clear_stack();
    GC_gcollect();
    compat_check("pointers stored only in an atomic object do not keep it: 90%+",
                 cleared(0) >= LINKS * 9 / 10);
    compat_check("the atomic object itself survives", GC_base(atomic_box) == atomic_box);
    free(links);
    return compat_done();
}
