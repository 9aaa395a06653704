/* cal.c: strict time parsing/formatting; zone conversion through the system tz database. */
#include "cal.h"
#include "cs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cal_zone_valid(const char *zone)
{
    char path[512];

    if (zone == NULL || *zone == '\0' || *zone == '/' || strlen(zone) > 64 ||
        strstr(zone, "..") != NULL)
        return 0;
    for (const char *p = zone; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '/' || c == '-' || c == '+'))
            return 0;
    }
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", zone);
    return access(path, R_OK) == 0;
}

static int cal_digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int cal_days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 ? 28 + leap : days[m - 1];
}

/* Parses the date part; leaves *tm set (UTC fields) and returns chars consumed or 0. */
static size_t cal_date_part(const char *s, struct tm *tm)
{
    int y, mo, d;

    if (!cal_digits(s, 4, &y) || s[4] != '-' || !cal_digits(s + 5, 2, &mo) || s[7] != '-' ||
        !cal_digits(s + 8, 2, &d))
        return 0;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > cal_days_in_month(y, mo))
        return 0;
    memset(tm, 0, sizeof *tm);
    tm->tm_year = y - 1900;
    tm->tm_mon = mo - 1;
    tm->tm_mday = d;
    return 10;
}

int cal_parse_date(const char *s, time_t *out)
{
    struct tm tm;

    if (s == NULL || cal_date_part(s, &tm) != 10 || s[10] != '\0')
        return CS_ERR_INVAL;
    *out = timegm(&tm);
    return CS_OK;
}

int cal_parse_rfc3339(const char *s, time_t *out)
{
    struct tm tm;
    int h, mi, sec, oh, om, sign;
    const char *p;

    if (s == NULL || cal_date_part(s, &tm) != 10)
        return CS_ERR_INVAL;
    p = s + 10;
    if ((*p != 'T' && *p != 't') || !cal_digits(p + 1, 2, &h) || p[3] != ':' ||
        !cal_digits(p + 4, 2, &mi) || p[6] != ':' || !cal_digits(p + 7, 2, &sec))
        return CS_ERR_INVAL;
    if (h > 23 || mi > 59 || sec > 60)
        return CS_ERR_INVAL;
    p += 9;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return CS_ERR_INVAL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        oh = om = 0;
        sign = 1;
    } else if ((*p == '+' || *p == '-') && cal_digits(p + 1, 2, &oh) && p[3] == ':' &&
               cal_digits(p + 4, 2, &om) && p[6] == '\0') {
        if (oh > 23 || om > 59)
            return CS_ERR_INVAL;
        sign = *p == '-' ? -1 : 1;
    } else {
        return CS_ERR_INVAL;
    }
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec == 60 ? 59 : sec;
    *out = timegm(&tm) - sign * (oh * 3600 + om * 60);
    return CS_OK;
}

void cal_format_utc(time_t t, char out[CAL_STRLEN])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, CAL_STRLEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cal_format_date(time_t t, char out[CAL_STRLEN])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, CAL_STRLEN, "%Y-%m-%d", &tm);
}

/* Breaks t down as wall time in zone and, when days or months are non-zero, moves that wall
 * time by them (DST-correct) into *moved. The process is single-threaded per request, so
 * switching TZ briefly is safe; the previous value is restored. */
static int cal_in_zone(time_t t, const char *zone, struct tm *tm, int days, int months,
                       time_t *moved)
{
    char old[128] = "";
    const char *prev = getenv("TZ");
    int had = prev != NULL;

    if (!cal_zone_valid(zone))
        return CS_ERR_INVAL;
    if (had)
        snprintf(old, sizeof old, "%s", prev);
    setenv("TZ", zone, 1);
    tzset();
    localtime_r(&t, tm);
    if (moved != NULL) {
        struct tm w = *tm;
        w.tm_mday += days;
        w.tm_mon += months;
        w.tm_isdst = -1;
        *moved = mktime(&w);
    }
    if (had)
        setenv("TZ", old, 1);
    else
        unsetenv("TZ");
    tzset();
    return CS_OK;
}

static int cal_localtime(time_t t, const char *zone, struct tm *tm)
{
    return cal_in_zone(t, zone, tm, 0, 0, NULL);
}

int cal_add_local(time_t t, const char *zone, int days, int months, time_t *out)
{
    struct tm tm;

    return cal_in_zone(t, zone, &tm, days, months, out);
}

int cal_format_local(time_t t, const char *zone, char out[CAL_STRLEN])
{
    struct tm tm;
    long off;
    char sign = '+';

    if (cal_localtime(t, zone, &tm) != CS_OK)
        return CS_ERR_INVAL;
    off = tm.tm_gmtoff;
    if (off < 0) {
        sign = '-';
        off = -off;
    }
    snprintf(out, CAL_STRLEN, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
             (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100,
             tm.tm_min % 100, tm.tm_sec % 100, sign, (int)(off / 3600) % 100,
             (int)((off % 3600) / 60));
    return CS_OK;
}

int cal_local_date(time_t t, const char *zone, time_t *out)
{
    struct tm tm, d;

    if (cal_localtime(t, zone, &tm) != CS_OK)
        return CS_ERR_INVAL;
    memset(&d, 0, sizeof d);
    d.tm_year = tm.tm_year;
    d.tm_mon = tm.tm_mon;
    d.tm_mday = tm.tm_mday;
    *out = timegm(&d);
    return CS_OK;
}

long long cal_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
