/*
 * gc.h - pagealloc's collector behind the names of the Boehm-Demers-Weiser
 * collector (bdwgc), so that a program written for bdwgc builds against
 * pagealloc by changing only its compiler flags:
 *
 *     cc prog.c $(pkg-config --cflags --libs pagealloc-gc)
 *
 * The flags put this directory first on the include path, so both
 * `#include <gc.h>` and `#include <gc/gc.h>` reach this file, and link
 * libpagealloc-gc, whose GC_* functions are thin calls into the prefixed
 * API of <pagealloc/gc.h>. The declarations here are written from bdwgc's
 * documented behaviour (version 8.2 interface); docs/gc-bdwgc.md lists
 * every name, what ours does, how it differs and what is not provided.
 *
 * Calls are real functions (a program may take their address); the
 * upper-case names are macros over them, as in bdwgc, and switch to the
 * annotated allocator when GC_DEBUG is defined before inclusion.
 */
#ifndef GC_H
#define GC_H
#define PAGEALLOC_BDWGC_H 1          /* this is pagealloc's face, not bdwgc */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the interface level we follow ---------------------------------- */

/* The bdwgc release whose interface this header follows; GC_get_version
 * returns it packed as (major << 16) | (minor << 8) | micro. */
#define GC_VERSION_MAJOR 8
#define GC_VERSION_MINOR 2
#define GC_VERSION_MICRO 0

#ifndef GC_API
#define GC_API extern __attribute__((visibility("default")))
#endif
#define GC_CALL
#define GC_CALLBACK
#define GC_ATTR_MALLOC __attribute__((malloc))
#define GC_ATTR_ALLOC_SIZE(n) __attribute__((alloc_size(n)))
#define GC_ATTR_NONNULL(n) __attribute__((nonnull(n)))
#define GC_RETURN_ADDR ((GC_word)__builtin_return_address(0))

/* GC_THREADS (or the older GC_PTHREADS) asks for thread support: the
 * pthread_create/join/detach names below then go through the collector,
 * which registers each new thread so that its stack is scanned. */
#if defined(GC_THREADS) && !defined(GC_PTHREADS)
#define GC_PTHREADS 1
#endif

/* ---- types --------------------------------------------------------- */

typedef uintptr_t GC_word;           /* an unsigned machine word */
typedef intptr_t GC_signed_word;     /* a signed machine word */
typedef void *GC_PTR;                /* an old spelling of void * */

/* A finalizer: called once with the object found unreachable and the
 * data given when the finalizer was registered. */
typedef void (*GC_finalization_proc)(void *obj, void *client_data);

/* Where a thread's stack begins (its highest address on x86-64). */
struct GC_stack_base {
    void *mem_base;
};

/* The phases a collection goes through, as reported to the callback
 * of GC_set_on_collection_event (same order as bdwgc's). */
typedef enum {
    GC_EVENT_START,
    GC_EVENT_MARK_START,
    GC_EVENT_MARK_END,
    GC_EVENT_RECLAIM_START,
    GC_EVENT_RECLAIM_END,
    GC_EVENT_END,
    GC_EVENT_PRE_STOP_WORLD,
    GC_EVENT_POST_STOP_WORLD,
    GC_EVENT_PRE_START_WORLD,
    GC_EVENT_POST_START_WORLD,
    GC_EVENT_THREAD_SUSPENDED,
    GC_EVENT_THREAD_UNSUSPENDED
} GC_EventType;
typedef void (*GC_on_collection_event_proc)(GC_EventType);

/* A warning printer: a printf format with one %lu-style word argument. */
typedef void (*GC_warn_proc)(char *msg, GC_word arg);

/* ---- result codes ---------------------------------------------------- */

#define GC_SUCCESS 0        /* done */
#define GC_DUPLICATE 1      /* already registered; nothing changed */
#define GC_NO_THREADS 2     /* kept for old callers; no call returns it */
#define GC_NO_MEMORY 2      /* no memory for the registration */
#define GC_UNIMPLEMENTED 3  /* not available in this build or mode */
#define GC_NOT_FOUND 4      /* nothing registered there */

/* ---- start-up and knobs ---------------------------------------------- */

