/* appt_list.c: the appointments of a range, page by page (keyset cursor), as cJSON or written
 * straight to a buffer. */
#include "appt_list.h"
#include "appt.h"
#include "cs.h"
#include "db.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int appt_cursor_encode(const struct appt_pos *p, char out[APPT_CURSOR_LEN])
{
    char text[CAL_STRLEN + 24];
    int n = snprintf(text, sizeof text, "%s %lld", p->start, p->id);

    if (n < 0 || (size_t)n >= sizeof text)
        return CS_ERR_TOOBIG;
    return crypt_b64url_encode(text, (size_t)n, out, APPT_CURSOR_LEN);
}

int appt_cursor_decode(const char *s, struct appt_pos *out)
{
    unsigned char raw[APPT_CURSOR_LEN];
    char text[APPT_CURSOR_LEN + 1], *sp, *end;
    size_t len;
    time_t t;
    long long id;

    memset(out, 0, sizeof *out);
    if (strlen(s) >= APPT_CURSOR_LEN || crypt_b64url_decode(s, raw, sizeof raw, &len) != CS_OK ||
        len == 0)
        return CS_ERR_INVAL;
    memcpy(text, raw, len);
    text[len] = '\0';
    if (strlen(text) != len || (sp = strchr(text, ' ')) == NULL)
        return CS_ERR_INVAL;
    *sp = '\0';
    if ((size_t)(sp - text) >= sizeof out->start || cal_parse_rfc3339(text, &t) != CS_OK)
        return CS_ERR_INVAL;
    if (sp[1] < '1' || sp[1] > '9' || strlen(sp + 1) > 18)
        return CS_ERR_INVAL;
    errno = 0;
    id = strtoll(sp + 1, &end, 10);
    if (errno != 0 || *end != '\0' || id <= 0)
        return CS_ERR_INVAL;
    memcpy(out->start, text, (size_t)(sp - text) + 1);
    out->id = id;
    return CS_OK;
}

/* Binds a page of APPT_LIST: limit + 1 rows, so one more says whether another page follows. */
static int appt_list_bind(struct db_stmt *st, const char *user_id, const char *from, const char *to,
                          const struct appt_pos *after, int limit, struct appt_pos *next, int *more)
{
    memset(next, 0, sizeof *next);
    *more = 0;
    if (limit < 1 || limit > APPT_LIST_MAX)
        return CS_ERR_INVAL;
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, from);
    db_bind_text(st, 3, to);
    db_bind_text(st, 4, after ? after->start : "");
    db_bind_int64(st, 5, after ? after->id : 0);
    db_bind_int(st, 6, limit + 1);
    return CS_OK;
}

int appt_list(struct db *db, const char *user_id, const char *from, const char *to,
              const struct appt_pos *after, int limit, cJSON *arr, struct appt_pos *next, int *more)
{
    struct db_stmt *st = db_stmt(db, DB_APPT_LIST);
    int step, n = 0;
    int rc = appt_list_bind(st, user_id, from, to, after, limit, next, more);

    if (rc != CS_OK)
        return rc;
    while ((step = db_step(st)) == DB_ROW) {
        struct appt a;
        cJSON *o;
        if (n == limit) {
            *more = 1;
            step = DB_DONE;
            break;
        }
        if ((rc = appt_from_row(st, &a)) != CS_OK)
            break;
        snprintf(next->start, sizeof next->start, "%s", a.start);
        next->id = a.id;
        n++;
        o = appt_to_json(&a);
        appt_free(&a);
        if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            rc = CS_ERR_NOMEM;
            break;
        }
    }
    if (rc == CS_OK && step != DB_DONE)
        rc = CS_ERR_DB;
    db_reset(st);
    return rc;
}

/* Appends s as a JSON string the way cJSON prints one: quotes, backslashes and \b \f \n \r \t
 * escaped, other bytes below 0x20 as \u00XX, everything else as is. NULL prints "". */
static int appt_json_str(struct buf *b, const unsigned char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *run;
    int rc = buf_add(b, "\"", 1);

    for (run = s; rc == CS_OK && s != NULL && *s; s++) {
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        if (*s >= 0x20 && *s != '"' && *s != '\\')
            continue;
        rc = buf_add(b, run, (size_t)(s - run));
        switch (*s) {
        case '"':
        case '\\':
            esc[1] = (char)*s;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[*s >> 4];
            esc[5] = hex[*s & 15];
            n = 6;
        }
        if (rc == CS_OK)
            rc = buf_add(b, esc, n);
        run = s + 1;
    }
    if (rc == CS_OK && s != NULL)
        rc = buf_add(b, run, (size_t)(s - run));
    return rc == CS_OK ? buf_add(b, "\"", 1) : rc;
}

