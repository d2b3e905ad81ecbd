/*
 * sysmem_tu.c - helpers for the OS-memory layer's tests; see sysmem_tu.h.
 */
#include <string.h>

#include "rng.h"
#include "sysmem_tu.h"

char sysmem_tu_letter(sysmem_state s)
{
    static const char letters[4] = { 'n', 'r', 'p', 'y' };
    return (unsigned)s < 4 ? letters[s] : '?';
}

char *sysmem_tu_states(const void *p, size_t npages, char *buf)
{
    sysmem_caps c;
    sysmem_get_caps(&c);
    for (size_t i = 0; i < npages; i++)
        buf[i] = sysmem_tu_letter(sysmem_state_of((const char *)p + i * c.page_size));
    buf[npages] = '\0';
    return buf;
}

void sysmem_tu_base_take(struct sysmem_tu_base *b)
{
    sysmem_get_totals(&b->t);
    b->meta = sysmem_metadata_bytes();
}

uint64_t sysmem_tu_rand(uint64_t *state)
{
    return rng_splitmix64(state);
}

uint64_t sysmem_tu_below(uint64_t *state, uint64_t n)
{
    return sysmem_tu_rand(state) % n;
}

static uint64_t pattern_word(const void *at, unsigned salt)
{
    uint64_t x = (uint64_t)(uintptr_t)at * 0x9e3779b97f4a7c15ull + salt;
    return x | 1;   /* never zero, so "filled" and "zero" are distinguishable */
}

void sysmem_tu_fill(void *page, size_t size, unsigned salt)
{
    uint64_t *w = page;
    for (size_t i = 0; i < size / sizeof(uint64_t); i += 64)
        w[i] = pattern_word(&w[i], salt);
}

int sysmem_tu_filled(const void *page, size_t size, unsigned salt)
{
    const uint64_t *w = page;
    for (size_t i = 0; i < size / sizeof(uint64_t); i += 64)
        if (w[i] != pattern_word(&w[i], salt))
            return 0;
    return 1;
}

int sysmem_tu_zero(const void *p, size_t size)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < size; i++)
        if (c[i])
            return 0;
    return 1;
}

int sysmem_tu_group_init(size_t *page_size)
{
    sysmem_caps c;
    sysmem_get_caps(&c);
    *page_size = c.page_size;
    void *p;
    if (sysmem_reserve(NULL, c.page_size, &p) != 0 || sysmem_free(p, c.page_size, NULL) != 0)
        return -1;
    return 0;
}
