/* appt.c: the appointment model: validation, the API's JSON form, rows of the store. */
#include "appt.h"
#include "cs.h"
#include "db.h"
#include "log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const appt_types[] = {"Visita", "Reunión", "Firma", "Cierre", "Viaje"};
static const char *const appt_statuses[] = {"Scheduled", "Completed", "Cancelled", "Rescheduled",
                                            "NoShow"};

int appt_type_valid(const char *s)
{
    for (size_t i = 0; i < sizeof appt_types / sizeof appt_types[0]; i++)
        if (strcmp(s, appt_types[i]) == 0)
            return 1;
    return 0;
}

int appt_type_index(const char *s)
{
    for (int i = 0; s != NULL && i < APPT_TYPES; i++)
        if (strcmp(s, appt_types[i]) == 0)
            return i;
    return -1;
}

const char *appt_type_name(int i)
{
    return i >= 0 && i < APPT_TYPES ? appt_types[i] : NULL;
}

int appt_status_valid(const char *s)
{
    for (size_t i = 0; i < sizeof appt_statuses / sizeof appt_statuses[0]; i++)
        if (strcmp(s, appt_statuses[i]) == 0)
            return 1;
    return 0;
}

void appt_free(struct appt *a)
{
    free(a->title);
    free(a->description);
    free(a->location);
    free(a->google_event_id);
    free(a->google_etag);
    free(a->google_updated);
    free(a->synced_snapshot);
    free(a->sync_error);
    free(a->former_event_id);
    free(a->reminders_sent);
    free(a->former_calendar_id);
    free(a->google_event_type);
    free(a->google_organizer);
    free(a->google_recurring_id);
    free(a->google_original_start);
    a->former_event_id = a->reminders_sent = a->former_calendar_id = NULL;
    a->google_event_type = a->google_organizer = NULL;
    a->google_recurring_id = a->google_original_start = NULL;
    a->title = a->description = a->location = NULL;
    a->google_event_id = a->google_etag = a->google_updated = a->synced_snapshot = NULL;
    a->sync_error = NULL;
}

int appt_read_only(const struct appt *a)
{
    return a->google_organizer != NULL ||
           (a->google_event_type != NULL && strcmp(a->google_event_type, "default") != 0);
}

int appt_from_row(struct db_stmt *st, struct appt *a)
{
    memset(a, 0, sizeof *a);
    a->id = db_col_int64(st, 0);
    db_col_copy(st, 1, a->user_id, sizeof a->user_id);
    a->contact_id = db_col_int64(st, 2);
    a->title = db_col_dup(st, 3);
    a->description = db_col_dup(st, 4);
    a->location = db_col_dup(st, 5);
    db_col_copy(st, 6, a->start, sizeof a->start);
    db_col_copy(st, 7, a->end, sizeof a->end);
    a->all_day = db_col_int(st, 8);
    db_col_copy(st, 9, a->type, sizeof a->type);
    db_col_copy(st, 10, a->status, sizeof a->status);
    a->is_active = db_col_int(st, 11);
    a->google_event_id = db_col_dup(st, 12);
    a->google_etag = db_col_dup(st, 13);
    a->google_updated = db_col_dup(st, 14);
    a->synced_snapshot = db_col_dup(st, 15);
    a->last_synced_at = db_col_int64(st, 16);
    db_col_copy(st, 17, a->sync_state, sizeof a->sync_state);
    a->sync_error = db_col_dup(st, 18);
    a->created_at = db_col_int64(st, 19);
    a->updated_at = db_col_int64(st, 20);
    a->former_event_id = db_col_dup(st, 21);
    a->reminders_sent = db_col_dup(st, 22);
    a->former_calendar_id = db_col_dup(st, 23);
    a->google_event_type = db_col_dup(st, 24);
    a->google_organizer = db_col_dup(st, 25);
    a->google_recurring_id = db_col_dup(st, 26);
    a->google_original_start = db_col_dup(st, 27);
    if (a->title == NULL || a->description == NULL || a->location == NULL) {
        appt_free(a);
        return CS_ERR_NOMEM;
    }
    return CS_OK;
}

