/*
 * exec.c - the real-program row: runs a command (fork + execvp), waits for
 * it with wait4 and prints the same JSON line as the other programs:
 * elapsed wall time from fork to exit, the child's CPU time and peak RSS
 * (ru_maxrss: the child's high-water mark), and as "check" an FNV-1a hash
 * of everything the child wrote on stdout, so the driver can tell that
 * every allocator made the program print the same output. ok is false if
 * the child did not exit with status 0. The allocator under test is given
 * to the child through the environment (LD_PRELOAD is inherited).
 *
 * Usage: pagealloc-mbench-exec NAME COMMAND [ARG...]
 */
#define _GNU_SOURCE
#include <sys/wait.h>

#include "mb.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s NAME COMMAND [ARG...]\n", argv[0]);
        return 2;
    }
    int fd[2];
    if (pipe(fd) != 0)
        return 2;
    mb_run run;
    mb_begin(&run, argv[1], 1);
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execvp(argv[2], argv + 2);
        _exit(127);
    }
    close(fd[1]);
    static unsigned char buf[65536];
    uint64_t h = MB_FNV_INIT, bytes = 0;
    ssize_t n;
    while ((n = read(fd[0], buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            h ^= buf[i];
            h *= 0x100000001b3ull;
        }
        bytes += (uint64_t)n;
    }
    close(fd[0]);
    int st = 0;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) != pid)
        return 2;
    double el = mb_stop(&run);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    const char *from = mb_malloc_from();
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    printf("{\"workload\":\"%s\",\"threads\":1,\"elapsed_s\":%.6f,\"cpu_s\":%.6f,"
           "\"ops\":%" PRIu64 ",\"peak_rss_kib\":%ld,\"rss_end_kib\":-1,\"base_rss_kib\":-1,"
           "\"check\":\"0x%016" PRIx64 "\",\"ok\":%s,\"malloc_from\":\"%s\",\"scale\":%g}\n",
           argv[1], el, cpu, bytes, ru.ru_maxrss, h, ok ? "true" : "false", from, mb_scale());
    return ok ? 0 : 1;
}
