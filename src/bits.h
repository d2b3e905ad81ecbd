/*
 * bits.h - word-level bit operations shared by every layer of the library.
 */
#ifndef PAGEALLOC_BITS_H
#define PAGEALLOC_BITS_H

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

#endif /* PAGEALLOC_BITS_H */
