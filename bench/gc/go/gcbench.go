// gcbench.go - the Go version of ../gcbench.c: the same trees (24-byte
// nodes), the same array of doubles, the same lines and check.
//
// Build: go build -o gcb-gcbench-go gcbench.go gcb.go
// Usage: gcb-gcbench-go [LONG_LIVED_DEPTH]   (default 16)
package main

import "fmt"

type node struct {
	left, right *node
	depth, side int32
}

// populate gives n children and fills them in, top-down.
func populate(n *node, depth int32) {
	if depth <= 0 {
		return
	}
	n.left = &node{depth: depth - 1, side: 1}
	n.right = &node{depth: depth - 1, side: 2}
	populate(n.left, depth-1)
	populate(n.right, depth-1)
}

// makeTree builds the children first, then the node holding them.
func makeTree(depth, side int32) *node {
	if depth <= 0 {
		return &node{side: side}
	}
	l, r := makeTree(depth-1, 1), makeTree(depth-1, 2)
	return &node{left: l, right: r, depth: depth, side: side}
}

func walk(n *node, nodes, sum *int64) {
	*nodes++
	*sum += int64(n.depth)*3 + int64(n.side)
	if n.left != nil {
		if n.left.depth != n.depth-1 || n.right.depth != n.depth-1 {
			*nodes = -(1 << 40)
		}
		walk(n.left, nodes, sum)
		walk(n.right, nodes, sum)
	}
}

func treeSize(depth int32) int64 { return (int64(1) << (depth + 1)) - 1 }

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func main() {
	const minDepth, arraySize = 4, 500000
	longDepth := int32(intArg(1, 16))
	if longDepth < minDepth {
		longDepth = minDepth
	}
	stretchDepth, maxDepth := longDepth+2, longDepth
	run := gcbBegin("gcbench", int(longDepth), 1)
	h := fnvInit
	ok := true
	var nodes, sum int64

	t := makeTree(stretchDepth, 0)
	walk(t, &nodes, &sum)
	t = nil
	fmt.Printf("stretch tree of depth %d: %d nodes, sum %d\n", stretchDepth, nodes, sum)
	ok = ok && nodes == treeSize(stretchDepth)
	h = fold(fold(h, uint64(nodes)), uint64(sum))

	longLived := &node{depth: longDepth}
	populate(longLived, longDepth)
	array := make([]float64, arraySize)
	for i := 0; i < arraySize/2; i++ {
		array[i] = 1.0 / float64(i+1)
		array[arraySize-1-i] = 1.0 / float64(arraySize-i)
	}

	for d := int32(minDepth); d <= maxDepth; d += 2 {
		iters := 2 * treeSize(stretchDepth) / treeSize(d)
		var n1, s1, n2, s2 int64
		for i := int64(0); i < iters; i++ {
			t = &node{depth: d}
			populate(t, d)
			walk(t, &n1, &s1)
		}
		for i := int64(0); i < iters; i++ {
			walk(makeTree(d, 0), &n2, &s2)
		}
		fmt.Printf("%d trees of depth %d: top-down %d nodes, sum %d; bottom-up %d nodes, sum %d\n",
			iters, d, n1, s1, n2, s2)
		ok = ok && n1 == iters*treeSize(d) && n2 == n1 && s2 == s1
		h = fold(fold(h, uint64(n1)), uint64(s1))
	}

	nodes, sum = 0, 0
	walk(longLived, &nodes, &sum)
	asum := 0.0
	for i := 0; i < arraySize; i++ {
		asum += array[i] * float64(i+1)
	}
	arrOK := asum > arraySize-1e-3 && asum < arraySize+1e-3
	state := "CHANGED"
	if arrOK {
		state = "intact"
	}
	fmt.Printf("long-lived tree of depth %d: %d nodes, sum %d; array of %d doubles %s\n",
		longDepth, nodes, sum, arraySize, state)
	ok = ok && nodes == treeSize(longDepth) && arrOK
	h = fold(fold(fold(h, uint64(nodes)), uint64(sum)), b2u(arrOK))
	run.gcbEnd()
	run.check = h
	run.ok = ok
	run.report()
}
