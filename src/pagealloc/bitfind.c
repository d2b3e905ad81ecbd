/*
 * bitfind.c - first-fit search inside one chunk bitmap (pa_bits_find) and
 * its one-word core (pa_find_bit_range64). See bitmap.h for the
 * representation.
 *
 * The searches work a word at a time. The core trick finds n consecutive
 * 1 bits by AND-ing a word with shifted copies of itself: after
 * c &= c >> k, bit i is set only if bits i..i+k were all set, so shifting
 * by 1, 2, 4, ... (stopping at a total of n-1) leaves bit i set exactly
 * where a run of n starts, in O(log n) steps.
 */
#include "pagealloc/bitmap.h"

static inline unsigned ctz64(uint64_t x) { return x ? (unsigned)__builtin_ctzll(x) : 64; }
static inline unsigned clz64(uint64_t x) { return x ? (unsigned)__builtin_clzll(x) : 64; }

unsigned pa_find_bit_range64(uint64_t c, unsigned n)
{
    unsigned left = n - 1;      /* shift still to apply in total */
    unsigned step = 1;
    while (left > 0 && c != 0) {
        unsigned s = left < step ? left : step;
        c &= c >> s;
        left -= s;
        step <<= 1;
    }
    return ctz64(c);
}

/*
 * Shift-and schedules: the shifts 1, 2, 4, 8, 16, 32, each capped so that
 * they total n - 1, for runs of n = 2..64 pages. A zero shift changes
 * nothing (c & c == c), so a search applies a fixed number of steps
 * whatever n is: 3 for n <= 8, 6 above, with no loop whose length depends
 * on the data (pa_find_bit_range64's exits were W1's most mispredicted
 * branch; docs/pagealloc.md, "In-chunk search").
 */
static const uint8_t run_shifts[65][6] = {
#define S1(r) ((r) < 1 ? (r) : 1)
#define S2(r) ((r) - S1(r) < 2 ? (r) - S1(r) : 2)
#define S3(r) ((r) - S1(r) - S2(r) < 4 ? (r) - S1(r) - S2(r) : 4)
#define S4(r) ((r) - 7 < 8 ? (r) - 7 : 8)
#define S5(r) ((r) - 15 < 16 ? (r) - 15 : 16)
#define S6(r) ((r) - 31)
#define ROW(n) [n] = { S1((n) - 1), S2((n) - 1), S3((n) - 1),                 \
                       (n) > 8 ? S4((n) - 1) : 0, (n) > 16 ? S5((n) - 1) : 0, \
                       (n) > 32 ? S6((n) - 1) : 0 }
#define ROW8(n) ROW(n), ROW(n + 1), ROW(n + 2), ROW(n + 3), ROW(n + 4), ROW(n + 5), \
                ROW(n + 6), ROW(n + 7)
    ROW(2), ROW(3), ROW(4), ROW(5), ROW(6), ROW(7), ROW(8), ROW(9),
    ROW8(10), ROW8(18), ROW8(26), ROW8(34), ROW8(42), ROW8(50), ROW(58), ROW(59), ROW(60),
    ROW(61), ROW(62), ROW(63), ROW(64),
#undef ROW8
#undef ROW
#undef S6
#undef S5
#undef S4
#undef S3
#undef S2
#undef S1
};

/*
 * First-fit for 2..64 pages: a run either lies inside one word or
 * straddles the boundary between the free tail of one word and the free
 * head of the next (it cannot span a whole word in between and still be
 * <= 64 unless that word is entirely free, which the tail count carries).
 * Each word costs one branch: whether it holds the answer. A word with no
 * free page needs no test of its own: its head and starts are empty and
 * its tail 0. A run of n >= 2 never starts at a word's bit 63, so that bit
 * stands for "none in the word". STEPS (3 or 6) is a constant where it is
 * inlined.
 */
static inline __attribute__((always_inline))
unsigned find_small_steps(const uint64_t *b, unsigned n, unsigned search, int steps)
{
    const uint8_t *sh = run_shifts[n];
    unsigned tail = 0;              /* free pages ending the previous word */
    for (unsigned w = search / 64; w < PA_CHUNK_WORDS; w++) {
        uint64_t x = b[w], c = ~x;
        for (int i = 0; i < steps; i++)
            c &= c >> sh[i];
        unsigned head = ctz64(x);
        unsigned at = (unsigned)__builtin_ctzll(c | (uint64_t)1 << 63);
        if ((tail + head >= n) | (at != 63))
            return tail + head >= n ? w * 64 - tail : w * 64 + at;
        tail = clz64(x);
    }
    return PA_NOT_FOUND;
}

/* The first free page at or after word search / 64 (the search's new
 * hint), or PA_NOT_FOUND. */
static inline unsigned first_free_from(const uint64_t *b, unsigned search)
{
    for (unsigned w = search / 64; w < PA_CHUNK_WORDS; w++)
        if (~b[w] != 0)
            return w * 64 + ctz64(~b[w]);
    return PA_NOT_FOUND;
}

static unsigned find_small(const uint64_t *b, unsigned n, unsigned search,
                           unsigned *new_search)
{
    unsigned p = n <= 8 ? find_small_steps(b, n, search, 3) : find_small_steps(b, n, search, 6);
    if (new_search)
        *new_search = first_free_from(b, search);
    return p;
}

/* First-fit for more than 64 pages: follow one candidate run across words. */
static unsigned find_large(const uint64_t *b, unsigned n, unsigned search,
                           unsigned *new_search)
{
    unsigned start = PA_NOT_FOUND, size = 0;
    *new_search = PA_NOT_FOUND;
    for (unsigned w = search / 64; w < PA_CHUNK_WORDS; w++) {
        uint64_t x = b[w];
        if (~x == 0) {
            size = 0;
            continue;
        }
        if (*new_search == PA_NOT_FOUND)
            *new_search = w * 64 + ctz64(~x);
        if (size > 0) {
            unsigned head = ctz64(x);
            if (size + head >= n)
                return start;
            if (head == 64) {
                size += 64;
                continue;
            }
        }
        size = clz64(x);            /* a new run starts at this word's top */
        start = w * 64 + 64 - size;
    }
    return size >= n ? start : PA_NOT_FOUND;
}

unsigned pa_bits_find_run(const uint64_t *b, unsigned npages, unsigned search,
                          unsigned *new_search)
{
    if (npages <= 64)
        return find_small(b, npages, search, new_search);
    unsigned unused;
    return find_large(b, npages, search, new_search ? new_search : &unused);
}
