/*
 * fork.c - a GC_THREADS program forks while a helper thread exists: the
 * child can allocate and collect, and objects the parent reached before
 * the fork are intact in the child; the parent goes on as before.
 */
#define GC_THREADS
#include <gc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"

#define N 100

static void **kept;
static atomic_int stop_helper;          /* atomic: TSan runs this program */

static void *helper(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_helper))
        (void)GC_MALLOC(32);
    return NULL;
}

static int child_work(void)
{
    for (int i = 0; i < N; i++)
        if (!compat_intact(kept[i], 100, (unsigned)i))
            return 2;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 5000; i++)
            (void)GC_MALLOC(100);
        GC_gcollect();
    }
    for (int i = 0; i < N; i++)
        if (!compat_intact(kept[i], 100, (unsigned)i))
            return 3;
    return 0;
}

int main(void)
{
    GC_INIT();
    kept = GC_MALLOC(N * sizeof(void *));
    for (int i = 0; i < N; i++) {
        kept[i] = GC_MALLOC(100);
        compat_fill(kept[i], 100, (unsigned)i);
    }
    pthread_t t;
    if (pthread_create(&t, NULL, helper, NULL) != 0)
        return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_work());
    int status = 0;
    waitpid(pid, &status, 0);
    compat_check("the child allocated and collected with the parent's objects intact",
                 WIFEXITED(status) && WEXITSTATUS(status) == 0);
    atomic_store(&stop_helper, 1);
    pthread_join(t, NULL);
    GC_gcollect();
    int ok = 1;
    for (int i = 0; i < N; i++)
        ok &= compat_intact(kept[i], 100, (unsigned)i);
    compat_check("the parent's objects intact after the fork", ok);
    return compat_done();
}
