/*
 * events.c - GC_set_on_collection_event: every collection, explicit or
 * automatic, is reported from START to END, with the world stopped
 * (PRE_STOP_WORLD) before it is restarted (POST_START_WORLD), in that
 * order; the benchmarks time pauses this way. Each cycle sends bdwgc's
 * ten collection events in bdwgc's order: START, PRE_STOP_WORLD,
 * POST_STOP_WORLD, MARK_START, MARK_END, PRE_START_WORLD,
 * POST_START_WORLD, RECLAIM_START, RECLAIM_END, END (the thread events
 * are not checked).
 */
#include <gc.h>

#include "compat.h"

static GC_EventType seen[64];
static int nseen;
static int starts, ends, bad_order, stop, restart;

/* The cycle's events so far, checked against bdwgc's order. */
static const GC_EventType order[] = {
    GC_EVENT_START, GC_EVENT_PRE_STOP_WORLD, GC_EVENT_POST_STOP_WORLD,
    GC_EVENT_MARK_START, GC_EVENT_MARK_END, GC_EVENT_PRE_START_WORLD,
    GC_EVENT_POST_START_WORLD, GC_EVENT_RECLAIM_START, GC_EVENT_RECLAIM_END,
    GC_EVENT_END,
};
static unsigned in_cycle;          /* events of the current cycle */
static int bad_sequence;

static void on_event(GC_EventType ev)
{
    if (ev != GC_EVENT_THREAD_SUSPENDED && ev != GC_EVENT_THREAD_UNSUSPENDED) {
        if (ev == GC_EVENT_START)
            in_cycle = 0;
        bad_sequence |= in_cycle >= sizeof order / sizeof order[0] || order[in_cycle] != ev;
        in_cycle++;
    }
    switch (ev) {
    case GC_EVENT_START:
        bad_order |= starts != ends;       /* a cycle inside a cycle */
        starts++;
        stop = restart = 0;
        break;
    case GC_EVENT_PRE_STOP_WORLD:
        stop++;
        break;
    case GC_EVENT_POST_START_WORLD:
        bad_order |= stop == 0;            /* restarted before stopping */
        restart++;
        break;
    case GC_EVENT_END:
        ends++;
        bad_order |= stop == 0 || restart == 0;
        break;
    default:
        break;
    }
    if (nseen < 64)
        seen[nseen++] = ev;
}

int main(void)
{
    GC_INIT();
    GC_set_on_collection_event(on_event);
    compat_check("the callback is kept", GC_get_on_collection_event() == on_event);
    GC_word before = GC_get_gc_no();
    GC_gcollect();
    compat_check("an explicit collection is reported start to end", starts == 1 && ends == 1);
    compat_check("the first event is START", nseen > 0 && seen[0] == GC_EVENT_START);
    compat_check("the world stops and restarts inside it", !bad_order);
    for (int i = 0; i < 200000; i++)       /* ~13 MiB of garbage */
        (void)GC_MALLOC(64);
    GC_word cycles = GC_get_gc_no() - before;
    compat_check("automatic collections happened", cycles > 1);
    compat_check("each collection has one START and one END",
                 (GC_word)starts == cycles && (GC_word)ends == cycles);
    compat_check("events in order in every collection", !bad_order);
    compat_check("every collection sends bdwgc's ten events in bdwgc's order", !bad_sequence);
    GC_set_on_collection_event(0);
    GC_gcollect();
    compat_check("no events after removal", (GC_word)starts == cycles);
    return compat_done();
}
