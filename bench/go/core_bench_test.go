// Core benchmarks W1-W4 (see docs/workloads.md) on Go 1.19's own page
// allocator, the reference that pagealloc's bench/core.c is compared with.
//
// This file is package runtime: the allocator is unexported, and only a file
// inside the package can call (*pageAlloc).alloc/free/allocToCache under a
// lock it holds itself. It is copied into a private copy of GOROOT's
// src/runtime (scripts/goroot-copy.sh) by bench/run.sh. Package runtime
// cannot import "testing" (testing imports runtime), so the Test function
// that drives it lives in a second, tiny package runtime_test file that
// bench/run.sh writes next to it:
//
//	func TestPageallocCore(t *testing.T) {
//	    rs := runtime.PageallocCoreRun(only, repeat)   // only: "W1,W3" or ""
//	    for _, r := range rs { fmt.Println(r.Line()) }
//	}
//
// Variants:
//   - percall:   export_test.go's hooks as they are: every allocator call
//     switches to the system stack and takes the heap lock (Alloc, Free,
//     AllocToCache; PageCache.Alloc takes no lock, as in the hooks).
//   - amortised: the same calls on the unexported methods, inside one
//     systemstack + lock(p.mheapLock) per 1024 allocator calls (512 W1/W3
//     pairs, 1024 W2 operations, 1024 W4 allocations), so the figure is the
//     allocator's own cost. Frees pass scavenged=true exactly like the Free
//     hook does.
//
// The heap is NewPageAlloc(nchunks free chunks from BaseChunkIdx, scav=nil):
// all pages free and not scavenged. Checksums fold every allocation result
// (untimed fills included) into FNV-1a as docs/workloads.md defines; they must
// equal the table there, which is also pagealloc's expectation.
package runtime

const (
	pacoreFNVOffset = 0xcbf29ce484222325
	pacoreFNVPrime  = 0x100000001b3
	pacoreSeed      = 42
	pacoreBatch     = 1024 // allocator calls per lock hold (amortised)
)

// PageallocCoreSteps, when not negative, replaces the timed part's length
// (W1/W3 steps, W2 rounds, W4 allocations; 0: the set-up alone), and
// PageallocCoreVariant, when not empty, runs only that variant ("amortised"
// or "percall"). Both serve bench/profile.sh, which counts instructions under
// callgrind and subtracts a run of 0 steps from a full one; the checksum of a
// run of another length is not the table's. W2 still draws its five
// permutations, so its first rounds are the full run's.
var (
	PageallocCoreSteps   = -1
	PageallocCoreVariant = ""
)

// PageallocCoreResult is one (workload, variant) measurement.
type PageallocCoreResult struct {
	Workload string // "W1".."W4"
	Variant  string // "percall" or "amortised"
	Unit     string // metric unit: "pair", "op", "alloc"
	Units    int64  // number of metric units timed
	Nanos    int64  // timed nanoseconds
	Checksum uint64
	Want     uint64 // Go 1.19's checksum from docs/workloads.md
}

// NsPerUnit is the reported figure.
func (r *PageallocCoreResult) NsPerUnit() float64 {
	if r.Units == 0 {
		return 0
	}
	return float64(r.Nanos) / float64(r.Units)
}

// OK says whether the checksum equals the table (always true for a run of
// another length, PageallocCoreSteps, which has nothing to check).
func (r *PageallocCoreResult) OK() bool { return PageallocCoreSteps >= 0 || r.Checksum == r.Want }

type pacoreWorkload struct {
	name    string
	unit    string
	nchunks int
	want    uint64
}

var pacoreWorkloads = []pacoreWorkload{
	{"W1", "pair", 1024, 0x22d484c38fec00c0},
	{"W2", "op", 1024, 0x5b1496976f15d0e5},
	{"W3", "pair", 2048, 0x31f058bcd029b8b0},
	{"W4", "alloc", 1024, 0xcf63cb6ae055f4e5},
}

// pacoreRNG is xorshift64* seeded with 42.
type pacoreRNG struct{ x uint64 }

func (r *pacoreRNG) next() uint64 {
	x := r.x
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	r.x = x
	return x * 0x2545F4914F6CDD1D
}

func (r *pacoreRNG) below(n uint64) uint64 { return r.next() % n }

// churnSize: 1 | U[2,8] | U[9,64] | U[65,512] pages with 50/35/13/2 %.
func (r *pacoreRNG) churnSize() uintptr {
	p := r.below(100)
	switch {
	case p < 50:
		return 1
	case p < 85:
		return uintptr(2 + r.below(7))
	case p < 98:
		return uintptr(9 + r.below(56))
	}
	return uintptr(65 + r.below(448))
}

// largeSize: U[512,4096] pages.
func (r *pacoreRNG) largeSize() uintptr { return uintptr(512 + r.below(3585)) }

func (r *pacoreRNG) size(large bool) uintptr {
	if large {
		return r.largeSize()
	}
	return r.churnSize()
}

