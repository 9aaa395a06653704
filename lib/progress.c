/* progress.c: progress of long admin work on a terminal (a line redrawn in place) or as plain
 * lines (a log, a pipe): calsync-admin copy, vesta-adopt. */
#include "progress.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_TTY_MS 100     /* a terminal line is redrawn at most this often */
#define PROGRESS_PLAIN_MS 10000 /* plain lines without a total: one this often */

static long long progress_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void progress_start(struct progress *p, FILE *out, const char *label, const char *unit,
                    long long total)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = out != NULL && isatty(fileno(out));
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "");
    p->total = total;
    p->drawn_ms = progress_now_ms();
}

void progress_text(const struct progress *p, char *out, size_t outlen)
{
    if (p->total > 0)
        snprintf(out, outlen, "%s: %lld/%lld %s (%lld%%)", p->label, p->done, p->total, p->unit,
                 p->done >= p->total ? 100 : p->done * 100 / p->total);
    else
        snprintf(out, outlen, "%s: %lld %s", p->label, p->done, p->unit);
}

/* Writes the progress line: in place on a terminal, as a line of its own otherwise. */
static void progress_draw(struct progress *p)
{
    char line[200];

    progress_text(p, line, sizeof line);
    if (p->tty) {
        fprintf(p->out, "\r%s\033[K", line); /* \033[K: the rest of an older, longer line */
        p->open = 1;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
    p->drawn_ms = progress_now_ms();
}

void progress_set(struct progress *p, long long done)
{
    long long now;

    p->done = done;
    if (p->out == NULL)
        return;
    now = progress_now_ms();
    if (p->tty) {
        if (now - p->drawn_ms >= PROGRESS_TTY_MS || !p->open)
            progress_draw(p);
    } else if (p->total > 0) {
        int tenth = (int)(done >= p->total ? 10 : done * 10 / p->total);
        if (tenth > p->drawn_tenth) {
            p->drawn_tenth = tenth;
            progress_draw(p);
        }
    } else if (now - p->drawn_ms >= PROGRESS_PLAIN_MS) {
        progress_draw(p);
    }
}

void progress_note(struct progress *p, const char *fmt, ...)
{
    va_list ap;

    if (p->out == NULL)
        return;
    if (p->open)
        fputs("\r\033[K", p->out); /* the note takes the progress line's place */
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    p->open = 0;
    if (p->tty)
        progress_draw(p);
    else
        fflush(p->out);
}

void progress_end(struct progress *p)
{
    if (p->out == NULL)
        return;
    if (p->tty) {
        progress_draw(p);
        fputc('\n', p->out);
    } else if (p->total <= 0 || p->drawn_tenth < 10) {
        progress_draw(p); /* the final figures, unless the last tenth already said them */
    }
    p->open = 0;
    fflush(p->out);
}
