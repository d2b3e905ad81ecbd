# The library's sources, one folder per layer (docs/layers.md); included by
# the main build and by the fuzz build (tests/fuzz), which compiles the
# library into its targets. PAGEALLOC_ROOT: the repository root.
if(NOT DEFINED PAGEALLOC_ROOT)
  set(PAGEALLOC_ROOT ${CMAKE_CURRENT_LIST_DIR}/..)
endif()
set(PAGEALLOC_SOURCES
  # shared services: error reports, check levels
  ${PAGEALLOC_ROOT}/src/base/report.c
  ${PAGEALLOC_ROOT}/src/base/checklevel.c
  # the OS-memory layer; src/os/linux.c is the one platform file
  ${PAGEALLOC_ROOT}/src/os/states.c
  ${PAGEALLOC_ROOT}/src/os/registry.c
  ${PAGEALLOC_ROOT}/src/os/regpool.c
  ${PAGEALLOC_ROOT}/src/os/sysmem.c
  ${PAGEALLOC_ROOT}/src/os/query.c
  ${PAGEALLOC_ROOT}/src/os/linux.c
  ${PAGEALLOC_ROOT}/src/os/fixalloc.c
  ${PAGEALLOC_ROOT}/src/os/recpool.c
  ${PAGEALLOC_ROOT}/src/os/resident.c
  ${PAGEALLOC_ROOT}/src/os/fork.c
  # the page allocator
  ${PAGEALLOC_ROOT}/src/pagealloc/bitmap.c
  ${PAGEALLOC_ROOT}/src/pagealloc/bitfind.c
  ${PAGEALLOC_ROOT}/src/pagealloc/runcount.c
  ${PAGEALLOC_ROOT}/src/pagealloc/tree.c
  ${PAGEALLOC_ROOT}/src/pagealloc/findlarge.c
  ${PAGEALLOC_ROOT}/src/pagealloc/ranges.c
  ${PAGEALLOC_ROOT}/src/pagealloc/scavindex.c
  ${PAGEALLOC_ROOT}/src/pagealloc/chunkset.c
  ${PAGEALLOC_ROOT}/src/pagealloc/multichunk.c
  ${PAGEALLOC_ROOT}/src/pagealloc/pagealloc.c
  ${PAGEALLOC_ROOT}/src/pagealloc/growth.c
  ${PAGEALLOC_ROOT}/src/pagealloc/pagecache.c
  ${PAGEALLOC_ROOT}/src/pagealloc/scavenge.c
  ${PAGEALLOC_ROOT}/src/pagealloc/check.c
  ${PAGEALLOC_ROOT}/src/pagealloc/testing.c
  # the thread-safe page heap
  ${PAGEALLOC_ROOT}/src/pageheap/heap.c
  ${PAGEALLOC_ROOT}/src/pageheap/threads.c
  ${PAGEALLOC_ROOT}/src/pageheap/grow.c
  ${PAGEALLOC_ROOT}/src/pageheap/alloc.c
  ${PAGEALLOC_ROOT}/src/pageheap/free.c
  ${PAGEALLOC_ROOT}/src/pageheap/fresh.c
  ${PAGEALLOC_ROOT}/src/pageheap/guard.c
  ${PAGEALLOC_ROOT}/src/pageheap/limit.c
  ${PAGEALLOC_ROOT}/src/pageheap/check.c
  ${PAGEALLOC_ROOT}/src/pageheap/stats.c
  ${PAGEALLOC_ROOT}/src/pageheap/runcache.c
  ${PAGEALLOC_ROOT}/src/pageheap/scavenger.c
  # coroutine stacks (Go's stack.go) on the page heap
  ${PAGEALLOC_ROOT}/src/stack/map.c
  ${PAGEALLOC_ROOT}/src/stack/run.c
  ${PAGEALLOC_ROOT}/src/stack/pool.c
  ${PAGEALLOC_ROOT}/src/stack/overflow.c
  ${PAGEALLOC_ROOT}/src/stack/threads.c
  ${PAGEALLOC_ROOT}/src/stack/api.c
  ${PAGEALLOC_ROOT}/src/stack/release.c
  ${PAGEALLOC_ROOT}/src/stack/fork.c
  ${PAGEALLOC_ROOT}/src/stack/life.c
  # the object allocator (Go's mallocgc with explicit free)
  ${PAGEALLOC_ROOT}/src/malloc/report.c
  ${PAGEALLOC_ROOT}/src/malloc/sizeclass.c
  ${PAGEALLOC_ROOT}/src/malloc/spanmap.c
  ${PAGEALLOC_ROOT}/src/malloc/central.c
  ${PAGEALLOC_ROOT}/src/malloc/tcache.c
  ${PAGEALLOC_ROOT}/src/malloc/malloc.c
  ${PAGEALLOC_ROOT}/src/malloc/mstats.c
  ${PAGEALLOC_ROOT}/src/malloc/walk.c
  ${PAGEALLOC_ROOT}/src/malloc/fork.c
  # the collector (Go's mark-sweep design, conservative) on its own page heap
  ${PAGEALLOC_ROOT}/src/gc/state.c
  ${PAGEALLOC_ROOT}/src/gc/classes.c
  ${PAGEALLOC_ROOT}/src/gc/spans.c
  ${PAGEALLOC_ROOT}/src/gc/alloc.c
  ${PAGEALLOC_ROOT}/src/gc/tcache.c
  ${PAGEALLOC_ROOT}/src/gc/sweep.c
  ${PAGEALLOC_ROOT}/src/gc/markq.c
  ${PAGEALLOC_ROOT}/src/gc/mark.c
  ${PAGEALLOC_ROOT}/src/gc/par.c
  ${PAGEALLOC_ROOT}/src/gc/world.c
  ${PAGEALLOC_ROOT}/src/gc/threads.c
  ${PAGEALLOC_ROOT}/src/gc/roots.c
  ${PAGEALLOC_ROOT}/src/gc/final.c
  ${PAGEALLOC_ROOT}/src/gc/cycle.c
  ${PAGEALLOC_ROOT}/src/gc/stats.c
  ${PAGEALLOC_ROOT}/src/gc/api.c
  ${PAGEALLOC_ROOT}/src/gc/init.c
)
