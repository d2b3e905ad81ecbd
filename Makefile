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

# Every driver runs even if one before it failed (a checksum mismatch, a
# failed peer), so that the run always ends with bench/summary.py's table of
# every target and its JSON and PNG; make still fails afterwards, naming the
# drivers that did. The drivers' JSON of an earlier run is removed first, so
# that a driver that fails before writing its own leaves "not measured" rows
# rather than stale figures.
bench:
	@scripts/deps.sh bench
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DPAGEALLOC_BUILD_TESTS=OFF >/dev/null
	@cmake --build build-bench -j$(JOBS)
	@failed=; \
	rm -f bench/results/core.json bench/results/backed.json bench/results/malloc.json \
	  bench/results/gc.json bench/results/stack.json; \
	bench/run.sh build-bench || failed="$$failed run.sh"; \
	bench/run_backed.sh build-bench || failed="$$failed run_backed.sh"; \
	bench/run_malloc.sh build-bench || failed="$$failed run_malloc.sh"; \
	bench/run_gc.sh build-bench || failed="$$failed run_gc.sh"; \
	bench/run_stack.sh build-bench || failed="$$failed run_stack.sh"; \
	bench/summary.py || failed="$$failed summary.py"; \
	if [ -n "$$failed" ]; then echo "make bench: failed:$$failed (their rows above may be missing or wrong)" >&2; exit 1; fi

fuzz:
	@scripts/deps.sh test
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-300} scripts/fuzz.sh

install: build
	@cmake --install build

clean:
	rm -rf build build-gcc build-asan build-tsan build-valgrind build-bench build-fuzz build*.err
