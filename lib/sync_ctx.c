/* sync_ctx.c: the run's context and the helpers every pass shares (loads, links, errors,
 * paths, progress, the lease): below the passes, so arrows only go down. */
#include "sync_int.h"
#include "appt.h"
#include "cal.h"
#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "gapi.h"
#include "gevent.h"
#include "gmap.h"
#include "jobs.h"
#include "log.h"
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long long sync_parse_ms(const char *rfc3339)
{
    time_t t;
    const char *dot;
    long long ms = 0;

    if (rfc3339 == NULL || cal_parse_rfc3339(rfc3339, &t) != CS_OK)
        return 0;
    dot = strchr(rfc3339, '.');
    if (dot != NULL && dot[1] >= '0' && dot[1] <= '9') {
        int digits = 0;
        for (const char *p = dot + 1; *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
            ms = ms * 10 + (*p - '0');
        while (digits++ < 3)
            ms *= 10;
    }
    return (long long)t * 1000 + ms;
}

const char *sync_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void sync_user_tz(struct sync_ctx *c)
{
    struct db_stmt *st = db_stmt(c->db, DB_USER_BY_ID);

    snprintf(c->tz, sizeof c->tz, "%s", c->cfg->default_tz);
    if (st == NULL)
        return;
    db_bind_text(st, 1, c->user_id);
    if (db_step(st) == DB_ROW && db_col_text(st, 2) != NULL)
        db_col_copy(st, 2, c->tz, sizeof c->tz);
    db_reset(st);
}

/* Loads an appointment of the user whether active or not. */
int sync_load(struct sync_ctx *c, long long id, struct appt *a)
{
    return appt_get_any(c->db, c->user_id, id, a);
}

int sync_load_by(struct sync_ctx *c, enum db_stmt_id id, const char *gid, struct appt *a)
{
    struct db_stmt *st = db_stmt(c->db, id);
    int rc = CS_ERR_NOTFOUND;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, c->user_id);
    db_bind_text(st, 2, gid);
    if (db_param_count(st) >= 3) /* APPT_BY_FORMER_ID: links of this calendar only */
        db_bind_text(st, 3, c->cal_id);
    if (db_step(st) == DB_ROW)
        rc = appt_from_row(st, a);
    db_reset(st);
    return rc;
}

/* The pending outbox op of an appointment: "upsert", "delete" or "" (none). */
void sync_pending_op(struct sync_ctx *c, long long id, char op[8])
{
    struct db_stmt *st = db_stmt(c->db, DB_OUTBOX_FOR_APPT);

    op[0] = '\0';
    if (st == NULL)
        return;
    db_bind_int64(st, 1, id);
    if (db_step(st) == DB_ROW)
        db_col_copy(st, 0, op, 8);
    db_reset(st);
}

void sync_set_error(struct sync_ctx *c, long long id, const char *state, const char *msg)
{
    struct db_stmt *st = db_stmt(c->db, DB_APPT_SET_SYNC_ERROR);

    if (st == NULL)
        return;
    db_bind_int64(st, 1, id);
    db_bind_text(st, 2, c->user_id);
    db_bind_text(st, 3, state);
    db_bind_text(st, 4, msg);
    db_exec(c->db, st);
}

/* Marks an appointment deleted because Google no longer has its event (or has just deleted
 * it for us). */
int sync_mark_deleted(struct sync_ctx *c, long long id)
{
    struct db_stmt *st = db_stmt(c->db, DB_APPT_PULL_DELETE);
    int rc;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, id);
    db_bind_text(st, 2, c->user_id);
    db_bind_int64(st, 3, db_now());
    db_bind_int64(st, 4, db_now_ms());
    if ((rc = db_exec(c->db, st)) != CS_OK)
        return rc;
    return c->host->remove(c->db, c->user_id, id);
}

/* The appointment ids a statement (bound with the user) selects, in *ids (free()). CS_OK, or
 * CS_ERR_NOMEM with the ids collected so far, or CS_ERR_DB. */
int sync_collect_ids(struct sync_ctx *c, enum db_stmt_id id, long long **ids, size_t *n)
{
    struct db_stmt *st = db_stmt(c->db, id);
    size_t cap = 0;
    int rc = CS_OK;

    *ids = NULL;
    *n = 0;
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, c->user_id);
    while (db_step(st) == DB_ROW) {
        if (*n == cap) {
            long long *p = realloc(*ids, (cap = cap ? cap * 2 : 64) * sizeof **ids);
            if (p == NULL) {
                rc = CS_ERR_NOMEM;
                break;
            }
            *ids = p;
        }
        (*ids)[(*n)++] = db_col_int64(st, 0);
    }
    db_reset(st);
    return rc;
}