/* Starts the collector (later calls do nothing). The first allocation
 * starts it too; GC_INIT() also applies the compile-time settings below. */
GC_API void GC_init(void);
GC_API int GC_is_init_called(void);
GC_API unsigned GC_get_version(void);

/* Automatic collection: GC_disable/GC_enable nest (a counter); while it
 * is above zero only explicit GC_gcollect calls collect. */
GC_API void GC_disable(void);
GC_API void GC_enable(void);
GC_API int GC_is_disabled(void);

/* Heap growth between collections. bdwgc collects after about
 * heap/divisor bytes were allocated (default 3); ours paces by a heap
 * goal percent (Go's GOGC, default 100) and maps a divisor d to the
 * percent 300/d, so the two defaults meet (docs/gc-bdwgc.md). */
GC_API void GC_set_free_space_divisor(GC_word divisor);
GC_API GC_word GC_get_free_space_divisor(void);

/* A hard cap on the heap (0: none). Allocation beyond it returns NULL
 * after a last collection. */
GC_API void GC_set_max_heap_size(GC_word bytes);
/* Grows the heap by at least bytes now; nonzero on success. */
GC_API int GC_expand_hp(size_t bytes);

/* Whether any address inside an object keeps it alive (default on);
 * set before the first allocation. */
GC_API void GC_set_all_interior_pointers(int on);
GC_API int GC_get_all_interior_pointers(void);
/* With interior pointers off, makes (char *)p + offset keep the object p
 * alive too. Here any nonzero offset makes every interior pointer count
 * (more may be kept than with bdwgc, never less); the getter above still
 * reports the program's setting. */
GC_API void GC_register_displacement(size_t offset);
GC_API void GC_debug_register_displacement(size_t offset);

/* Leak-finding mode: nothing is collected; a collection reports the
 * unreachable objects that were never freed, on stderr. Set before
 * GC_INIT. */
GC_API void GC_set_find_leak(int on);
GC_API int GC_get_find_leak(void);

/* How many threads mark in parallel (the collecting thread included);
 * set before GC_INIT. */
GC_API void GC_set_markers_count(unsigned count);

/* Finalizers run only from GC_invoke_finalizers when on; otherwise the
 * collector also runs them itself after a collection. */
GC_API void GC_set_finalize_on_demand(int on);
GC_API int GC_get_finalize_on_demand(void);

/* Where warnings go (default: stderr). Returns nothing, as in bdwgc. */
GC_API void GC_set_warn_proc(GC_warn_proc proc);
GC_API void GC_ignore_warn_proc(char *msg, GC_word arg);

/* Incremental (generational) collection: bdwgc itself treats the request
 * as a hint it may ignore; ours ignores it (marking is stop-the-world with
 * parallel markers, sweeping lazy), and GC_is_incremental_mode says 0. */
GC_API void GC_enable_incremental(void);
GC_API int GC_is_incremental_mode(void);

/* Called when an allocation fails, with the size asked; its answer is
 * what the allocation returns (default: NULL). */
typedef void *(*GC_oom_func)(size_t bytes);
GC_API void GC_set_oom_fn(GC_oom_func fn);
GC_API GC_oom_func GC_get_oom_fn(void);

/* Runs fn(client_data) while no collection can start, and returns its
 * answer: the safe way to reveal a hidden pointer and use it. */
typedef void *(*GC_fn_type)(void *client_data);
GC_API void *GC_call_with_alloc_lock(GC_fn_type fn, void *client_data);

/* A callback told of each phase of every collection; NULL removes it. */
GC_API void GC_set_on_collection_event(GC_on_collection_event_proc fn);
GC_API GC_on_collection_event_proc GC_get_on_collection_event(void);

/* ---- allocation ----------------------------------------------------- */

