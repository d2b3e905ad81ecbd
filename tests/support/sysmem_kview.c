/*
 * sysmem_kview.c - the kernel's view of memory for tests; see
 * sysmem_kview.h. smaps is parsed line by line: a header line
 * "start-end perms ..." opens an entry, "Key: value" lines fill it, and the
 * entry is complete at the next header or at the end of the file.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sysmem_kview.h"

/* Under valgrind, a child about to fault on purpose first tells memcheck
 * that the byte is addressable, so that memcheck does not report the
 * access (the report would only be noise: the fault is the point) and the
 * kernel's SIGSEGV is what ends the child. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK_H 1
#endif
#endif
#ifdef HAVE_MEMCHECK_H
static void memcheck_addressable(void *p)
{
    (void)VALGRIND_MAKE_MEM_DEFINED(p, 1);
}
#else
static void memcheck_addressable(void *p)
{
    (void)p;
}
#endif

int sysmem_kv_mincore(const void *p, size_t n, unsigned char *vec)
{
    return syscall(SYS_mincore, p, n, vec) == 0 ? 0 : errno;
}

size_t sysmem_kv_resident(const void *p, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t np = (n + page - 1) / page, k = 0;
    unsigned char *vec = malloc(np ? np : 1);
    if (!vec)
        return (size_t)-1;
    if (sysmem_kv_mincore(p, n, vec) != 0) {
        free(vec);
        return (size_t)-1;
    }
    for (size_t i = 0; i < np; i++)
        k += vec[i] & 1;
    free(vec);
    return k;
}

int sysmem_kv_mapped(const void *p, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char v;
    for (size_t off = 0; off < n; off += page)
        if (sysmem_kv_mincore((const char *)p + off, 1, &v) == ENOMEM)
            return 0;
    return 1;
}

/* Calls fn for every smaps entry; stops early when fn returns nonzero and
 * returns that value; errno if smaps cannot be read. */
static int smaps_each(int (*fn)(const struct sysmem_kv_vma *, void *), void *ctx)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    if (!f)
        return errno;
    char line[1024];
    struct sysmem_kv_vma cur;
    int have = 0, stop = 0;
    while (!stop && fgets(line, sizeof(line), f)) {
        unsigned long s, e;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3 && strchr(line, ':') &&
            line[0] != ' ' && strchr(line, '-') < strchr(line, ' ')) {
            if (have)
                stop = fn(&cur, ctx);
            memset(&cur, 0, sizeof(cur));
            cur.start = s;
            cur.end = e;
            memcpy(cur.perms, perms, 4);
            cur.perms[4] = '\0';
            cur.thp_eligible = -1;
            have = 1;
            continue;
        }
        if (!have)
            continue;
        long v;
        if (sscanf(line, "Rss: %ld", &v) == 1)
            cur.rss_kb = v;
        else if (sscanf(line, "AnonHugePages: %ld", &v) == 1)
            cur.anon_huge_kb = v;
        else if (sscanf(line, "THPeligible: %ld", &v) == 1)
            cur.thp_eligible = (int)v;
        else if (strncmp(line, "VmFlags:", 8) == 0) {
            for (char *t = strtok(line + 8, " \n"); t; t = strtok(NULL, " \n")) {
                if (strcmp(t, "hg") == 0)
                    cur.hg = 1;
                if (strcmp(t, "nh") == 0)
                    cur.nh = 1;
            }
        }
    }
    if (have && !stop)
        stop = fn(&cur, ctx);
    fclose(f);
    return stop;
}

struct at_ctx {
    uintptr_t addr;
    struct sysmem_kv_vma *out;
};

static int at_fn(const struct sysmem_kv_vma *v, void *vctx)
{
    struct at_ctx *c = vctx;
    if (v->start <= c->addr && c->addr < v->end) {
        *c->out = *v;
        return 1;
    }
    return 0;
}

int sysmem_kv_vma_at(const void *addr, struct sysmem_kv_vma *out)
{
    struct at_ctx c = { (uintptr_t)addr, out };
    int r = smaps_each(at_fn, &c);
    return r == 1 ? 0 : r == 0 ? ENOENT : r;
}

int sysmem_kv_touch_in_child(void *p, int write)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        memcheck_addressable(p);
        volatile char *q = p;
        if (write)
            *q = 1;
        else
            (void)*q;
        _exit(0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFSIGNALED(st))
        return WTERMSIG(st);
    return 0;
}

/* The bracketed word of a sysfs THP setting: 'a' always, 'm' madvise,
 * 'i' inherit, 'n' never, 0 if unreadable. */
static int thp_setting(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char buf[128] = "";
    char *ok = fgets(buf, sizeof(buf), f);
    fclose(f);
    if (!ok)
        return 0;
    if (strstr(buf, "[always]"))
        return 'a';
    if (strstr(buf, "[madvise]"))
        return 'm';
    if (strstr(buf, "[inherit]"))
        return 'i';
    if (strstr(buf, "[never]"))
        return 'n';
    return 0;
}

int sysmem_kv_thp_mode(void)
{
    return thp_setting("/sys/kernel/mm/transparent_hugepage/enabled");
}

static int holds_aligned_block(uintptr_t start, uintptr_t end, uintptr_t size)
{
    uintptr_t b = (start + size - 1) & ~(size - 1);
    return b >= start && b + size <= end;
}

static int size_enabled(int setting, int global, int hg)
{
    if (setting == 'i')
        setting = global;
    return setting == 'a' || (setting == 'm' && hg);
}