// pacoreFold folds one allocation result into the checksum; trace (if
// non-nil) records (npages, page offset) for comparing sequences.
func pacoreFold(h uint64, addr, base, npages uintptr, trace *[]uint64) uint64 {
	v := ^uint64(0)
	if addr != 0 {
		v = uint64((addr - base) / pageSize)
	}
	if trace != nil {
		*trace = append(*trace, uint64(npages), v)
	}
	h ^= v
	return h * pacoreFNVPrime
}

func pacoreHeap(nchunks int) (*PageAlloc, uintptr) {
	chunks := make(map[ChunkIdx][]BitRange, nchunks)
	for i := 0; i < nchunks; i++ {
		chunks[BaseChunkIdx+ChunkIdx(i)] = []BitRange{}
	}
	return NewPageAlloc(chunks, nil), chunkBase(chunkIdx(BaseChunkIdx))
}

// pacoreChurn is W1 (slots 4096, churn sizes, 1e6 steps) and W3 (slots 64,
// large sizes, 1e5 steps): fill the slots untimed, then per step
// i = below(slots); s = size(); free(live[i]); live[i] = alloc(s).
func pacoreChurn(p *PageAlloc, base uintptr, amortised, large bool, slots, steps int, trace *[]uint64) (int64, uint64) {
	pp := (*pageAlloc)(p)
	rng := pacoreRNG{pacoreSeed}
	h := uint64(pacoreFNVOffset)
	live := make([]uintptr, slots)
	sizes := make([]uintptr, slots)
	for i := range live {
		s := rng.size(large)
		a, _ := p.Alloc(s)
		live[i], sizes[i] = a, s
		h = pacoreFold(h, a, base, s, trace)
	}
	GC()
	start := nanotime()
	if !amortised {
		for n := 0; n < steps; n++ {
			i := rng.below(uint64(slots))
			s := rng.size(large)
			if live[i] != 0 {
				p.Free(live[i], sizes[i])
			}
			a, _ := p.Alloc(s)
			live[i], sizes[i] = a, s
			h = pacoreFold(h, a, base, s, trace)
		}
	} else {
		for n := 0; n < steps; {
			m := steps - n
			if m > pacoreBatch/2 {
				m = pacoreBatch / 2
			}
			systemstack(func() {
				lock(pp.mheapLock)
				for k := 0; k < m; k++ {
					i := rng.below(uint64(slots))
					s := rng.size(large)
					if live[i] != 0 {
						pp.free(live[i], sizes[i], true)
					}
					a, _ := pp.alloc(s)
					live[i], sizes[i] = a, s
					h = pacoreFold(h, a, base, s, trace)
				}
				unlock(pp.mheapLock)
			})
			n += m
		}
	}
	return nanotime() - start, h
}

// pacoreSinglePages is W2: five permutations drawn first from one
// generator (each a Fisher-Yates shuffle of the identity), then per round
// alloc(1) n times and free in permutation order.
func pacoreSinglePages(p *PageAlloc, base uintptr, amortised bool, nrounds int, trace *[]uint64) (int64, uint64) {
	const n, rounds = 200000, 5
	pp := (*pageAlloc)(p)
	rng := pacoreRNG{pacoreSeed}
	perm := make([]uint32, rounds*n)
	for r := 0; r < rounds; r++ {
		q := perm[r*n : (r+1)*n]
		for i := range q {
			q[i] = uint32(i)
		}
		for j := n - 1; j >= 1; j-- {
			k := rng.below(uint64(j + 1))
			q[j], q[k] = q[k], q[j]
		}
	}
	a := make([]uintptr, n)
	h := uint64(pacoreFNVOffset)
	GC()
	start := nanotime()
	for r := 0; r < nrounds; r++ {
		q := perm[(r%rounds)*n : (r%rounds+1)*n]
		if !amortised {
			for i := 0; i < n; i++ {
				x, _ := p.Alloc(1)
				a[i] = x
				h = pacoreFold(h, x, base, 1, trace)
			}
			for j := 0; j < n; j++ {
				if x := a[q[j]]; x != 0 {
					p.Free(x, 1)
				}
			}
			continue
		}
		for i := 0; i < n; i += pacoreBatch {
			end := i + pacoreBatch
			if end > n {
				end = n
			}
			systemstack(func() {
				lock(pp.mheapLock)
				for k := i; k < end; k++ {
					x, _ := pp.alloc(1)
					a[k] = x
					h = pacoreFold(h, x, base, 1, trace)
				}
				unlock(pp.mheapLock)
			})
		}
		for j := 0; j < n; j += pacoreBatch {
			end := j + pacoreBatch
			if end > n {
				end = n
			}
			systemstack(func() {
				lock(pp.mheapLock)
				for k := j; k < end; k++ {
					if x := a[q[k]]; x != 0 {
						pp.free(x, 1, true)
					}
				}
				unlock(pp.mheapLock)
			})
		}
	}
	return nanotime() - start, h
}

