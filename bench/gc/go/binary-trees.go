// binary-trees.go - the Go version of ../binary-trees.c: the same trees,
// lines and check, with Go's collector (GOGC as the environment sets it).
//
// Build: go build -o gcb-binary-trees-go binary-trees.go trees.go gcb.go
// Usage: gcb-binary-trees-go [MAX_DEPTH]   (default 20)
package main

import "fmt"

func main() {
	const minDepth = 4
	max := intArg(1, 20)
	if max < minDepth+2 {
		max = minDepth + 2
	}
	run := gcbBegin("binary-trees", max, 1)
	h := fnvInit

	c := build(max + 1).check()
	fmt.Printf("stretch tree of depth %d\t check: %d\n", max+1, c)
	h = fold(h, uint64(c))

	longLived := build(max)
	for d := minDepth; d <= max; d += 2 {
		iters := int64(1) << (max - d + minDepth)
		sum := pass(d, iters)
		fmt.Printf("%d\t trees of depth %d\t check: %d\n", iters, d, sum)
		h = fold(h, uint64(sum))
	}
	c = longLived.check()
	fmt.Printf("long lived tree of depth %d\t check: %d\n", max, c)
	h = fold(h, uint64(c))
	run.ok = c == (int64(2)<<max)-1
	run.gcbEnd()
	run.check = h
	run.report()
}
