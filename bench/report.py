"""bench/report.py - what the benchmark runners' reports share.

bench/run_gc.sh, run_malloc.sh and run_backed.sh each run their programs,
log one line per run, and then hand the log to a short Python report of
their own that imports this module for the parts every report has:

  run_info(dirty_key, **extra)  the machine (cpus, model, kernel, THP mode,
                                load before and after), the tree (commit and
                                uncommitted files) and the elapsed seconds,
                                read from what bench/lib.sh's bench_begin and
                                bench_end exported
  header(machine, elapsed)      the "machine: ..." line of every report
  Targets                       the issue's targets: each a value against a
                                limit, met or missed, rendered as a table and
                                written as JSON for bench/summary.py
  problem_lines(...)            the closing lines of a report whose runs
                                failed, changed contents or disagreed
  write_json(path, obj)         one results file, indented, newline-ended

A runner's own tables, medians and checks stay in its script: they differ
from benchmark to benchmark, and this module only holds what does not.
"""
import json
import os


def _thp():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as fh:
            text = fh.read()
    except OSError:
        return "?"
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else "?"


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def run_info(dirty_key, **extra):
    """(machine, tree, elapsed) of this run; extra fields join machine."""
    env = os.environ
    machine = {"cpus": str(len(os.sched_getaffinity(0))), "cpu": _cpu_model(),
               "kernel": os.uname().release, "thp": _thp(),
               "load_before": env.get("BENCH_LOAD_BEFORE", "?"),
               "load_after": env.get("BENCH_LOAD_AFTER", "?")}
    machine.update(extra)
    tree = {"commit": env.get("BENCH_COMMIT", "unknown"), dirty_key: int(env.get("BENCH_DIRTY", "0"))}
    return machine, tree, int(env.get("BENCH_ELAPSED", "0"))


def header(machine, elapsed):
    return (f"machine: {machine['cpus']} cpus, {machine['cpu']}, Linux {machine['kernel']}, "
            f"THP {machine['thp']}; load {machine['load_before']} before, "
            f"{machine['load_after']} after; {elapsed} s")


def fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


class Targets:
    """The issue's targets for one benchmark, in the order they were added.

    Each is a dict: target (its name), value (None when not measured), limit,
    met (None, True or False) and detail, plus any keys the caller adds
    (run_gc.sh adds the program); bench/summary.py reads them from JSON."""

    def __init__(self):
        self.rows = []

    def add(self, name, value, limit, detail="", better="le", **keys):
        met = None if value is None else (value <= limit if better == "le" else value >= limit)
        row = dict(keys)
        row.update({"target": name, "value": value, "limit": limit, "met": met, "detail": detail})
        self.rows.append(row)

    def table(self, columns=("target", "value", "verdict", "detail"), unmeasured="-"):
        """Markdown lines; columns name row keys, "value" and "verdict"."""
        out = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
        for t in self.rows:
            cells = []
            for c in columns:
                if c == "value":
                    cells.append(fmt(t["value"]))
                elif c == "verdict":
                    cells.append(unmeasured if t["met"] is None else ("met" if t["met"] else "MISSED"))
                else:
                    cells.append(str(t[c]))
            out.append("| " + " | ".join(cells) + " |")
        return out


def problem_lines(fails, unit, not_ok, not_ok_note, wrong_from, mismatch, mismatch_note):
    """The lines that end a report whose runs went wrong, or [] if none did.

    fails: failed runs (dicts with unit, impl, exit, why, repro); not_ok: the
    runs whose contents changed or that ran on the wrong library, with
    wrong_from saying which library each ran on; mismatch: the benchmarks
    whose implementations did not do the same work. The notes are each
    runner's words for what those mean."""
    out = []
    if fails:
        out.append("")
        for x in fails:
            out.append(f"FAILED: {x[unit]} under {x['impl']} (exit {x['exit']}): {x['why']}; "
                       f"reproduce: {x['repro']}")
    if not_ok:
        out.append("")
        out.append(f"*** CONTENTS CHANGED ({not_ok_note}) in: " + ", ".join(not_ok) + " ***")
        out += ["    " + x for x in wrong_from]
    if mismatch:
        out.append("")
        out.append(f"*** {mismatch_note} in " + ", ".join(mismatch) + " ***")
    return out


def write_json(path, obj):
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=1)
        fh.write("\n")
