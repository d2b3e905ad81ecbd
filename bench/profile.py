#!/usr/bin/env python3
"""bench/profile.py - where each workload's time goes, by instruction counts.

Called by bench/profile.sh (which builds Go's test binary first); see
bench/README.md, "Profiles". For every workload it runs the benchmark
program twice under callgrind: once with the timed part at its full length
and once with the set-up alone (`--steps 0`; Go: PAGEALLOC_CORE_STEPS=0).
The difference, divided by the units of the timed part (pairs, ops,
allocations), is the instruction count per unit of the timed part alone:
set-up, process start, Go's runtime start and test framework all cancel.
Callgrind counts are deterministic for our programs; Go's runtime threads
(sysmon, the scavenger) add a little that depends on wall time, which is
why Go runs with GOMAXPROCS=1, GODEBUG=asyncpreemptoff=1 and GOGC=off.

W4's batch frees grow with its length but are not timed: a third run per
side collects only inside the function that does them (callgrind
--toggle-collect: ours wl_free_batch (a static function, so "wl_free_batch*"), Go the amortised free closure
runtime.pacorePageCache.func2) and is subtracted too; the line above the
table gives their count.

Per function the table gives self instructions per unit (callgrind_annotate
--inclusive=no, summed over the files a function's inlined code comes
from), its share of the total, and, when a timed median is known for the
same side (bench/results/core.json or backed.json), that share of the median
in nanoseconds: an estimate that assumes every instruction costs the same,
which cache misses and mispredictions make only roughly true.

Go's per-function self counts are listed too, but callgrind follows calls
by the stack pointer and Go's systemstack switches stacks, so inclusive
counts and callers across it are unreliable; self counts and the totals
are what this script uses.

Jobs (name: program, units per step):
  core-W1..core-W4   ours: pagealloc-bench-core --variant raw; Go amortised
  heap-W1, heap-W3   pagealloc-bench-backed --workload W6-W1/W6-W3 --threads 1
  heap-W5            pagealloc-bench-backed --workload W5 (page faults are
                     kernel time: callgrind does not count them)
  heap jobs also count the peers named in PEERS (default tcmalloc), totals only.

Usage: bench/profile.py BUILD_DIR GO_TEST_BINARY|- [job...]
Environment: TOP=8 functions per table, JOBS=2 callgrind runs at a time,
STEPS_DIV=1 (divide every full length by it for a quick look; the figures
then average over the first part of the run only), PEERS=tcmalloc,
REUSE=1 (keep the callgrind files already in bench/results/profile/: only
the tables again), CACHE=1 (also run each program under cachegrind with
--cache-sim=yes --branch-sim=yes, full and set-up only, and give the
simulated misses and mispredictions per unit), MEDIANS=DIR (where core.json and backed.json with the
timed medians are; default bench/results).
Writes bench/results/profile.md (the tables), profile.json and the
callgrind files in bench/results/profile/.
"""
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
results = os.path.join(root, "bench", "results")
cgdir = os.path.join(results, "profile")

# core Wn: (full length, units per step, unit); heap Wn: (backed.c workload, full length)
CORE = {"W1": (1000000, 1, "pair"), "W2": (5, 400000, "op"), "W3": (100000, 1, "pair"),
        "W4": (1000000, 1, "alloc")}
# Work that grows with the steps but is not timed: W4's batch frees (one page
# at a time after every 8192 allocations). A third run per side collects only
# inside the function that does it (callgrind --toggle-collect, inclusive),
# and its counts are subtracted: the tables show the timed part alone.
UNTIMED = {("core-W4", "ours"): "wl_free_batch*", ("core-W4", "go"): "runtime.pacorePageCache.func2"}
HEAP = {"W1": ("W6-W1", 1000000), "W3": ("W6-W3", 100000), "W5": ("W5", 1000000)}


