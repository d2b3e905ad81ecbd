// Differential test driver for pagealloc (a C port of Go's page allocator).
//
// This file is NOT part of Go: pagealloc's test harness (scripts/go-diff.sh,
// run by tests/conformance/test_go_random.c) copies it, together with
// pagealloc_diff_export_test.go, into a private copy of GOROOT/src/runtime
// and runs
//
//	PAGEALLOC_DIFF_IN=ops.txt PAGEALLOC_DIFF_OUT=answers.txt \
//	    go test -run '^TestPageallocDiff$' -count=1 .
//
// The input holds one operation per line; blank lines and lines starting
// with '#' are ignored. Every operation writes exactly one answer line:
//
//	config PHYS HUGE   new allocator; physPageSize=PHYS (set only around
//	                   Scavenge, see below), physHugePageSize=HUGE (0 = no
//	                   huge pages)                  -> "config PHYS HUGE"
//	grow ADDR SIZE     pageAlloc.grow               -> "ok"
//	alloc N            PageAlloc.Alloc              -> "ADDR SCAVBYTES"
//	free ADDR N        free(ADDR, N, false) (marks the scavenge index) -> "-"
//	tfree ADDR N       PageAlloc.Free = free(.., true) (no mark)      -> "-"
//	cache              PageAlloc.AllocToCache, kept in slot K (K counts the
//	                   cache ops of this config from 0) -> "BASE CACHE SCAV"
//	calloc K N         PageCache.Alloc on slot K    -> "ADDR SCAVBYTES"
//	flush K            PageCache.Flush of slot K    -> "-"
//	scav BYTES|max     PageAlloc.Scavenge           -> "RELEASEDBYTES"
//	searchaddr         the allocator's search hint: "ADDR", or "max" for
//	                   maxSearchAddr (heap exhausted)
//	check              state digest: "chk START END n=R [B,L)... free=F scav=S h=H"
//	                   (bounds, in-use ranges, free and scavenged page counts and
//	                   an FNV-style hash of every in-use chunk's two bitmaps)
//
// Addresses and bitmaps are written as 0x-prefixed lower-case hex, counts in
// decimal. The answers file is written line by line (unbuffered) so that a
// runtime throw still leaves every answer before it.

package runtime_test

import (
	"bufio"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// maxSearchAddr() as an address on 64-bit platforms (maxOffAddr).
const pagealDiffMaxSearchAddr = uintptr(0x00007fffffffffff)

func pagealDiffNum(t *testing.T, lineNo int, s string) uintptr {
	if s == "max" {
		return ^uintptr(0)
	}
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("line %d: bad number %q: %v", lineNo, s, err)
	}
	return uintptr(v)
}

func pagealDiffState(p *runtime.PageAlloc) string {
	const chunkBytes = 4 << 20
	start, end := p.PagealDiffBounds()
	ranges := p.PagealDiffInUse()
	var sb strings.Builder
	fmt.Fprintf(&sb, "chk 0x%x 0x%x n=%d", start, end, len(ranges))
	h := uint64(0xcbf29ce484222325)
	free, scav := 0, 0
	for _, r := range ranges {
		fmt.Fprintf(&sb, " [0x%x,0x%x)", r[0], r[1])
		for c := r[0]; c < r[1]; c += chunkBytes {
			a, s, ok := p.PagealDiffChunkBits(c)
			if !ok {
				fmt.Fprintf(&sb, " nochunk=0x%x", c)
				continue
			}
			for i := 0; i < 8; i++ {
				h = (h ^ a[i]) * 0x100000001b3
				free += 64 - bits.OnesCount64(a[i])
			}
			for i := 0; i < 8; i++ {
				h = (h ^ s[i]) * 0x100000001b3
				scav += bits.OnesCount64(s[i])
			}
		}
	}
	fmt.Fprintf(&sb, " free=%d scav=%d h=0x%016x", free, scav, h)
	return sb.String()
}

