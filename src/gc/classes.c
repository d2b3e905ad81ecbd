/*
 * classes.c - the collector's size classes (docs/gc.md, "Size classes").
 *
 * Up to 1024 bytes a class every 16 bytes (16, 32, 48, ..., 1024: bdwgc's
 * granule rounding, which it keeps up to 2 KiB), above that the malloc
 * layer's classes (malloc/sizeclass.h: Go's, 1152 ... 32768, with their
 * pages per span). The malloc layer's classes round a request up by as
 * much as 12.5 % (Go's bound; 24 B and 8 B removed for 16-byte
 * alignment): a collected heap whose objects are spread over sizes pays
 * about 7 % on average (alloc-rate's live set: 60.3 MiB of spans for 56.1
 * MiB of objects). Every 16 bytes the rounding is at most 15 bytes.
 *
 *   gc class:  1   2   3 ...  64    65 ...  99     (0: large, whole pages)
 *   bytes:    16  32  48 ... 1024  1152 ... 32768
 *
 * Every object stays 16-byte aligned (bdwgc's GC_GRANULE_BYTES on 64-bit,
 * and glibc malloc's alignment). Pages per span for the 16-byte steps:
 * the fewest (1 to 8) whose tail (span % size) is at most 1/64 of the
 * span, so a span holds at most 512 objects (16 B in one page) and at
 * most 1.6 % of it is tail. divmagic as in malloc/sizeclass.c, checked
 * exact for every offset of every span when the table is built.
 *
 * Lookup: gc_size_class (gcint.h) is a byte table up to 1024 and the malloc
 * layer's table above; GC_CLASS_FROM_PA maps a malloc class above 1024 to
 * the collector's.
 */
#include <stdlib.h>

#include "base/report.h"
#include "gc/gcint.h"

pa_class_info gc_classes[GC_NCLASSES];
uint8_t gc_class_by16[GC_STEP_CLASSES + 1] = { 1 };  /* 0 bytes: class 1 */

/* A table the lookup could not trust: said through the error handler,
 * then the process ends (no collection may run on it). */
static void broken(const char *rule)
{
    pa_report_line(rule);
    abort();
}

static uint32_t step_pages(uint32_t size)
{
    for (uint32_t np = 1; np <= 8; np++) {
        uint32_t span = np * (uint32_t)GC_PAGE;
        if ((span % size) * 64 <= span)
            return np;
    }
    return 8;                          /* not reached for sizes <= 1024 */
}

void gc_classes_init(void)
{
    pa_sizeclass_init();
    /* The malloc layer's first class above 1024 must be the one the
     * lookup's offset assumes (1024 is its last class at or below). */
    if (pa_size_class(1025) != GC_PA_FIRST_ABOVE ||
        pa_classes[GC_PA_FIRST_ABOVE - 1].size != GC_STEP_CLASSES * 16u)
        broken("pagealloc gc: size classes: the malloc layer's class above 1024 bytes "
               "is not the one the collector's lookup assumes");
    for (unsigned c = 1; c < GC_NCLASSES; c++) {
        pa_class_info *ci = &gc_classes[c];
        if (c <= GC_STEP_CLASSES) {
            gc_class_by16[c] = (uint8_t)c;
            ci->size = c * 16u;
            ci->npages = step_pages(ci->size);
            ci->nelems = ci->npages * (uint32_t)GC_PAGE / ci->size;
            ci->divmagic = (uint32_t)(UINT32_MAX / ci->size + 1);
        } else {
            *ci = pa_classes[c - GC_CLASS_FROM_PA];
        }
        if (ci->nelems > GC_SPAN_WORDS * 64u)
            broken("pagealloc gc: size classes: a span holds more objects than its "
                   "mark and allocation bits");
        /* The reciprocal gives the exact index for every offset (the map
         * is monotonic: each object's first and last byte cover it). */
        for (uint32_t k = 0; k < ci->nelems; k++)
            for (uint32_t off = k * ci->size; off <= k * ci->size + ci->size - 1;
                 off += ci->size - 1)
                if ((uint32_t)(((uint64_t)off * ci->divmagic) >> 32) != k)
                    broken("pagealloc gc: size classes: the reciprocal division "
                           "misplaces an offset");
    }
}
