#!/usr/bin/env python3
"""Report of bench/run_backed.sh: reads the log of its runs and writes the
Markdown tables (stdout), bench/results/backed.json and the .dat files the
chart is drawn from.

Usage: backed_report.py LOG RESULTS_DIR REPEAT MMAP_REPEAT THREADS LABELS
  THREADS: the W6 thread counts, comma-separated ("1,2");
  LABELS: the configurations' labels, space-separated, in run order.
Exit status 1 if a run failed unexpectedly or the allocators did not replay
the same sequences (bench/README.md, "Backed workloads W5/W6").
"""
import json, os, statistics, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report
import scale_pairs


def _max_map_count():
    try:
        with open("/proc/sys/vm/max_map_count") as fh:
            return fh.read().strip()
    except OSError:
        return "?"


log, results = sys.argv[1], sys.argv[2]
repeat, mmap_repeat = int(sys.argv[3]), int(sys.argv[4])
machine, tree, elapsed = report.run_info(
    "uncommitted_src_include_files",
    max_map_count=_max_map_count())
labels = sys.argv[6].split()
threads = [int(t) for t in sys.argv[5].split(",")]

cells, info, fails, seqs = {}, {}, [], {}
with open(log) as fh:
    scale = scale_pairs.parse(fh)
for line in open(log):
    f = line.split()
    if not f:
        continue
    if f[0] == "fail":
        fails.append({"workload": f[1], "impl": f[2], "threads": int(f[3][2:]), "why": " ".join(f[4:])})
        continue
    if f[0] == "scale":   # the scaling protocol's (scale_pairs.parse)
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
    # The malloc peers' footprint on the same sequence: what a user who
    # would otherwise call malloc(n * 8192) pays (one mmap per allocation,
    # the row above, is a bound no peer comes near: docs/heap.md, "Why it
    # is off: W5").
    lean = min((l for l in mallocs if med("W5", l, 1, "peak")),
               key=lambda l: med("W5", l, 1, "peak"), default=None)
    if lean:
        target("W5 peak RSS: ours / leanest malloc peer <= 1.0", ratio(o_pk, med("W5", lean, 1, "peak")), 1.0,
               "le", f"leanest malloc peer: {lean} ({med('W5', lean, 1, 'peak') / 1024:.1f} MiB); ours {o_pk / 1024:.1f} MiB")
    # The exact figure (a page-table walk, released_exact=) when the run
    # has it: VmRSS, batched per CPU, moved by 100-230 KiB between
    # identical runs of either allocator (bench/backed.c).
    rel = "released_exact" if med("W5", "ours", 1, "released_exact") is not None else "released"
    if med("W5", "glibc", 1, rel) is not None:
        g, o = med("W5", "glibc", 1, rel), med("W5", "ours", 1, rel)
        target("W5 RSS after release: ours <= glibc after malloc_trim", ratio(o, g), 1.0, "le",
               f"ours {o:.0f} KiB, glibc {g:.0f} KiB (net of the process's own RSS; "
               + ("Rss from smaps_rollup" if rel == "released_exact" else "VmRSS") + ")")

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
      f"medians of the pairs' ratios, IQR and min-max; each side of ours {os.environ.get('SCALE_REPS', '3')} "
      "measurements in one process, each framed by the reference loop (bench/backed_probe.h, the slowest "
      f"thread's speed just before and after it); quiet pairs (bench/scale_pairs.py): the reference at >= "
      f"{scale_pairs.probe_quiet()} of its best in this run ({scale_pairs.probe_best(scale) / 1e6:.0f} M/s a thread) "
      "around most measurements of both sides, each side's value the best of those; dropped pairs by the "
      f"side that was not quiet (the target uses the quiet pairs when there are {QUIET_PAIRS} or more)")
    p("")
    p(f"| workload | pairs | ours T={tn} / T={t1} | machine (register loop) | ours / machine | quiet pairs: ours | dropped | ours T={t1} M/s | ours T={tn} M/s |")
    p("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    probe_q = scale_pairs.probe_quiet()
    probe_best = scale_pairs.probe_best(scale)
    json_out["W6_scaling"] = {"protocol": f"pinned, ABBA pairs of T={t1} and T={tn}, register loop in each pair, "
                                          f"each of ours' sides {os.environ.get('SCALE_REPS', '3')} measurements "
                                          "in one process framed by the reference loop",
                              "threads": [t1, tn], "probe_best": probe_best, "probe_quiet": probe_q}
    for wl in ("W6-W2", "W6-W1", "W6-W3"):
        if wl not in scale:
            continue
        pp = scale_pairs.pairs(scale, wl, t1, tn, probe_q)
        ours_r = [x["ours"] for x in pp]
        cpu_r = [x["cpu"] for x in pp if x["cpu"]]
        norm = [x["ours"] / x["cpu"] for x in pp if x["cpu"]]
        o1, on = [x["one"] for x in pp], [x["many"] for x in pp]
        quiet = [x["ours"] for x in pp if x["quiet"]]
        why = {}
        for x in pp:
            if x["why"]:
                why[x["why"]] = why.get(x["why"], 0) + 1
        c_ours, c_cpu, c_norm, c_quiet = spread(ours_r), spread(cpu_r), spread(norm), spread(quiet)
        dropped = ", ".join(f"{n} {k}" for k, n in sorted(why.items())) or "none"
        p(f"| {wl[3:]} | {len(ours_r)} | {sp(c_ours)} | {sp(c_cpu)} | {sp(c_norm)} | "
          f"{len(quiet)}: {sp(c_quiet)} | {dropped} | "
          f"{rs(statistics.median(o1) / 1e6 if o1 else None, 2)} | {rs(statistics.median(on) / 1e6 if on else None, 2)} |")
        json_out["W6_scaling"][wl[3:]] = {"ours": c_ours, "machine": c_cpu, "ours_over_machine": c_norm,
                                          "ours_quiet_pairs": c_quiet, "dropped": why}
        if c_ours:
            limit = W6_LIMIT.get(wl, 1.8)
            # The target is the quiet pairs' median when there are enough of
            # them; otherwise all pairs', flagged when the machine was loaded.
            use_quiet = c_quiet and c_quiet["pairs"] >= QUIET_PAIRS
            c = c_quiet if use_quiet else c_ours
            json_out["W6_scaling"][wl[3:]]["target_from"] = "quiet pairs" if use_quiet else "all pairs"
            # Too few quiet pairs: not measured (all pairs' median in the
            # detail: it mixes the vCPUs' fast and slow spells and the other
            # tenants' load, and moved 0.6-1.9 between runs here).
            target(f"W6 {wl[3:]}: ours T={tn} / T={t1} >= {limit}", c["median"] if use_quiet else None,
                   limit, "ge",
                   f"median of {c['pairs']} {'quiet ' if use_quiet else ''}pinned ABBA pairs "
                   f"(of {len(ours_r)}; dropped: {dropped}), IQR {c['q1']:.2f}-{c['q3']:.2f}, "
                   f"min-max {c['min']:.2f}-{c['max']:.2f}; the machine's own scaling in all pairs {sp(c_cpu)}"
                   + (f"; NOT MEASURED, UNDER LOAD: only {len(quiet)} pairs were quiet (the reference loop at "
                      f">= {probe_q} of its best on both sides; {QUIET_PAIRS} needed); run it again when the "
                      "machine is quieter, or under chrt -f 10" if not use_quiet else "")
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
        byp = {wl: {x["pair"]: x for x in scale_pairs.pairs(scale, wl, threads[0], threads[-1])}
               for wl in ("W6-W2", "W6-W1")}
        for pair in sorted({q for d in scale.values() for q in d}):
            row = []
            for wl in ("W6-W2", "W6-W1"):
                x = byp[wl].get(pair)
                for l in ("ours", "cpu"):
                    row.append(f"{x[l]:.4f}" if x and x[l] else "NaN")
            fh.write(f"{pair} " + " ".join(row) + "\n")
sys.exit(1 if unexpected or bad_seq else 0)
