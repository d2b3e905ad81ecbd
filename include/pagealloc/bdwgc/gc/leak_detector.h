/*
 * gc/leak_detector.h - the second spelling of ../leak_detector.h.
 */
#include "../leak_detector.h"
