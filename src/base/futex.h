/*
 * futex.h - waiting on a 32-bit word through the kernel, a shared service
 * of every layer, and the one place the library names the Linux futex
 * call.
 *
 * pa_futex_wait(w, v) sleeps while *w still equals v: the kernel compares
 * and sleeps in one step, so a wake that follows a change of *w can never
 * be lost between the caller's look and its sleep. It may also return
 * early (a signal, a spurious wake, *w already different): callers look
 * at the word again in a loop. pa_futex_wake(w, n) wakes up to n threads
 * sleeping on w. Both are process-private (the word never lives in memory
 * shared between processes) and async-signal-safe (a bare system call),
 * so a signal handler may wait (src/gc/world.c parks a stopped thread so).
 */
#ifndef PAGEALLOC_FUTEX_H
#define PAGEALLOC_FUTEX_H

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline void pa_futex_wait(const void *w, uint32_t v)
{
    syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static inline void pa_futex_wake(const void *w, int n)
{
    syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Every sleeper on w. */
static inline void pa_futex_wake_all(const void *w)
{
    pa_futex_wake(w, INT_MAX);
}

#endif /* PAGEALLOC_FUTEX_H */
