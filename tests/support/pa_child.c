/*
 * pa_child.c - see pa_child.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pa_child.h"

static int fault_pipe[2];

static void on_fault(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    uintptr_t msg[2] = { (uintptr_t)sig, (uintptr_t)si->si_addr };
    ssize_t w = write(fault_pipe[1], msg, sizeof msg);
    _exit(w == (ssize_t)sizeof msg ? 77 : 78);
}

int pa_run_in_child(void (*fn)(void *), void *arg, uintptr_t *addr)
{
    assert_int_equal(pipe(fault_pipe), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fault_pipe[0]);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        fn(arg);
        _exit(0);
    }
    close(fault_pipe[1]);
    uintptr_t msg[2] = { 0, 0 };
    ssize_t n = read(fault_pipe[0], msg, sizeof msg);
    close(fault_pipe[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (n != (ssize_t)sizeof msg)
        return 0;
    *addr = msg[1];
    return (int)msg[0];
}
