/*
 * test_dropin_programs.c - real programs from Debian under the drop-in:
 * each runs twice on generated input, once plainly and once with
 * LD_PRELOAD of libpagealloc-malloc.so (argv[1]), and must exit the same
 * way with the same standard output. The preloaded run also sets
 * PAGEALLOC_MALLOC_STATS=1, and its standard error must hold the
 * allocator's statistics: proof that our malloc served the program.
 *   python3  an allocation-heavy script (dicts, lists, strings, sorting, json)
 *   gcc      compiling a generated C file to assembly (-O2 -S)
 *   git      init, add and commit generated files, log and diff
 *   sqlite3  a generated SQL script (tables, indexes, joins, aggregates)
 * A program that is missing is skipped with PA_SKIP (scripts/deps.sh
 * lists the Debian packages in its "test" set).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pa_skip.h"

static const char *dropin;          /* the library to preload */
static char workdir[256];

/* The program's path: Debian's (/usr/bin) first, else from PATH. */
static int find_program(const char *name, char *out, size_t n)
{
    snprintf(out, n, "/usr/bin/%s", name);
    if (access(out, X_OK) == 0)
        return 1;
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char *copy = strdup(path), *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, n, "%s/%s", d, name);
        if (access(out, X_OK) == 0) {
            free(copy);
            return 1;
        }
    }
    free(copy);
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t k = fread(buf + n, 1, 4096, f);
        n += k;
        if (k == 0)
            break;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Run `sh -c script` in dir (a fresh copy per run: sub), stdout and
 * stderr to files; the wait status. */
static int run(const char *dir, const char *script, int preload, const char *out,
               const char *err)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(126);
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        if (preload) {
            setenv("LD_PRELOAD", dropin, 1);
            setenv("PAGEALLOC_MALLOC_STATS", "1", 1);
        } else {
            unsetenv("LD_PRELOAD");
            unsetenv("PAGEALLOC_MALLOC_STATS");
        }
        /* Deterministic programs. */
        setenv("HOME", dir, 1);
        setenv("LC_ALL", "C", 1);
        setenv("TZ", "UTC", 1);
        setenv("PYTHONHASHSEED", "0", 1);
        setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
        setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
        setenv("GIT_AUTHOR_NAME", "Pa Test", 1);
        setenv("GIT_AUTHOR_EMAIL", "pa@example.org", 1);
        setenv("GIT_COMMITTER_NAME", "Pa Test", 1);
        setenv("GIT_COMMITTER_EMAIL", "pa@example.org", 1);
        setenv("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z", 1);
        setenv("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z", 1);
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* Prepare a fresh directory for one run: setup writes its inputs. */
static void fresh_dir(char *dir, size_t n, const char *name, int preload,
                      void (*setup)(const char *dir))
{
    snprintf(dir, n, "%s/%s-%s", workdir, name, preload ? "pa" : "libc");
    mkdir(dir, 0755);
    setup(dir);
}

/* Run the script plainly and under the drop-in; compare. */
static void compare(const char *name, void (*setup)(const char *dir), const char *script)
{
    char dir[2][512], out[2][600], err[2][600];
    int st[2];
    for (int k = 0; k < 2; k++) {
        fresh_dir(dir[k], sizeof dir[k], name, k, setup);
        snprintf(out[k], sizeof out[k], "%s.out", dir[k]);
        snprintf(err[k], sizeof err[k], "%s.err", dir[k]);
        st[k] = run(dir[k], script, k, out[k], err[k]);
    }
    size_t n0, n1, ne0, ne1;
    char *o0 = read_file(out[0], &n0), *o1 = read_file(out[1], &n1);
    char *e0 = read_file(err[0], &ne0), *e1 = read_file(err[1], &ne1);
    if (!WIFEXITED(st[0]) || WEXITSTATUS(st[0]) != 0)
        fail_msg("%s without the drop-in failed (status %#x): %.2000s", name, st[0], e0);
    if (st[1] != st[0])
        fail_msg("%s under the drop-in: status %#x, %#x without; stderr: %.2000s", name, st[1],
                 st[0], e1);
    if (n0 != n1 || memcmp(o0, o1, n0) != 0)
        fail_msg("%s: output differs under the drop-in (%zu bytes, %zu without; %s vs %s)", name,
                 n1, n0, out[1], out[0]);
    if (!strstr(e1, "\"in_use_bytes\""))
        fail_msg("%s: no statistics from the drop-in on stderr: was it preloaded? (%.500s)", name,
                 e1);
    if (n0 < 10)
        fail_msg("%s: only %zu bytes of output", name, n0);
    print_message("%s: %zu bytes of identical output\n", name, n0);
    free(o0);
    free(o1);
    free(e0);
    free(e1);
}

