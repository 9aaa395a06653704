/* disconnect: POST /api/google/calendar/disconnect: a local transaction first (integration
 * inactive, tokens wiped, Google ids cleared, jobs cancelled, every appointment kept), then
 * best-effort calls telling Google (stop the channel, revoke the grant) with tokens kept for
 * that alone; whatever Google does, the local disconnect stands. */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "gapi.h"
#include "http.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "sync.h"

/* Runs the clean-up job now, briefly; on failure calsync-worker retries it. 1 when Google
 * confirmed, or when a job of the user is still running (a channel being opened must be
 * stopped before the grant goes): then the worker tells Google right after it. */
#define DISCONNECT_WAIT_MS 5000

static int tell_google(struct http_req *req, long long job_id)
{
    struct job j;
    int rc;

    if ((rc = jobs_claim_id(req->db, job_id, req->cfg->job_lease_ms, &j)) != CS_OK) {
        jobs_wake(req->cfg);
        return rc == CS_ERR_BUSY;
    }
    rc = sync_cleanup(req->cfg, &j);
    if (rc == CS_OK || rc == CS_ERR_INVAL) {
        jobs_done(req->db, &j); /* told, or nothing a retry could fix */
        metrics_job(j.kind, rc == CS_OK ? METRICS_JOB_DONE : METRICS_JOB_DROPPED);
    } else {
        jobs_retry(req->db, &j, 0, "Google did not confirm the disconnect");
        metrics_job(j.kind, METRICS_JOB_RETRY);
        jobs_wake(req->cfg);
    }
    jobs_free(&j);
    return rc == CS_OK;
}

static int route(struct http_req *req, void *ctx)
{
    struct auth_user u;
    long long cleanup = 0;
    int google_ok = 1;
    cJSON *o;

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
    if (sync_disconnect(req->db, req->cfg, u.id, &cleanup) != CS_OK) {
        http_reply_error(req, 500, "cannot disconnect: database error");
        return 0;
    }
    log_info("Google Calendar disconnected user=%s", u.id);
    /* a job running for this connection stops at its next Google call; wait for it (briefly)
     * so that nothing of this connection reaches Google after this answer, and a channel it
     * was opening is stopped before the grant is revoked */
    if (jobs_wait_user_idle(req->db, u.id, DISCONNECT_WAIT_MS) != CS_OK)
        log_warn("a sync job is still finishing a Google call user=%s", u.id);
    if (cleanup != 0)
        google_ok = tell_google(req, cleanup);
    if (!google_ok)
        log_warn("Google did not confirm the disconnect yet; retried in the background user=%s",
                 u.id);
    o = cJSON_CreateObject();
    if (o != NULL) {
        cJSON_AddBoolToObject(o, "success", 1);
        cJSON_AddStringToObject(o, "message",
                                google_ok
                                    ? "Google Calendar disconnected. Your appointments were kept."
                                    : "Google Calendar disconnected here. Google could not be "
                                      "reached to revoke access yet; calsync keeps trying, and "
                                      "you can also remove calsync in your Google account "
                                      "settings. Your appointments were kept.");
    }
    http_reply_json(req, 200, o, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    /* before http_serve forks the workers: they share what it set up */
    if (gapi_global_init() != CS_OK) {
        fprintf(stderr, "calsync-disconnect: libcurl failed to initialise\n");
        return 1;
    }
    return http_serve(argc, argv, "disconnect", route, NULL);
}
