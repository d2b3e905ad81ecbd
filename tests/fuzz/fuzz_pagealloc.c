/*
 * fuzz_pagealloc.c - libFuzzer target for the page allocator: each input
 * is decoded into an operation sequence and run against a reference model
 * (fuzz_ops.h); any difference, broken invariant, unexpected report or
 * leak aborts with a one-line description.
 *
 * Built by scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined).
 * With -DPA_FUZZ_REPLAY it is instead a plain program that runs each file
 * named on its command line (no libFuzzer needed):
 *   fuzz_replay [-v] FILE...   (e.g. every file of tests/fuzz/corpus;
 *                               -v prints each operation)
 */
#include "fuzz_ops.h"

#ifndef PA_FUZZ_REPLAY

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)fz_trace;
    char err[1024];
    if (fz_run_input(data, size, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_pagealloc: %s\n", err);
        abort();
    }
    return 0;
}

#else

int main(int argc, char **argv)
{
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            fz_trace = 1;
            continue;
        }
        size_t n;
        uint8_t *buf = fz_read_file(argv[i], &n);
        if (!buf) {
            fprintf(stderr, "%s: cannot read\n", argv[i]);
            bad = 1;
            continue;
        }
        char err[1024];
        if (fz_run_input(buf, n, err, sizeof err) != 0) {
            fprintf(stderr, "%s: FAIL: %s\n", argv[i], err);
            bad = 1;
        } else {
            printf("%s: ok (%zu bytes)\n", argv[i], n);
        }
        free(buf);
    }
    return bad;
}

#endif