#define REQUIRE(prog)                                                                          \
    char prog_path[512];                                                                       \
    do {                                                                                       \
        if (!find_program(prog, prog_path, sizeof prog_path)) {                                \
            PA_SKIP("%s is not installed (Debian package: see scripts/deps.sh, test)", prog);  \
            return;                                                                            \
        }                                                                                      \
    } while (0)

/* ---- python3 ------------------------------------------------------------------------------- */

static void py_setup(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/alloc.py", dir);
    write_file(path,
               "import json, hashlib, collections\n"
               "d = {}\n"
               "for i in range(200000):\n"
               "    d['key%d' % i] = [i, str(i) * (i % 7), {'v': i * 3}]\n"
               "words = sorted(d, key=lambda k: (len(d[k][1]), k))\n"
               "print(len(words), words[:5], words[-5:])\n"
               "for i in range(0, 200000, 2):\n"
               "    del d['key%d' % i]\n"
               "s = json.dumps(d, sort_keys=True)\n"
               "print(len(s), hashlib.sha256(s.encode()).hexdigest())\n"
               "c = collections.Counter(ch for ch in s[:500000])\n"
               "print(sorted(c.items())[:20])\n"
               "big = [bytearray(n * 1000) for n in range(1, 300)]\n"
               "print(sum(len(b) for b in big))\n"
               "t = ''.join(str(x) for x in range(100000))\n"
               "print(len(t), t[1000:1050])\n"
               "class Node:\n"
               "    __slots__ = ('a', 'b')\n"
               "    def __init__(self, a, b): self.a, self.b = a, b\n"
               "def tree(n):\n"
               "    return None if n == 0 else Node(tree(n - 1), tree(n - 1))\n"
               "def count(t):\n"
               "    return 0 if t is None else 1 + count(t.a) + count(t.b)\n"
               "print(count(tree(16)))\n");
}

static void test_python3(void **state)
{
    (void)state;
    REQUIRE("python3");
    char script[1400];
    snprintf(script, sizeof script, "%s -I alloc.py", prog_path);
    compare("python3", py_setup, script);
}

/* ---- gcc ------------------------------------------------------------------------------------ */

static void gcc_setup(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/gen.c", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#include <stdio.h>\n#include <string.h>\n");
    for (int i = 0; i < 150; i++) {
        fprintf(f, "struct s%d { int a[%d]; double d; const char *name; };\n", i, i % 13 + 1);
        fprintf(f,
                "static int f%d(struct s%d *p, int x) {\n"
                "    int r = 0;\n"
                "    for (int k = 0; k < %d; k++) r += p->a[k] * (x ^ k) + (int)p->d;\n"
                "    switch (x %% 5) { case 0: r += %d; break; case 1: r -= strlen(p->name); break;\n"
                "    case 2: r *= 3; break; default: r ^= %d; }\n"
                "    return r;\n}\n",
                i, i, i % 13 + 1, i * 7, i * 13);
    }
    fprintf(f, "int main(void) {\n    long t = 0;\n");
    for (int i = 0; i < 150; i++)
        fprintf(f, "    { struct s%d v = { {%d}, %d.5, \"n%d\" }; t += f%d(&v, %d); }\n", i, i, i, i, i,
                i);
    fprintf(f, "    printf(\"%%ld\\n\", t);\n    return 0;\n}\n");
    fclose(f);
}

