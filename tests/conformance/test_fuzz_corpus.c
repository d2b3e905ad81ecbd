/*
 * test_fuzz_corpus.c - replays every input of the fuzz seed corpus
 * (tests/fuzz/corpus) through the fuzz harness (tests/fuzz/fuzz_ops.h:
 * the same decoder, reference model and checks as the libFuzzer target),
 * so that the corpus is exercised by every build without libFuzzer. Each
 * input must run to its end with the library agreeing with the model,
 * every invariant holding and nothing leaked. Inputs that once found bugs
 * are added to the corpus and so stay fixed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>

#include "../fuzz/fuzz_ops.h"

/* The corpus directory, from this file's path at compile time. */
static void corpus_dir(char *buf, size_t size)
{
    const char *file = __FILE__;
    const char *slash = strrchr(file, '/');
    int n = slash ? (int)(slash - file) : 1;
    snprintf(buf, size, "%.*s/../fuzz/corpus", n, slash ? file : ".");
}

static void test_corpus(void **state)
{
    (void)state;
    char dir[4096];
    corpus_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open the corpus directory %s", dir);
    int files = 0, failed = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n;
        uint8_t *buf = fz_read_file(path, &n);
        assert_non_null(buf);
        char err[1024];
        if (fz_run_input(buf, n, err, sizeof err) != 0) {
            print_error("%s: %s\n", e->d_name, err);
            failed++;
        }
        free(buf);
        files++;
    }
    closedir(d);
    assert_true(files >= 5);          /* the seeds are there */
    assert_int_equal(failed, 0);
}

/* A fixed input: a zero-page free (refused, as the model says) between
 * an allocation and a full check; the same verdict twice (the harness
 * starts from a clean state each time), and an empty input is fine. */
static void test_harness_deterministic(void **state)
{
    (void)state;
    static const uint8_t in[] = { 0, 0, 1, 1, 3, 3, 0xfc, 0, 4, 12 };
    char err[1024];
    assert_int_equal(fz_run_input(in, sizeof in, err, sizeof err), 0);
    assert_int_equal(fz_run_input(in, sizeof in, err, sizeof err), 0);
    assert_int_equal(fz_run_input(NULL, 0, err, sizeof err), 0);   /* empty input */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_harness_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
