/* webhook: POST /api/google/calendar/webhook: verifies a Google push notification against an
 * active channel (id, resource id, token; constant time), drops replays, records a pull job and
 * answers 200; the worker does the rest. Served by the batched event loop: the notifications
 * that arrive together are stored in one transaction, then answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "http.h"
#include "integ.h"
#include "jobs.h"
#include "log.h"
#include "sync.h"

#define HDR_MAX 256

static int header(struct http_req *req, const char *name, char *out, size_t outlen)
{
    return http_header_token(http_param(req, name), out, outlen);
}

/* Records the message number; CS_ERR_CONFLICT when it is not above the last one accepted for
 * the channel (a replay). Without a number (never from Google) there is nothing to compare. */
static int seen(struct http_req *req, const char *chan, const char *rid, long long n)
{
    struct db_stmt *st;

    if (n < 0)
        return CS_OK;
    if ((st = db_stmt(req->db, DB_INTEG_WEBHOOK_SEEN)) == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, chan);
    db_bind_text(st, 2, rid);
    db_bind_int64(st, 3, n);
    if (db_exec(req->db, st) != CS_OK)
        return CS_ERR_DB;
    return db_changes(req->db) == 1 ? CS_OK : CS_ERR_CONFLICT;
}

static void ok(struct http_req *req)
{
    http_reply(req, 200, "application/json", NULL, "{}", 2);
}

static int route(struct http_req *req, void *ctx)
{
    char chan[HDR_MAX], rid[HDR_MAX], token[HDR_MAX], state[32];
    long long msgno, last;
    char expect[CRYPT_HEXLEN], user_id[CRYPT_UUIDLEN], known_rid[HDR_MAX];
    struct db_stmt *st;
    int rc, good;

    if (strcmp(req->method, "POST") != 0) {
        http_reply_405(req, "POST");
        return 0;
    }
    if (req->content_length > 0) {
        http_reply_error(req, 413, "notifications have no body");
        return 0;
    }
    if (header(req, "HTTP_X_GOOG_CHANNEL_ID", chan, sizeof chan) != CS_OK ||
        header(req, "HTTP_X_GOOG_RESOURCE_ID", rid, sizeof rid) != CS_OK ||
        header(req, "HTTP_X_GOOG_RESOURCE_STATE", state, sizeof state) != CS_OK) {
        http_reply_error(req, 400,
                         "missing or malformed X-Goog-Channel-ID, X-Goog-Resource-ID "
                         "or X-Goog-Resource-State");
        return 0;
    }
    rc = header(req, "HTTP_X_GOOG_CHANNEL_TOKEN", token, sizeof token);
    if (rc == CS_ERR_INVAL) {
        http_reply_error(req, 400, "malformed X-Goog-Channel-Token");
        return 0;
    }
    if (rc == CS_ERR_NOTFOUND)
        token[0] = '\0';
    rc = http_message_number(http_param(req, "HTTP_X_GOOG_MESSAGE_NUMBER"), &msgno);
    if (rc == CS_ERR_NOTFOUND)
        msgno = -1;
    if (rc == CS_ERR_INVAL) {
        http_reply_error(req, 400, "malformed X-Goog-Message-Number");
        return 0;
    }
    if (strcmp(state, "sync") != 0 && strcmp(state, "exists") != 0 &&
        strcmp(state, "not_exists") != 0) {
        http_reply_error(req, 400, "unknown X-Goog-Resource-State");
        return 0;
    }
    /* everything below reads and writes in the batch's one transaction: a lookup of its own
     * would take and drop the store's locks once more per batch */
    if (http_tx(req) != CS_OK) {
        http_reply_error(req, 503, "notification not recorded; try again");
        return 0;
    }
    /* the channel's owner and resource id (active integrations only) */
    if ((st = db_stmt(req->db, DB_INTEG_CHANNEL_OWNER)) == NULL) {
        http_reply_error(req, 503, "notification not recorded; try again");
        return 0;
    }
    db_bind_text(st, 1, chan);
    if (db_step(st) != DB_ROW) {
        db_reset(st);
        /* a stopped or replaced channel (Google may still send a few), or a disconnected
         * user: nothing to do */
        log_debug("notification for an unknown or inactive channel ignored");
        ok(req);
        return 0;
    }
    db_col_copy(st, 0, user_id, sizeof user_id);
    db_col_copy(st, 1, known_rid, sizeof known_rid);
    last = db_col_is_null(st, 2) ? -1 : db_col_int64(st, 2);
    db_reset(st);
    /* the token is HMAC(webhook secret, channel id): one constant-time check proves it; the
     * resource id must be the one Google gave this channel */
    crypt_hmac_text(req->cfg->webhook_secret, chan, expect);
    good = crypt_str_eq(rid, known_rid);
    good &= crypt_str_eq(token, expect);
    if (!good) {
        log_warn("forged or mismatched notification refused");
        http_reply_error(req, 403, "notification not verified");
        return 0;
    }
    if (strcmp(state, "sync") == 0) {
        log_info("channel confirmed user=%s", user_id);
        ok(req);
        return 0;
    }
    /* replay guard + the pull job, in the batch's transaction, before the 200: a
     * notification Google got a 200 for is never lost (if the transaction fails, every
     * notification in it is answered 503 and Google sends it again). A number not above the
     * one stored is a replay without a write; for the others the conditional update decides. */
    if (msgno >= 0 && last >= msgno)
        rc = CS_ERR_CONFLICT;
    else
        rc = seen(req, chan, rid, msgno);
    if (rc == CS_ERR_CONFLICT) {
        /* Google retries and may deliver out of order: routine, and a line per request
         * would let whoever floods the endpoint fill the log */
        log_debug("replayed or out-of-order notification ignored user=%s", user_id);
        ok(req);
        return CS_OK;
    }
    if (rc == CS_OK)
        rc = jobs_enqueue_sync(req->db, user_id, 1, "webhook", req->cfg->webhook_settle_ms, NULL,
                               NULL);
    /* a pending pull that already covers this notification is left as it was (nothing
     * written): the worker knows of it and needs no wake-up */
    if (rc == CS_OK && db_changes(req->db) != 0)
        *(int *)ctx = 1;
    if (rc == CS_OK)
        ok(req);
    return rc;
}

/* After a batch of notifications is stored: the worker runs the pull jobs it added or moved. */
static void committed(const struct cfg *cfg, void *ctx)
{
    int *wake = ctx;

    if (*wake)
        jobs_wake(cfg);
    *wake = 0;
}

int main(int argc, char **argv)
{
    static int wake; /* a job of the open batch was added or changed */
    static const struct http_batched r = {"webhook", route, committed, &wake};

    return http_serve_batched(argc, argv, &r);
}
