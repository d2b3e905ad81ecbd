#!/usr/bin/env python3
"""bench/summary.py - the last step of `make bench`: one table of every
target the benchmarks measure, from the JSON the three drivers wrote in the
same run (bench/results/core.json, backed.json, malloc.json, stack.json):

  - the page paths (issue 11): core W1-W4 against Go 1.19's allocator, the
    heap's W1 and W3 (untouched, one thread) and W5 (touched) against the
    best malloc peer, W5's peak RSS against one mmap per allocation and
    against the leanest malloc peer, its RSS after freeing everything and
    releasing against glibc's after malloc_trim, and
    W6's two-thread scaling (bench/run_backed.sh's scaling protocol: the
    median of pinned, alternated pairs - of its quiet pairs when there are
    enough - with its IQR and min-max in the "now" cell and the machine's
    own scaling in the same pairs);
  - the object allocator (issue 10): the malloc suite's geometric means and
    its worst workload, against the best peer per workload (time: the
    medians of run_malloc.sh's quiet paired rounds, bench/pairs.py; not
    measured when a workload had too few quiet rounds);
  - the stacks (issue 12): the worst create+destroy pair (median of the
    quiet paired rounds, bench/stack_paired.h; not measured when a case had
    too few) against mmap + mprotect + munmap and against the faster of the
    glibc- and mimalloc-malloc'd stacks, and the idle RSS of 100,000 stacks
    over the bytes touched (bench/stack.c's JSON, stack.json);
  - the collector (issue 13, bench/run_gc.sh's gc.json): ours against
    bdwgc and Go on the four collector programs, each row the worst
    program (time / bdwgc, time / Go, peak RSS / bdwgc, longest pause /
    bdwgc; time and pause from run_gc.sh's quiet paired rounds) and
    alloc-rate's settled RSS over its live set after the drop;
    "not measured" while our bdwgc face is not built.

Each row gives the value now, the target, the verdict and where the value
comes from. A driver that did not run (or an ONLY= that skipped a
workload) leaves its rows as "not measured". Writes the table to stdout,
bench/results/summary.json and, if gnuplot is there, summary.png (each
value as a multiple of its target, 1 = on target, lower is better).

Usage: bench/summary.py [RESULTS_DIR]   (default bench/results)
"""
import json
import os
import shutil
import subprocess
import sys

results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")


def load(name):
    try:
        with open(os.path.join(results, name)) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


core, backed, malloc = load("core.json"), load("backed.json"), load("malloc.json")
gc = load("gc.json")
rows = []


def row(area, name, value, limit, better, source, short=None, spread=None):
    if value is None:
        verdict = "not measured"
    else:
        verdict = "met" if (value <= limit if better == "le" else value >= limit) else "MISSED"
    rows.append({"area": area, "row": name, "value": value, "target": limit, "better": better,
                 "verdict": verdict, "source": source, "short": short or name.split(":")[0],
                 "spread": spread})


# Core W1-W4: ours (no lock) / Go amortised, as run.sh reports them.
targets = {"W1": 0.33, "W2": 0.30, "W3": 0.33, "W4": 0.5}
names = {"W1": "churn", "W2": "single pages", "W3": "large runs", "W4": "page cache"}
byname = {w["workload"]: w for w in (core or {}).get("workloads", [])}
for w, limit in targets.items():
    r = byname.get(w, {}).get("ratio_raw_amortised")
    if r is not None and not byname[w].get("checksum_ok", True):
        r = None                         # a wrong answer measures nothing
    row("page paths", f"core {w} {names[w]}: ours / Go 1.19", r, limit, "le", "core.json")


def backed_target(prefix):
    for t in (backed or {}).get("targets", []):
        if t["target"].startswith(prefix):
            return t["value"]
    return None


row("page paths", "heap W1 untouched, 1 thread: time / best malloc peer",
    backed_target("heap W1 "), 1.0, "le", "backed.json W6-W1")
row("page paths", "heap W3 untouched, 1 thread: time / best malloc peer",
    backed_target("heap W3 "), 0.5, "le", "backed.json W6-W3")
