#!/usr/bin/env bash
# Make a private, writable copy of Debian's Go 1.19 GOROOT so that a
# _test.go file can be added to its src/runtime (Go's test hooks in
# export_test.go are only visible from inside package runtime).
# Usage: scripts/goroot-copy.sh DEST   -> DEST is a GOROOT; prints DEST.
# Re-uses DEST if it already holds a copy. Installs golang-go if absent.
set -euo pipefail
dest=${1:?usage: goroot-copy.sh DEST}
if ! command -v go >/dev/null 2>&1; then
  "$(dirname "$0")/deps.sh" bench >/dev/null || true
  command -v go >/dev/null 2>&1 || { echo "goroot-copy: no go toolchain (Debian golang-go)" >&2; exit 1; }
fi
src=$(go env GOROOT)
case "$(go version)" in
  *go1.19*) ;;
  *) echo "goroot-copy: expected Go 1.19, have $(go version)" >&2; exit 1 ;;
esac
if [ ! -f "$dest/VERSION" ]; then
  mkdir -p "$dest"
  # bin and pkg hold the toolchain; src holds the sources we extend.
  cp -a "$src/VERSION" "$dest/"
  cp -aL "$src/bin" "$src/pkg" "$src/src" "$dest/"
  chmod -R u+w "$dest"
fi
echo "$dest"
