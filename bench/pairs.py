#!/usr/bin/env python3
"""bench/pairs.py - the paired protocol of bench/run_malloc.sh and
bench/run_gc.sh: which rounds are quiet, and each row's ratio ours / peer
as the median of its quiet rounds. One definition, used by both reports
and by both drivers (how many quiet rounds a workload has so far).

The protocol (docs/workloads.md "Paired rows"; the W6 scaling protocol of
bench/scale_pairs.py is its model):
- a round of one workload runs ours and its compared peers back to back
  (malloc: ours between the two fastest peers of the survey; collector:
  ours between bdwgc and Go), on the same CPUs (one pinned CPU for a
  single-thread workload, changing every two rounds; both CPUs otherwise),
  in an order reversed from one round to the next (so a drift of the
  machine favours no side);
- bench/probe.c's reference loop (the median of PROBE_SAMPLES = 3
  samples, so that a blip of a few ms in one reference does not drop the
  rounds on both sides of it) runs on those CPUs before the first run,
  between runs and after the last: each run has a reference speed just
  before (probe0) and just after (probe1) it;
- survey runs (every allocator, rotated, as the old protocol) feed the
  tables' medians and the choice of the malloc rows' peers; they are
  framed the same way but are never part of a round.

Definitions (PROBE_AGREE = a, 0.85 by default; PROBE_FLOOR = f, 0.5):
- best: the highest reference speed in the log for that probe width (the
  number of CPUs it ran on: one thread's figure and the slowest of two
  threads' are not comparable);
- a run is steady if its two references agree, min(probe0, probe1) >=
  a * max(probe0, probe1), the lower is at least f * best (a floor: a
  machine so busy that the reference got half its best speed says nothing
  steady), and, for a run of one thread pinned to one CPU (the driver
  marks it solo=1: the malloc suite's single-thread workloads), its CPU
  time is at least CPU_QUIET (0.93) of its wall time: a run the scheduler
  took its CPU from for a while (another process on that CPU) ran slow
  although the reference loop, a 20 ms sample at either end, can miss it.
  (On the loaded VM of 2026-12-05 00:14 UTC, 2 of the 14 single-thread
  rounds the references passed had a run at 0.78-0.88 of its wall time on
  the CPU.) Threaded and collector runs have no such check: their CPU
  share depends on the implementation (helper threads, waiting threads);
- a round's ratio against a peer is ours' time over that peer's time in
  the same round; it counts (is quiet) if both runs are steady and every
  reference framing the two (three when they are adjacent, as ours always
  is to its peers: before the first, between, after the second) is within
  the same factor a of the highest of them: the two sides saw the same
  machine speed. Otherwise it is dropped, with the reason: "ours slow",
  "peer slow", "both slow" (a run not steady), "speed changed" (each run
  steady, but the machine's speed moved between the two sides);
- why the agreement and not the level (until 2026-12-05 a run counted
  when both its references were >= 0.85 of the best of the whole run):
  the ratio ours / peer needs the two sides to see the same machine, not
  the fastest one. On this VM the reference's speed comes in spells (the
  vCPU shares its core with another tenant: bench/backed_probe.h) and the
  best of a whole run is one lucky sample; on the quiet `make bench` of
  edf42ef the old test kept 2 of 12 larson rounds and 1-2 of 7 of three
  collector programs although their all-rounds medians matched the ratio
  of medians. Replayed on nine driver runs at load 8-15 (2026-12-05
  00:37-01:20 UTC) the agreement kept 184 of 440 malloc rounds against
  the level's 145 and 117 of 252 collector ratios against 91, with a
  smaller run-to-run spread on the malloc rows both measured; with the
  three-sample reference, in driver runs at load 9-22 (03:01-03:13 UTC),
  73 of 96 malloc rounds and 26 of 45 collector ratios counted, against
  44 and 15 with one sample and the level (docs/workloads.md "Paired
  rows");
- the figure against a peer is the median of the quiet rounds' ratios,
  with its IQR, min-max and count; with fewer than PAIRS_MIN quiet rounds
  it is None: "not measured (under load)", never a figure made of slowed
  runs (the description then names the all-rounds median, labelled as
  such, which no target reads);
- a row with several peers (malloc: the best peer) is the highest of the
  per-peer figures (ours against the peer it does worst against), and not
  measured if any of them is not;
- the ratio of medians over every run (the old protocol's figure) is
  computed from the same runs and reported beside it, for comparison.

Log lines: the drivers' RUN lines (tab-separated), one JSON object (the
program's own line) among the fields and trailing key=value fields:
  phase=survey|pair round=N cpus=LIST pt=THREADS probe0=OPS probe1=OPS
  [solo=1]

As a script:
  pairs.py quiet LOG NAME OURS PEER[,PEER...]
prints how many rounds of workload NAME are quiet so far, the fewest of
any peer's (the drivers add rounds while that is below PAIRS_QUIET, up
to PAIRS_MAX);
  pairs.py fastest LOG NAME N PEER[,PEER...]
prints the N fastest of those peers on NAME (median time over its good
survey runs, fastest first, comma-separated): the malloc rows' peers;
  pairs.py replay JSON...
prints every paired row of driver reports (bench/results/malloc.json,
gc.json: they keep every run) again under the rule of this file and the
environment (PROBE_AGREE, PROBE_FLOOR, CPU_QUIET; PAIRS_MIN, else the
report's): to judge a threshold on a run already made.
"""
import json
import os
import re
import statistics
import sys

