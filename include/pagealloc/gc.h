/*
 * gc.h - the garbage collector: Go's mark-sweep design (mark bits beside
 * allocation bits per span, sweepgen-style lazy sweeping, a GOGC pacer
 * and the memory limit) for C programs, with roots found conservatively.
 * One collector per process, made at the first pa_gc_init or allocation.
 *
 * Objects. Three kinds of object share the heap:
 *   - scanned (pa_gc_malloc): zeroed, may hold pointers, collected when
 *     no root reaches it;
 *   - atomic (pa_gc_malloc_atomic): never scanned for pointers, contents
 *     unspecified (not zeroed), collected as the scanned kind;
 *   - uncollectable (pa_gc_malloc_uncollectable): scanned, zeroed, itself a
 *     root, freed only by pa_gc_free.
 * Every object is 16-byte aligned. Objects up to 32 KiB come from size
 * classes (the malloc layer's), larger ones are whole 8 KiB pages.
 *
 * Roots, all scanned conservatively (a word that lands inside an allocated
 * object keeps the object alive): the stacks and saved registers of every
 * registered thread (and its signal stack while it runs a handler there),
 * the thread-local storage of every registered thread (the static TLS of
 * the modules loaded when it registered) and every TLS block of the
 * collecting thread, the writable static data (.data/.bss) of the program
 * and of each loaded shared object (this library's own excepted), ranges
 * added with pa_gc_add_roots, uncollectable objects, and the results of
 * finished threads made by pa_gc_pthread_create until they are joined. Interior pointers
 * keep an object alive unless interior pointers are switched off, when
 * only a pointer to an object's first byte does (for every kind and size).
 * A pointer one past the end of an object lands in the next object or
 * nowhere, so it does not keep this one.
 *
 * Threads. A thread that keeps the only pointers to objects on its stack or
 * in registers must be registered: the thread that initialises the
 * collector is registered by the initialisation, threads created with
 * pa_gc_pthread_create are registered for their whole life, others call
 * pa_gc_register_thread / pa_gc_unregister_thread. An unregistered thread
 * may allocate, but its stack is not scanned. A collection stops every
 * registered thread with a signal (SIGPWR by default, as bdwgc on Linux;
 * PAGEALLOC_GC sig_suspend= changes it) and resumes it through a futex
 * (no restart signal is sent; sig_restart= is accepted and unused), so
 * programs must not block the suspend signal in registered threads.
 * Interrupted system calls restart (SA_RESTART), as far as the kernel
 * restarts them. Not scanned: the dynamic TLS (modules loaded later) of a
 * thread other than the collecting one, and a stack the thread switched to
 * by itself (swapcontext): add such ranges with pa_gc_add_roots.
 *
 * Collections. Marking runs with the world stopped, on the collecting
 * thread and up to markers - 1 helper threads; sweeping is lazy (an
 * allocation sweeps a span before using it) and a background sweeper
 * finishes the rest, so a pause is the marking only. pa_gc_collect waits
 * for the sweep to finish, so statistics read after it are settled.
 * Automatic collections follow Go's pacer: the heap goal is
 *     goal = max(live after the last mark * (1 + percent / 100), 4 MiB)
 * (percent is GOGC, default 100), capped by the memory limit; a collection
 * starts when the heap's live-plus-new bytes reach the goal. With a hard
 * memory limit an allocation that would pass it collects first and then
 * fails (NULL, errno ENOMEM, or the out-of-memory handler's answer).
 *
 * Errors. Allocation returns NULL with errno ENOMEM (after the
 * out-of-memory handler, if one is set, declines); calls returning int
 * return 0 or an errno value and change nothing on failure; misuse that
 * cannot be returned (pa_gc_free of a pointer that is no object's base,
 * a double free) is reported through the process's error handler
 * (<pagealloc/errors.h>) as one line and the call does nothing.
 *
 * Thread safety: every function may be called from any thread, registered
 * or not, at any time, except from a finalizer or an event callback where
 * noted.
 */
#ifndef PAGEALLOC_GC_H
#define PAGEALLOC_GC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Initialisation and options                                           */

#define PA_GC_PERCENT_OFF (-1)        /* percent: no automatic collection */

