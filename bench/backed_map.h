/*
 * backed_map.h - the heap map of pagealloc-bench-backed-map (--map-at STEP,
 * docs/heap.md "The resident ceiling"): free runs by length over all chunks
 * in address order, from the heap's visitor. Included by backed.c when
 * BACKED_MAP is 1 (ours only); it uses backed.c's g_heap and die().
 */
/* --map-at: free runs by length over all chunks in address order (a
 * visitor collects the chunks' page states; they are sorted afterwards). */
#define MAP_MAX_CHUNKS 1024
static struct map_chunk {
    uintptr_t base;
    uint8_t st[PAGEALLOC_CHUNK_PAGES];
} *g_map;
static unsigned g_map_n;
static void map_visit(void *arg, unsigned shard, uintptr_t base, const uint8_t *st)
{
    (void)arg;
    (void)shard;
    if (g_map_n < MAP_MAX_CHUNKS) {
        g_map[g_map_n].base = base;
        memcpy(g_map[g_map_n++].st, st, PAGEALLOC_CHUNK_PAGES);
    }
}
static int map_cmp(const void *a, const void *b)
{
    uintptr_t x = ((const struct map_chunk *)a)->base, y = ((const struct map_chunk *)b)->base;
    return x < y ? -1 : x > y;
}
static uint64_t g_runs[6], g_run_pages[6];
static void map_run_end(uint64_t *run)
{
    static const uint64_t lim[] = {1, 8, 64, 512, 4096, UINT64_MAX};
    if (!*run)
        return;
    unsigned k = 0;
    while (*run > lim[k])
        k++;
    g_runs[k]++;
    g_run_pages[k] += *run;
    *run = 0;
}
static void impl_map(void)
{
    static const char *name[] = {"1", "2-8", "9-64", "65-512", "513-4096", "4097+"};
    uint64_t run = 0, counted[4] = {0};
    if (!g_map && !(g_map = calloc(MAP_MAX_CHUNKS, sizeof *g_map)))
        die("out of memory");
    g_map_n = 0;
    memset(g_runs, 0, sizeof g_runs);
    memset(g_run_pages, 0, sizeof g_run_pages);
    pageheap_visit(g_heap, map_visit, NULL);
    qsort(g_map, g_map_n, sizeof *g_map, map_cmp);
    impl_info("map", 1);
    for (unsigned c = 0; c < g_map_n; c++) {
        if (c > 0 && g_map[c - 1].base + PAGEALLOC_CHUNK_PAGES * PAGE != g_map[c].base)
            map_run_end(&run);          /* runs go on only across adjacent chunks */
        for (unsigned i = 0; i < PAGEALLOC_CHUNK_PAGES; i++) {
            counted[g_map[c].st[i] & 3]++;
            if (g_map[c].st[i] == PAGEHEAP_PAGE_FREE)
                run++;
            else
                map_run_end(&run);
        }
    }
    map_run_end(&run);
    printf("map pages in_use=%" PRIu64 " free=%" PRIu64 " released=%" PRIu64 " cached=%" PRIu64
           "\n", counted[PAGEHEAP_PAGE_IN_USE], counted[PAGEHEAP_PAGE_FREE],
           counted[PAGEHEAP_PAGE_RELEASED], counted[PAGEHEAP_PAGE_CACHED]);
    for (unsigned k = 0; k < 6; k++)
        printf("map free runs of %s pages: %" PRIu64 " runs, %" PRIu64 " pages\n", name[k],
               g_runs[k], g_run_pages[k]);
}
