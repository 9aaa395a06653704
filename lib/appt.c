/* appt.c: the appointment model; every write commits with its outbox row (sync rule 1). */
#include "appt.h"
#include "cs.h"
#include "db.h"
#include "jobs.h"
#include "log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const appt_types[] = {"Visita", "Reunión", "Firma", "Cierre", "Viaje"};
static const char *const appt_statuses[] = {"Scheduled", "Completed", "Cancelled"};

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
    a->former_event_id = a->reminders_sent = a->former_calendar_id = NULL;
    a->title = a->description = a->location = NULL;
    a->google_event_id = a->google_etag = a->google_updated = a->synced_snapshot = NULL;
    a->sync_error = NULL;
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
         cJSON_AddNumberToObject(o, "updatedAt", (double)a->updated_at) != NULL;
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

int appt_get(struct db *db, const char *user_id, long long id, struct appt *a)
{
    struct db_stmt *st = db_stmt(db, DB_APPT_GET);
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

/* The outbox row of a change and, when connected, the job that pushes it: in the caller's
 * transaction, with the change itself (sync rule 1). */
static int appt_outbox(struct db *db, const char *user_id, long long id, const char *op,
                       long long push)
{
    struct db_stmt *st = db_stmt(db, DB_OUTBOX_PUT);
    int rc;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    db_bind_int64(st, 2, id);
    db_bind_text(st, 3, op);
    db_bind_int64(st, 4, db_now_ms());
    rc = db_exec(db, st);
    if (rc == CS_OK && push != APPT_NO_PUSH)
        rc = jobs_enqueue_sync(db, user_id, 0, "change", push, NULL, NULL);
    return rc;
}

/* An earlier create with the same Idempotency-Key: CS_OK with its id, CS_ERR_INVAL when that
 * request had another body, CS_ERR_NOTFOUND when there is none (or it is over 24 h old). */
static int appt_idem_get(struct db *db, const char *user_id, const char *key, const char *hash,
                         long long *id)
{
    struct db_stmt *st = db_stmt(db, DB_IDEM_GET);
    int rc = CS_ERR_NOTFOUND, step;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, key);
    db_bind_int64(st, 3, db_now() - APPT_IDEM_TTL_S);
    step = db_step(st);
    if (step == DB_ROW) {
        const unsigned char *h = db_col_text(st, 0);
        *id = db_col_int64(st, 1);
        rc = h != NULL && strcmp((const char *)h, hash) == 0 ? CS_OK : CS_ERR_INVAL;
    } else if (step != DB_DONE) {
        rc = CS_ERR_DB;
    }
    db_reset(st);
    return rc;
}

static int appt_idem_put(struct db *db, const char *user_id, const char *key, const char *hash,
                         long long id)
{
    struct db_stmt *st = db_stmt(db, DB_IDEM_PUT);
    int rc;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, key);
    db_bind_text(st, 3, hash);
    db_bind_int64(st, 4, id);
    db_bind_int64(st, 5, db_now());
    if ((rc = db_exec(db, st)) != CS_OK)
        return rc;
    /* keys live 24 h; expire a few old ones on each write */
    if ((st = db_stmt(db, DB_IDEM_PURGE)) == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, db_now() - APPT_IDEM_TTL_S);
    return db_exec(db, st);
}

