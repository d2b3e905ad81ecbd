/*
 * pa_clear_stack.h - overwrite the dead stack below the caller, so stale
 * copies of pointers left by earlier calls do not act as roots for a
 * conservative collection that follows (the collector tests).
 */
#ifndef PA_CLEAR_STACK_H
#define PA_CLEAR_STACK_H

#include <string.h>

static __attribute__((noinline, unused)) void pa_clear_stack(void)
{
    volatile char buf[16384];
    memset((char *)buf, 0, sizeof buf);
}

#endif /* PA_CLEAR_STACK_H */
