/*
 * checklevel.c - the process-wide check level (checklevel.h) and its
 * public setters (<pagealloc/errors.h>).
 */
#include <stdlib.h>

#include "base/checklevel.h"
#include "base/export.h"
#include "pagealloc/errors.h"

int pa_check_level_v = -1;

int pa_check_level_env(void)
{
    const char *s = getenv("PAGEALLOC_CHECK");
    if (!s || !*s)
        return PA_CHECK_CHEAP;
    long v = strtol(s, NULL, 10);
    return v < PA_CHECK_CHEAP ? PA_CHECK_CHEAP : v > PA_CHECK_FULL ? PA_CHECK_FULL : (int)v;
}

PA_API void pagealloc_set_check_level(int level)
{
    if (level > PA_CHECK_FULL)
        level = PA_CHECK_FULL;
    __atomic_store_n(&pa_check_level_v, level < 0 ? pa_check_level_env() : level,
                     __ATOMIC_RELAXED);
}

PA_API int pagealloc_get_check_level(void)
{
    return pa_check_level();
}