def commands(job, build, gotest, steps, peers):
    """[(side, argv, env)] of one job at one length."""
    bindir = os.path.join(build, "bench")
    kind, w = job.split("-")
    out = []
    if kind == "core":
        out.append(("ours", [os.path.join(bindir, "pagealloc-bench-core"), "--only", w,
                             "--variant", "raw", "--repeat", "1", "--steps", str(steps)], {}))
        if gotest:
            out.append(("go", [gotest, "-test.run", "^TestPageallocCore$", "-test.count=1"],
                        {"PAGEALLOC_CORE_BENCH": "1", "PAGEALLOC_CORE_ONLY": w,
                         "PAGEALLOC_CORE_VARIANT": "amortised", "PAGEALLOC_CORE_STEPS": str(steps),
                         "GOMAXPROCS": "1", "GODEBUG": "asyncpreemptoff=1", "GOGC": "off"}))
    else:
        wl = HEAP[w][0]
        args = ["--workload", wl, "--steps", str(steps)] + (["--threads", "1"] if wl != "W5" else [])
        out.append(("ours", [os.path.join(bindir, "pagealloc-bench-backed")] + args, {}))
        for p in peers:
            exe = os.path.join(bindir, "pagealloc-bench-backed-" + p)
            if os.access(exe, os.X_OK):
                out.append((p, [exe] + args, {}))
    return out


def run_callgrind(tag, argv, env, toggle=None, cache=False):
    """Run argv under callgrind (only inside toggle and its callees if
    given), or under cachegrind with its cache and branch simulation;
    return (path of the out file, seconds)."""
    tool = "cachegrind" if cache else "callgrind"
    path = os.path.join(cgdir, f"{tool}.{tag}")
    if os.environ.get("REUSE") == "1" and os.path.exists(path):
        return path, 0.0
    e = dict(os.environ)
    e.update(env)
    t0 = time.time()
    opts = [f"--toggle-collect={toggle}"] if toggle else []
    if cache:
        opts = ["--cache-sim=yes", "--branch-sim=yes"]
    done = subprocess.run(["valgrind", f"--tool={tool}", f"--{tool}-out-file={path}"] + opts + argv,
                          env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-2000:])
        raise SystemExit(f"profile.py: {' '.join(argv)} failed under callgrind (exit {done.returncode})")
    return path, time.time() - t0


LINE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(.*?)\s*$")


def self_counts(path):
    """{function: self Ir} and the program total, from callgrind_annotate."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", path],
                          stdout=subprocess.PIPE, text=True, check=True).stdout
    total, funcs = None, {}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            if funcs and not line.strip():
                break                                    # the end of the function list
            continue
        n, what = int(m.group(1).replace(",", "")), m.group(2)
        if what.startswith("PROGRAM TOTALS"):
            total = n
            continue
        if total is None or ":" not in what:
            continue
        what = re.sub(r"\s+\[[^\]]*\]$", "", what)       # the object file
        fn = what.split(":", 1)[1] if not what.startswith("???:") else what[4:]
        funcs[fn] = funcs.get(fn, 0) + n
    if total is None:
        raise SystemExit(f"profile.py: no PROGRAM TOTALS in callgrind_annotate {path}")
    return funcs, total


def cache_counts(path):
    """{event: count} of a cachegrind out file's summary line."""
    events = summary = None
    with open(path) as fh:
        for line in fh:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("summary:"):
                summary = [int(x) for x in line.split()[1:]]
    if not events or not summary:
        raise SystemExit(f"profile.py: no events/summary in {path}")
    return dict(zip(events, summary))


