/*
 * mb.h - shared helpers of the object-allocator benchmarks (bench/malloc/):
 * clock, peak RSS, a small generator, the scale knob and the one JSON line
 * every program prints. The programs call plain malloc/free/realloc and
 * link nothing but libc and pthreads, so any allocator can be put under
 * them with LD_PRELOAD (bench/run_malloc.sh does).
 *
 * Every program prints exactly one line on stdout:
 *   {"workload":"larson","threads":2,"elapsed_s":1.23,"cpu_s":2.4,
 *    "ops":3000000,"peak_rss_kib":20480,"rss_end_kib":10240,
 *    "base_rss_kib":1500,"check":"0x...","ok":true,"malloc_from":"libc.so.6"}
 * elapsed_s is the timed part's wall time; peak_rss_kib is VmHWM at the end
 * (the process's high-water mark, startup included); rss_end_kib is VmRSS
 * after the program freed everything; base_rss_kib is VmRSS before the
 * workload's first allocation; check folds the drawn sequence (equal across
 * allocators for a given scale and thread count); ok is false if an
 * object's contents were found changed; malloc_from names the object file
 * that defines the malloc the program calls (dladdr), so the driver can
 * tell that a preload took effect.
 *
 * MB_SCALE (environment, default 1) multiplies every program's amount of
 * work (not its live set); MB_THREADS overrides the thread count (default:
 * the number of CPUs).
 */
#ifndef PAGEALLOC_BENCH_MB_H
#define PAGEALLOC_BENCH_MB_H

#include <dlfcn.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static inline double mb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double mb_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* A "Key:   123 kB" line of /proc/self/status, in KiB; -1 if absent. Read
 * with open/read into a static buffer: fopen would allocate. */
static inline long mb_status_kib(const char *key)
{
    static char buf[8192];
    size_t klen = strlen(key);
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    for (char *p = buf; *p;) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ':')
            return strtol(p + klen + 1, NULL, 10);
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    return -1;
}

/* splitmix64: one state word per generator (per thread). */
typedef struct { uint64_t s; } mb_rng;

static inline uint64_t mb_next(mb_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline uint64_t mb_range(mb_rng *r, uint64_t lo, uint64_t hi)
{
    return lo + mb_next(r) % (hi - lo + 1);
}

/* FNV-1a step over one 64-bit value. */
static inline uint64_t mb_fold(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}
#define MB_FNV_INIT 0xcbf29ce484222325ull

static inline double mb_scale(void)
{
    const char *s = getenv("MB_SCALE");
    double v = s && *s ? strtod(s, NULL) : 1.0;
    return v > 0 ? v : 1.0;
}

/* n scaled by MB_SCALE, at least 1. */
static inline uint64_t mb_scaled(uint64_t n)
{
    double v = (double)n * mb_scale();
    return v < 1 ? 1 : (uint64_t)v;
}

static inline int mb_threads(int dflt)
{
    const char *s = getenv("MB_THREADS");
    int v = s && *s ? atoi(s) : 0;
    if (v > 0)
        return v;
    if (dflt > 0)
        return dflt;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 2;
}

/* The pattern byte of position i of an object tagged t. */
static inline unsigned char mb_pat(uint64_t t, size_t i)
{
    return (unsigned char)(t * 131u + i * 7u + 1u);
}

/* Write the head (up to 16 bytes), the tail byte and one byte per 4 KiB
 * page: every page of the object becomes resident, as in a program that
 * uses what it asks for. */
static inline void mb_fill(unsigned char *p, size_t n, uint64_t t)
{
    size_t h = n < 16 ? n : 16;
    for (size_t i = 0; i < h; i++)
        p[i] = mb_pat(t, i);
    for (size_t i = 4096; i < n; i += 4096)
        p[i] = mb_pat(t, i);
    if (n)
        p[n - 1] = mb_pat(t, n - 1);
}

/* 1 if what mb_fill wrote is still there. */
static inline int mb_check(const unsigned char *p, size_t n, uint64_t t)
{
    size_t h = n < 16 ? n : 16;
    for (size_t i = 0; i < h; i++)
        if (p[i] != mb_pat(t, i))
            return 0;
    for (size_t i = 4096; i < n; i += 4096)
        if (p[i] != mb_pat(t, i))
            return 0;
    return n == 0 || p[n - 1] == mb_pat(t, n - 1);
}

typedef struct {
    const char *workload;
    int threads;
    double t0, cpu0;
    long base_kib;
} mb_run;

/* Call before the workload's first allocation. */
static inline void mb_begin(mb_run *r, const char *workload, int threads)
{
    r->workload = workload;
    r->threads = threads;
    r->base_kib = mb_status_kib("VmRSS");
    r->cpu0 = mb_cpu();
    r->t0 = mb_now();
}

/* Call after the timed part; frees (and rss_end) come after. Returns the
 * elapsed seconds, for mb_report. */
static inline double mb_stop(const mb_run *r)
{
    return mb_now() - r->t0;
}

/* The file name of the object that defines the `malloc` this program
 * calls (the preloaded allocator, or libc), for the report. */
static inline const char *mb_malloc_from(void)
{
    Dl_info di;
    void *(*volatile fn)(size_t) = malloc;
    const char *from = "?";
    if (dladdr((void *)fn, &di) && di.dli_fname) {
        from = strrchr(di.dli_fname, '/');
        from = from ? from + 1 : di.dli_fname;
    }
    return from;
}

static inline void mb_report(const mb_run *r, double elapsed, uint64_t ops, uint64_t check, int ok)
{
    const char *from = mb_malloc_from();
    double cpu = mb_cpu() - r->cpu0;
    long peak = mb_status_kib("VmHWM"), end = mb_status_kib("VmRSS");
    printf("{\"workload\":\"%s\",\"threads\":%d,\"elapsed_s\":%.6f,\"cpu_s\":%.6f,"
           "\"ops\":%" PRIu64 ",\"peak_rss_kib\":%ld,\"rss_end_kib\":%ld,\"base_rss_kib\":%ld,"
           "\"check\":\"0x%016" PRIx64 "\",\"ok\":%s,\"malloc_from\":\"%s\",\"scale\":%g}\n",
           r->workload, r->threads, elapsed, cpu, ops, peak, end, r->base_kib, check,
           ok ? "true" : "false", from, mb_scale());
    fflush(stdout);
}

#endif