int sysmem_kv_thp_expected(uintptr_t start, uintptr_t end, int hg, int nh)
{
    if (nh)
        return 0;
    int global = sysmem_kv_thp_mode();
    int per_size = 0, any = 0;
    for (unsigned kb = 8; kb <= 1u << 20; kb *= 2) {
        char path[128];
        snprintf(path, sizeof(path), "/sys/kernel/mm/transparent_hugepage/hugepages-%ukB/enabled",
                 kb);
        int setting = thp_setting(path);
        if (!setting)
            continue;
        per_size = 1;
        if (size_enabled(setting, global, hg) &&
            holds_aligned_block(start, end, (uintptr_t)kb * 1024))
            any = 1;
    }
    if (per_size)
        return any;
    /* Older kernels: one size, the PMD size, under the global mode. */
    long pmd = 0;
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");
    if (f) {
        if (fscanf(f, "%ld", &pmd) != 1)
            pmd = 0;
        fclose(f);
    }
    return pmd > 0 && size_enabled(global, global, hg) &&
           holds_aligned_block(start, end, (uintptr_t)pmd);
}

int sysmem_kv_mlock(const void *p, size_t n)
{
    return syscall(SYS_mlock, p, n) == 0 ? 0 : errno;
}

int sysmem_kv_munlock(const void *p, size_t n)
{
    return syscall(SYS_munlock, p, n) == 0 ? 0 : errno;
}

int sysmem_kv_under_valgrind(void)
{
    const char *e = getenv("PAGEALLOC_UNDER_VALGRIND");
    if (e && *e && strcmp(e, "0") != 0)
        return 1;
    const char *pre = getenv("LD_PRELOAD");
    return pre && strstr(pre, "vgpreload") != NULL;
}

struct snap_ctx {
    struct sysmem_kv_snap *s;
    int overflow;
};

static int snap_fn(const struct sysmem_kv_vma *v, void *vctx)
{
    struct snap_ctx *c = vctx;
    struct sysmem_kv_snap *s = c->s;
    if (v->end <= s->lo || v->start >= s->hi)
        return 0;
    struct sysmem_kv_vma x = *v;
    if (x.start < s->lo)
        x.start = s->lo;
    if (x.end > s->hi)
        x.end = s->hi;
    if (s->nvma) {
        struct sysmem_kv_vma *l = &s->vma[s->nvma - 1];
        if (l->end == x.start && strcmp(l->perms, x.perms) == 0 && l->hg == x.hg &&
            l->nh == x.nh) {
            l->end = x.end;
            return 0;
        }
    }
    if (s->nvma == SYSMEM_KV_SNAP_VMAS) {
        c->overflow = 1;
        return 1;
    }
    s->vma[s->nvma++] = x;
    return 0;
}

int sysmem_kv_snap_take(uintptr_t lo, uintptr_t hi, struct sysmem_kv_snap *s)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    memset(s, 0, sizeof(*s));
    s->lo = lo;
    s->hi = hi;
    s->npages = (hi - lo) / page;
    s->res = malloc(s->npages ? s->npages : 1);
    if (!s->res)
        return ENOMEM;
    memset(s->res, 2, s->npages);
    struct snap_ctx c = { s, 0 };
    int r = smaps_each(snap_fn, &c);
    if (c.overflow)
        return E2BIG;
    if (r)
        return r;
    for (size_t i = 0; i < s->nvma; i++) {
        const struct sysmem_kv_vma *v = &s->vma[i];
        int err = sysmem_kv_mincore((void *)v->start, v->end - v->start,
                                    s->res + (v->start - lo) / page);
        if (err)
            return err;
    }
    for (size_t i = 0; i < s->npages; i++)
        if (s->res[i] != 2)
            s->res[i] &= 1;
    return 0;
}

int sysmem_kv_snap_equal(const struct sysmem_kv_snap *a, const struct sysmem_kv_snap *b,
                         char *why, size_t size)
{
    if (a->lo != b->lo || a->hi != b->hi) {
        snprintf(why, size, "snapshots of different ranges");
        return 0;
    }
    if (a->nvma != b->nvma) {
        snprintf(why, size, "%zu VMAs before, %zu after", a->nvma, b->nvma);
        return 0;
    }
    for (size_t i = 0; i < a->nvma; i++) {
        const struct sysmem_kv_vma *x = &a->vma[i], *y = &b->vma[i];
        if (x->start != y->start || x->end != y->end || strcmp(x->perms, y->perms) != 0 ||
            x->hg != y->hg || x->nh != y->nh) {
            snprintf(why, size, "VMA %zu: %#lx-%#lx %s%s%s before, %#lx-%#lx %s%s%s after", i,
                     (unsigned long)x->start, (unsigned long)x->end, x->perms,
                     x->hg ? " hg" : "", x->nh ? " nh" : "", (unsigned long)y->start,
                     (unsigned long)y->end, y->perms, y->hg ? " hg" : "", y->nh ? " nh" : "");
            return 0;
        }
    }
    for (size_t i = 0; i < a->npages; i++) {
        if (a->res[i] != b->res[i]) {
            snprintf(why, size, "page %zu: residency %d before, %d after", i, a->res[i],
                     b->res[i]);
            return 0;
        }
    }
    return 1;
}

void sysmem_kv_snap_free(struct sysmem_kv_snap *s)
{
    free(s->res);
    s->res = NULL;
}
