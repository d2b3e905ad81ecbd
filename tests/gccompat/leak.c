/*
 * leak.c - leak-finding mode (GC_set_find_leak(1), GC_DEBUG): a
 * collection reports, on stderr, each unreachable object that was never
 * freed, with the file and line that allocated it; freed and reachable
 * objects are not reported. The program captures its own stderr around
 * the collection and prints which allocation sites were reported.
 */
#define GC_DEBUG
#include <gc.h>
#include <unistd.h>

#include "compat.h"

static void *kept[4];

static __attribute__((noinline)) void allocate(void)
{
    for (int i = 0; i < 3; i++)
        (void)GC_MALLOC(40);                       /* site A: leaked x3 */
    void *f = GC_MALLOC(40);                       /* site B: freed */
    GC_FREE(f);
    for (int i = 0; i < 4; i++)
        kept[i] = GC_MALLOC_ATOMIC(100);           /* site C: reachable */
    (void)GC_MALLOC_ATOMIC(70);                    /* site D: leaked */
}

int main(void)
{
    GC_set_find_leak(1);
    GC_INIT();
    compat_check("leak mode on", GC_get_find_leak() == 1);
    allocate();
    compat_clear_stack();

    FILE *cap = tmpfile();
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(cap), 2);
    GC_gcollect();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    /* Count the reports per source line of this file. */
    int lines[200] = {0};
    char buf[512];
    rewind(cap);
    while (fgets(buf, sizeof buf, cap)) {
        char *at = strstr(buf, "leak.c:");
        if (at) {
            int line = atoi(at + 7);
            if (line > 0 && line < 200)
                lines[line]++;
        }
    }
    fclose(cap);
    for (int l = 0; l < 200; l++)
        if (lines[l])
            printf("reported: leak.c line %d, %d object(s)\n", l, lines[l]);
    compat_check("kept objects untouched", kept[0] != NULL);
    return compat_done();
}
