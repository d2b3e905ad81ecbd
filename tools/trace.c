/*
 * trace.c - trace files (trace.h).
 *
 * The reader keeps a hash table of the live ids (open addressing, linear
 * probing, backward-shift deletion) mapping each to its slot and the line
 * that allocated it, and a stack of free slots.
 */
#include "trace.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char trace_format_help[] =
    "trace format (text, one event per line; fields separated by spaces or tabs;\n"
    "'#' starts a comment to the end of the line; blank lines are ignored):\n"
    "  a ID NPAGES   allocate NPAGES pages (1..2^34) as allocation ID (decimal,\n"
    "                below 2^64; not live: an id may be reused after its free)\n"
    "  f ID          free allocation ID (must be live)\n"
    "  r BYTES       release at least BYTES of free memory to the OS\n"
    "                (suffixes K, M, G, T: r 64M)\n"
    "  r all         release all free memory to the OS\n"
    "A bad line stops the command before anything runs, with 'FILE:LINE: reason'\n"
    "on stderr and exit code 1.\n";

/* ---- Live ids --------------------------------------------------------------------- */

typedef struct id_entry {
    uint64_t id;
    uint64_t line;           /* 0: empty entry */
    uint32_t slot;
} id_entry;

typedef struct id_table {
    id_entry *e;
    size_t cap, n;           /* cap: a power of two */
} id_table;

static size_t id_hash(uint64_t id, size_t cap)
{
    id *= 0x9E3779B97F4A7C15ull;
    return (size_t)(id ^ (id >> 29)) & (cap - 1);
}

static id_entry *id_find(id_table *t, uint64_t id)
{
    if (!t->cap)
        return NULL;
    for (size_t i = id_hash(id, t->cap);; i = (i + 1) & (t->cap - 1)) {
        if (!t->e[i].line)
            return NULL;
        if (t->e[i].id == id)
            return &t->e[i];
    }
}

static int id_insert(id_table *t, uint64_t id, uint32_t slot, uint64_t line)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        id_entry *e = calloc(cap, sizeof *e);
        if (!e)
            return ENOMEM;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->e[i].line)
                continue;
            size_t k = id_hash(t->e[i].id, cap);
            while (e[k].line)
                k = (k + 1) & (cap - 1);
            e[k] = t->e[i];
        }
        free(t->e);
        t->e = e;
        t->cap = cap;
    }
    size_t k = id_hash(id, t->cap);
    while (t->e[k].line)
        k = (k + 1) & (t->cap - 1);
    t->e[k] = (id_entry){ .id = id, .line = line, .slot = slot };
    t->n++;
    return 0;
}

static void id_remove(id_table *t, id_entry *victim)
{
    size_t i = (size_t)(victim - t->e), mask = t->cap - 1;
    t->e[i].line = 0;
    /* Backward shift: move later entries of the cluster up into the hole
     * when their home position allows. */
    for (size_t j = (i + 1) & mask; t->e[j].line; j = (j + 1) & mask) {
        size_t home = id_hash(t->e[j].id, t->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->e[i] = t->e[j];
            t->e[j].line = 0;
            i = j;
        }
    }
    t->n--;
}

/* ---- Reading ---------------------------------------------------------------------- */

typedef struct reader {
    const char *name;
    uint64_t line;
    trace *t;
    id_table ids;
    uint32_t *free_slots;    /* stack */
    size_t nfree, free_cap;
} reader;

