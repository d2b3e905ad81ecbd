/*
 * gcbench.c - the shape of Boehm's GCBench: binary trees of 24-byte nodes
 * (two children, two integers), a stretch tree of depth 18 built and
 * dropped, a long-lived tree of depth 16 and a long-lived array of 500,000
 * doubles (pointer-free: GC_MALLOC_ATOMIC) kept to the end, and for every
 * depth d = 4, 6, ..., 16 as many short-lived trees as fill twice the
 * stretch tree's nodes, built top-down (a node first, then its children
 * filled in) and then bottom-up (children first). Every tree is walked
 * once (node count and the integers written into it) before it is
 * dropped; the counts and sums are printed and folded into the check, so
 * every allocator's output and the Go version's (go/gcbench.go) compare.
 *
 * Usage: gcb-gcbench [LONG_LIVED_DEPTH]   (default 16; the stretch tree
 * and the largest short-lived trees follow it: +2 and +0)
 */
#include "gcb.h"

typedef struct gb_node {
    struct gb_node *left, *right;     /* both NULL (a leaf) or both set */
    int depth;                        /* the depth of the subtree below */
    int side;                         /* 0 root, 1 left child, 2 right child */
} gb_node;

static gb_node *gb_new(int depth, int side)
{
    gb_node *n = GCB_NEW(sizeof *n);
    n->left = n->right = NULL;
    n->depth = depth;
    n->side = side;
    return n;
}

/* Top-down: n exists; give it children and fill them in, recursively. */
static void gb_populate(gb_node *n, int depth)
{
    if (depth <= 0)
        return;
    n->left = gb_new(depth - 1, 1);
    n->right = gb_new(depth - 1, 2);
    gb_populate(n->left, depth - 1);
    gb_populate(n->right, depth - 1);
}

/* Bottom-up: the children first, then the node that holds them. */
static gb_node *gb_make(int depth, int side)
{
    if (depth <= 0)
        return gb_new(0, side);
    gb_node *l = gb_make(depth - 1, 1), *r = gb_make(depth - 1, 2);
    gb_node *n = gb_new(depth, side);
    n->left = l;
    n->right = r;
    return n;
}

/* Nodes and the sum of depth*3+side over them; 0 nodes if the tree is
 * not the shape it was built as. */
static void gb_walk(const gb_node *n, long *nodes, long *sum)
{
    ++*nodes;
    *sum += n->depth * 3L + n->side;
    if (n->left) {
        if (n->left->depth != n->depth - 1 || n->right->depth != n->depth - 1)
            *nodes = -(1L << 40);
        gb_walk(n->left, nodes, sum);
        gb_walk(n->right, nodes, sum);
    }
}

#ifdef MB_MALLOC
static void gb_drop(gb_node *n)
{
    if (n->left) {
        gb_drop(n->left);
        gb_drop(n->right);
    }
    free(n);
}
#else
static inline void gb_drop(gb_node *n)
{
    (void)n;
}
#endif

static long gb_tree_size(int depth)
{
    return (1L << (depth + 1)) - 1;
}

int main(int argc, char **argv)
{
    enum { MIN_DEPTH = 4, ARRAY_SIZE = 500000 };
    int long_depth = (int)gcb_arg(argc, argv, 1, 16);
    if (long_depth < MIN_DEPTH)
        long_depth = MIN_DEPTH;
    int stretch_depth = long_depth + 2, max_depth = long_depth;
    GCB_INIT();
    gcb_run run;
    gcb_begin(&run, "gcbench", long_depth, 1);
    uint64_t h = MB_FNV_INIT;
    long nodes, sum;
    int ok = 1;

    gb_node *t = gb_make(stretch_depth, 0);
    nodes = sum = 0;
    gb_walk(t, &nodes, &sum);
    gb_drop(t);
    printf("stretch tree of depth %d: %ld nodes, sum %ld\n", stretch_depth, nodes, sum);
    ok &= nodes == gb_tree_size(stretch_depth);
    h = mb_fold(mb_fold(h, (uint64_t)nodes), (uint64_t)sum);

    gb_node *long_lived = gb_new(long_depth, 0);
    gb_populate(long_lived, long_depth);
    double *array = GCB_NEW_ATOMIC(sizeof(double) * ARRAY_SIZE);
    for (int i = 0; i < ARRAY_SIZE / 2; i++) {
        array[i] = 1.0 / (i + 1);
        array[ARRAY_SIZE - 1 - i] = 1.0 / (ARRAY_SIZE - i);
    }

    for (int d = MIN_DEPTH; d <= max_depth; d += 2) {
        long iters = 2 * gb_tree_size(stretch_depth) / gb_tree_size(d);
        long n1 = 0, s1 = 0, n2 = 0, s2 = 0;
        for (long i = 0; i < iters; i++) {
            t = gb_new(d, 0);
            gb_populate(t, d);
            gb_walk(t, &n1, &s1);
            gb_drop(t);
        }
        for (long i = 0; i < iters; i++) {
            t = gb_make(d, 0);
            gb_walk(t, &n2, &s2);
            gb_drop(t);
        }
        printf("%ld trees of depth %d: top-down %ld nodes, sum %ld; bottom-up %ld nodes, sum %ld\n",
               iters, d, n1, s1, n2, s2);
        ok &= n1 == iters * gb_tree_size(d) && n2 == n1 && s2 == s1;
        h = mb_fold(mb_fold(h, (uint64_t)n1), (uint64_t)s1);
    }

    nodes = sum = 0;
    gb_walk(long_lived, &nodes, &sum);
    double asum = 0;
    for (int i = 0; i < ARRAY_SIZE; i++)
        asum += array[i] * (i + 1);       /* each term is 1 up to rounding */
    long arr_ok = asum > ARRAY_SIZE - 1e-3 && asum < ARRAY_SIZE + 1e-3;
    printf("long-lived tree of depth %d: %ld nodes, sum %ld; array of %d doubles %s\n",
           long_depth, nodes, sum, ARRAY_SIZE, arr_ok ? "intact" : "CHANGED");
    ok &= nodes == gb_tree_size(long_depth) && arr_ok;
    h = mb_fold(mb_fold(mb_fold(h, (uint64_t)nodes), (uint64_t)sum), (uint64_t)arr_ok);
    gcb_end(&run);
    gb_drop(long_lived);
    GCB_FREE(array);
    run.check = h;
    run.ok = ok;
    gcb_report(&run);
    return ok ? 0 : 1;
}