row("page paths", "heap W5 touched: time / best malloc peer",
    backed_target("W5 time"), 0.8, "le", "backed.json W5")
row("page paths", "heap W5: peak RSS / one mmap per allocation",
    backed_target("W5 peak RSS: ours / mmap"), 1.05, "le", "backed.json W5", "heap W5 peak RSS")
row("page paths", "heap W5: peak RSS / leanest malloc peer",
    backed_target("W5 peak RSS: ours / leanest"), 1.0, "le", "backed.json W5", "heap W5 RSS / peer")
row("page paths", "heap W5: RSS after release / glibc after malloc_trim",
    backed_target("W5 RSS after release"), 1.0, "le", "backed.json W5", "heap W5 RSS released")
# W6: the scaling protocol's median of pinned, alternated pairs with its
# spread and the machine's own scaling in the same pairs (run_backed.sh);
# without it (SCALE_REPEAT=0) the ratio of the repetitions' medians.
# Its figure is the quiet pairs' median; with too few quiet pairs (the
# reference loop slow around a side: a loaded machine), not measured.
w6p = (backed or {}).get("W6_scaling", {}).get("W2", {})
if w6p.get("ours"):
    quiet = w6p.get("target_from") == "quiet pairs"
    o, m = (w6p["ours_quiet_pairs"] if quiet else w6p["ours"]), w6p.get("machine")
    spread = f"IQR {o['q1']:.2f}-{o['q3']:.2f}, min-max {o['min']:.2f}-{o['max']:.2f}" if quiet else None
    dropped = ", ".join(f"{n} {k}" for k, n in sorted(w6p.get("dropped", {}).items())) or "none"
    src = (f"backed.json W6_scaling ({(w6p.get('ours_quiet_pairs') or {}).get('pairs', 0)} quiet pinned ABBA "
           f"pairs of {w6p['ours']['pairs']}, dropped: {dropped}; machine's own scaling "
           + (f"{m['median']:.2f}, IQR {m['q1']:.2f}-{m['q3']:.2f}" if m else "not measured")
           + ("" if quiet else f"; UNDER LOAD, all pairs' median {o['median']:.2f}") + ")")
    row("page paths", "W6 W2: two threads / one (throughput)", o["median"] if quiet else None, 1.9, "ge",
        src, spread=spread)
else:
    w6 = (backed or {}).get("W6", {}).get("W2", {}).get("ours", {})
    row("page paths", "W6 W2: two threads / one (throughput)", w6.get("scaling"), 1.9, "ge",
        "backed.json W6-W2, ratio of medians: no scaling protocol ran")

# Stacks (issue 12): bench/stack.c's JSON (stack.json; stack.md is the same
# run as tables, bench/run_stack.sh): the worst case against mmap + mprotect
# + munmap and against the faster malloc peer of that case (glibc or
# mimalloc), each case's figure the median of its quiet paired rounds
# (bench/stack_paired.h); with too few quiet rounds in a case, not measured
# (under load), the source naming the cases and the median of every round;
# and the worst idle RSS over the bytes the stacks touched.
stack = load("stack.json")
stt = {t["target"]: t for t in (stack or {}).get("targets", [])}
st = {k: t["value"] for k, t in stt.items()}
idle = (stack or {}).get("idle", {})
idle_src = "stack.json"
if idle and idle.get("stacks") != 100000:
    idle_src = f"stack.json ({idle.get('stacks')} stacks, not 100,000: {idle.get('max_map_count')})"
best = "glibc or mimalloc" if (stack or {}).get("mimalloc", {}).get("measured") else "glibc only"


def stack_source(name):
    t = stt.get(name)
    if not t or "under_load" not in t:     # an older stack.json: ratios of medians
        return "stack.json"
    if t["value"] is None:
        a = t.get("all_rounds")
        return ("stack.json, paired: not measured (under load: " + "; ".join(t["under_load"])
                + (f"; every round's median {a:.2f}" if a is not None else "") + ")")
    w = t["worst"]
    return (f"stack.json, paired, worst: {w['size'] >> 10} KiB x{w['threads']} against {w['peer']} "
            f"(IQR {w['q1']:.2f}-{w['q3']:.2f}, {w['quiet']} of {w['rounds']} rounds quiet)")


