/*
 * sizeclass.c - the size-class tables (sizeclass.h has the derivation).
 */
#include <stdlib.h>

#include "malloc/sizeclass.h"
#include "pagealloc/pagealloc.h"

/* Bytes and pages per span of each class: Go 1.19's table without its
 * 8- and 24-byte classes. */
static const uint16_t class_size[PA_NCLASSES] = {
    0,     16,    32,    48,    64,    80,    96,    112,   128,   144,   160,
    176,   192,   208,   224,   240,   256,   288,   320,   352,   384,   416,
    448,   480,   512,   576,   640,   704,   768,   896,   1024,  1152,  1280,
    1408,  1536,  1792,  2048,  2304,  2688,  3072,  3200,  3456,  4096,  4864,
    5376,  6144,  6528,  6784,  6912,  8192,  9472,  9728,  10240, 10880, 12288,
    13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768,
};
static const uint8_t class_pages[PA_NCLASSES] = {
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3,
    2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8, 3, 10, 7, 4,
};

pa_class_info pa_classes[PA_NCLASSES];
uint8_t pa_class_by16[PA_SMALL_STEP_MAX / 16 + 1];
uint8_t pa_class_by128[(PA_MAX_SMALL - PA_SMALL_STEP_MAX) / 128 + 1];

static int built;

void pa_sizeclass_init(void)
{
    if (__atomic_load_n(&built, __ATOMIC_ACQUIRE))
        return;
    for (unsigned c = 1; c < PA_NCLASSES; c++) {
        pa_class_info *ci = &pa_classes[c];
        ci->size = class_size[c];
        ci->npages = class_pages[c];
        uint32_t span = ci->npages * PAGEALLOC_PAGE_SIZE;
        ci->nelems = span / ci->size;
        ci->divmagic = (uint32_t)(UINT32_MAX / ci->size + 1);
        uint32_t cap = PA_LIFO_BYTES / ci->size;
        ci->lifo_cap = cap < 2 ? 2 : cap > PA_LIFO_MAX ? PA_LIFO_MAX : cap;
        /* The reciprocal must give the exact index for every offset of
         * the span; the map is monotonic, so checking each object's first
         * and last byte covers the bytes between. */
        for (uint32_t k = 0; k < ci->nelems; k++)
            for (uint32_t off = k * ci->size; off <= k * ci->size + ci->size - 1;
                 off += ci->size - 1)
                if ((uint32_t)(((uint64_t)off * ci->divmagic) >> 32) != k)
                    abort();
    }
    /* Lookups: the smallest class that fits. */
    unsigned c = 1;
    for (unsigned i = 0; i < sizeof pa_class_by16; i++) {
        size_t n = i ? (size_t)i * 16 : 1;
        while (class_size[c] < n)
            c++;
        pa_class_by16[i] = (uint8_t)c;
    }
    for (unsigned i = 0; i < sizeof pa_class_by128; i++) {
        size_t n = PA_SMALL_STEP_MAX + (size_t)i * 128;
        while (class_size[c] < n)
            c++;
        pa_class_by128[i] = (uint8_t)c;
    }
    __atomic_store_n(&built, 1, __ATOMIC_RELEASE);
}
