/*
 * overflow.c - a stack overflow is a clear crash: the optional SIGSEGV
 * handler that names the stack whose guard was hit.
 *
 * pa_stack_overflow_install saves the current SIGSEGV action (`prev`) and
 * installs on_segv with SA_ONSTACK, once per process. A guard fault
 * happens with the stack pointer in the guard, so the handler can only run
 * on an alternate signal stack; those are per thread: the installing
 * thread gets one, and so does every thread that makes its first stack
 * cache after the install (st_overflow_thread, from threads.c). A signal
 * stack is 64 KiB of OS memory (sysmem_alloc), freed when its thread exits
 * (a key destructor, which first disables it); a thread that already has
 * a signal stack (set by the program or a sanitizer) keeps its own.
 *
 * on_segv looks the fault address up in the address map (st_map_guard:
 * lock-free, async-signal-safe). A guard hit writes one line,
 *     pagealloc: stack overflow: stack ID [LO, HI) fault at ADDR
 * with write(2), restores the default action and returns, so the faulting
 * instruction faults again and the process dies of SIGSEGV (core dump and
 * exit status as for any crash). Anything else goes to `prev`: its
 * sa_sigaction or sa_handler is called, or for SIG_DFL / SIG_IGN the
 * default action is restored and the fault repeats. A fault sent by
 * kill() (si_code <= 0) that is ours cannot repeat, so it is raised again.
 * Not caught: a frame so large that it jumps over the guard entirely.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "base/export.h"
#include "stack/stacks.h"

#define ALT_BYTES ((size_t)64 << 10)

static struct sigaction prev;
static _Atomic int installed;
static pthread_mutex_t install_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t alt_key;
static sysmem_stat alt_stat;

static size_t fmt_hex(char *p, uintptr_t v)
{
    char t[2 + 16];
    size_t n = 0;
    do {
        t[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    p[0] = '0';
    p[1] = 'x';
    for (size_t i = 0; i < n; i++)
        p[2 + i] = t[n - 1 - i];
    return n + 2;
}

static size_t fmt_dec(char *p, uint64_t v)
{
    char t[24];
    size_t n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = t[n - 1 - i];
    return n;
}

static size_t fmt_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return n;
}

static void reset_default(int sig)
{
    struct sigaction d;
    memset(&d, 0, sizeof d);
    d.sa_handler = SIG_DFL;
    sigemptyset(&d.sa_mask);
    sigaction(sig, &d, NULL);
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    st_rec *r = st_map_guard((uintptr_t)si->si_addr);
    if (r) {
        char line[160];
        size_t n = fmt_str(line, "pagealloc: stack overflow: stack ");
        n += fmt_dec(line + n, atomic_load_explicit(&r->id, memory_order_relaxed));
        n += fmt_str(line + n, " [");
        n += fmt_hex(line + n, r->lo);
        n += fmt_str(line + n, ", ");
        n += fmt_hex(line + n, r->hi);
        n += fmt_str(line + n, ") fault at ");
        n += fmt_hex(line + n, (uintptr_t)si->si_addr);
        line[n++] = '\n';
        ssize_t w = write(STDERR_FILENO, line, n);
        (void)w;
        reset_default(sig);
        if (si->si_code <= 0)
            raise(sig);
        return;
    }
    if (prev.sa_flags & SA_SIGINFO) {
        prev.sa_sigaction(sig, si, uc);
    } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
        prev.sa_handler(sig);
    } else {
        reset_default(sig);
        if (si->si_code <= 0)
            raise(sig);
    }
}

static void alt_free(void *p)
{
    stack_t off;
    memset(&off, 0, sizeof off);
    off.ss_flags = SS_DISABLE;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == p)
        sigaltstack(&off, NULL);
    sysmem_free(p, ALT_BYTES, &alt_stat);
}

/* Give the calling thread a signal stack unless it has one. */
static int alt_thread(void)
{
    stack_t cur;
    if (sigaltstack(NULL, &cur) != 0)
        return errno;
    if (!(cur.ss_flags & SS_DISABLE))
        return 0;
    void *p;
    int err = sysmem_alloc(ALT_BYTES, &alt_stat, &p);
    if (err)
        return err;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = p;
    ss.ss_size = ALT_BYTES;
    if (sigaltstack(&ss, NULL) != 0) {
        err = errno;
        sysmem_free(p, ALT_BYTES, &alt_stat);
        return err;
    }
    pthread_setspecific(alt_key, p);
    return 0;
}

void st_overflow_thread(void)
{
    if (atomic_load_explicit(&installed, memory_order_acquire))
        alt_thread();
}

PA_API int pa_stack_overflow_install(void)
{
    pthread_mutex_lock(&install_mu);
    int err = 0;
    if (!atomic_load_explicit(&installed, memory_order_relaxed)) {
        err = pthread_key_create(&alt_key, alt_free) ? EAGAIN : 0;
        if (!err) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_sigaction = on_segv;
            sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
            sigemptyset(&sa.sa_mask);
            if (sigaction(SIGSEGV, &sa, &prev) != 0) {
                err = errno;
                pthread_key_delete(alt_key);
            }
        }
        if (!err)
            atomic_store_explicit(&installed, 1, memory_order_release);
    }
    pthread_mutex_unlock(&install_mu);
    return err ? err : alt_thread();
}

void st_overflow_fork(int phase)
{
    if (phase == 0)
        pthread_mutex_lock(&install_mu);
    else if (phase == 1)
        pthread_mutex_unlock(&install_mu);
    else
        pthread_mutex_init(&install_mu, NULL);
}
