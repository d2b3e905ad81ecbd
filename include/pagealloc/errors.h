/*
 * errors.h - the library's shared services, for every layer: how misuse
 * that a call cannot return as an error is reported, and how much the
 * library checks at run time.
 *
 * Reported misuse (a bad free, a forged page cache, a handle that is not
 * live) reaches the process-wide error handler as one line,
 *     pagealloc: CALL(ADDRESS, N pages): RULE
 * Calls that can fail return an errno value instead and never report.
 */
#ifndef PAGEALLOC_ERRORS_H
#define PAGEALLOC_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Error reporting for calls that cannot return an error. The handler gets
 * one line of text; if it returns, the offending call does nothing. The
 * default prints the line to stderr and aborts. NULL restores it. */
typedef void (*pagealloc_error_fn)(const char *msg, void *arg);
void pagealloc_set_error_handler(pagealloc_error_fn fn, void *arg);

/* Run-time check level, for the whole process (pagealloc and pageheap):
 *   0  cheap validation of caller input only (default; always on);
 *   1  also checks that cost more than a bitmap read (e.g. a heap free of
 *      pages a page cache owns);
 *   2  also the full invariant check (pagealloc_check) after every
 *      mutating call, a broken invariant reported as above; slow.
 * The initial level is the environment variable PAGEALLOC_CHECK, read at
 * first use; set overrides it (a negative level re-reads the variable;
 * above 2 means 2). Thread-safe. */
void pagealloc_set_check_level(int level);
int pagealloc_get_check_level(void);

#ifdef __cplusplus
}
#endif
#endif /* PAGEALLOC_ERRORS_H */