/* Scanned memory (may hold pointers), zero-filled. NULL when out of
 * memory. */
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_malloc(size_t bytes);
/* Never scanned, not cleared: for strings, numbers, bitmaps. */
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_malloc_atomic(size_t bytes);
/* Scanned like a root, never collected: freed only by GC_free. */
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_malloc_uncollectable(size_t bytes);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_malloc_atomic_uncollectable(size_t bytes);
/* bdwgc's hint that only pointers near the start matter; ours ignores
 * the hint and allocates as GC_malloc / GC_malloc_atomic. */
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_malloc_ignore_off_page(size_t bytes);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_malloc_atomic_ignore_off_page(size_t bytes);
GC_API GC_ATTR_MALLOC char *GC_strdup(const char *s);
GC_API GC_ATTR_MALLOC char *GC_strndup(const char *s, size_t n);
/* Scanned, zeroed memory at an alignment (a power of two). */
GC_API GC_ATTR_MALLOC void *GC_memalign(size_t align, size_t bytes);
GC_API int GC_posix_memalign(void **out, size_t align, size_t bytes);

/* Frees an object at once (optional: unreachable ones are reclaimed
 * anyway). NULL is ignored. */
GC_API void GC_free(void *p);
/* Resizes, keeping the kind; realloc(NULL, n) allocates, realloc(p, 0)
 * frees and returns NULL. */
GC_API GC_ATTR_ALLOC_SIZE(2) void *GC_realloc(void *p, size_t bytes);

/* The start of the object p points into, or NULL if p is not in the
 * collector's heap. */
GC_API void *GC_base(void *p);
GC_API int GC_is_heap_ptr(const void *p);
/* The usable size of the object starting at p (p must be a base). */
GC_API size_t GC_size(const void *p);

/* ---- collection and statistics -------------------------------------- */

GC_API void GC_gcollect(void);
GC_API void GC_gcollect_and_unmap(void);

GC_API size_t GC_get_heap_size(void);      /* bytes the heap holds */
GC_API size_t GC_get_free_bytes(void);     /* of which free */
GC_API size_t GC_get_unmapped_bytes(void); /* returned to the OS */
GC_API size_t GC_get_bytes_since_gc(void); /* allocated since the last */
GC_API size_t GC_get_total_bytes(void);    /* allocated since start */
GC_API size_t GC_get_memory_use(void);     /* heap less free bytes */
/* All five at once; a NULL pointer skips its figure. */
GC_API void GC_get_heap_usage_safe(GC_word *heap_size, GC_word *free_bytes,
                                   GC_word *unmapped_bytes, GC_word *bytes_since_gc,
                                   GC_word *total_bytes);
GC_API GC_word GC_get_gc_no(void);         /* collections so far */

/* ---- finalization -------------------------------------------------- */

/* Registers fn(obj, cd) to run once obj is unreachable (fn NULL removes
 * it); the previous finalizer and its data go to *ofn / *ocd when those
 * are not NULL. obj must be an object's base. Orders:
 *   plain        obj's pointers hold back what it reaches: an object
 *                reachable from another plain (ignore_self, unreachable)
 *                finalizable object waits until that one was finalized
 *                (cycles never run);
 *   ignore_self  as plain, but a pointer from the object to itself
 *                does not count;
 *   no_order     obj's pointers hold nothing back (what it reaches may
 *                be finalized with it or first); obj itself still waits
 *                while a plain one reaches it;
 *   unreachable  as plain, and obj also waits while a no_order object
 *                being finalized reaches it. */
GC_API void GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
                                  GC_finalization_proc *ofn, void **ocd);
GC_API void GC_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn,
                                              void *cd, GC_finalization_proc *ofn,
                                              void **ocd);
GC_API void GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
                                           GC_finalization_proc *ofn, void **ocd);
GC_API void GC_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
                                              GC_finalization_proc *ofn, void **ocd);

/* Runs the finalizers that are due; returns how many ran. */
GC_API int GC_invoke_finalizers(void);
/* Nonzero when finalizers are waiting to run. */
GC_API int GC_should_invoke_finalizers(void);
/* Called after a collection that left finalizers to run (on demand
 * mode: the program then calls GC_invoke_finalizers). */
typedef void (*GC_finalizer_notifier_proc)(void);
GC_API void GC_set_finalizer_notifier(GC_finalizer_notifier_proc fn);

/* ---- weak references ----------------------------------------------- */

/* A hidden pointer is a pointer the collector cannot recognise; keep
 * one in a word the collector scans without keeping its target alive. */
