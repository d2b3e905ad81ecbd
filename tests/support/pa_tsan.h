/*
 * pa_tsan.h - PA_UNDER_TSAN: 1 when the test is built with
 * ThreadSanitizer (gcc's __SANITIZE_THREAD__ or clang's feature test),
 * else 0; stress tests shorten their runs under it.
 */
#ifndef PA_TSAN_H
#define PA_TSAN_H

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

#endif /* PA_TSAN_H */