// pacorePageCache is W4: 1e6 one-page allocations through a page cache
// refilled whenever empty; every 8192 allocations the batch is freed one
// page at a time in allocation order, untimed.
func pacorePageCache(p *PageAlloc, base uintptr, amortised bool, total int, trace *[]uint64) (int64, uint64) {
	const batchLen = 8192
	pp := (*pageAlloc)(p)
	batch := make([]uintptr, batchLen)
	var hook PageCache // percall: through the hooks
	var c pageCache    // amortised: the unexported type
	h := uint64(pacoreFNVOffset)
	var elapsed int64
	GC()
	for done := 0; done < total; {
		m := total - done
		if m > batchLen {
			m = batchLen
		}
		start := nanotime()
		if !amortised {
			for k := 0; k < m; k++ {
				if hook.Empty() {
					hook = p.AllocToCache()
				}
				x, _ := hook.Alloc(1)
				batch[k] = x
				h = pacoreFold(h, x, base, 1, trace)
			}
		} else {
			for k := 0; k < m; k += pacoreBatch {
				end := k + pacoreBatch
				if end > m {
					end = m
				}
				systemstack(func() {
					lock(pp.mheapLock)
					for j := k; j < end; j++ {
						if c.empty() {
							c = pp.allocToCache()
						}
						x, _ := c.alloc(1)
						batch[j] = x
						h = pacoreFold(h, x, base, 1, trace)
					}
					unlock(pp.mheapLock)
				})
			}
		}
		elapsed += nanotime() - start
		done += m
		if m < batchLen {
			break
		}
		// Untimed: give the batch back in allocation order.
		if !amortised {
			for _, x := range batch {
				if x != 0 {
					p.Free(x, 1)
				}
			}
		} else {
			systemstack(func() {
				lock(pp.mheapLock)
				for _, x := range batch {
					if x != 0 {
						pp.free(x, 1, true)
					}
				}
				unlock(pp.mheapLock)
			})
		}
	}
	return elapsed, h
}

func pacoreRunOne(w *pacoreWorkload, amortised bool, trace *[]uint64) PageallocCoreResult {
	p, base := pacoreHeap(w.nchunks)
	var ns int64
	var h uint64
	var units int64
	steps := func(own int) int {
		if PageallocCoreSteps >= 0 {
			return PageallocCoreSteps
		}
		return own
	}
	switch w.name {
	case "W1":
		n := steps(1000000)
		ns, h = pacoreChurn(p, base, amortised, false, 4096, n, trace)
		units = int64(n)
	case "W2":
		n := steps(5)
		ns, h = pacoreSinglePages(p, base, amortised, n, trace)
		units = int64(n) * 400000
	case "W3":
		n := steps(100000)
		ns, h = pacoreChurn(p, base, amortised, true, 64, n, trace)
		units = int64(n)
	case "W4":
		n := steps(1000000)
		ns, h = pacorePageCache(p, base, amortised, n, trace)
		units = int64(n)
	}
	FreePageAlloc(p)
	variant := "percall"
	if amortised {
		variant = "amortised"
	}
	return PageallocCoreResult{w.name, variant, w.unit, units, ns, h, w.want}
}

func pacoreSelected(only, name string) bool {
	if only == "" {
		return true
	}
	for len(only) > 0 {
		i := 0
		for i < len(only) && only[i] != ',' {
			i++
		}
		if only[:i] == name {
			return true
		}
		if i == len(only) {
			break
		}
		only = only[i+1:]
	}
	return false
}

// PageallocCoreRun runs the selected workloads ("" = all, else "W1,W3"),
// repeat times, each repetition running every workload in both variants
// (amortised first, then percall).
func PageallocCoreRun(only string, repeat int) []PageallocCoreResult {
	var out []PageallocCoreResult
	for r := 0; r < repeat; r++ {
		for i := range pacoreWorkloads {
			w := &pacoreWorkloads[i]
			if !pacoreSelected(only, w.name) {
				continue
			}
			if PageallocCoreVariant != "percall" {
				out = append(out, pacoreRunOne(w, true, nil))
			}
			if PageallocCoreVariant != "amortised" {
				out = append(out, pacoreRunOne(w, false, nil))
			}
		}
	}
	return out
}

// PageallocCoreTrace runs one workload (amortised, untimed use) and returns
// its allocation sequence as (npages, page offset) pairs, page offset
// all ones for a failed allocation, plus the result.
func PageallocCoreTrace(name string) ([]uint64, PageallocCoreResult) {
	for i := range pacoreWorkloads {
		w := &pacoreWorkloads[i]
		if w.name == name {
			trace := make([]uint64, 0, 1<<20)
			r := pacoreRunOne(w, true, &trace)
			return trace, r
		}
	}
	return nil, PageallocCoreResult{}
}