typedef GC_word GC_hidden_pointer;
#define GC_HIDE_POINTER(p) (~(GC_hidden_pointer)(p))
#define GC_REVEAL_POINTER(p) ((void *)GC_HIDE_POINTER(p))
#if defined(I_HIDE_POINTERS) || defined(GC_I_HIDE_POINTERS)
#define HIDE_POINTER(p) GC_HIDE_POINTER(p)
#define REVEAL_POINTER(p) GC_REVEAL_POINTER(p)
#endif

/* *link is set to NULL once obj is unreachable, before any finalizer
 * can see obj (a "short" weak link). GC_SUCCESS, GC_DUPLICATE (link
 * already registered: unchanged), GC_NO_MEMORY, or GC_UNIMPLEMENTED in
 * leak-finding mode. */
GC_API int GC_general_register_disappearing_link(void **link, const void *obj);
/* The same with obj = GC_base(link): link lives inside the object. */
GC_API int GC_register_disappearing_link(void **link);
/* Moves a registration to new_link: GC_SUCCESS, GC_DUPLICATE, GC_NOT_FOUND. */
GC_API int GC_move_disappearing_link(void **link, void **new_link);
/* 1 if link was registered (and no longer is), 0 otherwise. */
GC_API int GC_unregister_disappearing_link(void **link);
/* A "long" link: cleared only once obj is unreachable even through
 * finalizers (after finalization was decided). */
GC_API int GC_register_long_link(void **link, const void *obj);
GC_API int GC_move_long_link(void **link, void **new_link);
GC_API int GC_unregister_long_link(void **link);

/* ---- roots --------------------------------------------------------- */

/* Scans [low, high_plus_1) as a root at every collection. */
GC_API void GC_add_roots(void *low, void *high_plus_1);
/* Stops scanning the ranges added by GC_add_roots inside [low, high_plus_1). */
GC_API void GC_remove_roots(void *low, void *high_plus_1);
/* Forgets every range added by GC_add_roots. */
GC_API void GC_clear_roots(void);
/* Never scans [start, finish) of the static data (a large table known to
 * hold no pointers). */
GC_API void GC_exclude_static_roots(void *start, void *finish);

/* ---- threads ------------------------------------------------------- */

/* Registration of threads the program created without the wrappers
 * (GC_allow_register_threads first, from a registered thread). */
GC_API void GC_allow_register_threads(void);
GC_API int GC_register_my_thread(const struct GC_stack_base *sb);
GC_API int GC_unregister_my_thread(void);
GC_API int GC_thread_is_registered(void);
GC_API int GC_get_stack_base(struct GC_stack_base *sb);

#ifdef GC_PTHREADS
#include <pthread.h>
GC_API int GC_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                             void *(*start)(void *), void *arg);
GC_API int GC_pthread_join(pthread_t thread, void **retval);
GC_API int GC_pthread_detach(pthread_t thread);
GC_API int GC_pthread_cancel(pthread_t thread);
GC_API void GC_pthread_exit(void *retval) __attribute__((noreturn));
/* pthread_sigmask that never blocks the collector's suspend signal. */
#include <signal.h>
GC_API int GC_pthread_sigmask(int how, const sigset_t *set, sigset_t *oset);
/* dlopen: the collector finds the static data of loaded objects at every
 * collection by itself, so this is dlopen (kept for bdwgc's redirect). */
GC_API void *GC_dlopen(const char *path, int mode);
#ifndef GC_NO_THREAD_REDIRECTS
#undef pthread_create
#undef pthread_join
#undef pthread_detach
#undef pthread_cancel
#undef pthread_exit
#define pthread_create GC_pthread_create
#define pthread_join GC_pthread_join
#define pthread_detach GC_pthread_detach
#define pthread_cancel GC_pthread_cancel
#define pthread_exit GC_pthread_exit
#ifndef GC_NO_PTHREAD_SIGMASK
#undef pthread_sigmask
#define pthread_sigmask GC_pthread_sigmask
#endif
#ifndef GC_NO_DLOPEN
#include <dlfcn.h>
#undef dlopen
#define dlopen GC_dlopen
#endif
#endif
#endif /* GC_PTHREADS */

/* ---- debugging allocation ------------------------------------------ */

/* The annotated allocator: each object remembers the file and line
 * that allocated it, shown in leak reports. GC_DEBUG before inclusion
 * makes the upper-case macros use it. Mixing annotated and plain calls
 * on one object is not allowed (as in bdwgc). */
