/*
 * cli.c - option parsing and formatting shared by the tool's commands.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pagealloc%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'pagealloc %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return CLI_USAGE;
}

int cli_unknown(const char *cmd, const char *arg)
{
    if (arg[0] == '-' && arg[1])
        return cli_usage(cmd, "unknown option '%s'", arg);
    return cli_usage(cmd, "unexpected argument '%s'", arg);
}

int cli_option(const char *cmd, int argc, char **argv, int *i, const char *name,
               const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != 0)
        return 0;
    if (*i + 1 >= argc) {
        cli_usage(cmd, "option '%s' needs a value", name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
                  uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!isdigit((unsigned char)s[0]) || errno || *end || v < min || v > max) {
        cli_usage(cmd, "%s: bad number '%s' (expected %llu..%llu)", opt, s,
                  (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
                     double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || *end || !isfinite(v) || v < min || v > max) {
        cli_usage(cmd, "%s: bad number '%s' (expected %g..%g)", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_bytes_value(const char *s, uint64_t *out)
{
    static const char units[] = "kmgt";
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    const char *p = end;
    int shift = 0;
    const char *u = *p ? strchr(units, tolower((unsigned char)*p)) : NULL;
    if (u) {                                /* K, KB, KiB, ... */
        shift = 10 * (int)(u - units + 1);
        p++;
        if (tolower((unsigned char)*p) == 'i' && tolower((unsigned char)p[1]) == 'b')
            p += 2;
        else if (tolower((unsigned char)*p) == 'b')
            p++;
    } else if (tolower((unsigned char)*p) == 'b') {
        p++;
    }
    if (*p || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int cli_parse_bytes(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
    if (cli_bytes_value(s, out) == 0)
        return 0;
    cli_usage(cmd, "%s: bad size '%s' (bytes, or with a suffix K, M, G or T: 512M)", opt, s);
    return -1;
}

void cli_heap_defaults(cli_heap_opts *o)
{
    *o = (cli_heap_opts){ .heap = { .background_scavenger = 1 }, .touch = -1 };
}

const char cli_heap_help[] =
    "heap options:\n"
    "  --limit BYTES        the heap's memory limit (suffixes K, M, G, T: 256M);\n"
    "                       soft: the heap releases free memory to stay under it\n"
    "  --hard-limit         make the limit hard: allocations beyond it fail\n"
    "  --shards N           page allocators in the heap, 1..16 (default: one per CPU)\n"
    "  --no-scavenger       no background scavenger thread\n"
    "  --scavenger-cpu F    the scavenger's share of one CPU, 0..1 (default 0.01, Go's)\n"
    "  --touch, --no-touch  write (or not) one byte into every OS page of each\n"
    "                       allocation, making it resident (default: churn and\n"
    "                       traces touch; W1..W4 do not, as in docs/workloads.md)\n";

int cli_heap_option(const char *cmd, int argc, char **argv, int *i, cli_heap_opts *o)
{
    const char *v;
    int r;
    uint64_t u;
    const char *a = argv[*i];
    if (!strcmp(a, "--hard-limit")) {
        o->heap.hard_limit = 1;
        return 1;
    }
    if (!strcmp(a, "--no-scavenger")) {
        o->heap.background_scavenger = 0;
        return 1;
    }
    if (!strcmp(a, "--touch") || !strcmp(a, "--no-touch")) {
        o->touch = a[2] == 't';
        return 1;
    }
    if ((r = cli_option(cmd, argc, argv, i, "--limit", &v)) != 0) {
        if (r < 0 || cli_parse_bytes(cmd, "--limit", v, &o->heap.limit) != 0)
            return -1;
        return 1;
    }
    if ((r = cli_option(cmd, argc, argv, i, "--shards", &v)) != 0) {
        if (r < 0 || cli_parse_u64(cmd, "--shards", v, 1, 16, &u) != 0)
            return -1;
        o->heap.shards = (unsigned)u;
        return 1;
    }
    if ((r = cli_option(cmd, argc, argv, i, "--scavenger-cpu", &v)) != 0) {
        if (r < 0 || cli_parse_double(cmd, "--scavenger-cpu", v, 0.0001, 1, &o->heap.scavenger_cpu_fraction) != 0)
            return -1;
        return 1;
    }
    return 0;
}

const char *cli_bytes(char *buf, uint64_t b)
{
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)b;
    int k = 0;
    while (v >= 1024 && k < 4) {
        v /= 1024;
        k++;
    }
    if (k == 0)
        snprintf(buf, 32, "%llu B", (unsigned long long)b);
    else
        snprintf(buf, 32, "%.1f %s", v, unit[k]);
    return buf;
}

int cli_stdout_tty(void)
{
    return isatty(STDOUT_FILENO);
}
