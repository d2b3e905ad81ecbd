#!/usr/bin/env bash
# The backed benchmarks W5 (touch) and W6 (threads) of docs/workloads.md: ours
# (pageheap: default shards, one shard, and default shards without run
# caches, ours-norc) next to glibc, jemalloc,
# mimalloc, tcmalloc and raw mmap, in the same run.
#
# Usage: bench/run_backed.sh BUILD_DIR
#   BUILD_DIR holds bench/pagealloc-bench-backed* (a CMake build of this
#   repo; Release for meaningful figures).
# Environment:
#   REPEAT=5        repetitions; every allocator runs once per repetition, in
#                   an order rotated from one repetition to the next, so all
#                   see the same machine noise; medians and min-max reported
#   MMAP_REPEAT=1   repetitions that include the mmap peer (its W5 run alone
#                   takes ~40 s; its RSS figures hardly vary)
#   ONLY=W5,W6      run only these workloads
#   THREADS=1,2     W6 thread counts (default 1 and every CPU: 1,nproc)
#   PEERS=glibc,jemalloc,mimalloc,tcmalloc,mmap   peers to run (ours always)
#   SCALE_REPEAT=15 pairs of the W6 scaling protocol (0: none; see below)
#   SCALE_MAX=40    more pairs, up to this many, while fewer than five of a
#                   workload's pairs were quiet
#   SCALE_WL=W6-W2,W6-W1   workloads of the scaling protocol
#   SPIN_STEPS=100000000   register-loop iterations per thread in it
#   QUIET=1.9       the loop's scaling that makes a pair quiet
# The W6 scaling protocol (run after the repetitions, when W6 runs with more
# than one thread count): SCALE_REPEAT pairs of ours at T=1 and T=2 (the first
# and last of THREADS), the process pinned with taskset (T=1 on one CPU,
# changing every two pairs, so each CPU sees both orders; T=2 on two, one thread
# each), in ABBA order (odd pairs: loop T=1, ours T=1, ours T=2, loop T=2;
# even pairs the reverse), so each pair's ratio T=2 / T=1 comes from runs
# seconds apart and next to the register loop's own ratio. The target is the
# median of the pairs' ratios, reported with its IQR and min-max and with the
# machine's scaling (the loop's) of the same pairs; when 5 or more pairs were
# quiet (their loop scaled >= QUIET=1.9 with its one thread at >= 90 % of the
# protocol's best), the median of those pairs instead.
# Output: the tables on stdout (Markdown), bench/results/backed.json,
# bench/results/backed.png (gnuplot). Exit status 1 if a run failed
# unexpectedly or the allocators did not replay the same sequences.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
build=$(cd "$1" && pwd)
repeat=${REPEAT:-5}
mmap_repeat=${MMAP_REPEAT:-1}
only=${ONLY:-W5,W6}
ncpu=$(nproc 2>/dev/null || echo 2)
threads=${THREADS:-1,$ncpu}
[ "$threads" = "1,1" ] && threads=1
peers=${PEERS:-glibc,jemalloc,mimalloc,tcmalloc,mmap}
scale_repeat=${SCALE_REPEAT:-15}
scale_max=${SCALE_MAX:-40}
[ "$scale_max" -ge "$scale_repeat" ] || scale_max=$scale_repeat
scale_wl=${SCALE_WL:-W6-W2,W6-W1}
spin_steps=${SPIN_STEPS:-100000000}
results=$root/bench/results
bindir=$build/bench
mkdir -p "$results"

ours=$bindir/pagealloc-bench-backed
[ -x "$ours" ] || { echo "run_backed.sh: $ours is missing; build it first (cmake --build $1)" >&2; exit 2; }
[ -x "$bindir/pagealloc-bench-backed-mmap" ] || { echo "run_backed.sh: pagealloc-bench-backed-mmap is missing" >&2; exit 2; }

# Configurations: label and command.
labels=(ours ours-1shard ours-norc)
cmds=("$ours" "$ours --shards 1" "$ours --no-run-cache")
IFS=, read -r -a peer_list <<<"$peers"
for p in "${peer_list[@]}"; do
  b=$bindir/pagealloc-bench-backed-$p
  if [ -x "$b" ]; then
    labels+=("$p"); cmds+=("$b")
  else
    echo "run_backed.sh: $b not built (missing Debian package? scripts/deps.sh bench); skipping $p" >&2
  fi