T_MMAP = "worst pair / mmap+mprotect+munmap <= 0.1"
T_MALLOC = "worst pair / best malloc'd stack <= 1.0"
row("stacks", "stacks: worst create+destroy pair / mmap+mprotect+munmap",
    st.get(T_MMAP), 0.1, "le", stack_source(T_MMAP), "stacks pair / mmap")
row("stacks", f"stacks: worst create+destroy pair / faster malloc'd stack ({best})",
    st.get(T_MALLOC), 1.0, "le", stack_source(T_MALLOC), "stacks pair / malloc")
row("stacks", "stacks: idle RSS / bytes touched (worst of 4 and 60 KiB deep)",
    st.get("worst idle RSS / bytes touched <= 1.05"), 1.05, "le", idle_src, "stacks idle RSS")

# The malloc suite's time rows come from run_malloc.sh's paired rounds
# (bench/pairs.py): each workload's figure is the median of its quiet
# rounds; with too few quiet rounds the workload, and so the row, is not
# measured (under load). The source names the worst workload's spread or
# the workloads under load, each with its all-rounds median as a labelled
# fallback (no verdict reads it).
mt = {t["target"]: t["value"] for t in (malloc or {}).get("targets", [])}
mp = (malloc or {}).get("paired") or {}


def paired_note(f):
    s = f.get("spread")
    if f.get("value") is None or not s:
        return f"under load: {f.get('quiet', 0)} of {f.get('rounds', 0)} rounds quiet"
    return f"IQR {s['q1']:.2f}-{s['q3']:.2f}, {f['quiet']} of {f['rounds']} rounds quiet"


def fallback(name, f):
    """A workload under load, with its all-rounds median as a labelled
    fallback (never the row's value: bench/pairs.py)."""
    a = (f or {}).get("all_rounds")
    if not a:
        return name
    return f"{name}: {f.get('quiet', 0)} of {f.get('rounds', 0)} quiet, all rounds' median {a['median']:.2f}"


def malloc_source(worst=False):
    if not mp:
        return "malloc.json"
    loaded = [w for w, f in mp.items() if f.get("value") is None]
    if loaded:
        return "malloc.json, paired: not measured (under load: " + "; ".join(fallback(w, mp[w]) for w in loaded) + ")"
    if worst:
        w = max(mp, key=lambda x: mp[x]["value"])
        return f"malloc.json, paired, worst: {w} against {mp[w].get('peer')} ({paired_note(mp[w])})"
    return f"malloc.json, medians of quiet paired rounds ({min(f['quiet'] for f in mp.values())}+ per workload)"


row("object allocator", "malloc suite: geomean time / best peer",
    mt.get("geomean time / best peer <= 1.0"), 1.0, "le", malloc_source(), "malloc geomean time")
row("object allocator", "malloc suite: worst workload's time / best peer",
    mt.get("no workload's time / best peer > 1.5"), 1.5, "le", malloc_source(True), "malloc worst time")
row("object allocator", "malloc suite: geomean peak RSS / best peer",
    mt.get("geomean peak RSS / best peer <= 0.9"), 0.9, "le", "malloc.json", "malloc geomean RSS")

# The collector (issue 13): run_gc.sh's per-program targets for ours; a row
# is the worst program, "not measured" unless every program was measured
# (ours not built, or a program that failed or was left out by ONLY=, or,
# for the time and pause rows, too few quiet paired rounds: under load).
gp = (gc or {}).get("paired") or {}
PAIRED_KEY = {"time / bdwgc": "elapsed_s/bdwgc", "time / Go": "elapsed_s/go",
              "longest pause / bdwgc": "max_pause_ms/bdwgc"}


