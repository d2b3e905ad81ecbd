/*
 * pause.h - the spin-wait hint, a shared service of every layer and the
 * one place the library names the CPU's pause instruction. A lock that
 * spins before it sleeps (src/pageheap/lock.h, the OS layer's registry
 * lock in src/os/registry.c) calls pa_spin_pause between two looks at the
 * lock word: on x86 the pause frees the core's other hyperthread and
 * avoids the memory-order flush when the word changes; elsewhere it is
 * nothing, and the loop is a plain spin.
 */
#ifndef PAGEALLOC_PAUSE_H
#define PAGEALLOC_PAUSE_H

static inline void pa_spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#endif /* PAGEALLOC_PAUSE_H */
