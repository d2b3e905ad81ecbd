/*
 * export.h - symbol visibility for the library's public functions.
 *
 * The library is compiled with -fvisibility=hidden, so every function is
 * private to the shared object unless its definition says otherwise. Public
 * functions (those declared in include/pagealloc/) carry PA_API on their
 * definition; everything else stays hidden or static.
 */
#ifndef PAGEALLOC_EXPORT_H
#define PAGEALLOC_EXPORT_H

#ifndef PA_API
#define PA_API __attribute__((visibility("default")))
#endif

#endif /* PAGEALLOC_EXPORT_H */