/* A text field: string (or null when allow_null) within max bytes of valid UTF-8. */
static int appt_text(const cJSON *v, const char *name, size_t max, int required, char **dst,
                     char *errbuf, size_t errlen)
{
    char *s;

    /* what the appointment holds already is fine as it is, whatever its length: text imported
     * from Google is kept whole, and a form sending it back unchanged must not be refused */
    if (cJSON_IsString(v) && *dst != NULL && strcmp(*dst, v->valuestring) == 0)
        return CS_OK;
    if (cJSON_IsNull(v) && !required)
        s = strdup("");
    else if (!cJSON_IsString(v))
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "%s must be a string", name);
    else if (strlen(v->valuestring) > max)
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "%s is longer than %zu bytes", name, max);
    else if (!cs_text_valid(v->valuestring))
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "%s contains invalid characters", name);
    else
        s = strdup(v->valuestring);
    if (s == NULL)
        return CS_ERR_NOMEM;
    if (required) {
        size_t n = strspn(s, " \t\r\n");
        if (s[n] == '\0') {
            free(s);
            return cs_fail(errbuf, errlen, CS_ERR_INVAL, "%s must not be empty", name);
        }
    }
    free(*dst);
    *dst = s;
    return CS_OK;
}

/* Parses a start/end value to its stored form (UTC, or a date at 00:00Z for all-day). */
static int appt_time(const cJSON *v, const char *name, int all_day, const char *tz, time_t *out,
                     char *errbuf, size_t errlen)
{
    time_t t;

    if (!cJSON_IsString(v))
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "%s must be an RFC 3339 string", name);
    if (all_day) {
        if (cal_parse_date(v->valuestring, &t) == CS_OK) {
            *out = t;
            return CS_OK;
        }
        if (cal_parse_rfc3339(v->valuestring, &t) == CS_OK && cal_local_date(t, tz, out) == CS_OK)
            return CS_OK;
        return cs_fail(errbuf, errlen, CS_ERR_INVAL,
                       "%s must be a date (YYYY-MM-DD) for an all-day appointment", name);
    }
    if (cal_parse_rfc3339(v->valuestring, &t) != CS_OK)
        return cs_fail(errbuf, errlen, CS_ERR_INVAL,
                       "%s must be an RFC 3339 date-time such as 2026-11-24T10:00:00+01:00", name);
    *out = t;
    return CS_OK;
}

static int appt_key_known(const char *k)
{
    static const char *const known[] = {
        "title",         "description", "location",  "start",       "end",       "allDay",
        "type",          "status",      "contactId", "id",          "syncState", "syncError",
        "googleEventId", "createdAt",   "updatedAt", "lastSyncedAt"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(k, known[i]) == 0)
            return 1;
    return 0;
}