#define GC_EXTRAS __FILE__, __LINE__
#define GC_EXTRA_PARAMS const char *file, int line

GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_debug_malloc(size_t bytes, GC_EXTRA_PARAMS);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_debug_malloc_atomic(size_t bytes,
                                                                         GC_EXTRA_PARAMS);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_debug_malloc_uncollectable(size_t bytes,
                                                                                GC_EXTRA_PARAMS);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *
GC_debug_malloc_atomic_uncollectable(size_t bytes, GC_EXTRA_PARAMS);
GC_API GC_ATTR_MALLOC char *GC_debug_strdup(const char *s, GC_EXTRA_PARAMS);
GC_API GC_ATTR_MALLOC char *GC_debug_strndup(const char *s, size_t n, GC_EXTRA_PARAMS);
GC_API void GC_debug_free(void *p);
GC_API void *GC_debug_realloc(void *p, size_t bytes, GC_EXTRA_PARAMS);
GC_API void GC_debug_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
                                        GC_finalization_proc *ofn, void **ocd);
GC_API void GC_debug_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn,
                                                    void *cd, GC_finalization_proc *ofn,
                                                    void **ocd);
GC_API void GC_debug_register_finalizer_no_order(void *obj, GC_finalization_proc fn,
                                                 void *cd, GC_finalization_proc *ofn,
                                                 void **ocd);
GC_API void GC_debug_register_finalizer_unreachable(void *obj, GC_finalization_proc fn,
                                                    void *cd, GC_finalization_proc *ofn,
                                                    void **ocd);
/* Annotated allocation with no file or line, usable as malloc/realloc. */
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_debug_malloc_replacement(size_t bytes);
GC_API GC_ATTR_ALLOC_SIZE(2) void *GC_debug_realloc_replacement(void *p, size_t bytes);

