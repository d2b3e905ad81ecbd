/*
 * coro.h - `pagealloc run --workload coroutines`: ucontext coroutines on
 * stacks from one pa_stack allocator (<pagealloc/stack.h>, docs/stack.md).
 *
 * Each worker thread keeps CORO_SLOTS slots. A step picks a slot at
 * random (xorshift64*, seeded seed + thread): an empty slot gets a new
 * coroutine (pa_stack_alloc of a size from the mix 45 % 16 KiB, 35 %
 * 64 KiB, 15 % 256 KiB, 5 % 1 MiB; makecontext; a switch in, where it
 * touches one byte per OS page down to its depth, then switches back out
 * and waits), a waiting one is resumed, returns, and its stack is freed:
 * one create+destroy pair, four switches in all. The depth is drawn per
 * coroutine: 60 % 1-4 KiB, 30 % up to a quarter of the stack, 10 % up to
 * all of it but 2 KiB. Every CORO_HW_EVERY-th destroy first reads the
 * stack's high-water mark (pa_stack_high_water: deepest resident page, so
 * it includes earlier users of a reused stack since the last release);
 * thread 0 calls pa_stack_release every CORO_RELEASE_EVERY steps.
 *
 * The allocator takes its stacks from a heap made with the command's heap
 * options. When every worker has stopped (time or --steps), and before
 * any frees what it holds or exits (which would flush its cache), the
 * statistics are taken: stacks live, cached, pooled, resident, guards.
 * Then the workers finish their coroutines, pa_stack_release returns the
 * free stacks, and the heap is checked with nothing held.
 */
#ifndef PAGEALLOC_TOOL_CORO_H
#define PAGEALLOC_TOOL_CORO_H

#include "job.h"

#define CORO_SLOTS         256u
#define CORO_HW_EVERY      8u
#define CORO_RELEASE_EVERY 65536u

/* Run the workload and print its summary (text or o->json). Returns the
 * exit code. */
int coro_run(const char *cmd, const job_opts *o);

#endif /* PAGEALLOC_TOOL_CORO_H */