/* How finalizers are run (see "Finalizers" below). */
typedef enum pa_gc_finalize_mode {
    PA_GC_FINALIZE_AUTO = 0,      /* default (bdwgc's): an allocating thread
                                   * runs pending finalizers after a
                                   * collection, outside any lock */
    PA_GC_FINALIZE_ON_DEMAND = 1, /* only pa_gc_invoke_finalizers runs them;
                                   * the notifier is called when some are
                                   * pending */
    PA_GC_FINALIZE_THREAD = 2     /* a finalizer thread runs them */
} pa_gc_finalize_mode;

/* Options; zero means the default for every field, so designated
 * initialisers name only what differs: (pa_gc_options){ .percent = 200 }.
 * The environment variable PAGEALLOC_GC, read at initialisation,
 * overrides fields: a comma-separated list of name=value, e.g.
 *     PAGEALLOC_GC=percent=200,markers=2,trace=1
 * names: percent (a number or "off"), limit (bytes, K/M/G suffixes allowed),
 * hard_limit (0/1), initial (bytes), markers, interior (0/1), find_leak
 * (0/1), trace (0/1), finalize (auto|demand|thread), sweeper (0/1),
 * check (0/1), static_roots (0/1), sig_suspend, sig_restart. Unknown names
 * and bad values are reported on stderr once and ignored. */
typedef struct pa_gc_options {
    int      percent;           /* GOGC: 0 means 100; PA_GC_PERCENT_OFF:
                                 * collect only on request (or at a hard
                                 * limit) */
    uint64_t memory_limit;      /* bytes of heap (Ready pages and the
                                 * collector's metadata); 0: none */
    int      hard_limit;        /* nonzero: allocation fails at the limit
                                 * after a last collection; else the limit
                                 * only makes collections more frequent */
    size_t   initial_heap;      /* bytes: no automatic collection before
                                 * the heap reaches this (a floor for the
                                 * goal); 0: the 4 MiB minimum goal */
    unsigned markers;           /* marking threads, collector included;
                                 * 0: the online cores (at most 16) */
    int      no_interior_pointers; /* nonzero: only pointers to an
                                 * object's first byte keep it */
    int      find_leak;         /* leak-finding mode: unreachable objects
                                 * are reported (pa_gc_set_leak_handler)
                                 * and then freed, and finalizers do not
                                 * run */
    int      trace;             /* nonzero: one line per cycle on stderr */
    pa_gc_finalize_mode finalize; /* how finalizers run */
    int      no_background_sweeper; /* nonzero: no sweeper thread (sweeping
                                 * is done by allocation and collect) */
    int      check_heap;        /* nonzero: the full heap check after
                                 * every cycle (slow; for tests); a broken
                                 * invariant is reported and aborts */
    int      no_static_roots;   /* nonzero: do not scan the static data of
                                 * loaded shared objects (the main
                                 * program's data is still scanned) */
} pa_gc_options;

/* Initialise the collector with opts (NULL: defaults) and register the
 * calling thread. 0; EALREADY if it was initialised before (by a call or
 * by a first allocation: nothing changes; use the setters below);
 * ENOMEM or EAGAIN if memory or a thread could not be had. Allocation
 * before any init initialises with the defaults (and PAGEALLOC_GC) and
 * registers the allocating thread. */
int  pa_gc_init(const pa_gc_options *opts);
int  pa_gc_is_initialized(void);

/* ------------------------------------------------------------------ */
/* Allocation                                                           */

void  *pa_gc_malloc(size_t size);                  /* scanned, zeroed */
void  *pa_gc_malloc_atomic(size_t size);           /* not scanned, not zeroed */
void  *pa_gc_malloc_uncollectable(size_t size);    /* scanned root, zeroed */
void  *pa_gc_malloc_atomic_uncollectable(size_t size); /* neither scanned
                                                    * nor collected */
/* Scanned and zeroed, aligned to alignment (a power of two, at most
 * 8 KiB; EINVAL otherwise); the object starts at the returned address. */
void  *pa_gc_memalign(size_t alignment, size_t size);
/* Atomic copies of a string (at most n bytes of it for strndup). */
char  *pa_gc_strdup(const char *s);
char  *pa_gc_strndup(const char *s, size_t n);

