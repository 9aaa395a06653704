/* settings: GET/PATCH /api/settings: the user's settings, today {"reminders": "default" or
 * [minutes, ...]} (the reminders of the events calsync sends to Google). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appt.h"
#include "appt_list.h"
#include "appt_store.h"
#include "auth.h"
#include "cfg.h"
#include "cs.h"
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

    if (appt_reminders_get(req->db, user_id, &rem) != CS_OK) {
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
    http_reply_json(req, 200, o, NULL);
}

static void update(struct http_req *req, const struct auth_user *u)
{
    cJSON *body = NULL;
    const cJSON *v;
    char err[CS_ERRLEN], *canon = NULL;
    int connected, queued = 0, rc;

    if (auth_check_write(req) != CS_OK || http_json_body(req, SETTINGS_BODY_MAX, &body) != CS_OK)
        return;
    cJSON_ArrayForEach(v, body)
    {
        if (v->string == NULL || strcmp(v->string, "reminders") != 0) {
            snprintf(err, sizeof err, "unknown setting '%.64s'", v->string ? v->string : "");
            http_reply_error(req, 400, err);
            goto out;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(body, "reminders");
    if (v == NULL) { /* nothing to change */
        reply_settings(req, u->id);
        goto out;
    }
    rc = gmap_reminders_canon(v, &canon, err, sizeof err);
    if (rc != CS_OK) {
        http_reply_error(req, rc == CS_ERR_NOMEM ? 500 : 400, err);
        goto out;
    }
    connected = integ_is_connected(req->db, u->id);
    rc = appt_reminders_set(req->db, u->id, canon,
                            connected ? req->cfg->push_delay_ms : APPT_NO_PUSH, &queued);
    if (rc != CS_OK) {
        http_reply_error(req, 500, "cannot save the settings");
        goto out;
    }
    log_info("reminders set to %s (%d upcoming appointments queued) user=%s", canon, queued, u->id);
    reply_settings(req, u->id);
    if (queued > 0)
        jobs_wake(req->cfg);
out:
    free(canon);
    cJSON_Delete(body);
}

static int route(struct http_req *req, void *ctx)
{
    struct auth_user u;

    (void)ctx;
    if (strcmp(req->path, "/api/settings") != 0) {
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
