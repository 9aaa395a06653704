/* sync_write.c: one appointment written to Google: inserts under our derived ids (restoring,
 * or moving to the next id, when Google keeps one deleted), updates with If-Match, deletes;
 * every write with sendUpdates=none, a renamed time zone sent again under its other name. */
#include "sync_int.h"
#include "appt.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "gapi.h"
#include "gevent.h"
#include "gmap.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every write carries sendUpdates=none: guests are never mailed by a sync (events.insert,
 * patch, update, delete: "sendUpdates ... none: No notifications are sent"). */
#define SYNC_NO_MAIL "?sendUpdates=none"

/* Google keeps this id deleted and will not give the event back: the next generation's id. */
#define SYNC_ID_TAKEN 1003

/* Sets start/end.timeZone of an event body to zone (when they carry one). */
static void sync_body_zone(cJSON *body, const char *zone)
{
    static const char *const keys[] = {"start", "end"};

    for (int i = 0; i < 2; i++) {
        cJSON *w = cJSON_GetObjectItemCaseSensitive(body, keys[i]);
        if (cJSON_GetObjectItemCaseSensitive(w, "timeZone") != NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(w, "timeZone", cJSON_CreateString(zone));
    }
}

/* gapi_call for a write. IANA renamed zones (Europe/Kiev became Europe/Kyiv) and Google may
 * know only one of the names: a write refused for its zone goes once more under the other
 * name, which the rest of the run keeps using. Returns as gapi_call; free r either way. */
static int sync_write_call(struct sync_ctx *c, const char *method, const char *path, cJSON *body,
                           const char *if_match, struct gapi_resp *r)
{
    int rc = gapi_call(&c->g, method, path, body, if_match, r);
    const char *alias;

    if (rc == CS_OK && body != NULL && gevent_zone_refused(r->status, r->message) &&
        (alias = gevent_zone_alias(c->tz)) != NULL) {
        log_info("Google refused time zone %s: sending %s user=%s", c->tz, alias, c->user_id);
        snprintf(c->tz, sizeof c->tz, "%s", alias);
        sync_body_zone(body, c->tz);
        gapi_resp_free(r);
        rc = gapi_call(&c->g, method, path, body, if_match, r);
    }
    return rc;
}

static int sync_is_cancelled(const cJSON *ev)
{
    const char *st = sync_str(ev, "status");

    return st != NULL && strcmp(st, "cancelled") == 0;
}

/* Brings back our event under id after an insert with it answered 409 duplicate: it is ours
 * (the id is derived from the appointment), live from an earlier try, or deleted on Google
 * (a GET shows it cancelled; googleapis/google-api-ruby-client#1811 and
 * google-api-python-client#210 meet that 409). A full update with status confirmed makes it
 * whole and visible again. CS_OK (linked, not cancelled), SYNC_ID_TAKEN (Google keeps it
 * deleted or refuses to restore it: ruby#1811 saw 403) or an error. */
static int sync_restore(struct sync_ctx *c, struct appt *a, const char *id)
{
    struct gapi_resp r;
    struct gmap_extra x;
    struct buf path;
    cJSON *body;
    int rc;

    sync_extra(c, a, 1, &x);
    body = gmap_event_body(a, c->tz, NULL, &x); /* status: confirmed */
    buf_init(&path, 4096);
    if (body == NULL || sync_path(c, &path, id, SYNC_NO_MAIL) != CS_OK) {
        cJSON_Delete(body);
        buf_free(&path);
        return CS_ERR_NOMEM;
    }
    rc = sync_write_call(c, "PUT", path.data, body, NULL, &r);
    if (rc == CS_OK && r.status == 200 && !sync_is_cancelled(r.json)) {
        free(a->google_event_id);
        a->google_event_id = strdup(id);
        rc = a->google_event_id ? sync_link(c, a, r.json) : CS_ERR_NOMEM;
        if (rc == CS_OK)
            sync_reminders_sent(c, a, body);
    } else if (rc == CS_OK && (r.status == 200 || r.status == 404 || r.status == 410)) {
        rc = SYNC_ID_TAKEN;
    } else if (rc == CS_OK) {
        rc = sync_write_refused(c, &r, "restoring the event");
        if (rc == CS_ERR_GOOGLE && r.status == 403)
            rc = SYNC_ID_TAKEN;
    }
    gapi_resp_free(&r);
    cJSON_Delete(body);
    buf_free(&path);
    return rc;
}

/* Inserts under our derived id (generation after generation while Google keeps one deleted);
 * 409 means the id exists already: ours, so it is restored and linked. */
static int sync_push_insert(struct sync_ctx *c, struct appt *a, int depth)
{
    char id[GMAP_IDLEN];
    int rc;

    /* a link from before a disconnect is re-used on the same calendar only: after switching
     * between the primary and the Vesta calendar the event is made afresh on the new one */
    if (depth == 0 && sync_former_here(c, a)) {
        rc = sync_adopt_former(c, a);
        if (rc == SYNC_PUSH_AGAIN)
            return sync_push_upsert(c, a, depth + 1);
        if (rc != CS_ERR_NOTFOUND)
            return rc;
    }
    for (int gen = 0; gen < GMAP_ID_GENERATIONS; gen++) {
        struct gapi_resp r;
        struct gmap_extra x;
        struct buf path;
        cJSON *body;

        gmap_event_id_gen(c->cfg->secret_key, a, gen, id);
        sync_extra(c, a, 1, &x);
        body = gmap_event_body(a, c->tz, id, &x);
        buf_init(&path, 4096);
        if (body == NULL || sync_path(c, &path, NULL, SYNC_NO_MAIL) != CS_OK) {
            cJSON_Delete(body);
            buf_free(&path);
            return CS_ERR_NOMEM;
        }
        rc = sync_write_call(c, "POST", path.data, body, NULL, &r);
        if (rc == CS_OK && r.status == 200) {
            rc = sync_link(c, a, r.json);
            if (rc == CS_OK)
                sync_reminders_sent(c, a, body);
        } else if (rc == CS_OK && r.status == 409) {
            rc = sync_restore(c, a, id);
        } else if (rc == CS_OK) {
            rc = sync_write_refused(c, &r, "the new event");
        }
        gapi_resp_free(&r);
        cJSON_Delete(body);
        buf_free(&path);
        if (rc != SYNC_ID_TAKEN)
            return rc;
        log_info("Google keeps event %s of appointment %lld deleted: next id user=%s", id, a->id,
                 c->user_id);
    }
    return cs_fail(c->err, sizeof c->err, CS_ERR_CONFLICT,
                   "Google keeps every id of this appointment deleted");
}

int sync_push_upsert(struct sync_ctx *c, struct appt *a, int depth)
{
    struct gapi_resp r;
    struct buf path;
    struct gmap_extra x;
    cJSON *body;
    int rc, put;

    if (depth > 4)
        return cs_fail(c->err, sizeof c->err, CS_ERR_CONFLICT, "event keeps changing on Google");
    if (a->google_event_id == NULL)
        return sync_push_insert(c, a, depth);
    /* with a known etag: a PATCH of what changed here (colour only with a new type, reminders
     * only with a new setting: what the user set on Google stays); without (adopting or
     * restoring) the whole event, status confirmed included */
    put = a->google_etag == NULL;
    sync_extra(c, a, put, &x);
    body = put ? gmap_event_body(a, c->tz, NULL, &x)
               : gmap_patch_body(a, c->tz, a->synced_snapshot, &x);
    buf_init(&path, 4096);
    if (body == NULL || (rc = sync_path(c, &path, a->google_event_id, SYNC_NO_MAIL)) != CS_OK) {
        cJSON_Delete(body);
        buf_free(&path);
        return CS_ERR_NOMEM;
    }
    rc = sync_write_call(c, put ? "PUT" : "PATCH", path.data, body, a->google_etag, &r);
    if (rc == CS_OK && r.status == 200 && sync_is_cancelled(r.json) &&
        a->google_recurring_id != NULL) {
        rc = sync_instance_gone(c, a);
    } else if (rc == CS_OK && r.status == 200 && sync_is_cancelled(r.json) && !put) {
        /* a PATCH of what changed leaves a deleted event deleted (and invisible): the whole
         * event again, status confirmed */
        free(a->google_etag);
        a->google_etag = NULL;
        rc = sync_push_upsert(c, a, depth + 1);
    } else if (rc == CS_OK && r.status == 200 && sync_is_cancelled(r.json)) {
        free(a->google_event_id); /* Google keeps it deleted: our next id */
        a->google_event_id = NULL;
        rc = sync_push_insert(c, a, depth + 1);
    } else if (rc == CS_OK && r.status == 200) {
        rc = sync_link(c, a, r.json);
        if (rc == CS_OK)
            sync_reminders_sent(c, a, body);
    } else if (rc == CS_OK && r.status == 412) {
        rc = sync_resolve_412(c, a);
        if (rc == SYNC_PUSH_AGAIN)
            rc = sync_push_upsert(c, a, depth + 1);
    } else if (rc == CS_OK && (r.status == 404 || r.status == 410) && !put) {
        /* deleted on Google after our last sync; the local edit is newer: restore */
        free(a->google_etag);
        a->google_etag = NULL;
        rc = sync_push_upsert(c, a, depth + 1);
    } else if (rc == CS_OK && (r.status == 404 || r.status == 410)) {
        /* gone for good: made afresh under our own id */
        free(a->google_event_id);
        a->google_event_id = NULL;
        rc = sync_push_insert(c, a, depth + 1);
    } else if (rc == CS_OK) {
        rc = sync_write_refused(c, &r, "the update");
        if (rc == CS_ERR_GOOGLE && put && r.status == 403 && a->former_event_id == NULL) {
            /* restoring a deleted event refused (ruby#1811): our next id */
            free(a->google_event_id);
            a->google_event_id = NULL;
            rc = sync_push_insert(c, a, depth + 1);
        }
    }
    gapi_resp_free(&r);
    cJSON_Delete(body);
    buf_free(&path);
    return rc;
}

int sync_push_delete(struct sync_ctx *c, struct appt *a)
{
    struct gapi_resp r;
    struct buf path;
    int rc;

    if (a->google_event_id == NULL)
        return CS_OK; /* never reached Google */
    buf_init(&path, 4096);
    if ((rc = sync_path(c, &path, a->google_event_id, SYNC_NO_MAIL)) != CS_OK) {
        buf_free(&path);
        return rc;
    }
    rc = gapi_call(&c->g, "DELETE", path.data, NULL, NULL, &r);
    if (rc == CS_OK && (r.status == 200 || r.status == 204 || r.status == 404 || r.status == 410))
        rc = sync_mark_deleted(c, a->id);
    else if (rc == CS_OK)
        rc = sync_write_refused(c, &r, "the delete");
    gapi_resp_free(&r);
    buf_free(&path);
    return rc;
}