/* Records that a was synced as Google event ev (its id, etag, updated, and the snapshot). */
int sync_link(struct sync_ctx *c, const struct appt *a, const cJSON *ev)
{
    struct db_stmt *st = db_stmt(c->db, DB_APPT_SET_SYNCED);
    char *snap = gmap_snapshot(a);
    int rc;

    if (st == NULL || snap == NULL) {
        free(snap);
        return CS_ERR_DB;
    }
    db_bind_int64(st, 1, a->id);
    db_bind_text(st, 2, c->user_id);
    db_bind_text(st, 3, sync_str(ev, "id"));
    db_bind_text(st, 4, sync_str(ev, "etag"));
    db_bind_text(st, 5, sync_str(ev, "updated"));
    db_bind_text(st, 6, snap);
    db_bind_int64(st, 7, db_now());
    db_bind_int64(st, 8, a->updated_at);
    rc = db_exec(c->db, st);
    free(snap);
    if (rc == CS_OK)
        rc = c->host->link(c->db, a->id, sync_str(ev, "id"), sync_str(ev, "etag"));
    return rc;
}

/* Builds "/calendars/<cal>/events[/<id>]" + suffix. */
int sync_path(struct sync_ctx *c, struct buf *b, const char *event_id, const char *suffix)
{
    int rc = buf_printf(b, "%s/events", c->cal);

    if (rc == CS_OK && event_id != NULL) {
        rc = buf_adds(b, "/");
        if (rc == CS_OK)
            rc = gapi_path_segment(b, event_id);
    }
    if (rc == CS_OK && suffix != NULL)
        rc = buf_adds(b, suffix);
    return rc;
}

/* Maps a final (non-2xx) Google answer on one event to an error text. */
int sync_event_error(struct sync_ctx *c, const struct gapi_resp *r, const char *what)
{
    snprintf(c->err, sizeof c->err, "Google refused %s: %ld %.60s%s%.120s", what, r->status,
             r->reason, r->message[0] ? ": " : "", r->message);
    return CS_ERR_GOOGLE;
}

void sync_extra(struct sync_ctx *c, const struct appt *a, int full, struct gmap_extra *x)
{
    int t = appt_type_index(a->type);

    x->color_id = t >= 0 && c->cfg->type_colors[t][0] ? c->cfg->type_colors[t] : NULL;
    x->reminders = full || a->reminders_sent == NULL || strcmp(a->reminders_sent, c->reminders) != 0
                       ? c->reminders
                       : NULL;
    c->host->event_extra(c->db, c->cfg, a, &c->hx);
    x->source_url = c->hx.source_url;
    x->source_title = c->hx.source_title;
    x->n_priv = c->hx.n_priv;
    x->priv = c->hx.priv;
}

int sync_host_store(struct sync_ctx *c, struct appt *a)
{
    struct db_stmt *st;
    int repush = 0, rc = c->host->store(c->db, c->cfg, a, 0, &repush);

    if (rc != CS_OK || !repush)
        return rc;
    if ((st = db_stmt(c->db, DB_APPT_HOST_SAVE)) == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, a->id);
    db_bind_text(st, 2, c->user_id);
    appt_bind_content(st, 3, a);
    db_bind_int(st, 12, a->is_active);
    db_bind_int64(st, 13, db_now_ms());
    if ((rc = db_exec(c->db, st)) != CS_OK)
        return rc;
    return outbox_put(c->db, c->user_id, a->id, a->is_active ? "upsert" : "delete", 0);
}

void sync_reminders_sent(struct sync_ctx *c, const struct appt *a, const cJSON *body)
{
    struct db_stmt *st;

    if (body == NULL || !cJSON_HasObjectItem(body, "reminders") ||
        (st = db_stmt(c->db, DB_APPT_SET_REMINDERS_SENT)) == NULL)
        return;
    db_bind_int64(st, 1, a->id);
    db_bind_text(st, 2, c->user_id);
    db_bind_text(st, 3, c->reminders);
    db_exec(c->db, st);
}

int sync_former_here(const struct sync_ctx *c, const struct appt *a)
{
    const char *was = a->former_calendar_id ? a->former_calendar_id : "primary";

    return a->former_event_id != NULL && strcmp(was, c->cal_id) == 0;
}

void sync_progress(struct sync_ctx *c, const char *phase, long long done, long long total)
{
    char text[160];
    struct db_stmt *st;

    if (total >= 0)
        snprintf(text, sizeof text, "{\"phase\":\"%s\",\"done\":%lld,\"total\":%lld}", phase, done,
                 total);
    else
        snprintf(text, sizeof text, "{\"phase\":\"%s\",\"done\":%lld,\"total\":null}", phase, done);
    if ((st = db_stmt(c->db, DB_INTEG_SET_PROGRESS)) == NULL)
        return;
    db_bind_text(st, 1, c->user_id);
    db_bind_text(st, 2, text);
    if (db_exec(c->db, st) == CS_OK)
        c->progress_set = 1;
}

void sync_progress_clear(struct sync_ctx *c)
{
    struct db_stmt *st;

    if (!c->progress_set || (st = db_stmt(c->db, DB_INTEG_SET_PROGRESS)) == NULL)
        return;
    db_bind_text(st, 1, c->user_id);
    db_bind_null(st, 2);
    db_exec(c->db, st);
}

