/*
 * fork.c - the fork coordinator (fork.h): a list of clients sorted by
 * rank under one mutex, and the three pthread_atfork handlers that walk
 * it around the OS layer's own registry lock. The mutex is held from
 * prepare until the parent handler (so no client registers or leaves
 * during a fork); the child makes it new.
 */
#include <errno.h>
#include <pthread.h>

#include "os/fork.h"
#include "os/registry.h"

static pthread_mutex_t fork_mu = PTHREAD_MUTEX_INITIALIZER;
static sm_fork_client *clients;    /* rank descending; fork_mu */
static pthread_once_t installed = PTHREAD_ONCE_INIT;
static int install_err;

void sm_fork_register(sm_fork_client *c)
{
    pthread_mutex_lock(&fork_mu);
    sm_fork_client **at = &clients, *prev = NULL;
    while (*at && (*at)->rank >= c->rank) {
        prev = *at;
        at = &(*at)->next;
    }
    c->prev = prev;
    c->next = *at;
    if (*at)
        (*at)->prev = c;
    *at = c;
    pthread_mutex_unlock(&fork_mu);
}

void sm_fork_unregister(sm_fork_client *c)
{
    pthread_mutex_lock(&fork_mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    pthread_mutex_unlock(&fork_mu);
}

static void prepare(void)
{
    pthread_mutex_lock(&fork_mu);
    for (sm_fork_client *c = clients; c; c = c->next)
        if (c->quiesce)
            c->quiesce(c->arg);
    for (sm_fork_client *c = clients; c; c = c->next)
        c->prepare(c->arg);
    sm_fork_prepare();
}

/* The last client of the list (the lowest rank). */
static sm_fork_client *last(void)
{
    sm_fork_client *c = clients;
    while (c && c->next)
        c = c->next;
    return c;
}

static void parent(void)
{
    sm_fork_parent();
    for (sm_fork_client *c = last(); c; c = c->prev)
        c->parent(c->arg);
    pthread_mutex_unlock(&fork_mu);
}

static void child(void)
{
    sm_fork_child();
    for (sm_fork_client *c = last(); c; c = c->prev)
        c->child(c->arg);
    pthread_mutex_init(&fork_mu, NULL);
}

static void install(void)
{
    install_err = pthread_atfork(prepare, parent, child);
}

int sm_fork_install(void)
{
    pthread_once(&installed, install);
    return install_err;
}
