#!/usr/bin/env bash
# Run an operation sequence on Go 1.19's own page allocator.
# Usage: scripts/go-diff.sh WORKDIR OPS ANSWERS
#   WORKDIR  where the private GOROOT copy lives (WORKDIR/goroot; reused)
#   OPS      operation file (format: tests/conformance/go/pagealloc_diff_test.go)
#   ANSWERS  written by Go: one answer line per operation
# Steps: make a writable GOROOT copy (scripts/goroot-copy.sh), copy our two
# _test.go files into its src/runtime, patch Go 1.19's scavenge-index growth
# defect (docs/pagealloc.md,
# "Go 1.19 defects we do not copy"), run the one test.
# Exit status: 0 ok; 2 Go 1.19 unavailable; 1 anything else.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=${1:?usage: go-diff.sh WORKDIR OPS ANSWERS}
ops=${2:?usage: go-diff.sh WORKDIR OPS ANSWERS}
answers=${3:?usage: go-diff.sh WORKDIR OPS ANSWERS}
mkdir -p "$work"
work=$(cd "$work" && pwd)
case "$ops" in /*) ;; *) ops=$PWD/$ops ;; esac
case "$answers" in /*) ;; *) answers=$PWD/$answers ;; esac

if ! goroot=$("$here/goroot-copy.sh" "$work/goroot"); then
  echo "go-diff: cannot obtain Go 1.19 (Debian golang-go; installing it needs root)" >&2
  exit 2
fi
rt=$goroot/src/runtime

for f in pagealloc_diff_test.go pagealloc_diff_export_test.go; do
  cmp -s "$root/tests/conformance/go/$f" "$rt/$f" || cp "$root/tests/conformance/go/$f" "$rt/$f"
done

# Go 1.19 defect: scavengeIndex.grow tests "nothing mapped yet" on haveMin,
# which is 0 after the first grow, so a later grow below the mapped range
# re-maps (zeroes) committed index bytes and loses scavenge marks. The fix
# (as in later Go releases) tests haveMax.
f=$rt/mpagealloc_64bit.go
bad='if haveMin == 0 || needMin < haveMin {'
good='if haveMax == 0 || needMin < haveMin {'
if grep -qF "$bad" "$f"; then
  sed -i "s/$bad/$good/" "$f"
fi
if ! grep -qF "$good" "$f"; then
  echo "go-diff: could not patch $f (scavenge-index growth)" >&2
  exit 1
fi
echo "go-diff: patched runtime/mpagealloc_64bit.go: scavengeIndex.grow tests haveMax (Go 1.19 defect, docs/pagealloc.md, "Go 1.19 defects we do not copy")"

export GOROOT=$goroot PATH=$goroot/bin:$PATH GOFLAGS= GO111MODULE= GOWORK=off
if [ -z "${HOME:-}" ] || [ ! -w "${HOME:-/nonexistent}" ]; then
  export GOCACHE=$work/gocache
fi
cd "$rt"
log=$work/go-test.log
set +e
PAGEALLOC_DIFF_IN=$ops PAGEALLOC_DIFF_OUT=$answers \
  "$goroot/bin/go" test -run '^TestPageallocDiff$' -count=1 -timeout 30m -v . >"$log" 2>&1
rc=$?
set -e
grep -v '^=== RUN' "$log" | tail -n 60 || true
[ "$rc" -eq 0 ] || exit 1