/* ,"key": then the column as a string, or null when it is NULL and nullable. */
static int appt_json_col(struct buf *b, const char *key, struct db_stmt *st, int col, int nullable)
{
    const unsigned char *v = db_col_text(st, col);
    int rc = buf_adds(b, key);

    if (rc != CS_OK)
        return rc;
    if (v == NULL && nullable)
        return buf_add(b, "null", 4);
    return appt_json_str(b, v);
}

int appt_list_json(struct db *db, const char *user_id, const char *from, const char *to,
                   const struct appt_pos *after, int limit, struct buf *b, struct appt_pos *next,
                   int *more)
{
    struct db_stmt *st = db_stmt(db, DB_APPT_LIST);
    int step = DB_DONE, first = 1, n = 0;
    int rc = appt_list_bind(st, user_id, from, to, after, limit, next, more);

    if (rc != CS_OK)
        return rc;
    rc = buf_add(b, "[", 1);
    while (rc == CS_OK && (step = db_step(st)) == DB_ROW) {
        int all_day = db_col_int(st, 8);
        if (n == limit) {
            *more = 1;
            step = DB_DONE;
            break;
        }
        n++;
        db_col_copy(st, 6, next->start, sizeof next->start);
        next->id = db_col_int64(st, 0);
        /* the column order of APPT_COLS */
        rc = buf_printf(b, "%s{\"id\":%lld", first ? "" : ",", (long long)db_col_int64(st, 0));
        first = 0;
        if (rc == CS_OK)
            rc = appt_json_col(b, ",\"title\":", st, 3, 0);
        if (rc == CS_OK)
            rc = appt_json_col(b, ",\"description\":", st, 4, 0);
        if (rc == CS_OK)
            rc = appt_json_col(b, ",\"location\":", st, 5, 0);
        if (rc == CS_OK && all_day) {
            char d[2][CAL_STRLEN], v[CAL_STRLEN];
            time_t t = 0;
            for (int k = 0; k < 2 && rc == CS_OK; k++) {
                db_col_copy(st, 6 + k, v, sizeof v);
                if (cal_parse_rfc3339(v, &t) != CS_OK)
                    rc = CS_ERR_INVAL; /* as appt_to_json, which then fails the list */
                cal_format_date(t, d[k]);
            }
            if (rc == CS_OK)
                rc = buf_printf(b, ",\"start\":\"%s\",\"end\":\"%s\"", d[0], d[1]);
        } else if (rc == CS_OK) {
            rc = appt_json_col(b, ",\"start\":", st, 6, 0);
            if (rc == CS_OK)
                rc = appt_json_col(b, ",\"end\":", st, 7, 0);
        }
        if (rc == CS_OK)
            rc = buf_adds(b, all_day ? ",\"allDay\":true" : ",\"allDay\":false");
        if (rc == CS_OK)
            rc = appt_json_col(b, ",\"type\":", st, 9, 0);
        if (rc == CS_OK)
            rc = appt_json_col(b, ",\"status\":", st, 10, 0);
        if (rc == CS_OK) {
            long long contact = db_col_int64(st, 2);
            rc = contact ? buf_printf(b, ",\"contactId\":%lld", contact)
                         : buf_adds(b, ",\"contactId\":null");
        }
        if (rc == CS_OK)
            rc = appt_json_col(b, ",\"syncState\":", st, 17, 0);
        if (rc == CS_OK)
            rc = appt_json_col(b, ",\"syncError\":", st, 18, 1);
        if (rc == CS_OK)
            rc = appt_json_col(b, ",\"googleEventId\":", st, 12, 1);
        if (rc == CS_OK)
            rc = buf_printf(b, ",\"updatedAt\":%lld", (long long)db_col_int64(st, 20));
        if (rc == CS_OK) /* as appt_to_json: the event's type and foreign organizer */
            rc = appt_json_col(b, ",\"eventType\":", st, 24, 1);
        if (rc == CS_OK)
            rc = appt_json_col(b, ",\"organizer\":", st, 25, 1);
        if (rc == CS_OK) {
            const char *t = (const char *)db_col_text(st, 24);
            int ro = db_col_text(st, 25) != NULL || (t != NULL && strcmp(t, "default") != 0);
            rc = buf_adds(b, ro ? ",\"readOnly\":true}" : ",\"readOnly\":false}");
        }
    }
    if (rc == CS_OK && step != DB_DONE)
        rc = CS_ERR_DB;
    if (rc == CS_OK)
        rc = buf_add(b, "]", 1);
    db_reset(st);
    return rc;
}
