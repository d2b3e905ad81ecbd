#!/usr/bin/env bash
# The core benchmarks W1-W4 (docs/workloads.md), ours next to Go 1.19's own
# page allocator in the same run; `make bench` calls it after building the
# Release build directory build-bench.
#
# Usage: bench/run.sh BUILD_DIR
#   BUILD_DIR holds bench/pagealloc-bench-core (a CMake build of this repo).
# Environment:
#   REPEAT=5        repetitions of each side, alternated so both see the
#                   same machine noise; the table shows medians and min-max
#   ONLY=W1,W3      run only these workloads
#   GOROOT_COPY=DIR private GOROOT copy for the Go side (BUILD_DIR/goroot)
#   GO_ONLY=1       only Go's side (our library need not be built)
#   BUILD_ONLY=1    only build Go's test binary (BUILD_DIR/bench/go-core.test,
#                   for bench/profile.sh) and stop
#   TRACE=W1        no timing: write both allocation sequences to
#                   bench/results/trace/ and report the first difference
# Output: the table on stdout, bench/results/core.json, bench/results/core.png
# (gnuplot). Exit status 1 if any checksum differs from Go 1.19's table.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
build=$(cd "$1" && pwd)
repeat=${REPEAT:-5}
only=${ONLY:-W1,W2,W3,W4}
go_only=${GO_ONLY:-0}
results=$root/bench/results
bin=$build/bench/pagealloc-bench-core
gotest=$build/bench/go-core.test
mkdir -p "$results" "$build/bench"

if [ "$go_only" != 1 ] && [ "${BUILD_ONLY:-0}" != 1 ] && [ ! -x "$bin" ]; then
  echo "run.sh: $bin is missing; build it first (cmake --build $1)" >&2
  exit 2
fi

# --- Go's side: bench/go/core_bench_test.go (package runtime) in a private
# GOROOT copy, plus the package runtime_test wrapper below (package runtime
# may not import "testing"), compiled once into a test binary.
go_setup() {
  local goroot rt
  goroot=$("$root/scripts/goroot-copy.sh" "${GOROOT_COPY:-$build/goroot}" | tail -n1)
  rt=$goroot/src/runtime
  cp "$root/bench/go/core_bench_test.go" "$rt/pagealloc_core_bench_test.go"
  cat > "$rt/pagealloc_core_wrap_test.go" <<'EOF'
// Written by pagealloc's bench/run.sh: drives pagealloc_core_bench_test.go.
package runtime_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
)

func TestPageallocCore(t *testing.T) {
	if os.Getenv("PAGEALLOC_CORE_BENCH") == "" {
		t.Skip("set PAGEALLOC_CORE_BENCH=1 to run (bench/run.sh does)")
	}
	if name := os.Getenv("PAGEALLOC_CORE_TRACE"); name != "" {
		trace, r := runtime.PageallocCoreTrace(name)
		f, err := os.Create(os.Getenv("PAGEALLOC_CORE_TRACE_FILE"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for i := 0; i+1 < len(trace); i += 2 {
			fmt.Fprintf(f, "%d %d %d\n", i/2, trace[i], int64(trace[i+1]))
		}
		fmt.Printf("trace %s: %d allocations, checksum 0x%016x\n", name, len(trace)/2, r.Checksum)
		return
	}
	repeat, _ := strconv.Atoi(os.Getenv("PAGEALLOC_CORE_REPEAT"))
	if repeat < 1 {
		repeat = 1
	}
	// bench/profile.sh: another length of the timed part, one variant.
	if v := os.Getenv("PAGEALLOC_CORE_STEPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("PAGEALLOC_CORE_STEPS=%q: want a count", v)
		}
		runtime.PageallocCoreSteps = n
	}
	runtime.PageallocCoreVariant = os.Getenv("PAGEALLOC_CORE_VARIANT")
	for _, r := range runtime.PageallocCoreRun(os.Getenv("PAGEALLOC_CORE_ONLY"), repeat) {
		status := "ok"
		if runtime.PageallocCoreSteps >= 0 {
			status = "unchecked"
		} else if !r.OK() {
			status = "MISMATCH"
			t.Errorf("%s %s: checksum %#016x, Go 1.19 table says %#016x", r.Workload, r.Variant, r.Checksum, r.Want)
		}
		fmt.Printf("core %-3s %-9s %-9s %10.2f ns/%-5s 0x%016x %s\n",
			r.Workload, "go", r.Variant, r.NsPerUnit(), r.Unit, r.Checksum, status)
	}
}
EOF
  echo "run.sh: building Go's side in $goroot/src/runtime" >&2
  (cd "$rt" && env GOROOT="$goroot" GOFLAGS= GO111MODULE= "$goroot/bin/go" test -c -o "$gotest" .)
}