def medians(where):
    """Timed medians (ns per unit) of the last core.json and backed.json runs."""
    out = {}
    try:
        with open(os.path.join(where, "core.json")) as fh:
            for w in json.load(fh).get("workloads", []):
                for side, key in (("ours", "pagealloc_raw"), ("go", "go_amortised")):
                    if w.get(key):
                        out[("core-" + w["workload"], side)] = w[key]["median"]
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(where, "backed.json")) as fh:
            b = json.load(fh)
        for impl, c in (b.get("W5") or {}).items():
            if c.get("ns_per_pair"):
                out[("heap-W5", impl)] = c["ns_per_pair"]["median"]
        for w in ("W1", "W3"):
            for impl, c in ((b.get("W6") or {}).get(w) or {}).items():
                ops = (c.get("ops_per_s") or {}).get("1")
                if ops and impl != "cpu":
                    out[("heap-" + w, impl)] = 1e9 / ops["median"]
    except (OSError, ValueError):
        pass
    return out


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    build, gotest = sys.argv[1], (None if sys.argv[2] == "-" else sys.argv[2])
    jobs = sys.argv[3:] or ["core-W1", "core-W2", "core-W3", "core-W4", "heap-W1", "heap-W3", "heap-W5"]
    top = int(os.environ.get("TOP", "8"))
    div = int(os.environ.get("STEPS_DIV", "1"))
    peers = [p for p in os.environ.get("PEERS", "tcmalloc").split(",") if p]
    os.makedirs(cgdir, exist_ok=True)

    # Every (job, side, length) is one callgrind run; run them JOBS at a time.
    runs = {}
    for job in jobs:
        kind, w = job.split("-")
        full = (CORE[w][0] if kind == "core" else HEAP[w][1]) // div
        if full < 1:
            raise SystemExit(f"profile.py: STEPS_DIV={div} leaves {job} no steps")
        for steps in (full, 0):
            for side, argv, env in commands(job, build, gotest, steps, peers):
                runs[(job, side, steps)] = (f"{job}.{side}.{steps}", argv, env)
                if steps and (job, side) in UNTIMED:
                    runs[(job, side, "untimed")] = (f"{job}.{side}.untimed", argv, env,
                                                    UNTIMED[(job, side)])
                if os.environ.get("CACHE") == "1":
                    runs[(job, side, f"cache{steps}")] = (f"{job}.{side}.{steps}", argv, env, None, True)
    with concurrent.futures.ThreadPoolExecutor(int(os.environ.get("JOBS", "2"))) as ex:
        futs = {k: ex.submit(run_callgrind, *v) for k, v in runs.items()}
        for k, f in futs.items():
            path, secs = f.result()
            print(f"profile.py: {k[0]} {k[1]} steps={k[2]}: {secs:.0f} s under callgrind", file=sys.stderr)
            runs[k] = (path,) + runs[k]

    med_dir = os.environ.get("MEDIANS", results)
    med = medians(med_dir)
    md, js = [], {"steps_div": div, "jobs": {}}
    p = md.append
    p(f"Instructions per unit of the timed part (callgrind: full run minus a run of 0 steps, "
      f"divided by the units{'; lengths divided by %d' % div if div > 1 else ''}); self counts per function.")
    for job in jobs:
        kind, w = job.split("-")
        full = (CORE[w][0] if kind == "core" else HEAP[w][1]) // div
        units = full * (CORE[w][1] if kind == "core" else 1)
        unit = CORE[w][2] if kind == "core" else "pair"
        sides = sorted({s for (j, s, _) in runs if j == job}, key=lambda s: (s != "ours", s != "go", s))
        table = {}
        for side in sides:
            f_full, t_full = self_counts(runs[(job, side, full)][0])
            f_zero, t_zero = self_counts(runs[(job, side, 0)][0])
            f_unt, t_unt = ({}, 0)
            if (job, side, "untimed") in runs:
                f_unt, t_unt = self_counts(runs[(job, side, "untimed")][0])
            per = {fn: (n - f_zero.get(fn, 0) - f_unt.get(fn, 0)) / units for fn, n in f_full.items()}
            cache = None
            if (job, side, f"cache{full}") in runs:
                cf, cz = (cache_counts(runs[(job, side, f"cache{n}")][0]) for n in (full, 0))
                d = {k: (cf.get(k, 0) - cz.get(k, 0)) / units for k in cf}
                cache = {"D1 misses": d["D1mr"] + d["D1mw"], "LL misses": d["DLmr"] + d["DLmw"],
                         "conditional branches": d["Bc"], "mispredicted": d["Bcm"],
                         "indirect branches": d["Bi"], "indirect mispredicted": d["Bim"]}
            table[side] = {"total": (t_full - t_zero - t_unt) / units, "functions": per, "cache": cache,
                           "whole_run_full": t_full, "whole_run_setup": t_zero,
                           "untimed": t_unt / units if t_unt else None,
                           "untimed_function": UNTIMED.get((job, side)),
                           "ns_median": med.get((job, side))}
        js["jobs"][job] = {"unit": unit, "units": units, "steps": full,
                           "commands": {s: " ".join([f"{k}={v}" for k, v in runs[(job, s, full)][3].items()] +
                                                    runs[(job, s, full)][2]) for s in sides},
                           "sides": {s: {k: v for k, v in t.items() if k != "functions"} |
                                     {"top": sorted(t["functions"].items(), key=lambda x: -x[1])[:top]}
                                     for s, t in table.items()}}
        p("")
        p(f"**{kind} {w}** — instructions per {unit} ({units:,} {unit}s in the timed part)")
        p("")
        for side in sides:
            t = table[side]
            ns = t["ns_median"]
            extra = f"; last timed median {ns:.1f} ns/{unit} ({t['total'] / ns:.1f} instructions per ns)" if ns else ""
            unt = (f"; not counted: the untimed `{t['untimed_function']}` (the batch frees), "
                   f"{t['untimed']:,.0f} per {unit}") if t["untimed"] else ""
            p(f"- {side}: **{t['total']:,.0f}** per {unit} (whole runs: {t['whole_run_full'] / 1e6:,.1f} M "
              f"with the timed part, {t['whole_run_setup'] / 1e6:,.1f} M set-up alone{unt}){extra}")
            if t["cache"]:
                c = t["cache"]
                p(f"  - cachegrind, per {unit}: {c['D1 misses']:.1f} D1 misses, {max(c['LL misses'], 0.0):.2f} LL misses, "
                  f"{c['mispredicted']:.1f} of {c['conditional branches']:.0f} conditional and "
                  f"{c['indirect mispredicted']:.1f} of {c['indirect branches']:.1f} indirect branches "
                  f"mispredicted (simulated)" + ("; the untimed frees included" if t["untimed"] else ""))
        p("")
        shown = [s for s in sides if s in ("ours", "go")]
        hdr = "| # |" + "".join(f" {s} function | Ir/{unit} | share | ≈ ns |" for s in shown)
        p(hdr)
        p("| --- |" + " --- | --- | --- | --- |" * len(shown))
        tops = {s: sorted(((fn, n) for fn, n in table[s]["functions"].items() if n > 0.05),
                          key=lambda x: -x[1])[:top] for s in shown}
        for i in range(top):
            cells = [str(i + 1)]
            for s in shown:
                t = table[s]
                if i < len(tops[s]):
                    fn, n = tops[s][i]
                    share = n / t["total"] if t["total"] else 0
                    ns = f"{share * t['ns_median']:.1f}" if t["ns_median"] else "-"
                    cells += [f"`{fn}`", f"{n:,.1f}", f"{share:.0%}", ns]
                else:
                    cells += ["", "", "", ""]
            if any(cells[1:]):
                p("| " + " | ".join(cells) + " |")
        cells = ["", ]
        for s in shown:
            t = table[s]
            rest = t["total"] - sum(n for _, n in tops[s])
            rest = 0.0 if abs(rest) < 0.05 else rest
            cells += ["other", f"{rest:,.1f}", f"{rest / t['total']:.0%}" if t["total"] else "-",
                      f"{rest / t['total'] * t['ns_median']:.1f}" if t["ns_median"] and t["total"] else "-"]
        p("| " + " | ".join(cells) + " |")
        cells = [""]
        for s in shown:
            t = table[s]
            cells += ["**total**", f"**{t['total']:,.1f}**", "100%",
                      f"{t['ns_median']:.1f}" if t["ns_median"] else "-"]
        p("| " + " | ".join(cells) + " |")
        others = [s for s in sides if s not in shown]
        if others:
            p("")
            p("Peers (totals only): " + "; ".join(f"{s} {table[s]['total']:,.0f} per {unit}" for s in others))
    if med:
        p("")
        p(f"≈ ns: each function's share of the instructions times the timed median of the same side "
          f"in {os.path.relpath(med_dir, root) if med_dir.startswith(root) else med_dir}"
          "/core.json and backed.json (ns per unit); an estimate that counts every instruction alike.")
    text = "\n".join(md) + "\n"
    with open(os.path.join(results, "profile.md"), "w") as fh:
        fh.write(text)
    with open(os.path.join(results, "profile.json"), "w") as fh:
        json.dump(js, fh, indent=1)
        fh.write("\n")
    print(text)
    print(f"profile.py: wrote {results}/profile.md and profile.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