int appt_apply_json(struct appt *a, const cJSON *obj, int partial, const char *tz, char *errbuf,
                    size_t errlen)
{
    const cJSON *v, *vs, *ve;
    time_t s, e;
    int rc, all_day = a->all_day;

    if (!cJSON_IsObject(obj))
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "body must be a JSON object");
    cJSON_ArrayForEach(v, obj)
    {
        if (v->string == NULL || !appt_key_known(v->string))
            return cs_fail(errbuf, errlen, CS_ERR_INVAL, "unknown field '%.64s'",
                           v->string ? v->string : "");
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "title");
    if (v != NULL || !partial) {
        if (v == NULL)
            return cs_fail(errbuf, errlen, CS_ERR_INVAL, "title is required");
        if ((rc = appt_text(v, "title", APPT_TITLE_MAX, 1, &a->title, errbuf, errlen)) != CS_OK)
            return rc;
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "description");
    if (v != NULL && (rc = appt_text(v, "description", APPT_DESC_MAX, 0, &a->description, errbuf,
                                     errlen)) != CS_OK)
        return rc;
    v = cJSON_GetObjectItemCaseSensitive(obj, "location");
    if (v != NULL && (rc = appt_text(v, "location", APPT_LOCATION_MAX, 0, &a->location, errbuf,
                                     errlen)) != CS_OK)
        return rc;
    if (a->description == NULL && (a->description = strdup("")) == NULL)
        return CS_ERR_NOMEM;
    if (a->location == NULL && (a->location = strdup("")) == NULL)
        return CS_ERR_NOMEM;

    v = cJSON_GetObjectItemCaseSensitive(obj, "type");
    if (v != NULL) {
        if (!cJSON_IsString(v) || !appt_type_valid(v->valuestring))
            return cs_fail(errbuf, errlen, CS_ERR_INVAL,
                           "type must be one of Visita, Reunión, Firma, Cierre, Viaje");
        snprintf(a->type, sizeof a->type, "%s", v->valuestring);
    } else if (!partial) {
        snprintf(a->type, sizeof a->type, "%s", "Reunión");
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "status");
    if (v != NULL) {
        if (!cJSON_IsString(v) || !appt_status_valid(v->valuestring))
            return cs_fail(errbuf, errlen, CS_ERR_INVAL,
                           "status must be one of Scheduled, Completed, Cancelled");
        snprintf(a->status, sizeof a->status, "%s", v->valuestring);
    } else if (!partial) {
        snprintf(a->status, sizeof a->status, "%s", "Scheduled");
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "contactId");
    if (v != NULL) {
        if (cJSON_IsNull(v)) {
            a->contact_id = 0;
        } else if (!cJSON_IsNumber(v) || v->valuedouble < 1 ||
                   v->valuedouble > (double)APPT_CONTACT_MAX ||
                   floor(v->valuedouble) != v->valuedouble) {
            return cs_fail(errbuf, errlen, CS_ERR_INVAL, "contactId must be a positive integer");
        } else {
            a->contact_id = (long long)v->valuedouble;
        }
    }

    v = cJSON_GetObjectItemCaseSensitive(obj, "allDay");
    if (v != NULL) {
        if (!cJSON_IsBool(v))
            return cs_fail(errbuf, errlen, CS_ERR_INVAL, "allDay must be true or false");
        all_day = cJSON_IsTrue(v);
    } else if (!partial) {
        all_day = 0;
    }
    vs = cJSON_GetObjectItemCaseSensitive(obj, "start");
    ve = cJSON_GetObjectItemCaseSensitive(obj, "end");
    if (!partial && (vs == NULL || ve == NULL))
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "start and end are required");
    if (partial && all_day != a->all_day && (vs == NULL || ve == NULL))
        return cs_fail(errbuf, errlen, CS_ERR_INVAL,
                       "changing allDay needs both start and end in the same request");
    if (vs != NULL) {
        if ((rc = appt_time(vs, "start", all_day, tz, &s, errbuf, errlen)) != CS_OK)
            return rc;
    } else if (cal_parse_rfc3339(a->start, &s) != CS_OK) {
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "stored start is unreadable");
    }
    if (ve != NULL) {
        if ((rc = appt_time(ve, "end", all_day, tz, &e, errbuf, errlen)) != CS_OK)
            return rc;
    } else if (cal_parse_rfc3339(a->end, &e) != CS_OK) {
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "stored end is unreadable");
    }
    if (all_day && ve != NULL && cJSON_IsString(ve) &&
        cal_parse_date(ve->valuestring, &e) != CS_OK) {
        /* an all-day end given as a date-time means "through that day": make it exclusive */
        e += 86400;
    }
    if (e <= s)
        return cs_fail(errbuf, errlen, CS_ERR_INVAL,
                       all_day ? "end must be after start (all-day end is exclusive)"
                               : "end must be after start");
    if (e - s > APPT_SPAN_MAX)
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "an appointment may last at most 366 days");
    a->all_day = all_day;
    cal_format_utc(s, a->start);
    cal_format_utc(e, a->end);
    return CS_OK;
}

