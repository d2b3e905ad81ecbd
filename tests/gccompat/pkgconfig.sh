#!/usr/bin/env bash
# pkgconfig.sh CC SRC PCDIR - the face's promise, checked as a user meets
# it: the bdwgc program SRC is compiled twice by CC, once with
# `pkg-config --cflags --libs bdw-gc` and once with the same command
# naming pagealloc-gc (found in PCDIR, a .pc file pointing into the build
# tree), nothing else changed; both are then run and compared by
# run_compat.sh.
set -u
cc=$1 src=$2 pcdir=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2046  # the flags are meant to split
"$cc" -O2 -o "$tmp/ref" "$src" $(pkg-config --cflags --libs bdw-gc) || exit 1
# shellcheck disable=SC2046
"$cc" -O2 -o "$tmp/ours" "$src" $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs pagealloc-gc) ||
  exit 1
if ! nm -D "$tmp/ours" | grep -q ' U GC_malloc'; then
  echo "pkgconfig: the pagealloc-gc build does not import GC_malloc"; exit 1
fi
"$here/run_compat.sh" "pkgconfig($(basename "$src"))" "$tmp/ref" "$tmp/ours"
