/* log.h: one line per event on stderr: "calsync[pid] LEVEL route: message". */
#ifndef LOG_H
#define LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG__MAX };

/* Names the program in every line (e.g. "appointments"); the string must outlive the process. */
void log_init(const char *route);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Lines below lvl are dropped (default LOG_INFO; CALSYNC_LOG_LEVEL through cfg). */
void log_set_level(enum log_level lvl);
/* "debug", "info", "warn" or "error" into *out; 0, or -1 when s is none of them. */
int log_level_parse(const char *s, enum log_level *out);

#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