/* The user's reminders setting ("default" unless they chose minutes). */
void sync_user_reminders(struct sync_ctx *c)
{
    struct db_stmt *st = db_stmt(c->db, DB_USER_GET_REMINDERS);

    snprintf(c->reminders, sizeof c->reminders, "default");
    if (st == NULL)
        return;
    db_bind_text(st, 1, c->user_id);
    if (db_step(st) == DB_ROW && db_col_text(st, 0) != NULL)
        db_col_copy(st, 0, c->reminders, sizeof c->reminders);
    db_reset(st);
}

int sync_keepalive(struct sync_ctx *c)
{
    if (!c->lost && c->job != NULL && jobs_keepalive(c->db, c->job) != CS_OK)
        c->lost = 1;
    return c->lost ? CS_ERR_BUSY : CS_OK;
}

static int sync_str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

int sync_store_meta(struct sync_ctx *c, long long id, const struct gevent *ge,
                    const struct appt *local)
{
    const char *os = ge->recurring_id ? ge->original_start : NULL;
    struct db_stmt *st;

    if (local == NULL ? ge->type == NULL && ge->organizer == NULL && ge->recurring_id == NULL
                      : !sync_str_differs(local->google_event_type, ge->type) &&
                            !sync_str_differs(local->google_organizer, ge->organizer) &&
                            !sync_str_differs(local->google_recurring_id, ge->recurring_id) &&
                            !sync_str_differs(local->google_original_start, os))
        return CS_OK;
    if ((st = db_stmt(c->db, DB_APPT_SET_GOOGLE_META)) == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, id);
    db_bind_text(st, 2, c->user_id);
    db_bind_text(st, 3, ge->type);
    db_bind_text(st, 4, ge->organizer);
    db_bind_text(st, 5, ge->recurring_id);
    db_bind_text(st, 6, os);
    return db_exec(c->db, st);
}

int sync_write_refused(struct sync_ctx *c, const struct gapi_resp *r, const char *what)
{
    sync_event_error(c, r, what);
    if (r->status == 403 && strcmp(r->reason, "quotaExceeded") == 0) {
        sync_writes_pause(c);
        return SYNC_WRITES_PAUSED;
    }
    /* the organizer's event (kewisch/gdata-provider#366: even private extended properties),
     * or a special type (the event-types guide: writes to them answer eventTypeRestriction) */
    if ((r->status == 403 && strcmp(r->reason, "forbiddenForNonOrganizer") == 0) ||
        (r->status == 400 && strcmp(r->reason, "eventTypeRestriction") == 0))
        return SYNC_READ_ONLY;
    return CS_ERR_GOOGLE;
}

void sync_writes_pause(struct sync_ctx *c)
{
    long long until = db_now_ms() + (long long)c->cfg->usage_pause_s * 1000;
    char when[CAL_STRLEN], reason[CS_ERRLEN];
    struct db_stmt *st;

    cal_format_utc((time_t)(until / 1000), when);
    snprintf(reason, sizeof reason,
             "Google Calendar usage limits exceeded (403 quotaExceeded): Google keeps the "
             "calendar read-only for a few hours; changes made here wait and go out by "
             "themselves from %s",
             when);
    log_warn("writes paused until %s (usage limits) user=%s", when, c->user_id);
    if ((st = db_stmt(c->db, DB_INTEG_WRITES_PAUSE)) == NULL)
        return;
    db_bind_text(st, 1, c->user_id);
    db_bind_int64(st, 2, until);
    db_bind_text(st, 3, reason);
    db_exec(c->db, st);
}

long long sync_writes_paused(struct sync_ctx *c)
{
    struct db_stmt *st = db_stmt(c->db, DB_INTEG_WRITES_PAUSED);
    long long until = 0;

    if (st == NULL)
        return 0;
    db_bind_text(st, 1, c->user_id);
    if (db_step(st) == DB_ROW)
        until = db_col_int64(st, 0);
    db_reset(st);
    if (until > 0 && until <= db_now_ms() && (st = db_stmt(c->db, DB_INTEG_WRITES_PAUSE)) != NULL) {
        /* the pause is over: its reason leaves the status */
        db_bind_text(st, 1, c->user_id);
        db_bind_int64(st, 2, 0);
        db_bind_null(st, 3);
        db_exec(c->db, st);
    }
    return until > db_now_ms() ? until : 0;
}

int sync_instance_gone(struct sync_ctx *c, const struct appt *a)
{
    struct db_stmt *st = db_stmt(c->db, DB_OUTBOX_DROP_APPT);

    log_info("appointment %lld: Google removed its instance from the series; removed here too "
             "user=%s",
             a->id, c->user_id);
    if (st != NULL) {
        db_bind_int64(st, 1, a->id);
        db_exec(c->db, st);
    }
    c->st->deleted++;
    return sync_mark_deleted(c, a->id);
}
