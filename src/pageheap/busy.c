/*
 * busy.c - taking the busy flags of many thread records at once (busy.h
 * has the flag's protocol; docs/heap.md "The busy flag"): a flush of
 * every cache, the checker, the visitor, the level-1 free check and
 * fork's prepare mark every flag, make one membarrier for all, then wait
 * for each owner to leave, instead of one membarrier per record. Every
 * caller holds reg_mu, so the list is stable and no other remote taker
 * runs (they all hold it). Its own file: the run caches (runcache.c) and
 * the thread records (threads.c) both take flags so, and call each other
 * one way only.
 */
#include "pageheap/heap.h"

void ph_busy_lock_all(pageheap *h, int si)
{
    int asym = 0;
    for (ph_thread *t = h->threads; t; t = t->next) {
        if (si < 0 || t->shard == (unsigned)si) {
            ph_busy_mark(&t->busy);
            asym |= t->busy.asym;
        }
    }
    if (asym)
        sm_membarrier();
    for (ph_thread *t = h->threads; t; t = t->next)
        if (si < 0 || t->shard == (unsigned)si)
            ph_busy_settle(&t->busy);
}

void ph_busy_unlock_all(pageheap *h, int si)
{
    for (ph_thread *t = h->threads; t; t = t->next)
        if (si < 0 || t->shard == (unsigned)si)
            busy_unlock(t);
}
