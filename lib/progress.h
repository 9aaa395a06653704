/* progress.h: how far long admin work has got (rows or users done of a total): one line
 * rewritten in place on a terminal, plain lines now and then when the output is not one. */
#ifndef PROGRESS_H
#define PROGRESS_H

#include <stdio.h>

struct progress {
    FILE *out;
    int tty;         /* out is a terminal: one line, redrawn */
    char label[32];  /* what is being done: "copy", "vesta-adopt" */
    char unit[16];   /* what is counted: "rows", "users" */
    long long total; /* -1 when unknown */
    long long done;
    long long drawn_ms; /* when the line was last written */
    int drawn_tenth;    /* plain lines: the last tenth of the total written */
    int open;           /* a terminal line is on screen, not ended */
};

/* Starts reporting on out (stdout, stderr): label and unit are copied; total may be -1. */
void progress_start(struct progress *p, FILE *out, const char *label, const char *unit,
                    long long total);
/* Sets how much is done; writes when it is worth it: on a terminal at most 10 times a second,
 * otherwise a line per tenth of the total (or every 10 s when the total is unknown). */
void progress_set(struct progress *p, long long done);
/* A line that stays (a step finished), the progress line drawn again after it on a terminal. */
void progress_note(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The final figures, and the line ended. */
void progress_end(struct progress *p);
/* The progress line as written ("copy: 1200/5000 rows (24%)"), into out. */
void progress_text(const struct progress *p, char *out, size_t outlen);

#endif
