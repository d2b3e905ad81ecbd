/*
 * fork.h - the library's one pthread_atfork, shared by every layer.
 *
 * Each layer that must survive fork() (the object allocator, stack
 * allocators, page heaps) registers a client here instead of calling
 * pthread_atfork itself, because the OS layer's registry lock may be
 * taken only once at a fork and a heap shared by two clients only once
 * too: before the fork, the coordinator takes its own mutex, calls every
 * client's quiesce (if any) from the highest rank down, then every
 * client's prepare in the same order (each takes its locks in its lock
 * order), and then takes the registry lock; after it, parent and
 * child handlers run the other way (the registry first, then clients from
 * the lowest rank up). A higher layer's locks are thus always taken before
 * a lower layer's, as in normal operation (docs/layers.md: a layer calls
 * down with its own locks held, never up). quiesce is for a client that
 * must wait for its operations in flight to finish (they may need the
 * locks the layers above take in their prepare, e.g. a malloc), and keep
 * new ones from starting; its parent and child handlers end that too.
 *
 * Registering only links a record (no allocation), so a heap can register
 * while a malloc is being made; installing the pthread_atfork handlers
 * (which may allocate) is a separate call, made once by the first layer
 * that needs fork safety at a moment where allocating is safe.
 */
#ifndef PAGEALLOC_OS_FORK_H
#define PAGEALLOC_OS_FORK_H

/* Ranks: the layer's rank (docs/layers.md) times ten; a layer's global
 * state one below its instances. */
enum {
    SM_FORK_RANK_HEAP = 30,
    SM_FORK_RANK_STACK_GLOBAL = 39,
    SM_FORK_RANK_STACK = 40,
    SM_FORK_RANK_MALLOC = 50,
    SM_FORK_RANK_GC = 60
};

typedef struct sm_fork_client {
    void (*quiesce)(void *arg);     /* NULL, or wait for operations in flight */
    void (*prepare)(void *arg);     /* take every lock of arg */
    void (*parent)(void *arg);      /* release them */
    void (*child)(void *arg);       /* make them new; drop other threads' state */
    void *arg;
    unsigned rank;                  /* constant while registered */
    struct sm_fork_client *prev, *next;   /* the coordinator's list, by rank
                                           * descending; its mutex */
} sm_fork_client;

/* Link c (all fields but prev and next set) into the list. No lock of
 * the caller's may be one a fork's prepare takes: register outside them. */
void sm_fork_register(sm_fork_client *c);
/* Unlink c (registered). */
void sm_fork_unregister(sm_fork_client *c);
/* Install the handlers (once per process; later calls do nothing). 0 or an
 * errno value from pthread_atfork. */
int  sm_fork_install(void);

#endif /* PAGEALLOC_OS_FORK_H */
