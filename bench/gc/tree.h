/*
 * tree.h - the binary trees of binary-trees.c and two-threads.c: a node is
 * two child pointers (16 bytes), a tree of depth d has 2^(d+1)-1 nodes and
 * is built bottom-up (children first). tree_check walks a tree and counts
 * its nodes, which is the number the programs print and fold into their
 * check; tree_drop frees a tree in the malloc build and does nothing in the
 * collector build, where dropping the last reference is enough. tree_pass
 * is one depth's pass of both programs: iters trees built, checked and
 * dropped in turn, the sum of their checks returned.
 */
#ifndef PAGEALLOC_BENCH_TREE_H
#define PAGEALLOC_BENCH_TREE_H

#include "gcb.h"

typedef struct tree_node {
    struct tree_node *left, *right;   /* both NULL (a leaf) or both set */
} tree_node;

static tree_node *tree_build(int depth)
{
    tree_node *n = GCB_NEW(sizeof *n);
    if (depth > 0) {
        n->left = tree_build(depth - 1);
        n->right = tree_build(depth - 1);
    } else {
        n->left = n->right = NULL;
    }
    return n;
}

static long tree_check(const tree_node *n)
{
    if (!n->left)
        return 1;
    return 1 + tree_check(n->left) + tree_check(n->right);
}

#ifdef MB_MALLOC
static void tree_drop(tree_node *n)
{
    if (n->left) {
        tree_drop(n->left);
        tree_drop(n->right);
    }
    free(n);
}
#else
static inline void tree_drop(tree_node *n)
{
    (void)n;
}
#endif

static long tree_pass(int depth, long iters)
{
    long sum = 0;
    for (long i = 0; i < iters; i++) {
        tree_node *t = tree_build(depth);
        sum += tree_check(t);
        tree_drop(t);
    }
    return sum;
}

#endif
