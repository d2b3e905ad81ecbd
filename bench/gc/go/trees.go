// trees.go - the binary tree that binary-trees.go and two-threads.go
// build and walk (../tree.h's tree_build, tree_check and tree_pass in
// C). Built with those two programs only: gcbench.go has a node type of
// its own.
package main

type node struct{ left, right *node }

func build(depth int) *node {
	if depth > 0 {
		return &node{build(depth - 1), build(depth - 1)}
	}
	return &node{}
}

func (n *node) check() int64 {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.check() + n.right.check()
}

// pass builds iters trees of the depth one after another and returns the
// sum of their checks: one depth's pass of both programs.
func pass(depth int, iters int64) int64 {
	var sum int64
	for i := int64(0); i < iters; i++ {
		sum += build(depth).check()
	}
	return sum
}