run_go() {   # extra environment...
  env PAGEALLOC_CORE_BENCH=1 PAGEALLOC_CORE_ONLY="$only" "$@" \
    "$gotest" -test.run '^TestPageallocCore$' -test.count=1
}

go_setup
[ "${BUILD_ONLY:-0}" = 1 ] && exit 0

# --- Trace mode: compare the allocation sequences one by one.
if [ -n "${TRACE:-}" ]; then
  tdir=$results/trace
  mkdir -p "$tdir"
  w=$(tr '[:lower:]' '[:upper:]' <<<"$TRACE")
  run_go PAGEALLOC_CORE_TRACE="$w" PAGEALLOC_CORE_TRACE_FILE="$tdir/go-$w.trace"
  "$bin" --trace "$tdir" --only "$w" || true
  awk -v w="$w" 'NR == FNR { want[$1] = $2 " " $3; n = FNR; next }
    { if (!($1 in want) || want[$1] != $2 " " $3) {
        split(want[$1], e, " ")
        printf "%s: first difference at allocation %d: npages %s, Go offset %s, ours %s (offsets in pages from base; -1 = failed)\n", w, $1, $2, e[2], $3
        bad = 1; exit 1 } m = FNR }
    END { if (!bad) { if (m != n) { printf "%s: ours made %d allocations, Go %d\n", w, m, n; exit 1 }
                      printf "%s: all %d allocations equal Go\n", w, n } }' \
    "$tdir/go-$w.trace" "$tdir/$w.trace"
  exit $?
fi

# --- Measure: alternate the sides, repetition by repetition.
log=$(mktemp)
golog=$(mktemp)
trap 'rm -f "$log" "$golog"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
status=0
for ((r = 1; r <= repeat; r++)); do
  echo "run.sh: repetition $r/$repeat" >&2
  if [ "$go_only" != 1 ] && [ $((r % 2)) -eq 1 ]; then
    "$bin" --only "$only" >>"$log" || status=1
  fi
  run_go >"$golog" 2>&1 || { status=1; grep -v '^core ' "$golog" >&2 || true; }
  grep '^core ' "$golog" >>"$log" || true
  if [ "$go_only" != 1 ] && [ $((r % 2)) -eq 0 ]; then
    "$bin" --only "$only" >>"$log" || status=1
  fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
ncpu=$(nproc 2>/dev/null || echo '?')

# --- Aggregate: median and min-max per (workload, side, variant); ratios.
# Input lines: core W impl variant ns ns/unit checksum status
awk -v repeat="$repeat" -v cpu="$cpu" -v ncpu="$ncpu" -v kernel="$(uname -r)" \
    -v load_before="$load_before" -v load_after="$load_after" \
    -v json="$results/core.json" -v dat="$results/core.dat" '
