/* sync_status.c: the integration's state as GET /api/google/calendar/status shows it (kept apart
 * from the engine so the status route does not carry the Google client). */
#include "sync.h"
#include "cal.h"
#include "cs.h"
#include "db.h"
#include "direction.h"
#include "integ.h"

#include <string.h>

#define SYNC_ANNOUNCED_S 60

cJSON *sync_status_json(struct db *db, const char *user_id)
{
    cJSON *o = cJSON_CreateObject();
    struct integ in;
    struct db_stmt *st;
    long long pending = 0;
    int connected = 0, held = 0, have;
    char when[CAL_STRLEN];
    const char *state = "not_connected";

    if (o == NULL)
        return NULL;
    have = integ_get(db, user_id, &in) == CS_OK;
    if (have && in.is_active) {
        connected = strcmp(in.state, "reauth_required") != 0;
        state = in.state;
        st = db_stmt(db, DB_JOB_RUNNING);
        if (st != NULL) {
            db_bind_text(st, 1, user_id);
            db_bind_int64(st, 2, db_now_ms());
            if (db_step(st) == DB_ROW)
                held = db_col_int(st, 0);
            db_reset(st);
        }
        /* "syncing" while a sync job is running, or was announced moments ago (the connect
         * callback says so before its sync starts); an old mark is a run that died */
        if (connected && (held || (strcmp(state, "syncing") == 0 &&
                                   db_now() - in.updated_at < SYNC_ANNOUNCED_S)))
            state = "syncing";
        else if (strcmp(state, "syncing") == 0)
            state = "connected";
    }
    st = db_stmt(db, DB_OUTBOX_COUNT);
    if (st != NULL && connected) {
        db_bind_text(st, 1, user_id);
        if (db_step(st) == DB_ROW)
            pending = db_col_int64(st, 0);
        db_reset(st);
    }
    cJSON_AddStringToObject(o, "provider", "google_calendar");
    cJSON_AddBoolToObject(o, "connected", connected);
    cJSON_AddStringToObject(o, "state", state);
    {
        int vesta = have && strcmp(in.calendar_kind, "vesta") == 0;
        if (vesta && in.calendar_id[0] == '\0')
            cJSON_AddNullToObject(o, "calendarId"); /* being created */
        else
            cJSON_AddStringToObject(o, "calendarId",
                                    have && in.calendar_id[0] ? in.calendar_id : "primary");
        cJSON_AddStringToObject(o, "calendar", vesta ? "vesta" : "primary");
    }
    {
        cJSON *p = connected && in.progress != NULL ? cJSON_Parse(in.progress) : NULL;
        if (p != NULL && cJSON_IsObject(p))
            cJSON_AddItemToObject(o, "progress", p);
        else {
            cJSON_Delete(p);
            cJSON_AddNullToObject(o, "progress");
        }
    }
    if (have && in.is_active && in.last_sync_at > 0) {
        cal_format_utc((time_t)in.last_sync_at, when);
        cJSON_AddStringToObject(o, "lastSync", when);
    } else {
        cJSON_AddNullToObject(o, "lastSync");
    }
    if (have && in.is_active && in.last_error != NULL)
        cJSON_AddStringToObject(o, "lastError", in.last_error);
    else
        cJSON_AddNullToObject(o, "lastError");
    cJSON_AddNumberToObject(o, "pending", (double)pending);
    {
        /* Vesta's page reads syncDirection and error (the reason, when there is one) */
        enum direction dir = DIR_BIDIRECTIONAL;
        direction_get(db, user_id, &dir);
        cJSON_AddStringToObject(o, "syncDirection", direction_name(dir));
        cJSON_AddBoolToObject(o, "paused", dir == DIR_NONE);
        if (have && in.is_active && strcmp(in.state, "reauth_required") == 0)
            cJSON_AddStringToObject(o, "error",
                                    "Google access was revoked or expired: connect "
                                    "Google Calendar again");
        else if (have && in.is_active && strcmp(state, "error") == 0 && in.last_error != NULL)
            cJSON_AddStringToObject(o, "error", in.last_error);
        else
            cJSON_AddNullToObject(o, "error");
    }
    cJSON_AddBoolToObject(o, "realtime", have && in.is_active && in.channel_id != NULL);
    if (have)
        integ_free(&in);
    return o;
}