static int bad(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%llu: ", r->name, (unsigned long long)r->line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

/* A decimal number below 2^64, digits only. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int push(reader *r, wl_event ev)
{
    trace *t = r->t;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 4096;
        wl_event *e = realloc(t->ev, cap * sizeof *e);
        if (!e)
            return bad(r, "out of memory");
        t->ev = e;
        t->cap = cap;
    }
    t->ev[t->n++] = ev;
    return 0;
}

static int do_alloc(reader *r, const char *id_s, const char *np_s)
{
    uint64_t id, np;
    if (parse_u64(id_s, &id))
        return bad(r, "bad id '%s' (a decimal number below 2^64)", id_s);
    if (parse_u64(np_s, &np) || np == 0 || np > TRACE_MAX_PAGES)
        return bad(r, "bad page count '%s' (1..%llu)", np_s,
                   (unsigned long long)TRACE_MAX_PAGES);
    id_entry *e = id_find(&r->ids, id);
    if (e)
        return bad(r, "id %llu is already allocated (at line %llu) and not freed",
                   (unsigned long long)id, (unsigned long long)e->line);
    uint32_t slot;
    if (r->nfree) {
        slot = r->free_slots[--r->nfree];
    } else {
        if (r->t->slots == UINT32_MAX)
            return bad(r, "too many allocations live at once");
        slot = r->t->slots++;
    }
    if (id_insert(&r->ids, id, slot, r->line))
        return bad(r, "out of memory");
    r->t->allocs++;
    return push(r, (wl_event){ .op = WL_ALLOC, .slot = slot, .arg = np });
}

static int do_free(reader *r, const char *id_s)
{
    uint64_t id;
    if (parse_u64(id_s, &id))
        return bad(r, "bad id '%s' (a decimal number below 2^64)", id_s);
    id_entry *e = id_find(&r->ids, id);
    if (!e)
        return bad(r, "free of id %llu, which is not allocated (never, or already freed)",
                   (unsigned long long)id);
    uint32_t slot = e->slot;
    id_remove(&r->ids, e);
    if (r->nfree == r->free_cap) {
        size_t cap = r->free_cap ? 2 * r->free_cap : 1024;
        uint32_t *s = realloc(r->free_slots, cap * sizeof *s);
        if (!s)
            return bad(r, "out of memory");
        r->free_slots = s;
        r->free_cap = cap;
    }
    r->free_slots[r->nfree++] = slot;
    r->t->frees++;
    return push(r, (wl_event){ .op = WL_FREE, .slot = slot });
}

static int do_release(reader *r, const char *s)
{
    uint64_t bytes;
    if (!strcmp(s, "all"))
        bytes = WL_RELEASE_ALL;
    else if (cli_bytes_value(s, &bytes) || bytes == 0 || bytes == WL_RELEASE_ALL)
        return bad(r, "bad byte count '%s' (a number of bytes, 1 or more, with an optional "
                      "suffix K, M, G or T; or 'all')", s);
    r->t->releases++;
    return push(r, (wl_event){ .op = WL_RELEASE, .arg = bytes });
}

/* One line, NUL-terminated, without its newline. */
static int parse_line(reader *r, char *line, size_t len)
{
    enum { MAXF = 4 };
    char *f[MAXF];
    int nf = 0;
    if (strlen(line) != len)
        return bad(r, "NUL byte in the line (not a text file?)");
    for (char *p = line; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (!*p || *p == '#')
            break;
        if (nf == MAXF)
            break;                          /* reported below as extra */
        f[nf++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r')
            p++;
        if (*p)
            *p++ = 0;
    }
    if (nf == 0)
        return 0;
    const char *op = f[0];
    int want = !strcmp(op, "a") ? 3 : !strcmp(op, "f") || !strcmp(op, "r") ? 2 : 0;
    if (!want)
        return bad(r, "unknown operation '%s' (expected a, f or r)", op);
    static const char *const form[] = { ['a'] = "a ID NPAGES", ['f'] = "f ID", ['r'] = "r BYTES|all" };
    if (nf < want)
        return bad(r, "missing field: expected '%s'", form[(unsigned char)op[0]]);
    if (nf > want)
        return bad(r, "unexpected extra field '%s': expected '%s'", f[want],
                   form[(unsigned char)op[0]]);
    switch (op[0]) {
    case 'a': return do_alloc(r, f[1], f[2]);
    case 'f': return do_free(r, f[1]);
    default:  return do_release(r, f[1]);
    }
}

int trace_read(trace *t, const char *path)
{
    memset(t, 0, sizeof *t);
    int use_stdin = !strcmp(path, "-");
    reader r = { .name = use_stdin ? "<stdin>" : path, .t = t };
    FILE *f = use_stdin ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "pagealloc trace: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        r.line++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = 0;
        if ((rc = parse_line(&r, line, (size_t)len)) != 0)
            break;
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "pagealloc trace: %s: read error: %s\n", r.name, strerror(errno));
        rc = -1;
    }
    free(line);
    free(r.ids.e);
    free(r.free_slots);
    if (!use_stdin)
        fclose(f);
    if (rc)
        trace_free(t);
    return rc;
}

void trace_free(trace *t)
{
    free(t->ev);
    memset(t, 0, sizeof *t);
}

/* ---- Writing ---------------------------------------------------------------------- */

int trace_write_workload(FILE *out, wl_kind k, uint64_t seed, uint64_t max_events)
{
    wl_gen g;
    int err = wl_gen_init(&g, k, seed);
    if (err)
        return err;
    uint64_t *ids = calloc(g.slots, sizeof *ids);
    if (!ids) {
        wl_gen_destroy(&g);
        return ENOMEM;
    }
    uint64_t limit = max_events;
    if (g.total && (limit == 0 || g.total < limit))
        limit = g.total;
    fprintf(out, "# pagealloc trace: %s, %s\n# seed %llu, %llu events", wl_name(k), wl_title(k),
            (unsigned long long)seed, (unsigned long long)limit);
    if (limit < g.total)
        fprintf(out, " (the first %llu of %llu)", (unsigned long long)limit,
                (unsigned long long)g.total);
    fprintf(out, "\n# a ID NPAGES | f ID | r BYTES|all   (see pagealloc trace --help)\n");
    uint64_t next_id = 1;
    wl_event ev;
    for (uint64_t n = 0; n < limit && wl_gen_next(&g, limit ? (double)n / (double)limit : 0, &ev);
         n++) {
        switch (ev.op) {
        case WL_ALLOC:
            ids[ev.slot] = next_id++;
            fprintf(out, "a %llu %llu\n", (unsigned long long)ids[ev.slot],
                    (unsigned long long)ev.arg);
            break;
        case WL_FREE:
            fprintf(out, "f %llu\n", (unsigned long long)ids[ev.slot]);
            break;
        default:
            if (ev.arg == WL_RELEASE_ALL)
                fprintf(out, "r all\n");
            else
                fprintf(out, "r %llu\n", (unsigned long long)ev.arg);
            break;
        }
    }
    free(ids);
    wl_gen_destroy(&g);
    if (fflush(out) != 0 || ferror(out))
        return errno ? errno : EIO;
    return 0;
}
