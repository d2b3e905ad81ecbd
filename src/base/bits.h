/*
 * bits.h - word-level bit operations, a shared service of every layer.
 */
#ifndef PAGEALLOC_BITS_H
#define PAGEALLOC_BITS_H

#include <stddef.h>
#include <stdint.h>

/* Bits set in x. A portable bit-parallel count: the library is built for
 * the baseline x86-64 target, where __builtin_popcountll is a call into
 * libgcc; this is a dozen inline instructions. */
static inline unsigned pa_popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* The first index in [i, n) whose bit in the bitmap b (bit k of word
 * k / 64) equals set, or n if there is none. A word at a time. */
static inline size_t pa_bits_next(const uint64_t *b, size_t i, size_t n, int set)
{
    while (i < n) {
        uint64_t w = b[i / 64];
        if (!set)
            w = ~w;
        w &= ~(uint64_t)0 << (i % 64);
        if (w) {
            size_t k = (i & ~(size_t)63) + (size_t)__builtin_ctzll(w);
            return k < n ? k : n;
        }
        i = (i & ~(size_t)63) + 64;
    }
    return n;
}

#endif /* PAGEALLOC_BITS_H */
