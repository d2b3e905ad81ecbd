/*
 * pa_ops.c - operation sequences as text: one operation per line, parsed
 * and formatted (pa_op_parse, pa_op_format), and whole op files read and
 * written (pa_ops_read, pa_ops_write); see pa_ops.h for the syntax.
 *
 * Two tables drive both directions: op_names[kind] is the keyword and
 * op_nargs[kind] the number of numeric arguments (0, 1 or 2) it takes;
 * arguments an op does not take are 0 in its pa_op. A line holds exactly
 * one keyword and its arguments, so a formatted op parses back to the
 * same op: format then parse is the identity, which is what lets a
 * failing random sequence be written, read back and replayed. Numbers are
 * read with strtoull base 0 (decimal or 0x hex); "max" stands for
 * UINT64_MAX. pa_ops_read keeps the ops in a malloc'd array that doubles
 * as it fills; blank and '#' comment lines are skipped, and the first
 * line that does not parse fails the whole read.
 */
#include "pa_ops.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pa_testutil.h"

static const char *const op_names[] = {
    [PA_OP_CONFIG] = "config", [PA_OP_GROW] = "grow",   [PA_OP_ALLOC] = "alloc",
    [PA_OP_FREE] = "free",     [PA_OP_TFREE] = "tfree", [PA_OP_CACHE] = "cache",
    [PA_OP_CALLOC] = "calloc", [PA_OP_FLUSH] = "flush", [PA_OP_SCAV] = "scav",
    [PA_OP_CHECK] = "check",   [PA_OP_SEARCHADDR] = "searchaddr",
};
static const int op_nargs[] = {
    [PA_OP_CONFIG] = 2, [PA_OP_GROW] = 2,   [PA_OP_ALLOC] = 1, [PA_OP_FREE] = 2,
    [PA_OP_TFREE] = 2,  [PA_OP_CACHE] = 0,  [PA_OP_CALLOC] = 2, [PA_OP_FLUSH] = 1,
    [PA_OP_SCAV] = 1,   [PA_OP_CHECK] = 0,  [PA_OP_SEARCHADDR] = 0,
};

int pa_op_parse(const char *line, pa_op *op)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line == '\0' || *line == '\n' || *line == '\r' || *line == '#')
        return 0;
    char name[16];
    int used = 0;
    if (sscanf(line, "%15s%n", name, &used) != 1)
        return -1;
    for (int k = 0; k <= PA_OP_SEARCHADDR; k++) {
        if (strcmp(name, op_names[k]) != 0)
            continue;
        op->kind = (pa_op_kind)k;
        op->a = op->b = 0;
        const char *s = line + used;
        uint64_t v[2] = {0, 0};
        for (int i = 0; i < op_nargs[k]; i++) {
            while (*s == ' ' || *s == '\t')
                s++;
            char *e;
            if (strncmp(s, "max", 3) == 0) {
                v[i] = UINT64_MAX;
                e = (char *)s + 3;
            } else {
                errno = 0;
                v[i] = strtoull(s, &e, 0);
                if (e == s || errno)
                    return -1;
            }
            s = e;
        }
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        if (*s != '\0')
            return -1;
        op->a = v[0];
        op->b = v[1];
        return 1;
    }
    return -1;
}

void pa_op_format(const pa_op *op, char *buf, size_t size)
{
    switch (op->kind) {
    case PA_OP_CONFIG: snprintf(buf, size, "config %" PRIu64 " %" PRIu64, op->a, op->b); break;
    case PA_OP_GROW:   snprintf(buf, size, "grow 0x%" PRIx64 " 0x%" PRIx64, op->a, op->b); break;
    case PA_OP_ALLOC:  snprintf(buf, size, "alloc %" PRIu64, op->a); break;
    case PA_OP_FREE:
    case PA_OP_TFREE:
        snprintf(buf, size, "%s 0x%" PRIx64 " %" PRIu64, op_names[op->kind], op->a, op->b);
        break;
    case PA_OP_CACHE:  snprintf(buf, size, "cache"); break;
    case PA_OP_CALLOC: snprintf(buf, size, "calloc %" PRIu64 " %" PRIu64, op->a, op->b); break;
    case PA_OP_FLUSH:  snprintf(buf, size, "flush %" PRIu64, op->a); break;
    case PA_OP_SCAV:
        if (op->a == UINT64_MAX)
            snprintf(buf, size, "scav max");
        else
            snprintf(buf, size, "scav %" PRIu64, op->a);
        break;
    case PA_OP_CHECK:  snprintf(buf, size, "check"); break;
    case PA_OP_SEARCHADDR: snprintf(buf, size, "searchaddr"); break;
    }
}

int pa_ops_write(const char *path, const pa_op *ops, size_t nops)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    char line[128];
    for (size_t i = 0; i < nops; i++) {
        pa_op_format(&ops[i], line, sizeof line);
        fprintf(f, "%s\n", line);
    }
    return fclose(f) == 0 ? 0 : -1;
}

int pa_ops_read(const char *path, pa_op **ops, size_t *nops, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = 0, cap = 1024;
    pa_op *v = pa_xcalloc(cap, sizeof *v);
    char line[512];
    unsigned ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        pa_op op;
        int rc = pa_op_parse(line, &op);
        if (rc < 0) {
            snprintf(err, err_size, "%s:%u: cannot parse: %s", path, ln, line);
            free(v);
            fclose(f);
            return -1;
        }
        if (rc == 0)
            continue;
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
            if (!v)
                abort();
        }
        v[n++] = op;
    }
    fclose(f);
    *ops = v;
    *nops = n;
    return 0;
}
