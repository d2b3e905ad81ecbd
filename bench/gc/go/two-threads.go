// two-threads.go - the Go version of ../two-threads.c: two goroutines,
// each with a long-lived tree and the binary-trees loop, the same lines and
// check (GOMAXPROCS as the environment sets it).
//
// Build: go build -o gcb-two-threads-go two-threads.go trees.go gcb.go
// Usage: gcb-two-threads-go [MAX_DEPTH]   (default 19)
package main

import (
	"fmt"
	"sync"
)

const minDepth, threads = 4, 2

type work struct {
	sums      []int64
	longLived int64
}

func worker(max int, w *work) {
	longLived := build(max)
	for d := minDepth; d <= max; d += 2 {
		w.sums = append(w.sums, pass(d, int64(1)<<(max-d+minDepth)))
	}
	w.longLived = longLived.check()
}

func main() {
	max := intArg(1, 19)
	if max < minDepth+2 {
		max = minDepth + 2
	}
	if max > 60 {
		max = 60
	}
	run := gcbBegin("two-threads", max, threads)
	var ws [threads]work
	var wg sync.WaitGroup
	for i := range ws {
		wg.Add(1)
		go func(w *work) {
			defer wg.Done()
			worker(max, w)
		}(&ws[i])
	}
	wg.Wait()
	run.gcbEnd()

	h := fnvInit
	ok := true
	for i := range ws {
		for k, d := 0, minDepth; d <= max; k, d = k+1, d+2 {
			iters := int64(1) << (max - d + minDepth)
			fmt.Printf("thread %d: %d\t trees of depth %d\t check: %d\n", i, iters, d, ws[i].sums[k])
			h = fold(h, uint64(ws[i].sums[k]))
			ok = ok && ws[i].sums[k] == iters*((int64(2)<<d)-1)
		}
		fmt.Printf("thread %d: long lived tree of depth %d\t check: %d\n", i, max, ws[i].longLived)
		h = fold(h, uint64(ws[i].longLived))
		ok = ok && ws[i].longLived == (int64(2)<<max)-1
	}
	run.check = h
	run.ok = ok
	run.report()
}
