// alloc-rate.go - the Go version of ../alloc-rate.c: the same pointer-free
// objects (byte slices; the array holds a pointer to each one's first byte,
// 8 bytes a slot as in C), stable quarter and ring, draws and short-lived
// lists, the drop to the stable quarter, two runtime.GC() calls, RSS at
// once and after GCB_SETTLE_MS, and the same check.
//
// Build: go build -o gcb-alloc-rate-go alloc-rate.go gcb.go
// Usage: gcb-alloc-rate-go [LIVE_MIB [PASSES]]   (defaults 200 and 8)
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
	"unsafe"
)

const minSize, maxSize, listLen = 32, 1024, 4

type listNode struct {
	next  *listNode
	value uint64
}

// obj views the size bytes at p: tag (8 bytes), size (8), pattern bytes.
func obj(p unsafe.Pointer) []byte {
	size := *(*uint64)(unsafe.Add(p, 8))
	if size < minSize || size > maxSize {
		size = 16
	}
	return unsafe.Slice((*byte)(p), size)
}

func makeObj(tag uint64, size int) unsafe.Pointer {
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b[0:], tag)
	binary.LittleEndian.PutUint64(b[8:], uint64(size))
	for i := 16; i < size; i += 64 {
		b[i] = pat(tag, i)
	}
	b[size-1] = pat(tag, size-1)
	return unsafe.Pointer(&b[0])
}

func intact(p unsafe.Pointer, tag uint64) bool {
	b := obj(p)
	size := len(b)
	if binary.LittleEndian.Uint64(b[0:]) != tag || size < minSize {
		return false
	}
	for i := 16; i < size; i += 64 {
		if b[i] != pat(tag, i) {
			return false
		}
	}
	return b[size-1] == pat(tag, size-1)
}

//go:noinline
func churn(step uint64) uint64 {
	var head *listNode
	for i := uint64(0); i < listLen; i++ {
		head = &listNode{next: head, value: step + i}
	}
	var sum uint64
	for ; head != nil; head = head.next {
		sum += head.value
	}
	return sum
}

func main() {
	liveMiB := intArg(1, 200)
	passes := intArg(2, 8)
	settleMs := 1000
	if s := os.Getenv("GCB_SETTLE_MS"); s != "" {
		settleMs, _ = strconv.Atoi(s)
	}
	n := liveMiB * 1048576 / ((minSize + maxSize) / 2)
	run := gcbBegin("alloc-rate", liveMiB, 1)

	r := rng{0x5eed0000 + uint64(liveMiB)}
	ring := make([]unsafe.Pointer, n)
	tags := make([]uint64, n)
	live := uint64(n) * 16
	keep := n / 4
	var acc uint64
	ok := true
	for i := 0; i < n; i++ {
		size := int(r.rangeIn(minSize, maxSize))
		ring[i] = makeObj(uint64(i), size)
		tags[i] = uint64(i)
		live += uint64(size)
	}
	run.liveKiB = int64(live / 1024)
	steps := uint64(n-keep) * uint64(passes)
	for step := uint64(n); step < uint64(n)+steps; step++ {
		i := uint64(keep) + (step-uint64(n))%uint64(n-keep)
		size := int(r.rangeIn(minSize, maxSize))
		ok = ok && intact(ring[i], tags[i])
		ring[i] = makeObj(step, size)
		tags[i] = step
		acc += uint64(size) + churn(step)
	}
	run.gcbEnd()
	fmt.Printf("%d objects (%d KiB live), %d stable, %d replacements, %d short-lived nodes: sum %d\n",
		n, run.liveKiB, keep, steps, steps*listLen, acc)

	liveAfter := uint64(n) * 16
	for i := 0; i < n; i++ {
		if i < keep {
			liveAfter += uint64(len(obj(ring[i])))
		} else {
			ring[i] = nil
		}
	}
	runtime.GC()
	runtime.GC()
	run.rssAfterDropKiB = statusKiB("VmRSS")
	if settleMs > 0 {
		time.Sleep(time.Duration(settleMs) * time.Millisecond)
	}
	run.settledKiB = statusKiB("VmRSS")
	run.liveAfterKiB = int64(liveAfter / 1024)
	for i := 0; i < keep; i++ {
		ok = ok && intact(ring[i], tags[i])
	}
	state := "CHANGED"
	if ok {
		state = "intact"
	}
	fmt.Printf("kept %d objects (%d KiB live): %s\n", keep, run.liveAfterKiB, state)
	okv := uint64(0)
	if ok {
		okv = 1
	}
	run.check = fold(fold(fold(fnvInit, uint64(n)), acc), okv)
	run.ok = ok
	runtime.KeepAlive(ring)
	runtime.KeepAlive(tags)
	run.report()
}