/* Free an object of any kind now (explicitly; NULL is a no-op). p must be
 * an object's base; anything else is reported and ignored. Its finalizer
 * is dropped without running; disappearing links to it are cleared by the
 * next collection (unless its memory was reused by then: unregister them
 * before freeing). */
void   pa_gc_free(void *p);
/* realloc(NULL, n) is pa_gc_malloc(n); realloc(p, 0) frees p and returns
 * NULL. The new object has p's kind; contents kept up to the smaller size,
 * the rest zeroed for scanned kinds. On failure p is unchanged. */
void  *pa_gc_realloc(void *p, size_t size);

/* The base of the allocated object that contains p (any byte of it), or
 * NULL if p is in no allocated object of the heap. */
void  *pa_gc_base(const void *p);
/* Bytes usable in the object whose base is p (its size class, or its
 * pages); 0 if p is no allocated object's base. */
size_t pa_gc_size(const void *p);
/* Nonzero if p points into memory the collector's heap manages (allocated
 * or free). */
int    pa_gc_is_heap_ptr(const void *p);

/* The answer of an allocation that fails: called with the size asked;
 * what it returns is returned (NULL: the allocation fails with ENOMEM).
 * NULL restores the default (return NULL). */
typedef void *(*pa_gc_oom_fn)(size_t size);
void   pa_gc_set_oom_handler(pa_gc_oom_fn fn);

/* ------------------------------------------------------------------ */
/* Collection control                                                   */

/* A full collection now: stop the world, mark, restart, finish sweeping.
 * Also runs finalizers afterwards in PA_GC_FINALIZE_AUTO mode (unless
 * called from a finalizer). Works while automatic collection is disabled.
 * If the heap then holds more than 110% of the next heap goal resident
 * (the live set dropped), the free pages above the pages in use plus
 * 1/64 go back to the OS before it returns, with the pages of span
 * records the freed spans no longer need. */
void   pa_gc_collect(void);
/* As pa_gc_collect, then return every free page to the OS. */
void   pa_gc_collect_and_release(void);
/* Automatic collection off and on, nesting: each disable needs one enable. */
void   pa_gc_disable(void);
void   pa_gc_enable(void);
int    pa_gc_is_disabled(void);
/* GOGC at run time (>= 0, or PA_GC_PERCENT_OFF); returns the old value. */
int    pa_gc_set_percent(int percent);
int    pa_gc_get_percent(void);
/* The memory limit at run time (0: none); 0 or EINVAL. */
int    pa_gc_set_memory_limit(uint64_t bytes, int hard);
uint64_t pa_gc_get_memory_limit(void);
/* Grow the heap by bytes of free pages now, and let it grow to at least
 * bytes before an automatic collection (bdwgc's GC_expand_hp); 0 or
 * ENOMEM (a hard memory limit would be passed, or the OS refused; nothing
 * changes). The free pages are returned to the OS like any others if
 * they stay unused. */
int    pa_gc_expand_heap(size_t bytes);
/* Marking threads for the next cycles (0: the online cores); 0 or EAGAIN. */
int    pa_gc_set_markers(unsigned markers);
/* Interior pointers on (nonzero, default) or off, at any time. */
void   pa_gc_set_interior_pointers(int on);
int    pa_gc_get_interior_pointers(void);
void   pa_gc_set_find_leak(int on);
int    pa_gc_get_find_leak(void);
void   pa_gc_set_trace(int on);

/* Unreachable objects found in leak-finding mode: called once per object
 * after the collection, outside the world stop, with the object's base
 * and size (the object is freed after the call). NULL restores the
 * default, one line on stderr: "pagealloc gc: leaked N bytes at ADDR". */
typedef void (*pa_gc_leak_fn)(void *obj, size_t size, void *arg);
void   pa_gc_set_leak_handler(pa_gc_leak_fn fn, void *arg);

