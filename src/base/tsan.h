/*
 * tsan.h - PA_UNDER_TSAN: 1 when the library is built for ThreadSanitizer
 * (gcc says so with __SANITIZE_THREAD__, clang with
 * __has_feature(thread_sanitizer)), else 0. The one place that asks; code
 * that TSan cannot check as written (an inline asm store, a signal the
 * sanitizer holds back) takes a plain C11 path when it is 1.
 */
#ifndef PAGEALLOC_TSAN_H
#define PAGEALLOC_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define PA_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PA_UNDER_TSAN 1
#endif
#endif
#ifndef PA_UNDER_TSAN
#define PA_UNDER_TSAN 0
#endif

#endif /* PAGEALLOC_TSAN_H */
