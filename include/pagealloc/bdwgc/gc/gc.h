/*
 * gc/gc.h - the bdwgc-compatible face under its second spelling: a bdwgc
 * program may include either <gc.h> or <gc/gc.h>; both are ../gc.h.
 */
#include "../gc.h"
