/*
 * binary-trees.c - the benchmarks-game shape, one thread: a stretch tree of
 * depth max+1 built and dropped, a long-lived tree of depth max kept to the
 * end, and for every depth d = 4, 6, ..., max, 2^(max-d+4) short-lived trees
 * of depth d built, walked and dropped. Prints the usual lines (node counts
 * per phase) and folds them into the check, so the outputs of every
 * allocator and of the Go version (go/binary-trees.go) compare equal.
 *
 * Usage: gcb-binary-trees [MAX_DEPTH]   (default 20)
 */
#include "tree.h"

enum { MIN_DEPTH = 4 };

int main(int argc, char **argv)
{
    int max = (int)gcb_arg(argc, argv, 1, 20);
    if (max < MIN_DEPTH + 2)
        max = MIN_DEPTH + 2;
    GCB_INIT();
    gcb_run run;
    gcb_begin(&run, "binary-trees", max, 1);
    uint64_t h = MB_FNV_INIT;

    tree_node *stretch = tree_build(max + 1);
    long c = tree_check(stretch);
    tree_drop(stretch);
    stretch = NULL;
    printf("stretch tree of depth %d\t check: %ld\n", max + 1, c);
    h = mb_fold(h, (uint64_t)c);

    tree_node *long_lived = tree_build(max);
    for (int d = MIN_DEPTH; d <= max; d += 2) {
        long iters = 1L << (max - d + MIN_DEPTH), sum = tree_pass(d, iters);
        printf("%ld\t trees of depth %d\t check: %ld\n", iters, d, sum);
        h = mb_fold(h, (uint64_t)sum);
    }
    c = tree_check(long_lived);
    printf("long lived tree of depth %d\t check: %ld\n", max, c);
    h = mb_fold(h, (uint64_t)c);
    run.ok = c == (2L << max) - 1;
    gcb_end(&run);
    tree_drop(long_lived);
    run.check = h;
    gcb_report(&run);
    return run.ok ? 0 : 1;
}
