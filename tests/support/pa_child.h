/*
 * pa_child.h - run a function in a child process (fork) and report the
 * fault it died of: used by the tests that provoke a fault on purpose (a
 * deleted handle, a guarded page). The child's SIGSEGV/SIGBUS handler
 * sends the signal and the faulting address back to the parent through a
 * pipe. Uses cmocka's assertions (for pipe, fork and waitpid).
 */
#ifndef PA_CHILD_H
#define PA_CHILD_H

#include <stdint.h>

/* Run fn(arg) in a child process. Returns the signal it faulted with
 * (SIGSEGV, SIGBUS) with the faulting address in *addr, or 0 if it did
 * not fault. Only what the child's handler sent counts, so the result
 * does not depend on sanitizers or valgrind changing the child's exit
 * status. */
int pa_run_in_child(void (*fn)(void *), void *arg, uintptr_t *addr);

#endif /* PA_CHILD_H */
