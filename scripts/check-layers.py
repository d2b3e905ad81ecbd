#!/usr/bin/env python3
"""check-layers.py - the architecture rules of docs/layers.md, checked on
the built library (a CTest test: tests/CMakeLists.txt passes the paths).

  check-layers.py SRC_DIR SHARED_LIB OBJECT...   (objects may come ;-joined)

1. Layers: every library file includes only headers of its own layer or
   of lower ones (base < os < pagealloc < pageheap < stack < malloc < gc); the heap never
   includes the test hooks (<pagealloc/testing.h>).
2. No include circle between the library's headers.
3. No call circle between the library's files (from the objects' symbol
   tables: file A calls file B when A uses a symbol B defines).
4. No file of the library over 620 lines.
5. The shared library imports no allocation function from libc.
Exit status 0 when every rule holds; each violation is printed on a line.
"""
import collections
import os
import re
import subprocess
import sys

RANK = {"base": 0, "os": 1, "pagealloc": 2, "pageheap": 3, "stack": 4, "malloc": 5, "gc": 6}
PUBLIC = {  # public header -> the layer it belongs to
    "pagealloc/errors.h": "base",
    "pagealloc/sysmem.h": "os",
    "pagealloc/pagealloc.h": "pagealloc",
    "pagealloc/testing.h": "pagealloc",
    "pagealloc/pageheap.h": "pageheap",
    "pagealloc/stack.h": "stack",
    "pagealloc/malloc.h": "malloc",
    "pagealloc/gc.h": "gc",
}
ALLOC_FUNCS = {"malloc", "calloc", "realloc", "reallocarray", "free", "aligned_alloc",
               "posix_memalign", "memalign", "valloc", "pvalloc", "strdup", "strndup"}
MAX_LINES = 620


def library_files(src):
    for root, _, names in os.walk(src):
        for n in sorted(names):
            if n.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(root, n), src)


def includes(path):
    with open(path, encoding="utf-8") as f:
        return re.findall(r'^\s*#\s*include\s+"([^"]+)"', f.read(), re.M)


def layer_of_include(inc, src):
    if os.path.exists(os.path.join(src, inc)):
        return inc.split("/")[0]
    return PUBLIC.get(inc)


def find_cycles(graph):
    cycles, color = [], {}

    def dfs(v, stack):
        color[v] = 1
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if color.get(w) == 1:
                cycles.append(stack[stack.index(w):] + [w])
            elif not color.get(w):
                dfs(w, stack)
        stack.pop()
        color[v] = 2

    for v in sorted(graph):
        if not color.get(v):
            dfs(v, [])
    return cycles


def main():
    src, shlib = sys.argv[1], sys.argv[2]
    objs = [o for arg in sys.argv[3:] for o in arg.split(";") if o]   # CMake lists
    bad = []
    files = list(library_files(src))
    header_graph = collections.defaultdict(set)
    for f in files:
        layer = f.split("/")[0]
        if layer not in RANK:
            bad.append(f"{f}: not in a layer folder ({', '.join(RANK)})")
            continue
        path = os.path.join(src, f)
        with open(path, encoding="utf-8") as fh:
            n = sum(1 for _ in fh)
        if n > MAX_LINES:
            bad.append(f"{f}: {n} lines (at most {MAX_LINES})")
        for inc in includes(path):
            il = layer_of_include(inc, src)
            if il is None:
                bad.append(f"{f}: includes {inc}, which is no library header")
            elif RANK[il] > RANK[layer]:
                bad.append(f"{f}: layer {layer} includes {inc} of the higher layer {il}")
            if inc == "pagealloc/testing.h" and layer != "pagealloc":
                bad.append(f"{f}: uses the test hooks (pagealloc/testing.h)")
            if f.endswith(".h") and os.path.exists(os.path.join(src, inc)):
                header_graph[f].add(inc)
    for c in find_cycles(header_graph):
        bad.append("include circle: " + " -> ".join(c))

    defs, undefs = {}, {}
    for o in objs:
        name = re.sub(r"\.c\.o$|\.o$", "", o.split("/src/")[-1])
        out = subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout
        d, u = set(), set()
        for line in out.splitlines():
            p = line.split()
            if len(p) == 3 and p[1] in "TDBRC":
                d.add(p[2])
            elif len(p) == 2 and p[0] == "U":
                u.add(p[1])
        defs[name], undefs[name] = d, u
    owner = {s: n for n, d in defs.items() for s in d}
    calls = collections.defaultdict(set)
    for n, u in undefs.items():
        for s in u:
            if s in owner and owner[s] != n:
                calls[n].add(owner[s])
    for c in find_cycles(calls):
        bad.append("call circle: " + " -> ".join(c))
    for n, targets in calls.items():
        for t in targets:
            if RANK[t.split("/")[0]] > RANK[n.split("/")[0]]:
                bad.append(f"{n} calls into the higher layer {t}")

    out = subprocess.run(["nm", "-D", "--undefined-only", shlib], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        sym = line.split()[-1].split("@")[0]
        if sym in ALLOC_FUNCS:
            bad.append(f"{os.path.basename(shlib)} imports {sym} from libc")

    for b in bad:
        print("layers:", b)
    print(f"layers: {len(files)} files, {len(objs)} objects, "
          f"{sum(len(v) for v in calls.values())} file-to-file call edges; "
          f"{len(bad)} violation(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
