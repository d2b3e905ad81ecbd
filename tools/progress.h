/*
 * progress.h - a one-line progress bar on a terminal.
 *
 * Drawn on stdout with a carriage return, fitted to the terminal's width;
 * the caller draws it only when stdout is a terminal and the output is
 * not JSON. progress_clear erases the line before the summary is printed.
 */
#ifndef PAGEALLOC_TOOL_PROGRESS_H
#define PAGEALLOC_TOOL_PROGRESS_H

/* fraction in [0, 1]; negative: unknown (a spinner instead of a bar).
 * status: text after the bar, cut to fit. */
void progress_draw(double fraction, const char *status);
void progress_clear(void);

#endif /* PAGEALLOC_TOOL_PROGRESS_H */
