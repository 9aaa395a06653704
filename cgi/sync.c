/* sync: POST /api/google/calendar/sync ("Sync now") and GET /api/google/calendar/status. */
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "sync.h"

#define WAIT_FOR_RUNNING_MS 10000

static void sync_now(struct http_req *req, const struct auth_user *u)
{
    struct sync_stats st;
    char err[CS_ERRLEN];
    long long waited = 0;
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
    /* a running sync was asked for one more pass; wait a little for it, so the
     * answer reflects a completed sync */
    while ((rc = sync_run(req->db, req->cfg, u->id, "manual", SYNC_FULL, req->cfg->sync_budget_ms,
                          &st, err, sizeof err)) == CS_ERR_BUSY &&
           waited < WAIT_FOR_RUNNING_MS) {
        usleep(200 * 1000);
        waited += 200;
    }
    if (rc == CS_ERR_NOTFOUND) {
        http_reply_error(req, 409, err);
        return;
    }
    if (rc == CS_ERR_REAUTH) {
        http_reply_error(req, 409, "Google access was revoked; reconnect Google Calendar");
        return;
    }
    o = cJSON_CreateObject();
    if (o == NULL) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    if (rc == CS_ERR_BUSY) {
        cJSON_AddBoolToObject(o, "success", 1);
        cJSON_AddBoolToObject(o, "queued", 1);
        cJSON_AddStringToObject(o, "message", "a sync is running; it will run once more");
        http_reply_json(req, 202, o, NULL);
        return;
    }
    if (rc != CS_OK) {
        cJSON_AddStringToObject(o, "error", err);
        cJSON_AddNumberToObject(o, "pushed", st.pushed);
        cJSON_AddNumberToObject(o, "pulled", st.pulled);
        http_reply_json(req, 502, o, NULL);
        return;
    }
    cJSON_AddBoolToObject(o, "success", 1);
    cJSON_AddNumberToObject(o, "syncedEvents", st.pushed + st.pulled + st.deleted);
    cJSON_AddNumberToObject(o, "pushed", st.pushed);
    cJSON_AddNumberToObject(o, "pulled", st.pulled);
    cJSON_AddNumberToObject(o, "deleted", st.deleted);
    cJSON_AddNumberToObject(o, "conflicts", st.conflicts);
    cJSON_AddNumberToObject(o, "errors", st.errors);
    http_reply_json(req, 200, o, NULL);
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
    http_reply_error(req, 404, "no such route");
    return 0;
}

int main(int argc, char **argv)
{
    return http_serve(argc, argv, "sync", route, NULL);
}
