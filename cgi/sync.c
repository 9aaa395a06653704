/* sync: POST /api/google/calendar/sync ("Sync now"), GET /api/google/calendar/status and
 * POST /api/google/calendar/notify (the host asks for an appointment's change to go now). */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "appt.h"
#include "appt_store.h"
#include "cfg.h"
#include "host.h"
#include "cs.h"
#include "db.h"
#include "http.h"
#include "integ.h"
#include "jobs.h"
#include "log.h"
#include "sync.h"

/* how long Sync now waits for its run before answering 202 (the job goes on) */
#define SYNC_NOW_WAIT_MS 25000

static void sync_now(struct http_req *req, const struct auth_user *u)
{
    struct jobs_result res;
    long long job_id = 0, gen = 0;
    cJSON *o;
    int rc;

    if (http_read_body(req, 4096) == CS_ERR_TOOBIG) {
        http_reply_error(req, 413, "request body too large");
        return;
    }
    if (!cfg_google_enabled(req->cfg)) {
        http_reply_error(req, 503, "Google Calendar is not configured on this server");
        return;
    }
    {
        struct integ in;
        int have = integ_get(req->db, u->id, &in) == CS_OK, active = have && in.is_active;
        int reauth = active && strcmp(in.state, "reauth_required") == 0;
        if (have)
            integ_free(&in);
        if (!active) {
            http_reply_error(req, 409, "Google Calendar is not connected");
            return;
        }
        if (reauth) {
            http_reply_error(req, 409, "Google access was revoked; reconnect Google Calendar");
            return;
        }
    }
    /* join the user's pending or running sync job (a running one makes one more pass that
     * covers this request), never race it */
    if (jobs_enqueue_sync(req->db, u->id, 1, "manual", 0, &job_id, &gen) != CS_OK) {
        http_reply_error(req, 500, "cannot queue the sync");
        return;
    }
    jobs_wake(req->cfg);
    rc = jobs_wait(req->db, job_id, gen, SYNC_NOW_WAIT_MS, &res);
    o = cJSON_CreateObject();
    if (o == NULL) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    if (rc == CS_ERR_BUSY) {
        cJSON_AddBoolToObject(o, "success", 1);
        cJSON_AddBoolToObject(o, "queued", 1);
        cJSON_AddStringToObject(o, "message",
                                "the sync is still running; the page updates when "
                                "it is done");
        http_reply_json(req, 202, o, NULL);
        return;
    }
    if (rc != CS_OK) {
        cJSON_Delete(o);
        http_reply_error(req, 500, "cannot read the sync result");
        return;
    }
    if (!res.ok) {
        if (strcmp(res.error, "reconnect Google Calendar") == 0) {
            cJSON_Delete(o);
            http_reply_error(req, 409, "Google access was revoked; reconnect Google Calendar");
            return;
        }
        cJSON_AddStringToObject(o, "error", res.error[0] ? res.error : "sync failed");
        cJSON_AddBoolToObject(o, "retrying", 1);
        cJSON_AddNumberToObject(o, "pushed", res.pushed);
        cJSON_AddNumberToObject(o, "pulled", res.pulled);
        http_reply_json(req, 502, o, NULL);
        return;
    }
    cJSON_AddBoolToObject(o, "success", 1);
    {
        char msg[96];
        snprintf(msg, sizeof msg, "Synchronized %d event%s with Google Calendar",
                 res.pushed + res.pulled + res.deleted,
                 res.pushed + res.pulled + res.deleted == 1 ? "" : "s");
        cJSON_AddStringToObject(o, "message", msg);
    }
    cJSON_AddNumberToObject(o, "syncedEvents", res.pushed + res.pulled + res.deleted);
    cJSON_AddNumberToObject(o, "pushed", res.pushed);
    cJSON_AddNumberToObject(o, "pulled", res.pulled);
    cJSON_AddNumberToObject(o, "deleted", res.deleted);
    cJSON_AddNumberToObject(o, "conflicts", res.conflicts);
    cJSON_AddNumberToObject(o, "errors", res.errors);
    http_reply_json(req, 200, o, NULL);
}

/* {"appointmentId": N}: the host's change feed runs now instead of at its next tick, so the
 * change goes to Google at once (the feed finds it anyway: this only saves its interval). */
static void notify(struct http_req *req, const struct auth_user *u)
{
    cJSON *body = NULL, *o;
    const cJSON *v;
    struct appt a;
    int found = 0, rc;

    memset(&a, 0, sizeof a);
    if (http_json_body(req, 4096, &body) != CS_OK)
        return;
    v = cJSON_GetObjectItemCaseSensitive(body, "appointmentId");
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > APPT_CONTACT_MAX ||
        v->valuedouble != (double)(long long)v->valuedouble) {
        http_reply_error(req, 400, "appointmentId must be a positive integer");
        goto out;
    }
    rc = host_appts_of(req->cfg)->feed(req->db, req->cfg, &found);
    if (rc != CS_OK) {
        http_reply_error(req, 503, "the change feed is unavailable; the change goes out later");
        goto out;
    }
    rc = appt_get(req->db, u->id, (long long)v->valuedouble, &a);
    if (rc == CS_ERR_NOTFOUND) {
        http_reply_error(req, 404, "appointment not found");
        goto out;
    }
    if (rc != CS_OK) {
        http_reply_error(req, 500, "database error");
        goto out;
    }
    if (found > 0)
        jobs_wake(req->cfg);
    o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddTrueToObject(o, "success") == NULL ||
        cJSON_AddNumberToObject(o, "queued", found) == NULL) {
        cJSON_Delete(o);
        http_reply_error(req, 500, "out of memory");
        goto out;
    }
    http_reply_json(req, 200, o, NULL);
out:
    appt_free(&a);
    cJSON_Delete(body);
}

static int route(struct http_req *req, void *ctx)
{
    struct auth_user u;
    cJSON *o;

    (void)ctx;
    if (strcmp(req->path, "/api/google/calendar/status") == 0) {
        if (strcmp(req->method, "GET") != 0) {
            http_reply_405(req, "GET");
            return 0;
        }
        if (auth_require(req, &u) != CS_OK)
            return 0;
        o = sync_status_json(req->db, u.id);
        if (o == NULL)
            http_reply_error(req, 500, "out of memory");
        else
            http_reply_json(req, 200, o, NULL);
        return 0;
    }
    if (strcmp(req->path, "/api/google/calendar/sync") == 0) {
        if (strcmp(req->method, "POST") != 0) {
            http_reply_405(req, "POST");
            return 0;
        }
        if (auth_require(req, &u) != CS_OK || auth_check_write(req) != CS_OK)
            return 0;
        sync_now(req, &u);
        return 0;
    }
    if (strcmp(req->path, "/api/google/calendar/notify") == 0) {
        if (strcmp(req->method, "POST") != 0) {
            http_reply_405(req, "POST");
            return 0;
        }
        if (auth_require(req, &u) != CS_OK || auth_check_write(req) != CS_OK)
            return 0;
        notify(req, &u);
        return 0;
    }
    http_reply_error(req, 404, "no such route");
    return 0;
}

int main(int argc, char **argv)
{
    return http_serve(argc, argv, "sync", route, NULL);
}