/* Collection events, for tools and the bdwgc face: called on the
 * collecting thread, in this order within a cycle:
 *   START            the cycle begins (before the previous sweep is
 *                    finished and before the world stops);
 *   WORLD_STOPPING   right before the first thread is asked to stop: the
 *                    pause (pause_*_ns of pa_gc_stats) starts here;
 *   WORLD_STOPPED    every registered thread is suspended; marking starts;
 *   WORLD_RESTARTING marking and finalization are done; the threads are
 *                    about to be resumed;
 *   WORLD_RESTARTED  every thread has resumed: the pause ends here;
 *   MARK_END         the cycle's statistics are updated (its pause
 *                    included); sweeping follows;
 *   END              the cycle is done (sweep may still run lazily).
 * The values are stable (new ones are appended), so the numbers do not
 * follow the order. The callback must not allocate from the collector or
 * collect. From WORLD_STOPPED to WORLD_RESTARTING the other threads are
 * stopped wherever they were and the collector holds its locks: the
 * callback must not take any lock (no stdio, no malloc), as with bdwgc's
 * POST_STOP_WORLD / PRE_START_WORLD. */
typedef enum pa_gc_event {
    PA_GC_EVENT_START = 0,
    PA_GC_EVENT_MARK_END = 1,
    PA_GC_EVENT_END = 2,
    PA_GC_EVENT_WORLD_STOPPED = 3,
    PA_GC_EVENT_WORLD_RESTARTING = 4,
    PA_GC_EVENT_WORLD_STOPPING = 5,
    PA_GC_EVENT_WORLD_RESTARTED = 6
} pa_gc_event;
typedef void (*pa_gc_event_fn)(pa_gc_event ev, void *arg);
void   pa_gc_set_event_handler(pa_gc_event_fn fn, void *arg);

/* Run fn(arg) while no collection can start (to read a hidden pointer and
 * use what it reveals safely); returns fn's result. fn must not allocate
 * from the collector, collect or block on another collector thread. */
void  *pa_gc_call_with_lock(void *(*fn)(void *arg), void *arg);

/* ------------------------------------------------------------------ */
/* Roots                                                                */

/* Scan [lo, hi) as a root from the next collection on (lo rounded up, hi
 * down to a pointer). 0, EINVAL (lo > hi), ENOMEM. Ranges may overlap. */
int    pa_gc_add_roots(void *lo, void *hi);
/* Remove every added range that lies wholly inside [lo, hi). Returns 0
 * (also when none did). */
int    pa_gc_remove_roots(void *lo, void *hi);
void   pa_gc_clear_roots(void);
/* Never scan [lo, hi) of the static data (e.g. a large table known to hold
 * no pointers). 0, EINVAL, ENOMEM. */
int    pa_gc_exclude_static_roots(void *lo, void *hi);

/* ------------------------------------------------------------------ */
/* Threads                                                              */

/* Register the calling thread: stack_base is the stack's highest address
 * (stacks grow down); NULL finds it (pthread_getattr_np). 0, EALREADY
 * (already registered; nothing changes), ENOMEM. */
int    pa_gc_register_thread(const void *stack_base);
/* Unregister the calling thread; its stack is no longer scanned. 0 or
 * ENOENT (not registered). A registered thread that exits is unregistered
 * by itself (a thread-specific destructor), pthread_exit and cancellation
 * included. */
int    pa_gc_unregister_thread(void);
int    pa_gc_thread_is_registered(void);
/* The calling thread's stack base (highest address); 0 or an errno. */
int    pa_gc_get_stack_base(void **base);
/* The signal that stops registered threads (*suspend) and the one that
 * resumes them (*restart: 0, as threads resume through a futex), for a
 * wrapper that keeps a program from blocking them (bdwgc's
 * GC_pthread_sigmask). 0, or EAGAIN before initialisation (they are chosen
 * then, from PAGEALLOC_GC). */
int    pa_gc_get_signals(int *suspend, int *restart);

/* pthread_create whose new thread is registered before start runs and
 * unregistered when it ends; join and detach as pthread's (they exist so
 * that a program can route every thread call through the collector, as
 * bdwgc's GC_THREADS redirection does). What the thread returns, or passes
 * to pa_gc_pthread_exit, stays a root from its end until
 * pa_gc_pthread_join hands it over (or pa_gc_pthread_detach drops it), so
 * collections in between keep it; join and detach such a thread through
 * these calls (a plain pthread_join leaves its record and value behind). A
 * thread that leaves by plain pthread_exit or cancellation keeps no value. */
