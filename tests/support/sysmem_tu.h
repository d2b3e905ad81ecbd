/*
 * sysmem_tu.h - small helpers shared by the OS-memory layer's tests:
 * page states as strings, totals relative to a baseline, and a
 * deterministic PRNG. Include after <cmocka.h> (the macros use its
 * assertions).
 *
 * State letters: n None, r Reserved, p Prepared, y Ready.
 */
#ifndef SYSMEM_TU_H
#define SYSMEM_TU_H

#include <stddef.h>
#include <stdint.h>

#include "pagealloc/sysmem.h"

/* Writes the states of npages pages from p into buf (npages + 1 bytes). */
char *sysmem_tu_states(const void *p, size_t npages, char *buf);
/* The letter for a state. */
char sysmem_tu_letter(sysmem_state s);
/* A cmocka group setup's common part: *page_size = the physical page
 * size, and the layer's region table created up front (it never shrinks),
 * so that metadata returns to its baseline after each test. 0, or -1. */
int sysmem_tu_group_init(size_t *page_size);

/* What a test compares against at its end: totals and metadata. */
struct sysmem_tu_base {
    sysmem_totals t;
    uint64_t meta;
};
void sysmem_tu_base_take(struct sysmem_tu_base *b);

/* splitmix64 (workloads/rng.h): seeded, reproducible. */
uint64_t sysmem_tu_rand(uint64_t *state);
/* Uniform in [0, n), n > 0. */
uint64_t sysmem_tu_below(uint64_t *state, uint64_t n);

/* Fill / check a page with a pattern derived from its address and a salt. */
void sysmem_tu_fill(void *page, size_t size, unsigned salt);
int sysmem_tu_filled(const void *page, size_t size, unsigned salt);
int sysmem_tu_zero(const void *p, size_t size);

/* Asserts the totals equal the baseline plus the given page counts (in
 * units of page size ps) and stat_errors the baseline plus errs. */
#define SYSMEM_TU_ASSERT_TOTALS(base_, ps_, nres_, nprep_, nready_, nerr_)                          \
    do {                                                                                   \
        sysmem_totals t_;                                                                  \
        sysmem_get_totals(&t_);                                                            \
        assert_int_equal(t_.reserved, (base_)->t.reserved + (uint64_t)(nres_) * (ps_));        \
        assert_int_equal(t_.prepared, (base_)->t.prepared + (uint64_t)(nprep_) * (ps_));       \
        assert_int_equal(t_.ready, (base_)->t.ready + (uint64_t)(nready_) * (ps_));            \
        assert_int_equal(t_.stat_errors, (base_)->t.stat_errors + (uint64_t)(nerr_));        \
        assert_int_equal(sysmem_ready_bytes(), t_.ready);                                  \
    } while (0)

/* Asserts sysmem_check passes, printing its message if not. */
#define SYSMEM_TU_ASSERT_CHECK()                                                           \
    do {                                                                                   \
        char m_[200] = "";                                                                 \
        int r_ = sysmem_check(m_, sizeof(m_));                                             \
        if (r_)                                                                            \
            print_error("%s\n", m_);                                                       \
        assert_int_equal(r_, 0);                                                           \
    } while (0)

#endif /* SYSMEM_TU_H */