KV = re.compile(r"^[a-z0-9_]+=")


def probe_agree():
    return float(os.environ.get("PROBE_AGREE", "0.85"))


def probe_floor():
    return float(os.environ.get("PROBE_FLOOR", "0.5"))


def rule():
    """The rule in words, for the reports (one definition)."""
    return (f"a round counts when the reference loops framing ours and the peer agree within "
            f"{probe_agree():.2f} of the highest of them and are >= {probe_floor():.2f} of the run's best "
            f"(and a pinned single-thread run had >= {cpu_quiet():.2f} of its wall time on the CPU)")


def cpu_quiet():
    return float(os.environ.get("CPU_QUIET", "0.93"))


def parse_line(line):
    """A driver's RUN line as a dict (the program's JSON fields, then impl,
    the unit's name and the trailing key=value fields), or None."""
    f = line.rstrip("\n").split("\t")
    if not f or f[0] != "RUN":
        return None
    d = None
    for x in f[1:]:
        if x.startswith("{"):
            d = json.loads(x)
            break
    if d is None:
        return None
    d["name"], d["impl"] = f[1], f[2]
    for x in f[1:]:
        if KV.match(x) and not x.startswith("{"):
            k, v = x.split("=", 1)
            d[k] = v
    for k in ("round", "pt", "solo"):
        if k in d:
            d[k] = int(d[k])
    for k in ("probe0", "probe1"):
        if k in d:
            d[k] = float(d[k])
    return d


def annotate(runs, a=None):
    """Sets each run's "quiet" (True: steady, False, or None: no reference)
    from its own two references, the best reference speed of its probe
    width and (solo runs) its CPU time over its wall time; returns {width:
    best}. Whether two runs agree with each other is ratio_rows' part."""
    a = probe_agree() if a is None else a
    f = probe_floor()
    cq = cpu_quiet()
    best = {}
    for r in runs:
        if "probe0" in r and "probe1" in r:
            w = r.get("pt", 1)
            best[w] = max(best.get(w, 0.0), r["probe0"], r["probe1"])
    for r in runs:
        b = best.get(r.get("pt", 1), 0.0)
        if "probe0" not in r or "probe1" not in r or b <= 0:
            r["quiet"] = None      # no reference at all (the probe never ran)
            continue
        # a probe that failed once (the driver logs 0) proves nothing: slow
        lo, hi = sorted((r["probe0"], r["probe1"]))
        r["quiet"] = lo > 0 and lo >= a * hi and lo >= f * b
        if r.get("solo") and r.get("cpu_s") is not None and r.get("elapsed_s"):
            r["quiet"] = r["quiet"] and r["cpu_s"] >= cq * r["elapsed_s"]
    return {w: v for w, v in best.items() if v > 0}


def agree(*rs, a=None):
    """Whether every reference framing the runs rs is within a (PROBE_AGREE)
    of the highest of them: the runs saw the same machine speed."""
    a = probe_agree() if a is None else a
    ps = [r[k] for r in rs for k in ("probe0", "probe1")]
    return min(ps) >= a * max(ps)


def rounds(runs, name):
    """{round: {impl: run}} of workload name's paired rounds (good runs)."""
    out = {}
    for r in runs:
        if r.get("name") == name and r.get("phase") == "pair" and r.get("ok", True):
            out.setdefault(r["round"], {})[r["impl"]] = r
    return out


