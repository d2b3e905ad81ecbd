/*
 * progress.c - the progress bar (progress.h).
 */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static unsigned spin;

static int term_width(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 80;
}

void progress_draw(double fraction, const char *status)
{
    char line[512];
    int width = term_width() - 1;            /* never wrap */
    if (width > (int)sizeof line - 1)
        width = (int)sizeof line - 1;
    int bar = width >= 70 ? 30 : 10;
    int n = 0;
    line[n++] = '[';
    if (fraction < 0) {
        for (int i = 0; i < bar; i++)
            line[n++] = (unsigned)i == spin % (unsigned)bar ? '#' : ' ';
        spin++;
    } else {
        if (fraction > 1)
            fraction = 1;
        int full = (int)(fraction * bar + 0.5);
        for (int i = 0; i < bar; i++)
            line[n++] = i < full ? '#' : '.';
    }
    line[n++] = ']';
    if (fraction >= 0)
        n += snprintf(line + n, sizeof line - (size_t)n, " %3d%%", (int)(fraction * 100));
    if (n < (int)sizeof line - 1)
        n += snprintf(line + n, sizeof line - (size_t)n, "  %s", status);
    if (n > width)
        n = width;
    line[n] = 0;
    printf("\r%s\033[K", line);
    fflush(stdout);
}

void progress_clear(void)
{
    printf("\r\033[K");
    fflush(stdout);
}
