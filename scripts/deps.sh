#!/usr/bin/env bash
# Install the Debian packages a target needs, when they are missing.
# Usage: scripts/deps.sh build|test|bench
# As root, missing packages are installed with apt-get; otherwise the
# missing ones are listed and the script fails.
set -euo pipefail

build=(cmake make gcc pkg-config libpng-dev)
# python3, gcc, git, sqlite3: the programs tests/dropin runs under the drop-in.
# libgc-dev: Debian's bdwgc, the reference tests/gccompat compares against
# and the peer of the collector benchmarks (bench/gc/).
test=("${build[@]}" clang libclang-rt-14-dev libcmocka-dev valgrind golang-go python3 git sqlite3 libgc-dev)
bench=("${test[@]}" golang-go libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev gnuplot-nox libgc-dev)

case "${1:-build}" in
  build) want=("${build[@]}") ;;
  test)  want=("${test[@]}") ;;
  bench) want=("${bench[@]}") ;;
  *) echo "deps.sh: unknown set '$1' (build|test|bench)" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
  echo "deps.sh: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
