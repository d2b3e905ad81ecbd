/*
 * pa_json.c - pa_json_valid: a recursive-descent reader over the text that
 * moves a cursor through one value and clears `ok` at the first byte the
 * grammar does not allow.
 */
#include <string.h>

#include "pa_json.h"

typedef struct jp {
    const char *s;
    int ok;
} jp;

static void jws(jp *p)
{
    while (*p->s == ' ' || *p->s == '\n' || *p->s == '\t' || *p->s == '\r')
        p->s++;
}

static void jvalue(jp *p, int depth);

static void jstring(jp *p)
{
    if (*p->s != '"') {
        p->ok = 0;
        return;
    }
    for (p->s++; *p->s != '"'; p->s++) {
        if (!*p->s || (unsigned char)*p->s < 0x20) {
            p->ok = 0;
            return;
        }
        if (*p->s == '\\') {
            p->s++;
            if (*p->s == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p->s[i]) || !p->s[i]) {
                        p->ok = 0;
                        return;
                    }
                p->s += 4;
            } else if (!*p->s || !strchr("\"\\/bfnrt", *p->s)) {
                p->ok = 0;
                return;
            }
        }
    }
    p->s++;
}

/* Skip one or more digits at s; NULL if there is none. */
static const char *jdigits(const char *s)
{
    if (!(*s >= '0' && *s <= '9'))
        return NULL;
    while (*s >= '0' && *s <= '9')
        s++;
    return s;
}

static void jnumber(jp *p)
{
    const char *s = p->s;
    if (*s == '-')
        s++;
    s = *s == '0' ? s + 1 : jdigits(s);          /* no leading zero */
    if (s && *s == '.')
        s = jdigits(s + 1);
    if (s && (*s == 'e' || *s == 'E')) {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        s = jdigits(s);
    }
    if (!s)
        p->ok = 0;
    else
        p->s = s;
}

static void jvalue(jp *p, int depth)
{
    jws(p);
    if (depth > 32) {
        p->ok = 0;
        return;
    }
    if (*p->s == '{' || *p->s == '[') {
        char close = *p->s == '{' ? '}' : ']';
        int obj = close == '}';
        p->s++;
        jws(p);
        if (*p->s == close) {
            p->s++;
            return;
        }
        for (;;) {
            if (obj) {
                jws(p);
                jstring(p);
                jws(p);
                if (!p->ok || *p->s != ':') {
                    p->ok = 0;
                    return;
                }
                p->s++;
            }
            jvalue(p, depth + 1);
            if (!p->ok)
                return;
            jws(p);
            if (*p->s == ',') {
                p->s++;
                continue;
            }
            if (*p->s == close) {
                p->s++;
                return;
            }
            p->ok = 0;
            return;
        }
    }
    if (*p->s == '"') {
        jstring(p);
        return;
    }
    for (const char *const *w = (const char *const[]){ "true", "false", "null", NULL }; *w; w++)
        if (!strncmp(p->s, *w, strlen(*w))) {
            p->s += strlen(*w);
            return;
        }
    jnumber(p);
}

int pa_json_valid(const char *text, size_t *err_off)
{
    jp p = { .s = text, .ok = 1 };
    jvalue(&p, 0);
    jws(&p);
    int ok = p.ok && *p.s == 0;
    if (err_off)
        *err_off = (size_t)(p.s - text);
    return ok;
}