def gc_worst(prefix):
    ts = [t for t in (gc or {}).get("targets", []) if t["target"].startswith(prefix)]
    key = PAIRED_KEY.get(prefix)
    if not ts:
        return None, ""
    if any(t["value"] is None for t in ts):
        loaded = [fallback(t["program"], gp.get(t["program"], {}).get(key) if key else None)
                  for t in ts if t["value"] is None]
        return None, ("gc.json, paired: not measured (under load or not run: " + "; ".join(loaded) + ")"
                      if key and gp else "")
    worst = max(ts, key=lambda t: t["value"])
    f = gp.get(worst["program"], {}).get(key) if key else None
    return worst["value"], f"gc.json, worst: {worst['program']}" + (f" (paired, {paired_note(f)})" if f else "")


for prefix, name, limit, short in (
        ("time / bdwgc", "collector: worst program's time / bdwgc", 0.8, "gc time / bdwgc"),
        ("time / Go", "collector: worst program's time / Go", 1.0, "gc time / Go"),
        ("peak RSS / bdwgc", "collector: worst program's peak RSS / bdwgc", 1.0, "gc peak RSS / bdwgc"),
        ("longest pause / bdwgc", "collector: worst program's longest pause / bdwgc", 0.5,
         "gc pause / bdwgc"),
        ("RSS after drop", "collector: alloc-rate RSS after the drop / live set", 1.1,
         "gc RSS after drop")):
    value, source = gc_worst(prefix)
    row("collector", name, value, limit, "le", source or "gc.json", short)

print()
print("Summary of the targets, this run (bench/results/*.json):")
print()
print("| area | measure | now | target | verdict | from |")
print("| --- | --- | --- | --- | --- | --- |")
for r in rows:
    now = "-" if r["value"] is None else f"{r['value']:.2f}"
    if r["spread"]:
        now += f" ({r['spread']})"
    sign = "<=" if r["better"] == "le" else ">="
    print(f"| {r['area']} | {r['row']} | {now} | {sign} {r['target']:.2f} | {r['verdict']} | {r['source']} |")
met = sum(r["verdict"] == "met" for r in rows)
measured = sum(r["value"] is not None for r in rows)
print()
print(f"{met} of {measured} measured targets met ({len(rows) - measured} not measured)", flush=True)

machine = next((d["machine"] for d in (core, backed, malloc, stack, gc) if d and "machine" in d), None)
with open(os.path.join(results, "summary.json"), "w") as fh:
    json.dump({"benchmark": "summary", "machine": machine, "rows": rows}, fh, indent=1)
    fh.write("\n")

# The chart: each measured value over its target (a ">=" target inverted,
# so that lower is better everywhere and 1 is the target).
plotted = [r for r in rows if r["value"]]
if plotted and shutil.which("gnuplot"):
    dat = os.path.join(results, "summary.dat")
    with open(dat, "w") as fh:
        for r in plotted:
            x = r["value"] / r["target"] if r["better"] == "le" else r["target"] / r["value"]
            label = r["short"].replace('"', "'")
            fh.write(f'"{label}" {x:.4f}\n')
    png = os.path.join(results, "summary.png")
    script = f"""
set terminal pngcairo size 1100,{200 + 32 * len(plotted)} noenhanced
set output '{png}'
set title 'pagealloc: each measure as a multiple of its target (lower is better; 1 = on target)'
set style fill solid 0.8 border -1
set yrange [-0.6:{len(plotted) - 0.4}]
set xrange [0:*]
set grid xtics
set arrow from 1, graph 0 to 1, graph 1 nohead lc rgb '#c03030' lw 2
plot '{dat}' using ($2*0.5):0:($2*0.5):(0.35):yticlabels(1) with boxxyerror notitle lc rgb '#3060c0'
"""
    done = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    os.remove(dat)
    if done.returncode == 0:
        print(f"summary.py: wrote {png}", file=sys.stderr)
    else:
        print(f"summary.py: gnuplot failed: {done.stderr[:300]}", file=sys.stderr)
print(f"summary.py: wrote {os.path.join(results, 'summary.json')}", file=sys.stderr)
