/* log.c: stderr logging with control characters escaped so one event stays one line. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *log_route = "calsync";
static const char *const log_names[LOG__MAX] = {"DEBUG", "INFO", "WARN", "ERROR"};
static enum log_level log_min = LOG_INFO;

void log_set_level(enum log_level lvl)
{
    if (lvl < LOG__MAX)
        log_min = lvl;
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const char *const names[LOG__MAX] = {"debug", "info", "warn", "error"};

    for (int i = 0; s != NULL && i < LOG__MAX; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_init(const char *route)
{
    if (route != NULL)
        log_route = route;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    char raw[1024], out[2048];
    size_t i, o = 0;
    va_list ap;

    if (lvl >= LOG__MAX)
        lvl = LOG_ERROR;
    if (lvl < log_min)
        return;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    for (i = 0; raw[i] != '\0' && o + 5 < sizeof out; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    fprintf(stderr, "calsync[%ld] %s %s: %s\n", (long)getpid(), log_names[lvl], log_route, out);
}
