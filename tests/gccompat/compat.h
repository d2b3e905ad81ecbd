/*
 * compat.h - helpers shared by the bdwgc compatibility programs.
 *
 * Every program in tests/gccompat is written against bdwgc's public
 * interface only and is built twice: against Debian's bdwgc (the
 * behavioural reference) and against pagealloc's bdwgc face. CTest runs
 * both and compares their standard output line by line (run_compat.sh),
 * so a program prints only what both collectors must agree on: verdicts,
 * never addresses, counts of a conservative collector's false retention,
 * or timings. A program that meets a call the collector under test
 * reports as unimplemented prints "skip: <reason>" and exits 77.
 */
#ifndef GCCOMPAT_COMPAT_H
#define GCCOMPAT_COMPAT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPAT_SKIP 77

/* Prints "what: ok" or "what: FAILED" (and remembers the failure). */
static int compat_failures __attribute__((unused));
static inline void compat_check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAILED");
    if (!ok)
        compat_failures++;
}

/* Ends the program: 1 after any failed check, 0 otherwise. */
static inline int compat_done(void)
{
    fflush(stdout);
    return compat_failures ? 1 : 0;
}

/* Ends the program as skipped, with the reason on stdout. */
static inline void compat_skip(const char *reason)
{
    printf("skip: %s\n", reason);
    fflush(stdout);
    exit(COMPAT_SKIP);
}

/* Overwrites a stretch of the stack below the caller, so that pointers
 * left in dead frames by earlier calls do not keep objects alive. */
static __attribute__((noinline, unused)) void compat_clear_stack(void)
{
    volatile char pad[32768];
    memset((char *)pad, 0, sizeof pad);
    __asm__ volatile("" : : "r"(pad) : "memory");
}

/* Fills an object with a pattern derived from seed, and checks it. */
static inline void compat_fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed * 31u + i * 7u);
}

static inline int compat_intact(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed * 31u + i * 7u))
            return 0;
    return 1;
}

#endif /* GCCOMPAT_COMPAT_H */