cJSON *appt_to_json(const struct appt *a)
{
    cJSON *o = cJSON_CreateObject();
    char d[CAL_STRLEN];
    time_t t = 0;
    int ok;

    if (o == NULL)
        return NULL;
    ok = cJSON_AddNumberToObject(o, "id", (double)a->id) != NULL &&
         cJSON_AddStringToObject(o, "title", a->title ? a->title : "") != NULL &&
         cJSON_AddStringToObject(o, "description", a->description ? a->description : "") != NULL &&
         cJSON_AddStringToObject(o, "location", a->location ? a->location : "") != NULL;
    if (a->all_day) {
        ok = ok && cal_parse_rfc3339(a->start, &t) == CS_OK;
        cal_format_date(t, d);
        ok = ok && cJSON_AddStringToObject(o, "start", d) != NULL;
        ok = ok && cal_parse_rfc3339(a->end, &t) == CS_OK;
        cal_format_date(t, d);
        ok = ok && cJSON_AddStringToObject(o, "end", d) != NULL;
    } else {
        ok = ok && cJSON_AddStringToObject(o, "start", a->start) != NULL &&
             cJSON_AddStringToObject(o, "end", a->end) != NULL;
    }
    ok = ok && cJSON_AddBoolToObject(o, "allDay", a->all_day) != NULL &&
         cJSON_AddStringToObject(o, "type", a->type) != NULL &&
         cJSON_AddStringToObject(o, "status", a->status) != NULL &&
         (a->contact_id ? cJSON_AddNumberToObject(o, "contactId", (double)a->contact_id)
                        : cJSON_AddNullToObject(o, "contactId")) != NULL &&
         cJSON_AddStringToObject(o, "syncState", a->sync_state) != NULL &&
         (a->sync_error ? cJSON_AddStringToObject(o, "syncError", a->sync_error)
                        : cJSON_AddNullToObject(o, "syncError")) != NULL &&
         (a->google_event_id ? cJSON_AddStringToObject(o, "googleEventId", a->google_event_id)
                             : cJSON_AddNullToObject(o, "googleEventId")) != NULL &&
         cJSON_AddNumberToObject(o, "updatedAt", (double)a->updated_at) != NULL &&
         /* someone else's event (an invitation) or a special one: shown, not written */
         (a->google_event_type ? cJSON_AddStringToObject(o, "eventType", a->google_event_type)
                               : cJSON_AddNullToObject(o, "eventType")) != NULL &&
         (a->google_organizer ? cJSON_AddStringToObject(o, "organizer", a->google_organizer)
                              : cJSON_AddNullToObject(o, "organizer")) != NULL &&
         cJSON_AddBoolToObject(o, "readOnly", appt_read_only(a)) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

void appt_bind_content(struct db_stmt *st, int first, const struct appt *a)
{
    if (a->contact_id)
        db_bind_int64(st, first, a->contact_id);
    else
        db_bind_null(st, first);
    db_bind_text(st, first + 1, a->title);
    db_bind_text(st, first + 2, a->description);
    db_bind_text(st, first + 3, a->location);
    db_bind_text(st, first + 4, a->start);
    db_bind_text(st, first + 5, a->end);
    db_bind_int(st, first + 6, a->all_day);
    db_bind_text(st, first + 7, a->type);
    db_bind_text(st, first + 8, a->status);
}

/* Loads the user's appointment id that statement sid (?1 id, ?2 user) selects. */
static int appt_load(struct db *db, enum db_stmt_id sid, const char *user_id, long long id,
                     struct appt *a)
{
    struct db_stmt *st = db_stmt(db, sid);
    int rc = CS_ERR_NOTFOUND, step;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, id);
    db_bind_text(st, 2, user_id);
    step = db_step(st);
    if (step == DB_ROW)
        rc = appt_from_row(st, a);
    else if (step != DB_DONE)
        rc = CS_ERR_DB;
    db_reset(st);
    return rc;
}

int appt_get(struct db *db, const char *user_id, long long id, struct appt *a)
{
    return appt_load(db, DB_APPT_GET, user_id, id, a);
}

int appt_get_any(struct db *db, const char *user_id, long long id, struct appt *a)
{
    return appt_load(db, DB_APPT_GET_ANY, user_id, id, a);
}