int    pa_gc_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                            void *(*start)(void *), void *arg);
int    pa_gc_pthread_join(pthread_t thread, void **retval);
int    pa_gc_pthread_detach(pthread_t thread);
void   pa_gc_pthread_exit(void *retval) __attribute__((noreturn));

/* ------------------------------------------------------------------ */
/* Finalizers                                                           */

/* Called once with the object's base and the registered argument, after
 * the object was found unreachable; the object stays valid (and whatever
 * it references) until the finalizer returns and the next collection
 * finds it unreachable again. */
typedef void (*pa_gc_finalizer_fn)(void *obj, void *arg);

/* The order among finalizable objects that reach one another (bdwgc's).
 * An object's order says whether its own pointers hold back the
 * finalization of what it reaches:
 *   ORDERED (default): yes. If A reaches B (whatever B's order), A is
 *     finalized first, B only in a later cycle; a cycle of finalizable
 *     objects is never finalized (and never collected);
 *   IGNORE_SELF: as ORDERED, but a pointer from the object to itself
 *     (directly or through objects only it reaches) does not count;
 *   NO_ORDER: no. What it reaches may be finalized in the same cycle, or
 *     before it; it still waits while an ORDERED, IGNORE_SELF or
 *     UNREACHABLE object to be finalized reaches it;
 *   UNREACHABLE: as ORDERED, and it also waits while a NO_ORDER object
 *     being finalized reaches it, so it runs only once nothing can bring
 *     it back (bdwgc's GC_register_finalizer_unreachable, for Java-style
 *     finalization). */
typedef enum pa_gc_finalize_order {
    PA_GC_ORDERED = 0,
    PA_GC_IGNORE_SELF = 1,
    PA_GC_NO_ORDER = 2,
    PA_GC_UNREACHABLE = 3
} pa_gc_finalize_order;

/* Register fn(obj, arg) as obj's finalizer (replacing any; fn NULL
 * removes it). obj must be the base of a collectable object. The old
 * finalizer and argument (NULL if none) are stored in *old_fn and *old_arg
 * when those are not NULL. 0, EINVAL (obj is no collectable object's
 * base; outputs set to NULL), ENOMEM (nothing changes). In leak-finding
 * mode registrations are accepted and never run. */
int    pa_gc_register_finalizer(void *obj, pa_gc_finalizer_fn fn, void *arg,
                                pa_gc_finalize_order order,
                                pa_gc_finalizer_fn *old_fn, void **old_arg);
/* Run the pending finalizers on the calling thread; returns how many ran.
 * A finalizer may allocate, collect and register finalizers; a nested
 * call from inside a finalizer returns 0. */
unsigned pa_gc_invoke_finalizers(void);
/* Nonzero if finalizers wait to run. */
int    pa_gc_finalizers_pending(void);
void   pa_gc_set_finalize_mode(pa_gc_finalize_mode mode);
pa_gc_finalize_mode pa_gc_get_finalize_mode(void);
/* Called (on the collecting thread, after the world restarts) when a
 * collection leaves finalizers pending, in every mode but THREAD. */
void   pa_gc_set_finalizer_notifier(void (*fn)(void));

/* ------------------------------------------------------------------ */
/* Disappearing links (weak pointers) and hidden pointers               */

/* A disappearing link is a pointer-sized cell *link that the collector
 * sets to NULL when obj (the base of a collectable object) is found
 * unreachable. The cell itself must not keep obj alive: keep it hidden
 * (PA_GC_HIDE) or in memory the collector does not scan (an atomic object,
 * memory of libc's malloc). A short link is cleared before finalizers are
 * considered (it never sees an object being finalized); a long link only
 * once the object is really reclaimed, after its finalizer ran and a later
 * cycle found it unreachable again. A registration whose cell is inside a
 * collectable object goes away when that object is collected.
 * Registration: 0, EEXIST (link already registered for this kind of
 * link; nothing changes), EINVAL (link NULL or misaligned, or obj not a
 * collectable object's base), ENOMEM. */
int    pa_gc_register_link(void **link, const void *obj);
int    pa_gc_register_long_link(void **link, const void *obj);
/* 0, or ENOENT if link is not registered (of that kind). */
int    pa_gc_unregister_link(void **link);
int    pa_gc_unregister_long_link(void **link);
/* Move a registration from link to new_link (the cell's contents are not
 * copied). 0, ENOENT (link not registered), EEXIST (new_link already is;
 * nothing changes; moving a link onto itself is 0 if registered), EINVAL. */