function med(k,   n, i, j, t, a) {
  n = cnt[k]; for (i = 1; i <= n; i++) a[i] = val[k, i]
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  lo[k] = a[1]; hi[k] = a[n]
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function cellstr(k) { return cnt[k] ? sprintf("%8.2f (%.2f-%.2f)", m[k], lo[k], hi[k]) : sprintf("%8s", "-") }
function jcell(k,   s, i) {
  if (!cnt[k]) return "null"
  s = sprintf("{\"median\": %.3f, \"min\": %.3f, \"max\": %.3f, \"runs\": [", m[k], lo[k], hi[k])
  for (i = 1; i <= cnt[k]; i++) s = s sprintf("%s%.3f", i > 1 ? ", " : "", val[k, i])
  return s "]}"
}
$1 == "core" {
  w = $2; k = w SUBSEP $3 SUBSEP $4
  val[k, ++cnt[k]] = $5; unit[w] = substr($6, 4); seen[w] = 1
  if (!(w in sum)) sum[w] = $7
  if ($8 != "ok" || $7 != sum[w]) bad[w] = 1
}
END {
  target["W1"] = 0.33; target["W2"] = 0.30; target["W3"] = 0.33; target["W4"] = 0.5
  split("pagealloc raw|pagealloc locked|go amortised|go percall", cols, "|")
  printf "\nCore benchmarks W1-W4, median of %d runs (min-max), ns per unit; ratios of medians\n", repeat
  printf "machine: %s cpus, %s, Linux %s; load %s before, %s after\n\n", ncpu, cpu, kernel, load_before, load_after
  printf "%-11s %-26s %-26s %-26s %-26s %-9s %-9s %-11s %s\n", "workload", "ours raw", "ours locked",
         "Go amortised", "Go per-call", "raw/amort", "target", "locked/call", "checksums"
  printf "# workload ratio_raw_amortised ratio_locked_percall target\n" > dat
  printf "{\n  \"benchmark\": \"core\",\n  \"repeat\": %d,\n", repeat > json
  printf "  \"machine\": {\"cpus\": \"%s\", \"cpu\": \"%s\", \"kernel\": \"%s\", \"load_before\": \"%s\", \"load_after\": \"%s\"},\n", ncpu, cpu, kernel, load_before, load_after > json
  printf "  \"workloads\": [" > json
  nw = split("W1 W2 W3 W4", ws, " "); sep = "\n"; failed = 0
  for (i = 1; i <= nw; i++) {
    w = ws[i]; if (!seen[w]) continue
    for (c = 1; c <= 4; c++) { split(cols[c], p, " "); k = w SUBSEP p[1] SUBSEP p[2]; key[c] = k; if (cnt[k]) m[k] = med(k) }
    r1 = (cnt[key[1]] && cnt[key[3]]) ? m[key[1]] / m[key[3]] : -1
    r2 = (cnt[key[2]] && cnt[key[4]]) ? m[key[2]] / m[key[4]] : -1
    verdict = r1 < 0 ? "-" : (r1 <= target[w] ? "met" : "MISSED")
    chk = bad[w] ? "MISMATCH" : "ok"; if (bad[w]) failed = 1
    printf "%-11s %-26s %-26s %-26s %-26s %-9s %-9s %-11s %s\n", w " ns/" unit[w], cellstr(key[1]), cellstr(key[2]),
           cellstr(key[3]), cellstr(key[4]), r1 < 0 ? "-" : sprintf("%.3f", r1),
           sprintf("<=%.2f %s", target[w], verdict == "-" ? "" : (verdict == "met" ? "ok" : "NO")),
           r2 < 0 ? "-" : sprintf("%.3f", r2), chk " " sum[w]
    if (r1 >= 0) printf "%s %.4f %.4f %.2f\n", w, r1, (r2 < 0 ? 0 : r2), target[w] > dat
    printf "%s    {\"workload\": \"%s\", \"unit\": \"%s\", \"pagealloc_raw\": %s, \"pagealloc_locked\": %s, \"go_amortised\": %s, \"go_percall\": %s, ", sep, w, unit[w], jcell(key[1]), jcell(key[2]), jcell(key[3]), jcell(key[4]) > json
    printf "\"ratio_raw_amortised\": %s, \"ratio_locked_percall\": %s, \"target\": %.2f, \"target_met\": %s, \"checksum\": \"%s\", \"checksum_ok\": %s}", r1 < 0 ? "null" : sprintf("%.4f", r1), r2 < 0 ? "null" : sprintf("%.4f", r2), target[w], verdict == "-" ? "null" : (verdict == "met" ? "true" : "false"), sum[w], bad[w] ? "false" : "true" > json
    sep = ",\n"
  }
  printf "\n  ]\n}\n" > json
  printf "\ntargets: ours raw / Go amortised <= 0.33 (W1, W3), <= 0.30 (W2), <= 0.5 (W4)\n"
  if (failed) printf "\n*** CHECKSUM MISMATCH: see the checksums column; TRACE=Wn bench/run.sh BUILD_DIR finds the first differing allocation ***\n"
  exit failed
}' "$log" || status=1
echo "run.sh: wrote $results/core.json" >&2

# --- Chart: the ratios, with the targets and parity.
if [ "$go_only" != 1 ]; then
  if ! command -v gnuplot >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    "$root/scripts/deps.sh" bench >&2 || true
  fi
  if command -v gnuplot >/dev/null 2>&1 && [ -s "$results/core.dat" ] && grep -q '^W' "$results/core.dat"; then
    gnuplot <<EOF && echo "run.sh: wrote $results/core.png" >&2 || echo "run.sh: gnuplot failed" >&2
set terminal pngcairo size 900,520 noenhanced
set output '$results/core.png'
set title 'pagealloc / Go 1.19 page allocator, time per unit (lower is better; ${repeat} runs, medians)'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set ylabel 'ratio to Go'
set yrange [0:*]
set offsets 0,0,0.15,0
set grid ytics
set key below
plot '$results/core.dat' using 2:xtic(1) title 'ours raw / Go amortised' lc rgb '#3060c0', \
     '' using 3 title 'ours locked / Go per-call' lc rgb '#60a0e0', \
     '' using (\$0-0.15):2:(sprintf('%.2f', \$2)) with labels offset 0,0.7 notitle, \
     '' using (\$0+0.15):3:(sprintf('%.2f', \$3)) with labels offset 0,0.7 notitle, \
     '' using (\$0-0.15):4 with points pt 9 ps 2 lc rgb '#c03030' title 'target (raw)', \
     1 with lines dt 2 lc rgb '#808080' title 'parity'
EOF
  else
    echo "run.sh: gnuplot not available or no ratios; no chart" >&2
  fi
fi
exit $status