static void test_gcc(void **state)
{
    (void)state;
    REQUIRE("gcc");
    char script[1400];
    snprintf(script, sizeof script, "%s -O2 -S -o - gen.c && %s -O1 -o gen gen.c && ./gen",
             prog_path, prog_path);
    compare("gcc", gcc_setup, script);
}

/* ---- git ------------------------------------------------------------------------------------ */

static void git_setup(const char *dir)
{
    for (int i = 0; i < 40; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/file%02d.txt", dir, i);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        for (int l = 0; l < 50 + i * 10; l++)
            fprintf(f, "file %d line %d: %x\n", i, l, (unsigned)(l * 2654435761u + (unsigned)i));
        fclose(f);
    }
}

static void test_git(void **state)
{
    (void)state;
    REQUIRE("git");
    char script[2000];
    snprintf(script, sizeof script,
             "set -e; g=%s; $g init -q -b main . && $g add . && $g commit -q -m first && "
             "for i in 03 07 11 19 23; do echo changed $i >> file$i.txt; done && "
             "rm file05.txt && $g add -A && $g commit -q -m second && "
             "$g mv file01.txt renamed.txt && $g commit -q -m third && "
             "$g log --stat && $g diff HEAD~2 HEAD && $g show --format=%%H:%%s HEAD~1 && "
             "$g ls-files -s && $g rev-list --all --objects | sort",
             prog_path);
    compare("git", git_setup, script);
}

/* ---- sqlite3 ------------------------------------------------------------------------------- */

static void sql_setup(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/script.sql", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, v REAL);\n"
               "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000)\n"
               "INSERT INTO t SELECT x, x %% 97, 'name' || (x * 7919 %% 10007), x * 1.5 FROM c;\n"
               "CREATE INDEX tk ON t(k);\nCREATE INDEX tn ON t(name);\n"
               "CREATE TABLE u(k INTEGER, label TEXT);\n");
    for (int i = 0; i < 97; i++)
        fprintf(f, "INSERT INTO u VALUES(%d, 'label-%d-%s');\n", i, i, i % 2 ? "odd" : "even");
    fprintf(f, "SELECT k, count(*), sum(v), min(name), max(name) FROM t GROUP BY k ORDER BY k;\n"
               "SELECT u.label, count(*) FROM t JOIN u ON t.k = u.k WHERE t.id %% 3 = 0\n"
               "  GROUP BY u.label ORDER BY 2 DESC, 1 LIMIT 20;\n"
               "SELECT group_concat(name, ',') FROM (SELECT name FROM t ORDER BY name LIMIT 500);\n"
               "UPDATE t SET name = name || '-x' WHERE k < 10;\nDELETE FROM t WHERE k > 80;\n"
               "SELECT count(*), sum(length(name)) FROM t;\n"
               "SELECT name, v FROM t ORDER BY v DESC LIMIT 10;\n");
    fclose(f);
}

static void test_sqlite3(void **state)
{
    (void)state;
    REQUIRE("sqlite3");
    char script[1400];
    snprintf(script, sizeof script, "%s db.sqlite < script.sql && %s :memory: < script.sql",
             prog_path, prog_path);
    compare("sqlite3", sql_setup, script);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s path/to/libpagealloc-malloc.so\n", argv[0]);
        return 2;
    }
    dropin = argv[1];
    if (access(dropin, R_OK) != 0) {
        fprintf(stderr, "%s: %s\n", dropin, strerror(errno));
        return 2;
    }
    snprintf(workdir, sizeof workdir, "/tmp/pa-dropin-programs.XXXXXX");
    if (!mkdtemp(workdir)) {
        perror("mkdtemp");
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python3),
        cmocka_unit_test(test_gcc),
        cmocka_unit_test(test_git),
        cmocka_unit_test(test_sqlite3),
    };
    int rc = PA_RUN_GROUP_TESTS(tests, NULL, NULL);
    if (rc == 0) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", workdir);
    } else {
        fprintf(stderr, "outputs kept in %s\n", workdir);
    }
    return rc;
}
