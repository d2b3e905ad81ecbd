#!/usr/bin/env python3
"""The W6 scaling protocol's pairs (bench/run_backed.sh): each pair's ratio
ours T=n / T=1, and which pairs are quiet. One definition, used by the
report (backed_report.py) and by the driver (how many quiet pairs so far).

Log lines (run_backed.sh's scale_one):
  scale PAIR WORKLOAD IMPL T CPUS ops=N ... [probe0=N probe1=N] ...
IMPL "cpu" is the register loop (one line per side); "ours" has SCALE_REPS
lines per side (--reps, one process), each with the reference loop's
speed just before (probe0) and just after (probe1) that measurement, the
slowest thread's (bench/backed_probe.h).

Why the reference and not the register loop (bench/README.md, W6 scaling
protocol): on the shared VM each vCPU now and then runs W2-like code at
about 0.6x for seconds (a core shared under the hypervisor), while the
register loop, one dependent multiply chain, keeps its speed.

Definitions (PROBE_QUIET = q, 0.85 by default):
- best: the highest reference speed anywhere in the protocol.
- a measurement is quiet if min(probe0, probe1) >= q * best;
- a side (the reps of one thread count in one pair) is quiet if more than
  half its measurements are; its value is the best (highest) of its quiet
  measurements (the median of all of them if it is not quiet): what is
  left after the filter is interference the reference missed (a
  preemption, a slow spell inside the measurement), and interference only
  ever slows a run down. Over the protocol runs of bench/README.md the
  best of three gave quiet medians 1.86-1.90, the median of three
  1.81-1.87 with wider IQRs (mean width 0.18 against 0.11);
- a pair is quiet if both sides are; its ratio is T=n's value / T=1's.

As a script: scale_pairs.py LOG T1 TN prints the fewest quiet pairs of any
workload in LOG (the driver goes on past SCALE_REPEAT pairs while that is
below five).
"""
import os
import statistics
import sys


def probe_quiet():
    return float(os.environ.get("PROBE_QUIET", "0.85"))


def parse(lines):
    """{workload: {pair: {(impl, threads): [{"ops", "p0", "p1"}, ...]}}}"""
    scale = {}
    for line in lines:
        f = line.split()
        if len(f) < 7 or f[0] != "scale":
            continue
        kv = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in f[6:] if "=" in a}
        m = {"ops": float(kv["ops"])}
        if "probe0" in kv and "probe1" in kv:
            m["p0"], m["p1"] = float(kv["probe0"]), float(kv["probe1"])
        scale.setdefault(f[2], {}).setdefault(int(f[1]), {}).setdefault((f[3], int(f[4])), []).append(m)
    return scale


def probe_best(scale):
    return max((max(m["p0"], m["p1"]) for wd in scale.values() for d in wd.values()
                for ms in d.values() for m in ms if "p0" in m), default=0.0)


def side(ms, limit):
    """(value, quiet) of one side's measurements; quiet None: no reference."""
    if not ms:
        return None, None
    if not all("p0" in m for m in ms):
        return statistics.median(m["ops"] for m in ms), None
    ok = [m["ops"] for m in ms if min(m["p0"], m["p1"]) >= limit]
    if 2 * len(ok) > len(ms):
        return max(ok), True
    return statistics.median(m["ops"] for m in ms), False


def pairs(scale, wl, t1, tn, q=None):
    """Per pair of workload wl: dict pair, ours (ratio), cpu (the register
    loop's ratio or None), one, many (the sides' values), quiet (bool or
    None) and why (the reason a pair is not quiet)."""
    q = probe_quiet() if q is None else q
    limit = q * probe_best(scale)
    out = []
    for pair, d in sorted(scale.get(wl, {}).items()):
        a, qa = side(d.get(("ours", t1), []), limit)
        b, qb = side(d.get(("ours", tn), []), limit)
        if not a or not b:
            continue
        c1, cn = d.get(("cpu", t1)), d.get(("cpu", tn))
        cpu = cn[0]["ops"] / c1[0]["ops"] if c1 and cn and c1[0]["ops"] else None
        if qa is None or qb is None:
            why = "no reference"
        elif not qa and not qb:
            why = "both slow"
        elif not qa:
            why = f"T={t1} slow"
        elif not qb:
            why = f"T={tn} slow"
        else:
            why = None
        out.append({"pair": pair, "ours": b / a, "cpu": cpu, "one": a, "many": b,
                    "quiet": why is None, "why": why})
    return out


def fewest_quiet(scale, t1, tn):
    if not scale:
        return 0
    return min(sum(1 for p in pairs(scale, wl, t1, tn) if p["quiet"]) for wl in scale)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: scale_pairs.py LOG T1 TN")
    with open(sys.argv[1]) as fh:
        print(fewest_quiet(parse(fh), int(sys.argv[2]), int(sys.argv[3])))