#ifdef GC_DEBUG
#define GC_MALLOC(n) GC_debug_malloc(n, GC_EXTRAS)
#define GC_MALLOC_ATOMIC(n) GC_debug_malloc_atomic(n, GC_EXTRAS)
#define GC_MALLOC_UNCOLLECTABLE(n) GC_debug_malloc_uncollectable(n, GC_EXTRAS)
#define GC_MALLOC_ATOMIC_UNCOLLECTABLE(n) GC_debug_malloc_atomic_uncollectable(n, GC_EXTRAS)
#define GC_MALLOC_IGNORE_OFF_PAGE(n) GC_debug_malloc(n, GC_EXTRAS)
#define GC_MALLOC_ATOMIC_IGNORE_OFF_PAGE(n) GC_debug_malloc_atomic(n, GC_EXTRAS)
#define GC_STRDUP(s) GC_debug_strdup(s, GC_EXTRAS)
#define GC_STRNDUP(s, n) GC_debug_strndup(s, n, GC_EXTRAS)
#define GC_REALLOC(p, n) GC_debug_realloc(p, n, GC_EXTRAS)
#define GC_FREE(p) GC_debug_free(p)
#define GC_REGISTER_FINALIZER(p, f, d, of, od) GC_debug_register_finalizer(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_IGNORE_SELF(p, f, d, of, od) \
    GC_debug_register_finalizer_ignore_self(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_NO_ORDER(p, f, d, of, od) \
    GC_debug_register_finalizer_no_order(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_UNREACHABLE(p, f, d, of, od) \
    GC_debug_register_finalizer_unreachable(p, f, d, of, od)
#define GC_GENERAL_REGISTER_DISAPPEARING_LINK(link, obj) \
    GC_general_register_disappearing_link(link, GC_base((void *)(obj)))
#define GC_REGISTER_LONG_LINK(link, obj) GC_register_long_link(link, GC_base((void *)(obj)))
#define GC_REGISTER_DISPLACEMENT(n) GC_debug_register_displacement(n)
#else
#define GC_MALLOC(n) GC_malloc(n)
#define GC_MALLOC_ATOMIC(n) GC_malloc_atomic(n)
#define GC_MALLOC_UNCOLLECTABLE(n) GC_malloc_uncollectable(n)
#define GC_MALLOC_ATOMIC_UNCOLLECTABLE(n) GC_malloc_atomic_uncollectable(n)
#define GC_MALLOC_IGNORE_OFF_PAGE(n) GC_malloc_ignore_off_page(n)
#define GC_MALLOC_ATOMIC_IGNORE_OFF_PAGE(n) GC_malloc_atomic_ignore_off_page(n)
#define GC_STRDUP(s) GC_strdup(s)
#define GC_STRNDUP(s, n) GC_strndup(s, n)
#define GC_REALLOC(p, n) GC_realloc(p, n)
#define GC_FREE(p) GC_free(p)
#define GC_REGISTER_FINALIZER(p, f, d, of, od) GC_register_finalizer(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_IGNORE_SELF(p, f, d, of, od) \
    GC_register_finalizer_ignore_self(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_NO_ORDER(p, f, d, of, od) \
    GC_register_finalizer_no_order(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_UNREACHABLE(p, f, d, of, od) \
    GC_register_finalizer_unreachable(p, f, d, of, od)
#define GC_GENERAL_REGISTER_DISAPPEARING_LINK(link, obj) \
    GC_general_register_disappearing_link(link, obj)
#define GC_REGISTER_LONG_LINK(link, obj) GC_register_long_link(link, obj)
#define GC_REGISTER_DISPLACEMENT(n) GC_register_displacement(n)
#endif /* GC_DEBUG */

#define GC_NEW(t) ((t *)GC_MALLOC(sizeof(t)))
#define GC_NEW_ATOMIC(t) ((t *)GC_MALLOC_ATOMIC(sizeof(t)))
#define GC_NEW_UNCOLLECTABLE(t) ((t *)GC_MALLOC_UNCOLLECTABLE(sizeof(t)))

/* ---- GC_INIT and its compile-time settings -------------------------- */

/* Define before including this header to apply at GC_INIT():
 *   GC_MAXIMUM_HEAP_SIZE  bytes: GC_set_max_heap_size
 *   GC_INITIAL_HEAP_SIZE  bytes: the heap is grown to at least this
 *   GC_FREE_SPACE_DIVISOR GC_set_free_space_divisor
 *   GC_MARKERS            GC_set_markers_count (with GC_THREADS)
 *   GC_DONT_GC            automatic collection off (GC_disable) */
#ifdef GC_MAXIMUM_HEAP_SIZE
#define GC_INIT_PA_MAX_HEAP GC_set_max_heap_size(GC_MAXIMUM_HEAP_SIZE)
#else
#define GC_INIT_PA_MAX_HEAP (void)0
#endif
#ifdef GC_FREE_SPACE_DIVISOR
#define GC_INIT_PA_DIVISOR GC_set_free_space_divisor(GC_FREE_SPACE_DIVISOR)
#else
#define GC_INIT_PA_DIVISOR (void)0
#endif
#if defined(GC_MARKERS) && defined(GC_PTHREADS)
#define GC_INIT_PA_MARKERS GC_set_markers_count(GC_MARKERS)
#else
#define GC_INIT_PA_MARKERS (void)0
#endif
#ifdef GC_DONT_GC
#define GC_INIT_PA_DONT_GC GC_disable()
#else
#define GC_INIT_PA_DONT_GC (void)0
#endif
#ifdef GC_INITIAL_HEAP_SIZE
#define GC_INIT_PA_INITIAL_HEAP                                             \
    do {                                                                    \
        size_t gc_init_have_ = GC_get_heap_size();                          \
        if (gc_init_have_ < (size_t)(GC_INITIAL_HEAP_SIZE))                 \
            (void)GC_expand_hp((size_t)(GC_INITIAL_HEAP_SIZE) - gc_init_have_); \
    } while (0)
#else
#define GC_INIT_PA_INITIAL_HEAP (void)0
#endif

#define GC_INIT()                                                           \
    do {                                                                    \
        GC_INIT_PA_DIVISOR;                                                 \
        GC_INIT_PA_MARKERS;                                                 \
        GC_INIT_PA_MAX_HEAP;                                                \
        GC_init();                                                          \
        GC_INIT_PA_DONT_GC;                                                 \
        GC_INIT_PA_INITIAL_HEAP;                                            \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif /* GC_H */
