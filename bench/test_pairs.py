#!/usr/bin/env python3
"""Unit test of bench/pairs.py, the pair selection of the malloc and
collector drivers, on canned driver logs (ctest unit/bench_pairs).

The canned log below is what run_malloc.sh writes (RUN, workload, impl,
library, the program's JSON line, then key=value fields; run_gc.sh puts
its exit status after the JSON, which parse_line must skip). Reference
speeds: 400 M ops/s is the best on one CPU, 200 M on two. At the defaults
(PROBE_AGREE=0.85, PROBE_FLOOR=0.5) a run is steady when its two references
are within 0.85 of each other and above 200 M (one CPU) / 100 M (two); a
round's pair counts when both runs are steady and the three references
around them are within 0.85 of the highest.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pairs  # noqa: E402


def run(name, impl, t, phase, rnd, p0, p1, pt=1, cpus="0", ok=True, extra=""):
    js = '{"workload":"%s","elapsed_s":%s,"ok":%s,"check":1%s}' % (
        name, t, "true" if ok else "false", extra)
    return (f"RUN\t{name}\t{impl}\tlib.so\t{js}\tphase={phase}\tround={rnd}\tcpus={cpus}"
            f"\tpt={pt}\tprobe0={p0}\tprobe1={p1}\n")


# churn, one CPU: a survey (tcmalloc fastest once quiet, mimalloc second;
# glibc's one fast-looking run is slow-framed) and six rounds of ours
# between tcmalloc and mimalloc:
#   round 1  all quiet        ours 0.40 tc 0.30 mi 0.32  -> 1.333 / 1.250
#   round 2  all quiet        ours 0.42 tc 0.30 mi 0.31  -> 1.400 / 1.355
#   round 3  ours slow (300)  ours 0.60 tc 0.30 mi 0.31  -> dropped, "ours slow"
#   round 4  all quiet        ours 0.39 tc 0.30 mi 0.30  -> 1.300 / 1.300
#   round 5  tcmalloc slow    ours 0.41 tc 0.50 mi 0.33  -> tc "peer slow"; mi 1.242
#   round 6  all quiet        ours 0.40 tc 0.29 mi 0.32  -> 1.379 / 1.250
# Quiet against tcmalloc: rounds 1, 2, 4, 6: median of 1.300, 1.333, 1.379,
# 1.400 = 1.356; against mimalloc: 1, 2, 4, 5, 6: median 1.250.
LOG = "".join([
    run("churn", "glibc", 0.20, "survey", 0, 400, 250),          # slow-framed: ignored by fastest
    run("churn", "glibc", 0.45, "survey", 0, 390, 390),
    run("churn", "tcmalloc", 0.30, "survey", 0, 390, 395),
    run("churn", "mimalloc", 0.31, "survey", 0, 395, 380),
    run("churn", "jemalloc", 0.33, "survey", 0, 380, 385),
    run("churn", "ours", 0.41, "survey", 0, 385, 388),
    # round 1: tcmalloc ours mimalloc
    run("churn", "tcmalloc", 0.30, "pair", 1, 390, 392),
    run("churn", "ours", 0.40, "pair", 1, 392, 391),
    run("churn", "mimalloc", 0.32, "pair", 1, 391, 393),
    # round 2: reversed
    run("churn", "mimalloc", 0.31, "pair", 2, 380, 381),
    run("churn", "ours", 0.42, "pair", 2, 381, 382),
    run("churn", "tcmalloc", 0.30, "pair", 2, 382, 383),
    # round 3: ours' reference slow after it
    run("churn", "tcmalloc", 0.30, "pair", 3, 390, 390),
    run("churn", "ours", 0.60, "pair", 3, 390, 300),
    run("churn", "mimalloc", 0.31, "pair", 3, 300, 395),
    run("churn", "mimalloc", 0.30, "pair", 4, 395, 396),
    run("churn", "ours", 0.39, "pair", 4, 396, 394),
    run("churn", "tcmalloc", 0.30, "pair", 4, 394, 393),
    # round 5: tcmalloc slow (its reference before it), mimalloc quiet
    run("churn", "tcmalloc", 0.50, "pair", 5, 200, 390),
    run("churn", "ours", 0.41, "pair", 5, 390, 392),
    run("churn", "mimalloc", 0.33, "pair", 5, 392, 391),
    run("churn", "mimalloc", 0.32, "pair", 6, 391, 390),
    run("churn", "ours", 0.40, "pair", 6, 390, 400),
    run("churn", "tcmalloc", 0.29, "pair", 6, 400, 399),
    # larson on two CPUs: the probe width 2 has its own best (200); a run
    # framed at 180 is quiet there though it would not be against 400.
    run("larson", "ours", 0.30, "pair", 1, 180, 190, pt=2, cpus="0,1"),
    run("larson", "tcmalloc", 0.25, "pair", 1, 190, 200, pt=2, cpus="0,1"),
    run("larson", "ours", 0.31, "pair", 2, 150, 190, pt=2, cpus="0,1"),
    run("larson", "tcmalloc", 0.26, "pair", 2, 190, 195, pt=2, cpus="0,1"),
    # a failed run (ok false) is never part of a round
    run("larson", "ours", 0.10, "pair", 3, 195, 195, pt=2, cpus="0,1", ok=False),
    run("larson", "tcmalloc", 0.25, "pair", 3, 195, 195, pt=2, cpus="0,1"),
    "FAIL\tlarson\tours\t1\tcrashed\tLD_PRELOAD=x cmd\n",
])

# run_gc.sh's line: the JSON, then the exit status, then the fields.
GC_LINE = ('RUN\tgcbench\tbdwgc\t^libgc\\.so\t{"program":"gcbench","elapsed_s":0.3,"ok":true,'
           '"max_pause_ms":12.5}\t0\tphase=pair\tround=2\tcpus=0,1\tpt=2\tprobe0=1.5e8\tprobe1=2e8\n')


class PairsTest(unittest.TestCase):
    def setUp(self):
        for k in ("PROBE_AGREE", "PROBE_FLOOR", "PROBE_QUIET"):
            os.environ.pop(k, None)
        os.environ.pop("PAIRS_MIN", None)
        self.runs = [d for d in (pairs.parse_line(x) for x in LOG.splitlines(True)) if d]
        self.best = pairs.annotate(self.runs)

    def test_parse(self):
        self.assertEqual(len(self.runs), 30)          # the FAIL line is not a run
        r = self.runs[0]
        self.assertEqual((r["name"], r["impl"], r["phase"], r["round"], r["pt"]), ("churn", "glibc", "survey", 0, 1))
        self.assertEqual((r["probe0"], r["probe1"]), (400.0, 250.0))
        g = pairs.parse_line(GC_LINE)
        self.assertEqual((g["name"], g["impl"], g["round"], g["cpus"], g["probe0"]), ("gcbench", "bdwgc", 2, "0,1", 1.5e8))
        self.assertEqual(g["max_pause_ms"], 12.5)
        self.assertIsNone(pairs.parse_line("FAIL\tx\ty\t1\twhy\tcmd\n"))

    def test_best_per_width(self):
        self.assertEqual(self.best, {1: 400.0, 2: 200.0})
        quiet = {(r["name"], r["impl"], r["round"]): r["quiet"] for r in self.runs if r["phase"] == "pair"}
        self.assertFalse(quiet[("churn", "ours", 3)])
        self.assertTrue(quiet[("churn", "mimalloc", 5)])
        self.assertFalse(quiet[("churn", "tcmalloc", 5)])
        self.assertTrue(quiet[("larson", "ours", 1)])     # 180 >= 0.85 * 190
        self.assertFalse(quiet[("larson", "ours", 2)])    # 150 < 0.85 * 190

    def test_one_peer(self):
        f = pairs.pair_figure(self.runs, "churn", "ours", ["tcmalloc"], min_quiet=4)
        self.assertEqual((f["rounds"], f["quiet"]), (6, 4))
        self.assertEqual(f["dropped"], {"ours slow": 1, "peer slow": 1})
        self.assertAlmostEqual(f["value"], (0.40 / 0.30 + 0.40 / 0.29) / 2)
        self.assertAlmostEqual(f["spread"]["min"], 0.39 / 0.30)
        self.assertAlmostEqual(f["spread"]["max"], 0.42 / 0.30)
        # the old figure from the same runs: median of ours' 7 runs (0.41)
        # over tcmalloc's median of 7 (0.30)
        self.assertAlmostEqual(f["ratio_of_medians"], 0.41 / 0.30)

    def test_under_load(self):
        f = pairs.pair_figure(self.runs, "churn", "ours", ["tcmalloc"], min_quiet=5)
        self.assertIsNone(f["value"])
        self.assertTrue(pairs.describe(f).startswith("not measured (under load: 4 of 6 rounds quiet, 5 needed"))
        os.environ["PAIRS_MIN"] = "5"
        self.assertIsNone(pairs.pair_figure(self.runs, "churn", "ours", ["tcmalloc"])["value"])

    def test_best_peer_is_the_worst_ratio(self):
        f = pairs.pair_figure(self.runs, "churn", "ours", ["tcmalloc", "mimalloc"], min_quiet=4)
        self.assertEqual(f["peer"], "tcmalloc")
        self.assertAlmostEqual(f["by_peer"]["mimalloc"]["value"], 0.40 / 0.32)
        self.assertEqual(f["by_peer"]["mimalloc"]["quiet"], 5)
        self.assertAlmostEqual(f["value"], f["by_peer"]["tcmalloc"]["value"])
        self.assertIn("against tcmalloc", pairs.describe(f))
        self.assertIn("mimalloc 1.25", pairs.describe(f))
        # one peer under load: the row is not measured, and says against which
        g = pairs.pair_figure(self.runs, "churn", "ours", ["tcmalloc", "mimalloc"], min_quiet=5)
        self.assertIsNone(g["value"])
        self.assertEqual(g["peer"], "tcmalloc")

    def test_failed_runs_and_widths(self):
        f = pairs.pair_figure(self.runs, "larson", "ours", ["tcmalloc"], min_quiet=1)
        self.assertEqual((f["rounds"], f["quiet"]), (2, 1))     # round 3's ours failed
        self.assertAlmostEqual(f["value"], 0.30 / 0.25)

    def test_quieter_threshold(self):
        os.environ["PROBE_AGREE"] = "0.7"     # 300 >= 0.7 * 390: round 3 counts now
        pairs.annotate(self.runs)
        f = pairs.pair_figure(self.runs, "churn", "ours", ["tcmalloc"], min_quiet=4)
        self.assertEqual(f["quiet"], 5)

    def test_fastest_prefers_quiet_survey_runs(self):
        self.assertEqual(pairs.fastest(self.runs, "churn", 2, ["glibc", "jemalloc", "tcmalloc", "mimalloc"]),
                         ["tcmalloc", "mimalloc"])
        self.assertEqual(pairs.fastest(self.runs, "churn", 1, ["glibc", "nosuch"]), ["glibc"])

    def test_solo_cpu_share(self):
        # a solo run (one thread pinned to one CPU) is slow when the
        # scheduler took its CPU away, whatever the references said
        lines = [run("mixed", "ours", 0.40, "pair", 1, 400, 400, extra=',"cpu_s":0.30') + "",
                 run("mixed", "mimalloc", 0.30, "pair", 1, 400, 400, extra=',"cpu_s":0.30'),
                 run("mixed", "ours", 0.31, "pair", 2, 400, 400, extra=',"cpu_s":0.30'),
                 run("mixed", "mimalloc", 0.30, "pair", 2, 400, 400, extra=',"cpu_s":0.29')]
        solo = [x.replace("\n", "\tsolo=1\n") for x in lines]
        for text, quiet in ((lines, 2), (solo, 1)):
            runs = [pairs.parse_line(x) for x in text]
            pairs.annotate(runs)
            f = pairs.pair_figure(runs, "mixed", "ours", ["mimalloc"], min_quiet=1)
            self.assertEqual(f["quiet"], quiet)
        self.assertEqual(f["dropped"], {"ours slow": 1})      # 0.30 of 0.40 s on the CPU
        self.assertAlmostEqual(f["value"], 0.31 / 0.30)      # 0.29 of 0.30 s: >= 0.93

    def test_failed_probes(self):
        # every probe failed (logged 0): no reference, never quiet
        runs = [pairs.parse_line(run("churn", i, 0.3, "pair", 1, 0, 0)) for i in ("ours", "tcmalloc")]
        self.assertEqual(pairs.annotate(runs), {})
        f = pairs.pair_figure(runs, "churn", "ours", ["tcmalloc"], min_quiet=1)
        self.assertEqual((f["quiet"], f["dropped"]), (0, {"no reference": 1}))
        # one failed probe among good ones: that run is slow
        runs = [pairs.parse_line(x) for x in (run("churn", "ours", 0.4, "pair", 1, 400, 0),
                                               run("churn", "tcmalloc", 0.3, "pair", 1, 400, 400))]
        pairs.annotate(runs)
        self.assertEqual([r["quiet"] for r in runs], [False, True])

    def test_slow_but_steady(self):
        # a quiet machine in a slow spell (bench/backed_probe.h): the best
        # reference of the run (440, a lucky sample before the rounds) is
        # far above every round's, but the references around each pair
        # agree: every round counts (the level test of 0.85 * 440 = 374
        # dropped them all)
        lines = [run("larson", "ours", 0.40, "survey", 0, 440, 300, pt=2, cpus="0,1")]
        for rnd, probes in enumerate(((300, 290, 305, 298), (270, 262, 268, 275), (310, 300, 296, 305)), 1):
            order = ("tcmalloc", "ours", "jemalloc") if rnd % 2 else ("jemalloc", "ours", "tcmalloc")
            for k, impl in enumerate(order):
                t = {"ours": 0.40, "tcmalloc": 0.34, "jemalloc": 0.36}[impl]
                lines.append(run("larson", impl, t, "pair", rnd, probes[k], probes[k + 1], pt=2, cpus="0,1"))
        runs = [pairs.parse_line(x) for x in lines]
        self.assertEqual(pairs.annotate(runs), {2: 440.0})
        self.assertFalse(runs[0]["quiet"])          # 300 < 0.85 * 440: its own references disagree
        f = pairs.pair_figure(runs, "larson", "ours", ["tcmalloc", "jemalloc"], min_quiet=3)
        self.assertEqual((f["rounds"], f["quiet"], f["dropped"]), (3, 3, {}))
        self.assertAlmostEqual(f["value"], 0.40 / 0.34)

    def test_speed_changed(self):
        # load arrives between the two sides: each run's own references
        # agree (400 -> 360, 360 -> 320), but ours ran at 400-360 and the
        # peer at 360-320: 320 < 0.85 * 400, the round is dropped; the
        # next round's sides agree again (slower, both) and count
        lines = [run("gcbench", "bdwgc", 0.30, "pair", 1, 400, 360, pt=2, cpus="0,1"),
                 run("gcbench", "ours", 0.26, "pair", 1, 360, 320, pt=2, cpus="0,1"),
                 run("gcbench", "go", 0.50, "pair", 1, 320, 318, pt=2, cpus="0,1"),
                 run("gcbench", "go", 0.55, "pair", 2, 318, 320, pt=2, cpus="0,1"),
                 run("gcbench", "ours", 0.28, "pair", 2, 320, 316, pt=2, cpus="0,1"),
                 run("gcbench", "bdwgc", 0.35, "pair", 2, 316, 322, pt=2, cpus="0,1")]
        runs = [pairs.parse_line(x) for x in lines]
        pairs.annotate(runs)
        self.assertTrue(all(r["quiet"] for r in runs))
        f = pairs.pair_figure(runs, "gcbench", "ours", ["bdwgc"], min_quiet=1)
        self.assertEqual((f["quiet"], f["dropped"]), (1, {"speed changed": 1}))
        self.assertAlmostEqual(f["value"], 0.28 / 0.35)
        g = pairs.pair_figure(runs, "gcbench", "ours", ["go"], min_quiet=1)
        self.assertEqual((g["quiet"], g["dropped"]), (2, {}))   # 318-360: within 0.85
        self.assertIn("speed changed", pairs.describe(pairs.pair_figure(runs, "gcbench", "ours", ["bdwgc"], min_quiet=2)))

    def test_floor_and_fallback(self):
        # steady but at a third of the run's best (400): below PROBE_FLOOR,
        # the machine was swamped; the cell names the all-rounds median as
        # a fallback, never as the figure
        lines = [run("churn", "ours", 0.40, "survey", 0, 400, 400)]
        for rnd in (1, 2):
            lines += [run("churn", "ours", 0.80, "pair", rnd, 130, 135),
                      run("churn", "mimalloc", 0.60, "pair", rnd, 135, 132)]
        runs = [pairs.parse_line(x) for x in lines]
        pairs.annotate(runs)
        f = pairs.pair_figure(runs, "churn", "ours", ["mimalloc"], min_quiet=1)
        self.assertEqual((f["quiet"], f["dropped"], f["value"]), (0, {"both slow": 2}, None))
        self.assertAlmostEqual(f["all_rounds"]["median"], 0.80 / 0.60)
        self.assertTrue(pairs.describe(f).endswith("dropped 2 both slow; all 2 rounds' median 1.33, not a figure)"))
        os.environ["PROBE_FLOOR"] = "0.3"         # 130 >= 120: counted
        pairs.annotate(runs)
        self.assertEqual(pairs.pair_figure(runs, "churn", "ours", ["mimalloc"], min_quiet=1)["quiet"], 2)

    def test_replay(self):
        # a driver report (its runs and paired rows) judged again: malloc's
        # rows of several peers, the collector's "key/peer" rows
        m = {"benchmark": "malloc", "protocol": {"pairs_min": 4}, "runs": self.runs,
             "paired": {"churn": {"peers": ["tcmalloc", "mimalloc"]}}}
        g = {"benchmark": "gc", "protocol": {"pairs_min": 1}, "runs": self.runs,
             "paired": {"larson": {"elapsed_s/tcmalloc": {}}}}
        paths = []
        try:
            for j in (m, g):
                with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
                    json.dump(j, fh)
                paths.append(fh.name)
            lines = pairs.replay(paths[0])
            self.assertEqual(len(lines), 2)
            self.assertTrue(lines[1].startswith("  churn: 1.36 against tcmalloc (IQR"))
            self.assertEqual(pairs.replay(paths[1])[1],
                             "  larson elapsed_s/tcmalloc: 1.20 (IQR 1.20-1.20, 1 of 2 rounds quiet; dropped 1 ours slow)")
            os.environ["PAIRS_MIN"] = "5"
            self.assertIn("not measured", pairs.replay(paths[0])[1])
        finally:
            for p in paths:
                os.unlink(p)

    def test_cli(self):
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as fh:
            fh.write(LOG)
        try:
            script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pairs.py")
            q = subprocess.run([sys.executable, script, "quiet", fh.name, "churn", "ours", "tcmalloc,mimalloc"],
                               capture_output=True, text=True, check=True).stdout.strip()
            self.assertEqual(q, "4")
            f = subprocess.run([sys.executable, script, "fastest", fh.name, "churn", "2",
                                "glibc,jemalloc,tcmalloc,mimalloc"],
                               capture_output=True, text=True, check=True).stdout.strip()
            self.assertEqual(f, "tcmalloc,mimalloc")
        finally:
            os.unlink(fh.name)


if __name__ == "__main__":
    unittest.main()
