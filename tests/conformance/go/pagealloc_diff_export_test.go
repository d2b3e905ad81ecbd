// Test hooks for pagealloc's differential test (pagealloc_diff_test.go).
//
// This file is NOT part of Go: pagealloc's test harness copies it into a
// private copy of GOROOT/src/runtime, next to export_test.go. Like
// export_test.go it is compiled into package runtime, so it can reach the
// unexported pageAlloc methods that export_test.go does not wrap: grow, free
// with scavenged=false (the runtime's own free, which marks the scavenge
// index) and the raw bitmaps. It cannot import "testing" (import cycle), so
// the test itself lives in package runtime_test.

package runtime

// PagealDiffGrow is pageAlloc.grow(base, size) under the allocator's lock,
// the way mheap.grow calls it.
func (p *PageAlloc) PagealDiffGrow(base, size uintptr) {
	pp := (*pageAlloc)(p)
	systemstack(func() {
		lock(pp.mheapLock)
		pp.grow(base, size)
		unlock(pp.mheapLock)
	})
}

// PagealDiffFree is the runtime's free: free(base, npages, scavenged=false),
// which marks the scavenge index (export_test.go's Free passes true).
func (p *PageAlloc) PagealDiffFree(base, npages uintptr) {
	pp := (*pageAlloc)(p)
	systemstack(func() {
		lock(pp.mheapLock)
		pp.free(base, npages, false)
		unlock(pp.mheapLock)
	})
}

// PagealDiffBounds returns the base addresses of the lowest grown chunk and
// of the chunk past the highest one, or (0, 0) if nothing was grown.
func (p *PageAlloc) PagealDiffBounds() (uintptr, uintptr) {
	pp := (*pageAlloc)(p)
	if pp.start == 0 && pp.end == 0 {
		return 0, 0
	}
	return chunkBase(pp.start), chunkBase(pp.end)
}

// PagealDiffInUse returns the in-use address ranges [base, limit).
func (p *PageAlloc) PagealDiffInUse() [][2]uintptr {
	pp := (*pageAlloc)(p)
	r := make([][2]uintptr, 0, len(pp.inUse.ranges))
	for _, a := range pp.inUse.ranges {
		r = append(r, [2]uintptr{a.base.addr(), a.limit.addr()})
	}
	return r
}

// PagealDiffChunkBits copies the allocation and scavenged bitmaps of the
// chunk at address base; ok is false if its bitmap block does not exist.
func (p *PageAlloc) PagealDiffChunkBits(base uintptr) (alloc, scav [8]uint64, ok bool) {
	d := (*pageAlloc)(p).tryChunkOf(chunkIndex(base))
	if d == nil {
		return
	}
	return [8]uint64(d.pallocBits), [8]uint64(d.scavenged), true
}

// PagealDiffSearchAddr returns the allocator's search hint.
func (p *PageAlloc) PagealDiffSearchAddr() uintptr {
	return (*pageAlloc)(p).searchAddr.addr()
}

// PagealDiffSetPhysSizes sets physPageSize and physHugePageSize (used by the
// scavenger's candidate search) and returns the previous values. Only the
// test's private pageAlloc is meant to see the change: callers restore the
// old values as soon as they are done, with the GC off.
func PagealDiffSetPhysSizes(phys, huge uintptr) (oldPhys, oldHuge uintptr) {
	oldPhys, oldHuge = physPageSize, physHugePageSize
	physPageSize, physHugePageSize = phys, huge
	return
}

// PagealDiffPhysSizes returns the current physPageSize and physHugePageSize
// (export_test.go's PhysPageSize and PhysHugePageSize are copies taken at
// init).
func PagealDiffPhysSizes() (uintptr, uintptr) {
	return physPageSize, physHugePageSize
}