def _spread(v):
    v = sorted(v)
    q = statistics.quantiles(v, n=4, method="inclusive") if len(v) > 1 else [v[0]] * 3
    return {"median": statistics.median(v), "q1": q[0], "q3": q[2], "min": v[0], "max": v[-1]}


def ratio_rows(runs, name, ours, peers, key="elapsed_s"):
    """One entry per round that has ours and every peer: its ratio
    ours / fastest peer, the peer that was fastest, quiet, and why not.
    (pair_figure calls it with one peer at a time.)"""
    out = []
    for n, by in sorted(rounds(runs, name).items()):
        if ours not in by or any(p not in by for p in peers):
            continue
        vals = {p: by[p].get(key) for p in peers}
        o = by[ours].get(key)
        if o is None or o < 0 or any(v is None or v <= 0 for v in vals.values()):
            continue
        fastest = min(peers, key=lambda p: vals[p])
        slow_o = by[ours].get("quiet") is False
        slow_p = [p for p in peers if by[p].get("quiet") is False]
        unknown = by[ours].get("quiet") is None or any(by[p].get("quiet") is None for p in peers)
        if unknown:
            why = "no reference"
        elif slow_o and slow_p:
            why = "both slow"
        elif slow_o:
            why = "ours slow"
        elif slow_p:
            why = "peer slow"
        elif not agree(by[ours], *(by[p] for p in peers)):
            why = "speed changed"
        else:
            why = None
        out.append({"round": n, "ratio": o / vals[fastest], "peer": fastest,
                    "quiet": why is None, "why": why})
    return out


def ratio_of_medians(runs, name, ours, peers, key="elapsed_s"):
    """The old protocol's figure from the same runs: ours' median over the
    fastest peer's median, every good run of both phases."""
    def med(impl):
        v = [r[key] for r in runs if r.get("name") == name and r["impl"] == impl
             and r.get("ok", True) and r.get(key) is not None and r[key] >= 0]
        return statistics.median(v) if v else None
    o, ps = med(ours), [m for m in (med(p) for p in peers) if m]
    return o / min(ps) if o is not None and ps else None


def _one_figure(runs, name, ours, peer, key, min_quiet):
    rows = ratio_rows(runs, name, ours, [peer], key)
    quiet = [x["ratio"] for x in rows if x["quiet"]]
    dropped = {}
    for x in rows:
        if not x["quiet"]:
            dropped[x["why"]] = dropped.get(x["why"], 0) + 1
    fig = {"peer": peer, "key": key, "rounds": len(rows), "quiet": len(quiet),
           "min_quiet": min_quiet, "dropped": dropped, "pairs": rows,
           "ratio_of_medians": ratio_of_medians(runs, name, ours, [peer], key),
           "value": None, "spread": None,
           "all_rounds": _spread([x["ratio"] for x in rows]) if rows else None}
    if quiet and len(quiet) >= min_quiet:
        fig["spread"] = _spread(quiet)
        fig["value"] = fig["spread"]["median"]
    return fig


def pair_figure(runs, name, ours, peers, key="elapsed_s", min_quiet=None):
    """The row against the best of peers: for each peer, the median of the
    rounds where ours and that peer were quiet (ours / peer, same round);
    the row is the peer against which ours does worst (the highest of
    those medians: the best peer, judged on the pairs), or None when any
    peer has fewer than min_quiet quiet rounds (under load). Each peer's
    own figure is in by_peer; the old ratio of medians (ours' median over
    the fastest peer's median, every run) is ratio_of_medians.

    Why per peer and not ours over the faster peer of each round: the
    minimum of two noisy times is biased low, which would bias the ratio
    up by a few per cent whenever two peers are close (larson, churn)."""
    if min_quiet is None:
        min_quiet = int(os.environ.get("PAIRS_MIN", "4"))
    by = {p: _one_figure(runs, name, ours, p, key, min_quiet) for p in peers}
    fig = {"peers": list(peers), "key": key, "min_quiet": min_quiet, "by_peer": by,
           "ratio_of_medians": ratio_of_medians(runs, name, ours, peers, key), "value": None}
    if not by:
        fig.update({"peer": None, "rounds": 0, "quiet": 0, "dropped": {}, "spread": None, "all_rounds": None})
        return fig
    if all(f["value"] is not None for f in by.values()):
        worst = max(by.values(), key=lambda f: f["value"])
    else:   # the least measured peer says why
        worst = min(by.values(), key=lambda f: f["quiet"])
    for k in ("peer", "rounds", "quiet", "dropped", "spread", "all_rounds", "value"):
        fig[k] = worst[k]
    return fig