int appt_create(struct db *db, struct appt *a, long long push, const char *idem_key,
                const char *idem_hash)
{
    struct db_stmt *st;
    long long earlier = 0;
    int rc;

    if ((rc = db_begin(db)) != CS_OK)
        return rc;
    if (idem_key != NULL) {
        rc = appt_idem_get(db, a->user_id, idem_key, idem_hash, &earlier);
        if (rc == CS_OK) {
            a->id = earlier;
            rc = CS_ERR_CONFLICT; /* a retry: answered with what the first one made */
            goto out;
        }
        if (rc != CS_ERR_NOTFOUND)
            goto out;
    }
    st = db_stmt(db, DB_APPT_INSERT);
    if (st == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    a->created_at = a->updated_at = db_now_ms();
    snprintf(a->sync_state, sizeof a->sync_state, "%s", push != APPT_NO_PUSH ? "pending" : "local");
    db_bind_text(st, 1, a->user_id);
    appt_bind_content(st, 2, a);
    db_bind_text(st, 11, a->sync_state);
    db_bind_int64(st, 12, a->created_at);
    if ((rc = db_exec(db, st)) != CS_OK)
        goto out;
    a->id = db_last_id(db);
    a->is_active = 1;
    rc = appt_outbox(db, a->user_id, a->id, "upsert", push);
    if (rc == CS_OK && idem_key != NULL)
        rc = appt_idem_put(db, a->user_id, idem_key, idem_hash, a->id);
out:
    rc = db_end(db, rc);
    return rc;
}

int appt_update(struct db *db, struct appt *a, long long push)
{
    struct db_stmt *st;
    int rc;

    if ((rc = db_begin(db)) != CS_OK)
        return rc;
    st = db_stmt(db, DB_APPT_UPDATE);
    if (st == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    snprintf(a->sync_state, sizeof a->sync_state, "%s", push != APPT_NO_PUSH ? "pending" : "local");
    db_bind_int64(st, 1, a->id);
    db_bind_text(st, 2, a->user_id);
    appt_bind_content(st, 3, a);
    db_bind_text(st, 12, a->sync_state);
    db_bind_int64(st, 13, db_now_ms());
    if ((rc = db_exec(db, st)) != CS_OK)
        goto out;
    if (db_changes(db) != 1) {
        rc = CS_ERR_NOTFOUND;
        goto out;
    }
    rc = appt_outbox(db, a->user_id, a->id, "upsert", push);
out:
    rc = db_end(db, rc);
    return rc;
}

int appt_delete(struct db *db, const char *user_id, long long id, long long push)
{
    struct db_stmt *st;
    int rc;

    if ((rc = db_begin(db)) != CS_OK)
        return rc;
    st = db_stmt(db, DB_APPT_DEACTIVATE);
    if (st == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    db_bind_int64(st, 1, id);
    db_bind_text(st, 2, user_id);
    db_bind_text(st, 3, push != APPT_NO_PUSH ? "pending" : "local");
    db_bind_int64(st, 4, db_now_ms());
    if ((rc = db_exec(db, st)) != CS_OK)
        goto out;
    if (db_changes(db) != 1) {
        rc = CS_ERR_NOTFOUND;
        goto out;
    }
    rc = appt_outbox(db, user_id, id, "delete", push);
out:
    rc = db_end(db, rc);
    return rc;
}

int appt_reminders_get(struct db *db, const char *user_id, char **out)
{
    struct db_stmt *st = db_stmt(db, DB_USER_GET_REMINDERS);
    int step, rc = CS_ERR_NOTFOUND;

    *out = NULL;
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    step = db_step(st);
    if (step == DB_ROW) {
        *out = db_col_is_null(st, 0) ? strdup("default") : db_col_dup(st, 0);
        rc = *out ? CS_OK : CS_ERR_NOMEM;
    } else if (step != DB_DONE) {
        rc = CS_ERR_DB;
    }
    db_reset(st);
    return rc;
}

int appt_reminders_set(struct db *db, const char *user_id, const char *canon, long long push,
                       int *queued)
{
    struct db_stmt *st;
    long long *ids = NULL;
    size_t n = 0, cap = 0;
    char now[CAL_STRLEN];
    int rc, step;

    if (queued != NULL)
        *queued = 0;
    if ((rc = db_begin(db)) != CS_OK)
        return rc;
    if ((st = db_stmt(db, DB_USER_SET_REMINDERS)) == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    db_bind_text(st, 1, user_id);
    if (strcmp(canon, "default") == 0)
        db_bind_null(st, 2);
    else
        db_bind_text(st, 2, canon);
    if ((rc = db_exec(db, st)) != CS_OK || push == APPT_NO_PUSH)
        goto out;
    if ((st = db_stmt(db, DB_APPT_UPCOMING_LINKED)) == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    cal_format_utc(time(NULL), now);
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, now);
    while ((step = db_step(st)) == DB_ROW) {
        if (n == cap) {
            long long *p = realloc(ids, (cap = cap ? cap * 2 : 64) * sizeof *ids);
            if (p == NULL) {
                rc = CS_ERR_NOMEM;
                break;
            }
            ids = p;
        }
        ids[n++] = db_col_int64(st, 0);
    }
    if (rc == CS_OK && step != DB_DONE)
        rc = CS_ERR_DB;
    db_reset(st);
    for (size_t i = 0; rc == CS_OK && i < n; i++) {
        /* a new version even when a push of it is under way: that one carried the old
         * setting, so its row must stay for this one */
        rc = appt_outbox(db, user_id, ids[i], "upsert", APPT_NO_PUSH);
    }
    if (rc == CS_OK && n > 0)
        rc = jobs_enqueue_sync(db, user_id, 0, "settings", push, NULL, NULL);
    if (rc == CS_OK && queued != NULL)
        *queued = (int)n;
out:
    free(ids);
    rc = db_end(db, rc);
    return rc;
}

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
            rc = buf_printf(b, ",\"updatedAt\":%lld}", (long long)db_col_int64(st, 20));
    }
    if (rc == CS_OK && step != DB_DONE)
        rc = CS_ERR_DB;
    if (rc == CS_OK)
        rc = buf_add(b, "]", 1);
    db_reset(st);
    return rc;
}
