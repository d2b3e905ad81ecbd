# The newcomer's recipe, identical to CI's. Every target installs what it
# needs (Debian packages, as root) before it builds.
#   make          build/libpagealloc.a and the shared library
#   make run      the main job (pagealloc demo / CLI)
#   make test     the whole suite: plain, ASan+UBSan, TSan, valgrind
#   make bench    the benchmarks
#   make fuzz     fuzz the page allocator and the malloc API (FUZZ_SECONDS=300 each)
#   make install  headers, libraries, pkg-config and CMake package (PREFIX)
PREFIX ?= /usr/local
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build run test bench fuzz install clean

all: build

build:
	@scripts/deps.sh build
	@cmake -S . -B build -DPAGEALLOC_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build build -j$(JOBS)

run: build
	@./build/tools/pagealloc run

test:
	@scripts/deps.sh test
	@scripts/test.sh

bench:
	@scripts/deps.sh bench
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DPAGEALLOC_BUILD_TESTS=OFF >/dev/null
	@cmake --build build-bench -j$(JOBS)
	@bench/run.sh build-bench
	@bench/run_backed.sh build-bench
	@bench/run_malloc.sh build-bench
	@bench/run_gc.sh build-bench
	@mkdir -p bench/results && build-bench/bench/pagealloc-bench-stack --json bench/results/stack.json | tee bench/results/stack.md
	@bench/summary.py

fuzz:
	@scripts/deps.sh test
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-300} scripts/fuzz.sh

install: build
	@cmake --install build

clean:
	rm -rf build build-gcc build-asan build-tsan build-valgrind build-bench build-fuzz build*.err