func TestPageallocDiff(t *testing.T) {
	inPath, outPath := os.Getenv("PAGEALLOC_DIFF_IN"), os.Getenv("PAGEALLOC_DIFF_OUT")
	if inPath == "" || outPath == "" {
		t.Skip("PAGEALLOC_DIFF_IN and PAGEALLOC_DIFF_OUT are not set")
	}
	in, err := os.Open(inPath)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()

	// No GC and one P while physPageSize/physHugePageSize may be changed:
	// nothing else should run while they differ from the machine's.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	realPhys, _ := runtime.PagealDiffPhysSizes()
	phys := realPhys

	var (
		p        *runtime.PageAlloc
		caches   []runtime.PageCache
		oldPhys  uintptr
		oldHuge  uintptr
		restored = true
	)
	finish := func() {
		if p != nil {
			runtime.FreePageAlloc(p)
			p = nil
		}
		if !restored {
			runtime.PagealDiffSetPhysSizes(oldPhys, oldHuge)
			restored = true
		}
		caches = caches[:0]
	}
	defer finish()

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	lineNo, ops := 0, 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		need := func(n int) {
			if len(f) != n+1 {
				t.Fatalf("line %d: %q wants %d operands", lineNo, line, n)
			}
		}
		if p == nil && f[0] != "config" {
			t.Fatalf("line %d: %q before the first config", lineNo, line)
		}
		var ans string
		switch f[0] {
		case "config":
			need(2)
			finish()
			phys = pagealDiffNum(t, lineNo, f[1])
			huge := pagealDiffNum(t, lineNo, f[2])
			// physHugePageSize only steers madvise calls and the scavenger's
			// huge-page guard, so it can stay set for the whole sequence.
			// physPageSize must not: the real heap's growth aligns its
			// scavenge index to it ("bad prune" throws if it changes under
			// it), so it is only changed around Scavenge, the one operation
			// of ours that depends on it (minPages).
			oldPhys, oldHuge = runtime.PagealDiffSetPhysSizes(realPhys, huge)
			restored = false
			p = runtime.NewPageAlloc(nil, nil)
			_, hu := runtime.PagealDiffPhysSizes()
			ans = fmt.Sprintf("config %d %d", phys, hu)
		case "grow":
			need(2)
			p.PagealDiffGrow(pagealDiffNum(t, lineNo, f[1]), pagealDiffNum(t, lineNo, f[2]))
			ans = "ok"
		case "alloc":
			need(1)
			a, s := p.Alloc(pagealDiffNum(t, lineNo, f[1]))
			ans = fmt.Sprintf("0x%x %d", a, s)
		case "free":
			need(2)
			p.PagealDiffFree(pagealDiffNum(t, lineNo, f[1]), pagealDiffNum(t, lineNo, f[2]))
			ans = "-"
		case "tfree":
			need(2)
			p.Free(pagealDiffNum(t, lineNo, f[1]), pagealDiffNum(t, lineNo, f[2]))
			ans = "-"
		case "cache":
			need(0)
			c := p.AllocToCache()
			caches = append(caches, c)
			ans = fmt.Sprintf("0x%x 0x%x 0x%x", c.Base(), c.Cache(), c.Scav())
		case "calloc", "flush":
			k := int(pagealDiffNum(t, lineNo, f[1]))
			if k >= len(caches) {
				t.Fatalf("line %d: no cache slot %d", lineNo, k)
			}
			if f[0] == "calloc" {
				need(2)
				a, s := caches[k].Alloc(pagealDiffNum(t, lineNo, f[2]))
				ans = fmt.Sprintf("0x%x %d", a, s)
			} else {
				need(1)
				caches[k].Flush(p)
				ans = "-"
			}
		case "scav":
			need(1)
			n := pagealDiffNum(t, lineNo, f[1])
			_, hu := runtime.PagealDiffPhysSizes()
			runtime.PagealDiffSetPhysSizes(phys, hu)
			r := p.Scavenge(n)
			runtime.PagealDiffSetPhysSizes(realPhys, hu)
			ans = fmt.Sprintf("%d", r)
		case "check":
			need(0)
			ans = pagealDiffState(p)
		case "searchaddr":
			need(0)
			if a := p.PagealDiffSearchAddr(); a == pagealDiffMaxSearchAddr {
				ans = "max"
			} else {
				ans = fmt.Sprintf("0x%x", a)
			}
		default:
			t.Fatalf("line %d: unknown operation %q", lineNo, f[0])
		}
		ops++
		if _, err := out.WriteString(ans + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("pagealloc diff: %d operations", ops)
}