done
n=${#labels[@]}
IFS=, read -r -a tlist <<<"$threads"

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
log=$(mktemp)
errlog=$(mktemp)
trap 'rm -f "$log" "$errlog"' EXIT

# One measurement in its own process. A failure is logged, not fatal.
run_one() {   # label command workload threads [name to log the workload under]
  local out rc=0
  out=$($2 --workload "$3" --threads "$4" 2>>"$errlog") || rc=$?
  [ -n "${5:-}" ] && out=${out//" $3 "/" $5 "}
  if [ $rc -ne 0 ]; then
    local why
    why=$(tail -n1 "$errlog" | tr -s ' ' | cut -c1-160)
    echo "fail $3 $1 T=$4 exit=$rc $why" >>"$log"
    echo "run_backed.sh: $1 $3 T=$4 failed: $why" >&2
  fi
  grep -E '^(backed|info) ' <<<"$out" >>"$log" || true
}

want() { [[ ",$only," == *",$1,"* ]]; }
bench_begin "$root" src include
for ((r = 1; r <= repeat; r++)); do
  echo "run_backed.sh: repetition $r/$repeat" >&2
  order=()
  for ((k = 0; k < n; k++)); do order+=($(((k + r - 1) % n))); done
  # Thread counts ascending on odd repetitions, descending on even ones.
  tord=("${tlist[@]}")
  if [ $((r % 2)) -eq 0 ]; then
    tord=(); for ((k = ${#tlist[@]} - 1; k >= 0; k--)); do tord+=("${tlist[k]}"); done
  fi
  if want W5; then
    for k in "${order[@]}"; do
      [ "${labels[k]}" = mmap ] && [ "$r" -gt "$mmap_repeat" ] && continue
      run_one "${labels[k]}" "${cmds[k]}" W5 1
    done
  fi
  if want W6; then
    for w in W6-W1 W6-W2 W6-W3; do
      # The machine's own scaling right now (register-only loop).
      for t in "${tord[@]}"; do run_one cpu "$bindir/pagealloc-bench-backed-mmap" W6-spin "$t" "$w-spin"; done
      for k in "${order[@]}"; do
        [ "${labels[k]}" = mmap ] && [ "$r" -gt "$mmap_repeat" ] && continue
        for t in "${tord[@]}"; do run_one "${labels[k]}" "${cmds[k]}" "$w" "$t"; done
      done
    done
  fi
done

# The W6 scaling protocol (see the header). Lines "scale PAIR WORKLOAD IMPL T
# CPUS ops=..." go to the log.
scale_one() {   # pair workload-tag cpus label command workload threads [steps]
  local out rc=0
  out=$(taskset -c "$3" $5 --workload "$6" --threads "$7" ${8:+--steps "$8"} 2>>"$errlog") || rc=$?
  if [ $rc -ne 0 ]; then
    echo "run_backed.sh: scaling pair $1: $4 $6 T=$7 failed (exit $rc)" >&2
    echo "fail $2 $4 T=$7 exit=$rc scaling protocol" >>"$log"
    return
  fi
  sed -n "s/^backed [^ ]* [^ ]* T=[0-9]* /scale $1 $2 $4 $7 $3 /p" <<<"$out" >>"$log"
}
# The fewest quiet pairs of any workload so far (the report's definition:
# the loop's T=n / T=1 >= QUIET, its T=1 at >= 90 % of the best T=1 yet).
quiet_pairs() {
  awk -v t1="$t1" -v tn="$tn" -v q="${QUIET:-1.9}" '
    $1 == "scale" && $4 == "cpu" {
      for (i = 7; i <= NF; i++) if ($i ~ /^ops=/) v = substr($i, 5) + 0
      k = $3 SUBSEP $2; wl[$3] = 1
      if ($5 == t1) { one[k] = v; if (v > best) best = v } else if ($5 == tn) many[k] = v
    }
    END {
      min = -1
      for (w in wl) {
        n = 0
        for (k in one) { split(k, a, SUBSEP)
          if (a[1] == w && (k in many) && many[k] / one[k] >= q && one[k] >= 0.9 * best) n++ }
        if (min < 0 || n < min) min = n
      }
      print (min < 0 ? 0 : min)
    }' "$log"
}
t1=${tlist[0]}
tn=${tlist[${#tlist[@]} - 1]}
if want W6 && [ "$tn" -gt "$t1" ] && [ "$scale_repeat" -gt 0 ]; then
  if ! command -v taskset >/dev/null 2>&1; then
    echo "run_backed.sh: taskset (util-linux) missing: no scaling protocol" >&2
  else
    IFS=, read -r -a cpus <<<"$(python3 -c 'import os; print(",".join(map(str, sorted(os.sched_getaffinity(0)))))')"
    if [ "${#cpus[@]}" -lt "$tn" ]; then
      echo "run_backed.sh: $tn threads but only ${#cpus[@]} CPUs allowed: no scaling protocol" >&2
    else
      many=$(IFS=,; echo "${cpus[*]:0:$tn}")
      IFS=, read -r -a swl <<<"$scale_wl"
      r=0
      while :; do
        r=$((r + 1))
        echo "run_backed.sh: scaling pair $r (at least $scale_repeat, at most $scale_max)" >&2
        # T=1's CPU changes every two pairs, so that each CPU sees both orders.
        one=${cpus[$((((r - 1) / 2) % tn))]}
        for w in "${swl[@]}"; do
          if [ $((r % 2)) -eq 1 ]; then
            seq_t=("$t1:$one" "$tn:$many")
          else
            seq_t=("$tn:$many" "$t1:$one")
          fi
          a=${seq_t[0]} b=${seq_t[1]}
          scale_one "$r" "$w" "${a#*:}" cpu "$bindir/pagealloc-bench-backed-mmap" W6-spin "${a%%:*}" "$spin_steps"
          scale_one "$r" "$w" "${a#*:}" ours "$ours" "$w" "${a%%:*}"
          scale_one "$r" "$w" "${b#*:}" ours "$ours" "$w" "${b%%:*}"
          scale_one "$r" "$w" "${b#*:}" cpu "$bindir/pagealloc-bench-backed-mmap" W6-spin "${b%%:*}" "$spin_steps"
        done
        # Past SCALE_REPEAT pairs, go on (up to SCALE_MAX) while fewer than
        # five pairs of some workload were quiet: a shared machine has quiet
        # moments, and the target prefers them.
        if [ "$r" -ge "$scale_repeat" ]; then
          q=$(quiet_pairs)
          if [ "$q" -ge 5 ] || [ "$r" -ge "$scale_max" ]; then
            echo "run_backed.sh: scaling protocol: $r pairs, at least $q quiet per workload" >&2
            break
          fi
        fi
      done
    fi
  fi
fi
bench_end

status=0
python3 - "$log" "$results" <<EOF || status=1
import json, os, statistics, sys
sys.path.insert(0, "$root/bench")
import report
log, results = sys.argv[1], sys.argv[2]
repeat, mmap_repeat = $repeat, $mmap_repeat
machine, tree, elapsed = report.run_info(
    "uncommitted_src_include_files",
    max_map_count="$(cat /proc/sys/vm/max_map_count 2>/dev/null || echo '?')")
labels = "${labels[*]}".split()
threads = [int(t) for t in "${threads}".split(",")]

cells, info, fails, seqs, scale = {}, {}, [], {}, {}
for line in open(log):
    f = line.split()
    if not f:
        continue
    if f[0] == "fail":
        fails.append({"workload": f[1], "impl": f[2], "threads": int(f[3][2:]), "why": " ".join(f[4:])})
        continue
    if f[0] == "scale":   # scale PAIR WORKLOAD IMPL T CPUS ops=...
        kv = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in f[6:] if "=" in a}
        scale.setdefault(f[2], {}).setdefault(int(f[1]), {})[(f[3], int(f[4]))] = float(kv["ops"])
        continue
    kv = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in f[4:] if "=" in a}
    wl, impl, t = f[1], f[2], int(f[3][2:])
    if f[0] == "info":
        info[(wl, impl, t)] = kv
        continue
    for k, v in kv.items():
        if k == "seq":
            if not wl.endswith("-spin"):
                seqs.setdefault((wl, t), {})[impl] = v
        elif k != "base":
            cells.setdefault((wl, impl, t, k), []).append(float(v))
    if wl == "W5":
        cells.setdefault((wl, impl, t, "base"), []).append(float(kv["base"]))

def cell(wl, impl, t, k):
    v = cells.get((wl, impl, t, k))
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "runs": v}

def med(wl, impl, t, k):
    c = cell(wl, impl, t, k)
    return c["median"] if c else None

def ratio(a, b):
    return a / b if a is not None and b else None

def fmt(c, scale=1.0, prec=1):
    if not c:
        return "-"
    m, lo, hi = c["median"] / scale, c["min"] / scale, c["max"] / scale
    if len(c["runs"]) == 1:
        return f"{m:.{prec}f} (1 run)"
    return f"{m:.{prec}f} ({lo:.{prec}f}-{hi:.{prec}f})"

def rs(x, prec=3):
    return "-" if x is None else f"{x:.{prec}f}"

present = [l for l in labels if any(k[1] == l for k in cells)]
mallocs = [l for l in present if l in ("glibc", "jemalloc", "mimalloc", "tcmalloc")]
bad_seq = [f"{wl} T={t}" for (wl, t), d in seqs.items() if len(set(d.values())) > 1]
expected_fail = lambda x: x["impl"] == "mmap" and "munmap" in x["why"]
unexpected = [x for x in fails if not expected_fail(x)]

out = []
p = out.append
p(f"Backed benchmarks W5/W6: median of {repeat} runs (mmap: {min(mmap_repeat, repeat)}), min-max in brackets; ratios are ours / peer of medians from the same run")
p(report.header(machine, elapsed))
p(f"tree at the start: {tree['commit']} ({tree['uncommitted_src_include_files']} uncommitted files under src/ include/)")

targets = report.Targets()
def target(name, value, limit, better, detail):
    targets.add(name, value, limit, detail, better)

json_out = {"benchmark": "backed", "repeat": repeat, "mmap_repeat": mmap_repeat,
            "machine": machine, "tree": tree, "threads": threads, "elapsed_s": elapsed}

if any(k[0] == "W5" for k in cells):
    p("")
    p("W5 touch (W1's sequence on real memory, one byte written per 8 KiB page); RSS in MiB above the process's RSS before the first allocation")
    p("")
    p("| allocator | ns/pair | ours / it | ours-1shard / it | peak RSS | ours / it | RSS after freeing all | RSS after release | ours / it |")
    p("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    o_ns, o1_ns = med("W5", "ours", 1, "ns"), med("W5", "ours-1shard", 1, "ns")
    o_pk, o_rel = med("W5", "ours", 1, "peak"), med("W5", "ours", 1, "released")
    w5 = {}
    for l in present:
        if not cells.get(("W5", l, 1, "ns")):
            continue
        ns, pk, rel = med("W5", l, 1, "ns"), med("W5", l, 1, "peak"), med("W5", l, 1, "released")
        p(f"| {l} | {fmt(cell('W5', l, 1, 'ns'))} | {rs(ratio(o_ns, ns))} | {rs(ratio(o1_ns, ns))} | "
          f"{fmt(cell('W5', l, 1, 'peak'), 1024)} | {rs(ratio(o_pk, pk))} | {fmt(cell('W5', l, 1, 'freed'), 1024)} | "
          f"{fmt(cell('W5', l, 1, 'released'), 1024, 2)} | {rs(ratio(o_rel, rel))} |")
        w5[l] = {"ns_per_pair": cell("W5", l, 1, "ns"), "peak_rss_kib": cell("W5", l, 1, "peak"),
                 "rss_end_kib": cell("W5", l, 1, "end"), "rss_after_free_kib": cell("W5", l, 1, "freed"),
                 "rss_after_release_kib": cell("W5", l, 1, "released"), "base_rss_kib": cell("W5", l, 1, "base"),
                 "ratio_ours_ns": ratio(o_ns, ns), "ratio_ours_1shard_ns": ratio(o1_ns, ns),
                 "ratio_ours_peak": ratio(o_pk, pk), "ratio_ours_released": ratio(o_rel, rel)}
    json_out["W5"] = w5
    best = min(mallocs, key=lambda l: med("W5", l, 1, "ns") or float("inf"), default=None)
    if best and med("W5", best, 1, "ns"):
        target("W5 time: ours / best malloc peer <= 0.8", ratio(o_ns, med("W5", best, 1, "ns")), 0.8, "le",
               f"best malloc peer: {best} ({med('W5', best, 1, 'ns'):.1f} ns/pair); ours {o_ns:.1f}; ours-1shard / {best}: {rs(ratio(o1_ns, med('W5', best, 1, 'ns')))}")
    if med("W5", "mmap", 1, "peak"):
        target("W5 peak RSS: ours / mmap <= 1.05", ratio(o_pk, med("W5", "mmap", 1, "peak")), 1.05, "le",
               f"ours {o_pk / 1024:.1f} MiB, mmap {med('W5', 'mmap', 1, 'peak') / 1024:.1f} MiB")
    if med("W5", "glibc", 1, "released") is not None:
        g = med("W5", "glibc", 1, "released")
        target("W5 RSS after release: ours <= glibc after malloc_trim", ratio(o_rel, g), 1.0, "le",
               f"ours {o_rel:.0f} KiB, glibc {g:.0f} KiB (net of the process's own RSS)")

def ops(wl, l, t):
    return cell(wl, l, t, "ops")

# Issue 11's scaling targets: W2 >= 1.9, W1 >= 1.8 (issue 7's). The
# protocol's target figure comes from its quiet pairs when there are at least
# QUIET_PAIRS of them.
W6_LIMIT = {"W6-W2": 1.9, "W6-W1": 1.8}
QUIET_PAIRS = 5

if any(k[0].startswith("W6") for k in cells):
    w6 = {}
    t1, tn = threads[0], threads[-1]
    for wl in ("W6-W1", "W6-W2", "W6-W3"):
        if not any(k[0] == wl for k in cells):
            continue
        unit = "ops" if wl == "W6-W2" else "pairs"
        p("")
        p(f"{wl[3:]} by T threads at once (W6), total throughput in millions of {unit} per second; ours / it: throughput ratio (higher is better for ours)")
        p("")
        hdr = "| allocator | " + " | ".join(f"T={t} M{unit}/s" for t in threads) + f" | T={tn} / T={t1} | " + \
              " | ".join(f"ours / it T={t}" for t in threads) + " |"
        p(hdr)
        p("|" + " --- |" * (2 + 2 * len(threads)))
        d = {}
        for l in ["cpu"] + present:
            if not any(cells.get((wl if l != "cpu" else wl + "-spin", l, t, "ops")) for t in threads):
                continue
            wk = wl if l != "cpu" else wl + "-spin"
            row = [fmt(ops(wk, l, t), 1e6, 2) for t in threads]
            for x in fails:
                if x["workload"] == wl and x["impl"] == l and not ops(wk, l, x["threads"]):
                    row[threads.index(x["threads"])] = "failed: " + ("munmap ENOMEM (vm.max_map_count)" if "munmap" in x["why"] else x["why"][:60])
            sc = ratio(med(wk, l, tn, "ops"), med(wk, l, t1, "ops"))
            rr = [rs(ratio(med(wl, "ours", t, "ops"), med(wk, l, t, "ops"))) if l != "cpu" else "" for t in threads]
            name = "cpu (register loop: the machine's scaling)" if l == "cpu" else l
            p(f"| {name} | " + " | ".join(row) + f" | {rs(sc, 2)} | " + " | ".join(rr) + " |")
            d[l] = {"ops_per_s": {str(t): ops(wk, l, t) for t in threads}, "scaling": sc,
                    "ratio_ours": {str(t): ratio(med(wl, "ours", t, "ops"), med(wk, l, t, "ops")) for t in threads} if l != "cpu" else None}
        w6[wl[3:]] = d
        # The page-path targets of the single-thread runs: ours' time per
        # pair against the best malloc peer's (mmap is not a malloc).
        limit = {"W6-W1": 1.0, "W6-W3": 0.5}.get(wl)
        if limit is not None:
            best = max((l for l in present if l in ("glibc", "jemalloc", "mimalloc", "tcmalloc")
                        and med(wl, l, t1, "ops")), key=lambda l: med(wl, l, t1, "ops"), default=None)
            if best:
                target(f"heap {wl[3:]} T={t1}: ours time / best malloc peer <= {limit}",
                       ratio(med(wl, best, t1, "ops"), med(wl, "ours", t1, "ops")), limit, "le",
                       f"best peer {best}: {med(wl, best, t1, 'ops') / 1e6:.2f} M{unit}/s, "
                       f"ours {med(wl, 'ours', t1, 'ops') / 1e6:.2f}")
        if tn > t1 and wl != "W6-W3" and wl not in scale:
            # No scaling protocol ran (SCALE_REPEAT=0): the ratio of the
            # repetitions' medians, which a shared machine moves a lot.
            sc = ratio(med(wl, "ours", tn, "ops"), med(wl, "ours", t1, "ops"))
            cpu_sc = ratio(med(wl + "-spin", "cpu", tn, "ops"), med(wl + "-spin", "cpu", t1, "ops"))
            sc1 = ratio(med(wl, "ours-1shard", tn, "ops"), med(wl, "ours-1shard", t1, "ops"))
            target(f"W6 {wl[3:]}: ours T={tn} / T={t1} >= {W6_LIMIT.get(wl, 1.8)}", sc, W6_LIMIT.get(wl, 1.8), "ge",
                   f"ratio of medians, not in the scaling protocol (SCALE_REPEAT, SCALE_WL); the machine's own scaling "
                   f"in this run (register loop) {rs(cpu_sc, 2)}, ours / that {rs(ratio(sc, cpu_sc), 2)}; "
                   f"ours-1shard {rs(sc1, 2)}")
    json_out["W6"] = w6

# The scaling protocol: per pair, ours T=n / T=1 and the loop's T=n / T=1
# (both from runs seconds apart); medians, quartiles and extremes of the pairs.
def spread(v):
    v = sorted(v)
    if not v:
        return None
    q = statistics.quantiles(v, n=4, method="inclusive") if len(v) > 1 else [v[0], v[0], v[0]]
    return {"median": statistics.median(v), "q1": q[0], "q3": q[2], "min": v[0], "max": v[-1],
            "pairs": len(v), "runs": v}

def sp(c, prec=2):
    if not c:
        return "-"
    return (f"{c['median']:.{prec}f} (IQR {c['q1']:.{prec}f}-{c['q3']:.{prec}f}, "
            f"min-max {c['min']:.{prec}f}-{c['max']:.{prec}f})")

if scale:
    t1, tn = threads[0], threads[-1]
    p("")
    p(f"W6 scaling protocol: ours T={tn} / T={t1}, pairs run seconds apart, pinned (taskset: T={t1} on one "
      f"CPU, changing every two pairs; T={tn} on {tn}), ABBA order, each next to the register loop's T={tn} / T={t1}; "
      "medians of the pairs' ratios, IQR and min-max; quiet pairs: those whose loop scaled >= "
      f"{os.environ.get('QUIET', '1.9')} with its one thread at >= 90 % of its best speed in this run "
      f"(the target uses them when there are {QUIET_PAIRS} or more)")
    p("")
    p(f"| workload | pairs | ours T={tn} / T={t1} | machine (register loop) | ours / machine | quiet pairs: ours | ours T={t1} M/s | ours T={tn} M/s |")
    p("| --- | --- | --- | --- | --- | --- | --- | --- |")
    quiet_min = float(os.environ.get("QUIET", "1.9"))
    loop_best = max((v for wd in scale.values() for d in wd.values() for (l, t), v in d.items()
                     if l == "cpu" and t == t1), default=0)
    json_out["W6_scaling"] = {"protocol": f"pinned, ABBA pairs of T={t1} and T={tn}, register loop in each pair",
                              "threads": [t1, tn]}
    for wl in ("W6-W2", "W6-W1", "W6-W3"):
        if wl not in scale:
            continue
        ours_r, cpu_r, norm, o1, on, quiet = [], [], [], [], [], []
        for pair, d in sorted(scale[wl].items()):
            a, b = d.get(("ours", t1)), d.get(("ours", tn))
            c1, cn = d.get(("cpu", t1)), d.get(("cpu", tn))
            if a and b:
                ours_r.append(b / a); o1.append(a); on.append(b)
            if c1 and cn:
                cpu_r.append(cn / c1)
            if a and b and c1 and cn:
                norm.append((b / a) / (cn / c1))
                # A quiet pair: the loop next to it scaled >= QUIET and ran
                # its one thread at >= 90 % of the protocol's best speed.
                if cn / c1 >= quiet_min and c1 >= 0.9 * loop_best:
                    quiet.append(b / a)
        c_ours, c_cpu, c_norm, c_quiet = spread(ours_r), spread(cpu_r), spread(norm), spread(quiet)
        p(f"| {wl[3:]} | {len(ours_r)} | {sp(c_ours)} | {sp(c_cpu)} | {sp(c_norm)} | "
          f"{len(quiet)}: {sp(c_quiet)} | "
          f"{rs(statistics.median(o1) / 1e6 if o1 else None, 2)} | {rs(statistics.median(on) / 1e6 if on else None, 2)} |")
        json_out["W6_scaling"][wl[3:]] = {"ours": c_ours, "machine": c_cpu, "ours_over_machine": c_norm,
                                          "ours_quiet_pairs": c_quiet, "quiet_min": quiet_min}
        if c_ours:
            limit = W6_LIMIT.get(wl, 1.8)
            # The target is the quiet pairs' median when there are enough of
            # them; otherwise all pairs', flagged when the machine was loaded.
            use_quiet = c_quiet and c_quiet["pairs"] >= QUIET_PAIRS
            c = c_quiet if use_quiet else c_ours
            loaded = not use_quiet and c_cpu and c_cpu["median"] < quiet_min
            json_out["W6_scaling"][wl[3:]]["target_from"] = "quiet pairs" if use_quiet else "all pairs"
            target(f"W6 {wl[3:]}: ours T={tn} / T={t1} >= {limit}", c["median"], limit, "ge",
                   f"median of {c['pairs']} {'quiet ' if use_quiet else ''}pinned ABBA pairs "
                   f"(of {len(ours_r)}), IQR {c['q1']:.2f}-{c['q3']:.2f}, min-max {c['min']:.2f}-{c['max']:.2f}; "
                   f"the machine's own scaling in all pairs {sp(c_cpu)}"
                   + (f"; UNDER LOAD: the machine itself scaled below {quiet_min} and only {len(quiet)} pairs were quiet"
                      if loaded else "")
                   + (f"; ours / machine {c_norm['median']:.2f}" if c_norm else ""))

p("")
p("Targets (ours = default shards; ratios of medians from this run; W6 scaling: the protocol's pairs):")
p("")
out += targets.table()
if fails:
    p("")
    for x in fails:
        p(f"failed run: {x['workload']} {x['impl']} T={x['threads']}: {x['why']}" + (" (expected: every allocation is its own mapping)" if expected_fail(x) else ""))
if bad_seq:
    p("")
    p("*** SEQUENCE MISMATCH: the allocators did not replay the same sizes in " + ", ".join(bad_seq) + " ***")
print("\n".join(out))

json_out["targets"] = targets.rows
json_out["failures"] = fails
json_out["sequence_ok"] = not bad_seq
json_out["ours_stats"] = {f"{k[0]} {k[1]} T={k[2]}": {a: int(b) for a, b in v.items()} for k, v in info.items()}
report.write_json(f"{results}/backed.json", json_out)

# Data for the chart (a file only for the workloads that ran).
import os
for name in ("w5", "w1", "w2", "w3", "scale"):
    if os.path.exists(f"{results}/backed-{name}.dat"):
        os.remove(f"{results}/backed-{name}.dat")
if any(k[0] == "W5" for k in cells):
  with open(f"{results}/backed-w5.dat", "w") as fh:
    fh.write("# impl ns min max peak_MiB freed_MiB released_MiB\n")
    for l in present:
        c = cell("W5", l, 1, "ns")
        if c:
            fh.write(f"{l} {c['median']:.2f} {c['min']:.2f} {c['max']:.2f} {med('W5', l, 1, 'peak') / 1024:.2f} "
                     f"{med('W5', l, 1, 'freed') / 1024:.2f} {med('W5', l, 1, 'released') / 1024:.2f}\n")
for wl in ("W6-W1", "W6-W2", "W6-W3"):
    if not any(k[0] == wl for k in cells):
        continue
    t1 = threads[0]
    with open(f"{results}/backed-{wl[3:].lower()}.dat", "w") as fh:
        fh.write("# impl " + " ".join(f"T{t} min max" for t in threads) + "\n")
        for l in ["cpu"] + present:
            wk = wl if l != "cpu" else wl + "-spin"
            if not any(ops(wk, l, t) for t in threads):
                continue
            row = []
            for t in threads:
                c = ops(wk, l, t)
                if c and l == "cpu":   # normalise the loop to ours' T=1 throughput: only its shape matters
                    base = med(wl, "ours", t1, "ops") / med(wk, l, t1, "ops") if med(wl, "ours", t1, "ops") else 1
                    c = {k: (v * base if k != "runs" else v) for k, v in c.items()}
                row += [f"{c['median'] / 1e6:.4f} {c['min'] / 1e6:.4f} {c['max'] / 1e6:.4f}" if c else "NaN NaN NaN"]
            fh.write(("cpu-scaled" if l == "cpu" else l) + " " + " ".join(row) + "\n")
# The scaling protocol's pairs: per pair, ours' and the loop's T=n / T=1.
if scale:
    with open(f"{results}/backed-scale.dat", "w") as fh:
        fh.write("# pair " + " ".join(f"{wl[3:]}_ours {wl[3:]}_loop" for wl in ("W6-W2", "W6-W1")) + "\n")
        for pair in sorted({q for d in scale.values() for q in d}):
            row = []
            for wl in ("W6-W2", "W6-W1"):
                d = scale.get(wl, {}).get(pair, {})
                for l in ("ours", "cpu"):
                    a, b = d.get((l, threads[0])), d.get((l, threads[-1]))
                    row.append(f"{b / a:.4f}" if a and b else "NaN")
            fh.write(f"{pair} " + " ".join(row) + "\n")
sys.exit(1 if unexpected or bad_seq else 0)
EOF
echo "run_backed.sh: wrote $results/backed.json" >&2
if [ -s "$errlog" ]; then
  sort "$errlog" | uniq -c | sed 's/^/run_backed.sh: stderr: /' | head -n 20 >&2
fi

# --- Chart: four panels.
if ! command -v gnuplot >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  "$root/scripts/deps.sh" bench >&2 || true
fi
if command -v gnuplot >/dev/null 2>&1 && [ -s "$results/backed-w5.dat" -o -s "$results/backed-w1.dat" ]; then
  ncol=${#tlist[@]}
  plot6() {   # file title
    local s="plot '$1'" c xt
    for ((k = 0; k < ncol; k++)); do
      c=$((2 + 3 * k)); xt=''
      if [ $k -gt 0 ]; then s+=", ''"; else xt=':xtic(1)'; fi
      s+=" using $c:$((c + 1)):$((c + 2))$xt title 'T=${tlist[k]}'"
    done
    echo "set title '$2'; $s"
  }
  {
    echo "set terminal pngcairo size 1300,1300 noenhanced"
    echo "set output '$results/backed.png'"
    echo "set multiplot layout 3,2 title 'pagealloc backed benchmarks (${repeat} runs, medians, min-max bars)'"
    echo "set style fill solid 0.8 border -1; set grid ytics; set key top left; set xtics rotate by -30"
    if [ -s "$results/backed-w5.dat" ]; then
      echo "set style data histogram; set style histogram errorbars gap 1 lw 1; set logscale y"
      echo "set ylabel 'ns per free+alloc pair (log)'"
      echo "set title 'W5 touch: time (lower is better)'"
      echo "plot '$results/backed-w5.dat' using 2:3:4:xtic(1) notitle lc rgb '#3060c0'"
      echo "unset logscale y; set style histogram clustered gap 1; set ylabel 'MiB'; set yrange [0:*]; set key below"
      echo "set title 'W5 touch: RSS above the process baseline'"
      echo "plot '$results/backed-w5.dat' using 5:xtic(1) title 'peak' lc rgb '#c03030', '' using 6 title 'after freeing all' lc rgb '#e0a030', '' using 7 title 'after release' lc rgb '#30a050'"
    else
      echo "set multiplot next; set multiplot next"
    fi
    echo "set autoscale y; set logscale y; set style data histogram; set style histogram errorbars gap 1 lw 1; set key inside top left"
    echo "set ylabel 'millions per second (log)'; set xlabel 'cpu-scaled: register loop scaled to ours T=1 (machine ceiling)' offset 0,0.5"
    for w in w1 w2 w3; do
      if [ -s "$results/backed-$w.dat" ]; then
        plot6 "$results/backed-$w.dat" "W6 ${w^^}: throughput by threads (higher is better)"
      fi
    done
    if [ -s "$results/backed-scale.dat" ]; then
      echo "set style data linespoints; unset logscale y; set yrange [0:*]; set xtics norotate 1"
      echo "set xlabel 'pair (pinned, ABBA order)' offset 0,0; set ylabel 'T=${tlist[${#tlist[@]} - 1]} / T=${tlist[0]} throughput'; set key below"
      echo "set title 'W6 scaling protocol: each pair (target W2 >= 1.9)'"
      echo "plot '$results/backed-scale.dat' using 1:2 title 'ours W2' lc rgb '#3060c0' pt 7, '' using 1:3 title 'loop (W2 pairs)' lc rgb '#3060c0' dt 2 pt 6, '' using 1:4 title 'ours W1' lc rgb '#30a050' pt 7, '' using 1:5 title 'loop (W1 pairs)' lc rgb '#30a050' dt 2 pt 6, 1.9 with lines lc rgb '#c03030' dt 3 title 'W2 target'"
    fi
    echo "unset multiplot"
  } >"$results/backed.gp"
  if gnuplot "$results/backed.gp" 2>"$errlog"; then
    echo "run_backed.sh: wrote $results/backed.png" >&2
  else
    echo "run_backed.sh: gnuplot failed: $(head -c 300 "$errlog")" >&2
  fi
  rm -f "$results/backed.gp"
else
  echo "run_backed.sh: gnuplot not available or no data; no chart" >&2
fi
exit $status
