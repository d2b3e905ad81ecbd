/*
 * sysmem_fi.h - a fault-injecting, call-logging primitive table for the
 * OS-memory layer's tests.
 *
 * sysmem_fi_install() puts a wrapper table in place (sysmem_os_set) whose
 * primitives forward to the default (Linux) table, after logging each call
 * and, when armed, failing the k-th call since the last reset with a chosen
 * errno instead of forwarding it (so a failed call never reaches the
 * kernel: the primitive contract's "no effect on failure" holds exactly).
 * caps() is forwarded too, except that the huge page size can be
 * overridden to test machines without huge pages.
 *
 * One letter per primitive, for sequences: R reserve, A alloc, C commit,
 * D decommit, L release, H huge (MADV_HUGEPAGE), N huge (MADV_NOHUGEPAGE),
 * U unmap.
 *
 * State is global. Arm, reset and install from one thread while no other
 * thread uses the layer; calls themselves may come from any thread (the
 * counter is atomic and each log entry has one writer).
 */
#ifndef SYSMEM_FI_H
#define SYSMEM_FI_H

#include <stddef.h>
#include <stdint.h>

#include "pagealloc/sysmem.h"

#define SYSMEM_FI_LOG_MAX 256

struct sysmem_fi_call {
    char prim;          /* letter, as above */
    uintptr_t v;        /* address argument (for alloc/reserve: the result) */
    size_t n;           /* length */
    int err;            /* what the call returned */
};

/* Install / remove the wrapper (removal restores the default table). */
void sysmem_fi_install(void);
void sysmem_fi_uninstall(void);
/* Forget logged calls and disarm. */
void sysmem_fi_reset(void);
/* Fail the k-th call (1-based, counted since the last reset) with err;
 * k == 0 disarms. */
void sysmem_fi_arm(unsigned k, int err);
/* 1 if the armed failure has been delivered. */
int sysmem_fi_fired(void);
/* Calls since the last reset, and the logged ones (first SYSMEM_FI_LOG_MAX). */
unsigned sysmem_fi_ncalls(void);
const struct sysmem_fi_call *sysmem_fi_call_at(unsigned i);
/* The letters of the logged calls, NUL-terminated. */
void sysmem_fi_sequence(char *buf, size_t size);
/* A function run after every primitive call (in the calling thread, with
 * the letter, address or result, length and return value); NULL removes. */
void sysmem_fi_set_hook(void (*hook)(char prim, uintptr_t v, size_t n, int err));
/* Huge page size reported by caps: SIZE_MAX = the real one (default).
 * Takes effect at the next install. */
void sysmem_fi_set_huge_size(size_t huge);

#endif /* SYSMEM_FI_H */