def describe(fig, prec=2):
    """The figure as a table cell: "1.23 against tcmalloc (IQR 1.20-1.26, 7
    of 8 rounds quiet; mimalloc 1.18)" or "not measured (under load: 2 of 8
    rounds quiet, 4 needed; dropped 4 ours slow, ...; all 8 rounds' median
    1.31, not a figure)": the labelled fallback, never a target's value."""
    if fig is None or not fig["rounds"]:
        return "not measured (no rounds)"
    drop = ", ".join(f"{n} {k}" for k, n in sorted(fig["dropped"].items()))
    peer = f" against {fig['peer']}" if len(fig.get("peers", [])) > 1 else ""
    if fig["value"] is None:
        a = fig.get("all_rounds")
        return (f"not measured (under load{peer}: {fig['quiet']} of {fig['rounds']} rounds quiet, "
                f"{fig['min_quiet']} needed" + (f"; dropped {drop}" if drop else "")
                + (f"; all {fig['rounds']} rounds' median {a['median']:.{prec}f}, not a figure" if a else "") + ")")
    s = fig["spread"]
    others = "; ".join(f"{p} {f['value']:.{prec}f}" for p, f in fig.get("by_peer", {}).items()
                       if p != fig["peer"] and f["value"] is not None)
    return (f"{s['median']:.{prec}f}{peer} (IQR {s['q1']:.{prec}f}-{s['q3']:.{prec}f}, "
            f"{fig['quiet']} of {fig['rounds']} rounds quiet" + (f"; dropped {drop}" if drop else "")
            + (f"; {others}" if others else "") + ")")


def load(path):
    with open(path) as fh:
        return [d for d in (parse_line(x) for x in fh) if d is not None]


def fastest(runs, name, n, peers, key="elapsed_s"):
    """The n peers with the lowest median over their good survey runs of
    workload name, the quiet ones when a peer has any (annotate first); a
    peer without one comes last, in the given order."""
    def med(p):
        v = [r for r in runs if r.get("name") == name and r["impl"] == p
             and r.get("phase") == "survey" and r.get("ok", True) and r.get(key) is not None]
        q = [r for r in v if r.get("quiet")]   # the quiet runs when there are any
        return statistics.median(r[key] for r in (q or v)) if v else float("inf")
    return sorted(peers, key=med)[:n]


def replay(path):
    """The lines of pairs.py replay for one driver JSON."""
    with open(path) as fh:
        j = json.load(fh)
    runs = j.get("runs", [])
    annotate(runs)
    pmin = int(os.environ.get("PAIRS_MIN", j.get("protocol", {}).get("pairs_min", 4)))
    out = [f"{path} ({j.get('benchmark')}, {rule()}, {pmin} needed)"]
    for name, f in (j.get("paired") or {}).items():
        if "peers" in f:       # malloc: one row of several peers
            rows = {name: pair_figure(runs, name, "ours", f["peers"], min_quiet=pmin)}
        else:                  # collector: "key/peer" rows
            rows = {f"{name} {k}": pair_figure(runs, name, "ours", [k.split("/")[1]], k.split("/")[0],
                                               min_quiet=pmin) for k in f}
        out += [f"  {n}: {describe(x)}" for n, x in rows.items()]
    return out


if __name__ == "__main__":
    usage = ("usage: pairs.py quiet LOG NAME OURS PEER[,PEER...] | fastest LOG NAME N PEER[,PEER...] "
             "| replay JSON...")
    if len(sys.argv) >= 3 and sys.argv[1] == "replay":
        for p in sys.argv[2:]:
            print("\n".join(replay(p)))
        sys.exit(0)
    if len(sys.argv) != 6 or sys.argv[1] not in ("quiet", "fastest"):
        sys.exit(usage)
    runs = load(sys.argv[2])
    annotate(runs)
    if sys.argv[1] == "fastest":
        print(",".join(fastest(runs, sys.argv[3], int(sys.argv[4]), sys.argv[5].split(","))))
    else:
        f = pair_figure(runs, sys.argv[3], sys.argv[4], sys.argv[5].split(","), min_quiet=0)
        print(min((x["quiet"] for x in f["by_peer"].values()), default=0))
