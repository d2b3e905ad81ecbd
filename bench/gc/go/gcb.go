// gcb.go - what the Go versions of the collector benchmarks share (each
// program is built as `go build -o X PROGRAM.go gcb.go`): the clocks, the
// counters of Go's collector and the one JSON line of ../gcb.h, with the
// same fields, so that bench/run_gc.sh reads every implementation alike.
//
// Pauses: Go stops the world twice per cycle (sweep termination and mark
// termination); marking runs concurrently in between. max_pause_ms is the
// larger of (a) the longest per-cycle stop time debug.ReadGCStats keeps
// (the runtime keeps the last 256 cycles; a cycle's figure is the sum of
// its two stops) and (b) the lower edge of the highest non-empty bucket of
// the runtime/metrics histogram /gc/pauses:seconds, which counts every
// single stop of the run; pauses is that histogram's count and
// total_pause_ms is ReadGCStats's PauseTotal.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type gcbRun struct {
	program                     string
	param                       int
	threads                     int
	t0                          time.Time
	cpu0                        float64
	elapsedS, cpuS              float64
	baseRSS                     int64
	gcNo, pauses                int64
	maxPauseMs, totalPauseMs    float64
	liveKiB, liveAfterKiB       int64
	rssAfterDropKiB, settledKiB int64
	check                       uint64
	ok                          bool
}

// statusKiB returns a "Key:  123 kB" field of /proc/self/status, or -1.
func statusKiB(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, key+":") {
			fields := strings.Fields(line[len(key)+1:])
			if len(fields) > 0 {
				v, err := strconv.ParseInt(fields[0], 10, 64)
				if err == nil {
					return v
				}
			}
		}
	}
	return -1
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec) + float64(ru.Utime.Usec)*1e-6 +
		float64(ru.Stime.Sec) + float64(ru.Stime.Usec)*1e-6
}

// intArg is os.Args[i] as a positive integer, or dflt.
func intArg(i, dflt int) int {
	if len(os.Args) > i && os.Args[i] != "" {
		v, err := strconv.Atoi(os.Args[i])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "gcb: bad argument '%s'\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return dflt
}

func gcbBegin(program string, param, threads int) *gcbRun {
	r := &gcbRun{program: program, param: param, threads: threads, ok: true,
		liveKiB: -1, liveAfterKiB: -1, rssAfterDropKiB: -1, settledKiB: -1}
	r.baseRSS = statusKiB("VmRSS")
	r.cpu0 = cpuSeconds()
	r.t0 = time.Now()
	return r
}

// gcbEnd closes the timed work: clocks, collections and pauses so far.
func (r *gcbRun) gcbEnd() {
	r.elapsedS = time.Since(r.t0).Seconds()
	r.cpuS = cpuSeconds() - r.cpu0
	var st debug.GCStats
	st.Pause = make([]time.Duration, 0, 256)
	debug.ReadGCStats(&st)
	r.gcNo = st.NumGC
	r.totalPauseMs = float64(st.PauseTotal) / 1e6
	for _, p := range st.Pause {
		if ms := float64(p) / 1e6; ms > r.maxPauseMs {
			r.maxPauseMs = ms
		}
	}
	s := []metrics.Sample{{Name: "/gc/pauses:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindFloat64Histogram {
		h := s[0].Value.Float64Histogram()
		for i, c := range h.Counts {
			r.pauses += int64(c)
			if c > 0 {
				if ms := h.Buckets[i] * 1e3; ms > r.maxPauseMs {
					r.maxPauseMs = ms
				}
			}
		}
	}
}

func (r *gcbRun) report() {
	ok := "false"
	if r.ok {
		ok = "true"
	}
	fmt.Printf("{\"program\":\"%s\",\"variant\":\"go\",\"alloc_from\":\"go runtime\",\"param\":%d,"+
		"\"threads\":%d,\"elapsed_s\":%.6f,\"cpu_s\":%.6f,\"peak_rss_kib\":%d,"+
		"\"base_rss_kib\":%d,\"gc_no\":%d,\"pauses\":%d,\"max_pause_ms\":%.4f,"+
		"\"total_pause_ms\":%.4f,\"live_kib\":%d,\"live_after_kib\":%d,"+
		"\"rss_after_drop_kib\":%d,\"rss_settled_kib\":%d,"+
		"\"check\":\"0x%016x\",\"ok\":%s}\n",
		r.program, r.param, r.threads, r.elapsedS, r.cpuS, statusKiB("VmHWM"),
		r.baseRSS, r.gcNo, r.pauses, r.maxPauseMs, r.totalPauseMs, r.liveKiB,
		r.liveAfterKiB, r.rssAfterDropKiB, r.settledKiB, r.check, ok)
}

// FNV-1a over the 8 bytes of v, least significant first (../../malloc/mb.h).
const fnvInit uint64 = 0xcbf29ce484222325

func fold(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h ^= (v >> (8 * i)) & 0xff
		h *= 0x100000001b3
	}
	return h
}

// splitmix64, as mb_next.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) rangeIn(lo, hi uint64) uint64 { return lo + r.next()%(hi-lo+1) }

func pat(t uint64, i int) byte { return byte(t*131 + uint64(i)*7 + 1) }
