/*
 * sysmem_fi.c - the fault-injecting wrapper table; see sysmem_fi.h.
 *
 * fi.calls counts every primitive call since the last reset (atomic);
 * fi.log keeps the first SYSMEM_FI_LOG_MAX of them; fi.fail_at / fi.fail_err
 * describe the armed failure (0 = none); fi.fired records its delivery;
 * fi.hook runs after every call. Each log entry is written by the thread
 * that made that call; the rest is set up by one thread before use.
 */
#include <stdatomic.h>
#include <string.h>

#include "sysmem_fi.h"

static struct {
    atomic_uint calls;
    struct sysmem_fi_call log[SYSMEM_FI_LOG_MAX];
    unsigned fail_at;
    int fail_err;
    int fired;
    size_t huge_override;
    void (*hook)(char prim, uintptr_t v, size_t n, int err);
} fi = { .huge_override = SIZE_MAX };

/* Counts a call: *k gets its number; returns the injected error for it,
 * or 0 to forward. */
static int enter(unsigned *k)
{
    *k = atomic_fetch_add(&fi.calls, 1) + 1;
    if (fi.fail_at && *k == fi.fail_at) {
        fi.fired = 1;
        return fi.fail_err;
    }
    return 0;
}

/* Logs call number k (each k is written by one thread only) and runs the
 * hook. */
static int record(unsigned k, char prim, uintptr_t v, size_t n, int err)
{
    if (k >= 1 && k <= SYSMEM_FI_LOG_MAX) {
        struct sysmem_fi_call *c = &fi.log[k - 1];
        c->prim = prim;
        c->v = v;
        c->n = n;
        c->err = err;
    }
    if (fi.hook)
        fi.hook(prim, v, n, err);
    return err;
}

static int fi_reserve(void *hint, size_t n, void **out)
{
    unsigned k;
    int err = enter(&k);
    if (!err)
        err = sysmem_os_default()->reserve(hint, n, out);
    return record(k, 'R', err ? 0 : (uintptr_t)*out, n, err);
}

static int fi_alloc(size_t n, void **out)
{
    unsigned k;
    int err = enter(&k);
    if (!err)
        err = sysmem_os_default()->alloc(n, out);
    return record(k, 'A', err ? 0 : (uintptr_t)*out, n, err);
}

static int fi_commit(void *v, size_t n)
{
    unsigned k;
    int err = enter(&k);
    if (!err)
        err = sysmem_os_default()->commit(v, n);
    return record(k, 'C', (uintptr_t)v, n, err);
}

static int fi_decommit(void *v, size_t n)
{
    unsigned k;
    int err = enter(&k);
    if (!err)
        err = sysmem_os_default()->decommit(v, n);
    return record(k, 'D', (uintptr_t)v, n, err);
}

static int fi_release(void *v, size_t n, sysmem_release_mode mode)
{
    unsigned k;
    int err = enter(&k);
    if (!err)
        err = sysmem_os_default()->release(v, n, mode);
    return record(k, 'L', (uintptr_t)v, n, err);
}

static int fi_huge(void *v, size_t n, int huge)
{
    unsigned k;
    int err = enter(&k);
    if (!err)
        err = sysmem_os_default()->huge(v, n, huge);
    return record(k, huge ? 'H' : 'N', (uintptr_t)v, n, err);
}

static int fi_unmap(void *v, size_t n)
{
    unsigned k;
    int err = enter(&k);
    if (!err)
        err = sysmem_os_default()->unmap(v, n);
    return record(k, 'U', (uintptr_t)v, n, err);
}

static void fi_caps(sysmem_caps *out)
{
    sysmem_os_default()->caps(out);
    if (fi.huge_override != SIZE_MAX)
        out->huge_page_size = fi.huge_override;
}

static const sysmem_os fi_table = {
    .reserve = fi_reserve,
    .alloc = fi_alloc,
    .commit = fi_commit,
    .decommit = fi_decommit,
    .release = fi_release,
    .huge = fi_huge,
    .unmap = fi_unmap,
    .caps = fi_caps,
};

void sysmem_fi_install(void)
{
    sysmem_fi_reset();
    sysmem_os_set(&fi_table);
}

void sysmem_fi_uninstall(void)
{
    sysmem_os_set(NULL);
    sysmem_fi_reset();
}

void sysmem_fi_reset(void)
{
    atomic_store(&fi.calls, 0);
    memset(fi.log, 0, sizeof(fi.log));
    fi.fail_at = 0;
    fi.fail_err = 0;
    fi.fired = 0;
}

void sysmem_fi_arm(unsigned k, int err)
{
    fi.fail_at = k;
    fi.fail_err = err;
    fi.fired = 0;
}

int sysmem_fi_fired(void)
{
    return fi.fired;
}

unsigned sysmem_fi_ncalls(void)
{
    return atomic_load(&fi.calls);
}

const struct sysmem_fi_call *sysmem_fi_call_at(unsigned i)
{
    return i < sysmem_fi_ncalls() && i < SYSMEM_FI_LOG_MAX ? &fi.log[i] : NULL;
}

void sysmem_fi_sequence(char *buf, size_t size)
{
    unsigned n = sysmem_fi_ncalls();
    size_t j = 0;
    for (unsigned i = 0; i < n && i < SYSMEM_FI_LOG_MAX && j + 1 < size; i++)
        buf[j++] = fi.log[i].prim;
    if (size)
        buf[j] = '\0';
}

void sysmem_fi_set_huge_size(size_t huge)
{
    fi.huge_override = huge;
}

void sysmem_fi_set_hook(void (*hook)(char prim, uintptr_t v, size_t n, int err))
{
    fi.hook = hook;
}
