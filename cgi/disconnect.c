/* disconnect: POST /api/google/calendar/disconnect: stop the channel, revoke the token, keep
 * every local appointment (only their Google links are cleared). Succeeds locally whatever
 * Google answers. */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "gapi.h"
#include "http.h"
#include "integ.h"
#include "log.h"
#include "sync.h"

static int forget(struct db *db, const char *user_id)
{
    enum db_stmt_id steps[] = {DB_INTEG_DISCONNECT, DB_APPT_CLEAR_GOOGLE, DB_OUTBOX_CLEAR_USER};
    int rc = db_begin(db);

    for (size_t i = 0; rc == CS_OK && i < sizeof steps / sizeof steps[0]; i++) {
        sqlite3_stmt *st = db_stmt(db, steps[i]);
        if (st == NULL) {
            rc = CS_ERR_DB;
            break;
        }
        db_bind_text(st, 1, user_id);
        if (steps[i] == DB_INTEG_DISCONNECT)
            sqlite3_bind_int64(st, 2, db_now());
        rc = db_exec(db, st);
    }
    if (rc == CS_OK)
        rc = db_commit(db);
    if (rc != CS_OK)
        db_rollback(db);
    return rc;
}

static int route(struct http_req *req, void *ctx)
{
    struct auth_user u;
    struct integ in;
    struct gapi g;
    cJSON *o, *body = NULL;
    int google_ok = 1, connected;

    (void)ctx;
    if (strcmp(req->method, "POST") != 0) {
        http_reply_405(req, "POST");
        return 0;
    }
    if (auth_require(req, &u) != CS_OK || auth_check_write(req) != CS_OK)
        return 0;
    if (http_read_body(req, 4096) == CS_ERR_TOOBIG) {
        http_reply_error(req, 413, "request body too large");
        return 0;
    }
    connected = integ_get(req->db, u.id, &in) == CS_OK;
    if (connected && in.is_active) {
        if (gapi_open(&g, req->db, req->cfg, u.id, 5000) == CS_OK) {
            if (in.channel_id != NULL && in.resource_id != NULL &&
                sync_channel_stop(&g, in.channel_id, in.resource_id) != CS_OK)
                google_ok = 0;
            if (gapi_revoke(req->cfg, g.refresh ? g.refresh : g.access) != CS_OK)
                google_ok = 0;
            gapi_close(&g);
        }
        if (!google_ok)
            log_warn("Google did not confirm the disconnect; local disconnect goes on user=%s",
                     u.id);
    }
    if (connected)
        integ_free(&in);
    if (forget(req->db, u.id) != CS_OK) {
        http_reply_error(req, 500, "cannot disconnect: database error");
        return 0;
    }
    log_info("Google Calendar disconnected user=%s", u.id);
    o = cJSON_CreateObject();
    if (o != NULL) {
        cJSON_AddBoolToObject(o, "success", 1);
        cJSON_AddStringToObject(o, "message",
                                google_ok
                                    ? "Google Calendar disconnected. Your appointments were kept."
                                    : "Google Calendar disconnected here. Google could not be "
                                      "reached to revoke access; you can also remove calsync "
                                      "in your Google account settings. Your appointments "
                                      "were kept.");
    }
    cJSON_Delete(body);
    http_reply_json(req, 200, o, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    return http_serve(argc, argv, "disconnect", route, NULL);
}
