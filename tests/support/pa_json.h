/*
 * pa_json.h - a strict check that a text is exactly one JSON value (RFC
 * 8259 grammar: objects, arrays, strings with their escapes, numbers,
 * true/false/null; whitespace around), for the tests of the JSON the
 * library and the tool print. It validates only; it builds nothing.
 */
#ifndef PA_JSON_H
#define PA_JSON_H

#include <stddef.h>

/* 1 if text is one JSON value (nesting at most 32 deep), else 0 with the
 * offset of the first byte that does not fit in *err_off (may be NULL). */
int pa_json_valid(const char *text, size_t *err_off);

#endif /* PA_JSON_H */
