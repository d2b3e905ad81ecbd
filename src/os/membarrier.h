/*
 * membarrier.h - a process-wide memory barrier on demand (Linux's
 * membarrier(2), in os/linux.c, the one platform file), for asymmetric
 * locks: the frequent side orders its accesses with a compiler barrier
 * only, and the rare side calls sm_membarrier, which makes every running
 * thread of the process execute a full memory barrier (the page heap's
 * busy flag, pageheap/busy.h; docs/heap.md "The busy flag").
 *
 * sm_membarrier_usable() says once per process (the answer is cached)
 * whether the expedited private command works here: the kernel has it
 * (4.14+), no seccomp filter refuses it, the process registered for it,
 * and PAGEALLOC_MEMBARRIER is not "0" in the environment (to test and
 * time the fallback). 0: callers keep a symmetric protocol (an atomic
 * exchange on both sides). Valgrind answers ENOSYS: the fallback.
 *
 * sm_membarrier() returns once every thread of the process that was
 * running has executed a full barrier (a thread that was not running
 * gets one when it is scheduled). Only after sm_membarrier_usable()
 * answered 1. A child of fork() is registered again on first use (the
 * kernel may not carry the registration over); if the expedited command
 * then fails it uses the global one (slow, needs no registration), and
 * if that fails too, it reports and aborts: a lock built on it would
 * otherwise be unsafe.
 */
#ifndef PAGEALLOC_OS_MEMBARRIER_H
#define PAGEALLOC_OS_MEMBARRIER_H

int  sm_membarrier_usable(void);
void sm_membarrier(void);

#endif /* PAGEALLOC_OS_MEMBARRIER_H */
