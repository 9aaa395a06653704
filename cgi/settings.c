/* settings: GET/PATCH /api/settings: the user's settings: {"reminders": "default" or
 * [minutes, ...]} (the reminders of the events calsync sends to Google) and {"syncDirection":
 * "bidirectional" | "vesta_to_google" | "google_to_vesta" | "none"} (which ways changes move). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appt.h"
#include "appt_list.h"
#include "appt_store.h"
#include "auth.h"
#include "cfg.h"
#include "cs.h"
#include "direction.h"
#include "gmap.h"
#include "http.h"
#include "integ.h"
#include "jobs.h"
#include "log.h"

#define SETTINGS_BODY_MAX 4096

/* Answers the settings as stored now. */
static void reply_settings(struct http_req *req, const char *user_id)
{
    char *rem = NULL;
    cJSON *o = NULL, *v = NULL;
    enum direction dir;

    if (appt_reminders_get(req->db, user_id, &rem) != CS_OK ||
        direction_get(req->db, user_id, &dir) != CS_OK) {
        free(rem);
        http_reply_error(req, 500, "cannot read the settings");
        return;
    }
    o = cJSON_CreateObject();
    v = strcmp(rem, "default") == 0 ? cJSON_CreateString("default") : cJSON_Parse(rem);
    free(rem);
    if (o == NULL || v == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(v);
        http_reply_error(req, 500, "cannot read the settings");
        return;
    }
    cJSON_AddItemToObject(o, "reminders", v);
    if (cJSON_AddStringToObject(o, "syncDirection", direction_name(dir)) == NULL) {
        cJSON_Delete(o);
        http_reply_error(req, 500, "cannot read the settings");
        return;
    }
    http_reply_json(req, 200, o, NULL);
}

static void update(struct http_req *req, const struct auth_user *u)
{
    cJSON *body = NULL;
    const cJSON *v, *dv;
    char err[CS_ERRLEN], *canon = NULL;
    int connected, queued = 0, rc, dir = -1, dir_queued = 0;

    if (auth_check_write(req) != CS_OK || http_json_body(req, SETTINGS_BODY_MAX, &body) != CS_OK)
        return;
    if (!cJSON_IsObject(body)) {
        http_reply_error(req, 400, "the settings must be a JSON object");
        goto out;
    }
    cJSON_ArrayForEach(v, body)
    {
        if (v->string == NULL ||
            (strcmp(v->string, "reminders") != 0 && strcmp(v->string, "syncDirection") != 0)) {
            snprintf(err, sizeof err, "unknown setting '%.64s'", v->string ? v->string : "");
            http_reply_error(req, 400, err);
            goto out;
        }
    }
    /* everything is checked before anything is saved */
    dv = cJSON_GetObjectItemCaseSensitive(body, "syncDirection");
    if (dv != NULL && (!cJSON_IsString(dv) || (dir = direction_parse(dv->valuestring)) < 0)) {
        http_reply_error(req, 400,
                         "syncDirection must be one of bidirectional, vesta_to_google, "
                         "google_to_vesta, none");
        goto out;
    }
    v = cJSON_GetObjectItemCaseSensitive(body, "reminders");
    if (v != NULL && (rc = gmap_reminders_canon(v, &canon, err, sizeof err)) != CS_OK) {
        http_reply_error(req, rc == CS_ERR_NOMEM ? 500 : 400, err);
        goto out;
    }
    connected = integ_is_connected(req->db, u->id);
    if (dv != NULL) {
        enum direction was = DIR_BIDIRECTIONAL;
        direction_get(req->db, u->id, &was);
        if (direction_set(req->db, u->id, (enum direction)dir) != CS_OK) {
            http_reply_error(req, 500, "cannot save the settings");
            goto out;
        }
        log_info("sync direction %s -> %s user=%s", direction_name(was),
                 direction_name((enum direction)dir), u->id);
        /* a way that opens catches up at once: the outbox and the sync token kept their place */
        if (connected && (int)was != dir &&
            jobs_enqueue_sync(req->db, u->id, 1, "direction", 0, NULL, NULL) == CS_OK)
            dir_queued = 1;
    }
    if (v == NULL) {
        reply_settings(req, u->id);
        if (dir_queued)
            jobs_wake(req->cfg);
        goto out;
    }
    rc = appt_reminders_set(req->db, u->id, canon,
                            connected ? req->cfg->push_delay_ms : APPT_NO_PUSH, &queued);
    if (rc != CS_OK) {
        http_reply_error(req, 500, "cannot save the settings");
        goto out;
    }
    log_info("reminders set to %s (%d upcoming appointments queued) user=%s", canon, queued, u->id);
    reply_settings(req, u->id);
    if (queued > 0 || dir_queued)
        jobs_wake(req->cfg);
out:
    free(canon);
    cJSON_Delete(body);
}

static int route(struct http_req *req, void *ctx)
{
    struct auth_user u;

    (void)ctx;
    /* /api/google/calendar/settings too: Vesta forwards only that prefix to calsync */
    if (strcmp(req->path, "/api/settings") != 0 &&
        strcmp(req->path, "/api/google/calendar/settings") != 0) {
        http_reply_error(req, 404, "no such route");
        return 0;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "PATCH") != 0) {
        http_reply_405(req, "GET, PATCH");
        return 0;
    }
    if (auth_require(req, &u) != CS_OK)
        return 0;
    if (strcmp(req->method, "GET") == 0)
        reply_settings(req, u.id);
    else
        update(req, &u);
    return 0;
}

int main(int argc, char **argv)
{
    return http_serve(argc, argv, "settings", route, NULL);
}
