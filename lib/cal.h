/* cal.h: RFC 3339 / date parsing and formatting, and time zone conversion. */
#ifndef CAL_H
#define CAL_H

#include <stddef.h>
#include <time.h>

#define CAL_STRLEN 40

/* True when zone is a safe, installed IANA zone name. */
int cal_zone_valid(const char *zone);
/* Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)". Returns CS_OK or CS_ERR_INVAL. */
int cal_parse_rfc3339(const char *s, time_t *out);
/* Parses "YYYY-MM-DD" into midnight UTC of that date. Returns CS_OK or CS_ERR_INVAL. */
int cal_parse_date(const char *s, time_t *out);
/* "YYYY-MM-DDTHH:MM:SSZ" */
void cal_format_utc(time_t t, char out[CAL_STRLEN]);
/* "YYYY-MM-DD" of the UTC day of t */
void cal_format_date(time_t t, char out[CAL_STRLEN]);
/* "YYYY-MM-DDTHH:MM:SS+HH:MM" as wall time in zone. Returns CS_OK or CS_ERR_INVAL. */
int cal_format_local(time_t t, const char *zone, char out[CAL_STRLEN]);
/* Midnight UTC of the calendar date that t falls on in zone. */
int cal_local_date(time_t t, const char *zone, time_t *out);
/* t moved by whole days and months of wall time in zone (DST-correct: 10:00 stays 10:00).
 * CS_OK or CS_ERR_INVAL (unknown zone). */
int cal_add_local(time_t t, const char *zone, int days, int months, time_t *out);
/* Milliseconds on a monotonic clock. */
long long cal_now_ms(void);

#endif
