/*
 * state.c - the collector's one global state (gc_state, gcint.h) and its
 * clock; every other file of the layer uses them, so they sit at the
 * bottom of the layer's call graph.
 */
#include <time.h>

#include "gc/gcint.h"

gc_state gc_g;

uint64_t gc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
