/* log.c: stderr logging with control characters escaped so one event stays one line. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static const char *log_route = "calsync";
static const char *const log_names[LOG__MAX] = {"DEBUG", "INFO", "WARN", "ERROR"};

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
