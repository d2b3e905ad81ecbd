#!/usr/bin/env python3
"""locked-ops.py - how many locked instructions (x86 `lock`-prefixed ones,
and `xchg` with a memory operand, which is locked implicitly) a program
executes per timed unit, per function, from two callgrind runs that differ
only in their number of timed units (bench/README.md, "Profiles": the
difference cancels set-up and teardown). Each such instruction is a full
barrier on x86; docs/heap.md ("Locked instructions") has what removing
them was worth on the project's machine.

  for n in 50000 150000; do valgrind --tool=callgrind --dump-instr=yes \\
      --dump-line=no --compress-pos=no --compress-strings=no \\
      --callgrind-out-file=cg.$n build-rel/bench/pagealloc-bench-backed \\
      --workload W6-W1 --threads 1 --steps $n; done
  bench/locked-ops.py build-rel/bench/pagealloc-bench-backed cg.50000 cg.150000 100000

Only the instructions of BINARY itself (statically linked library code)
are counted, not those of shared libraries (libc's locks).
"""
import collections
import os
import re
import subprocess
import sys


def locked_sites(binary):
    """Offset -> (function, instruction) of every locked instruction."""
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", binary],
                         capture_output=True, text=True, check=True).stdout
    sites, fn = {}, None
    for line in dis.splitlines():
        m = re.match(r"^([0-9a-f]+) <(.*)>:", line)
        if m:
            fn = m.group(2)
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(.*)$", line)
        if m and (m.group(2).startswith("lock ") or
                  (m.group(2).startswith("xchg") and "(" in m.group(2))):
            sites[int(m.group(1), 16)] = (fn, m.group(2).strip())
    return sites


def executions(binary, cg_file, sites):
    """Offset -> times executed, from a --dump-instr=yes callgrind file."""
    count, obj, after_calls = collections.Counter(), None, False
    target = os.path.realpath(binary)
    with open(cg_file) as f:
        for line in f:
            if line.startswith("ob="):
                obj = os.path.realpath(line[3:].strip())
                continue
            if line.startswith("calls="):
                after_calls = True          # the next cost line is a call's inclusive cost
                continue
            m = re.match(r"^(0x[0-9a-f]+) (\d+)", line)
            if not m:
                continue
            if after_calls:
                after_calls = False
                continue
            a = int(m.group(1), 16)
            if obj == target and a in sites:
                count[a] += int(m.group(2))
    return count


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    binary, small, big, units = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    sites = locked_sites(binary)
    a, b = executions(binary, small, sites), executions(binary, big, sites)
    per_fn = collections.Counter()
    for off in set(a) | set(b):
        per_fn[sites[off][0]] += (b[off] - a[off]) / units
    for fn, v in sorted(per_fn.items(), key=lambda x: -x[1]):
        if abs(v) >= 0.005:
            print(f"{v:8.3f}  {fn}")
    print(f"{sum(per_fn.values()):8.3f}  total per unit")


if __name__ == "__main__":
    main()