int    pa_gc_move_link(void **link, void **new_link);
int    pa_gc_move_long_link(void **link, void **new_link);

/* A hidden pointer: stored bitwise inverted, it never looks like a pointer
 * into the heap, so it does not keep its object alive. */
typedef uintptr_t pa_gc_hidden_ptr;
#define PA_GC_HIDE(p)    ((pa_gc_hidden_ptr)~(uintptr_t)(p))
#define PA_GC_REVEAL(h)  ((void *)~(uintptr_t)(h))

/* ------------------------------------------------------------------ */
/* Statistics and checking                                              */

/* Fields are only ever appended; version says which ones the library
 * fills (2: free_page_bytes added). */
#define PA_GC_STATS_VERSION 2
typedef struct pa_gc_stats {
    uint32_t version;              /* PA_GC_STATS_VERSION */
    uint32_t markers;              /* marking threads of the last cycle */
    /* The heap now, bytes. */
    uint64_t heap_bytes;           /* pages held by spans of the heap */
    uint64_t free_bytes;           /* free object bytes in those spans
                                    * (unswept spans count as in use) */
    uint64_t released_bytes;       /* free pages returned to the OS */
    uint64_t metadata_bytes;       /* span records, maps, work lists
                                    * (record pages returned: not counted) */
    uint64_t allocated_since_gc;   /* bytes allocated since the last mark */
    uint64_t total_allocated;      /* bytes allocated since start */
    uint64_t live_after_mark;      /* marked bytes of the last cycle */
    uint64_t heap_goal;            /* the pacer's goal for this cycle */
    uint64_t memory_limit;         /* 0: none */
    int32_t  percent;              /* GOGC, or PA_GC_PERCENT_OFF */
    uint32_t threads;              /* registered threads */
    /* Since start. */
    uint64_t collections;          /* completed cycles (bdwgc's gc_no) */
    uint64_t forced_collections;   /* of which pa_gc_collect */
    uint64_t pause_last_ns, pause_max_ns, pause_total_ns; /* world stopped */
    uint64_t mark_cpu_ns;          /* all markers' CPU time, all cycles */
    uint64_t swept_bytes;          /* object bytes reclaimed by sweeping */
    uint64_t released_total_bytes; /* pages returned to the OS */
    uint64_t finalizers_run;
    uint64_t finalizers_pending;   /* now */
    uint64_t links_cleared;
    uint64_t leaks_found;          /* leak-finding mode */
    /* Version 2. */
    uint64_t free_page_bytes;      /* free pages held resident (not in
                                    * spans, not released): with heap_bytes,
                                    * all the heap memory the collector
                                    * holds; bdwgc's heap size */
} pa_gc_stats;

/* Fill *out (out->version set); 0, or EINVAL for NULL. */
int    pa_gc_get_stats(pa_gc_stats *out);
/* The stats as one JSON object (keys are the field names). 0 or an errno;
 * the _buf form writes at most size bytes (NUL included) and returns the
 * length of the whole text, as snprintf. */
int    pa_gc_stats_json(FILE *f);
size_t pa_gc_stats_json_buf(char *buf, size_t size);

/* The trace line of a cycle (option trace, PAGEALLOC_GC=trace=1), on
 * stderr, in the spirit of GODEBUG=gctrace=1:
 *   gc N @T.TTTs: PAUSE ms pause, CPU ms mark cpu, B->A->L MB, G MB goal, M markers
 * N the cycle, T seconds since initialisation, B the heap in use when the
 * cycle began, A after marking (before sweeping), L the live marked bytes,
 * G the goal of the next cycle. */

/* The full heap check: every span's allocation and mark bits, object
 * counts, the page-to-span map entries and the statistics. Takes the
 * collector's locks and waits for any cycle; 0, or EFAULT with a one-line
 * description in msg. Cost: proportional to the heap. */
int    pa_gc_check(char *msg, size_t msg_size);

#ifdef __cplusplus
}
#endif
#endif /* PAGEALLOC_GC_H */
