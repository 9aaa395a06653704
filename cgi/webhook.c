/* webhook: POST /api/google/calendar/webhook: verifies a Google push notification against an
 * active channel (id, resource id, token; constant time), answers at once, then syncs. */
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "http.h"
#include "integ.h"
#include "log.h"
#include "sync.h"

#define HDR_MAX 256

static int header(struct http_req *req, const char *name, char *out, size_t outlen)
{
    return http_header_token(http_param(req, name), out, outlen);
}

static void ok(struct http_req *req)
{
    http_reply(req, 200, "application/json", NULL, "{}", 2);
}

static int route(struct http_req *req, void *ctx)
{
    char chan[HDR_MAX], rid[HDR_MAX], token[HDR_MAX], state[32], msgno[32];
    char token_hash[CRYPT_HEXLEN], expect[CRYPT_HEXLEN], user_id[CRYPT_UUIDLEN], err[CS_ERRLEN];
    struct integ in;
    int rc, good;

    (void)ctx;
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
    if (header(req, "HTTP_X_GOOG_MESSAGE_NUMBER", msgno, sizeof msgno) == CS_ERR_INVAL) {
        http_reply_error(req, 400, "malformed X-Goog-Message-Number");
        return 0;
    }
    if (strcmp(state, "sync") != 0 && strcmp(state, "exists") != 0 &&
        strcmp(state, "not_exists") != 0) {
        http_reply_error(req, 400, "unknown X-Goog-Resource-State");
        return 0;
    }
    if (integ_by_channel(req->db, chan, &in) != CS_OK) {
        /* a stopped or replaced channel: Google may still send a few; nothing to do */
        log_info("notification for unknown channel ignored");
        ok(req);
        return 0;
    }
    if (!in.is_active || in.channel_token_hash == NULL || in.resource_id == NULL) {
        log_info("notification for an inactive integration ignored");
        integ_free(&in);
        ok(req);
        return 0;
    }
    /* all three must match, each compared in constant time */
    crypt_sha256_hex(token, strlen(token), token_hash);
    crypt_hmac_text(req->cfg->webhook_secret, chan, expect);
    good = crypt_str_eq(rid, in.resource_id);
    good &= crypt_str_eq(token_hash, in.channel_token_hash);
    good &= crypt_str_eq(token, expect);
    snprintf(user_id, sizeof user_id, "%s", in.user_id);
    integ_free(&in);
    if (!good) {
        log_warn("forged or mismatched notification refused");
        http_reply_error(req, 403, "notification not verified");
        return 0;
    }
    ok(req);
    if (strcmp(state, "sync") == 0) {
        log_info("channel confirmed user=%s", user_id);
        return 0;
    }
    /* answered; now the work, in this worker, coalesced by the sync lease */
    http_finish(req);
    sync_run(req->db, req->cfg, user_id, "webhook", SYNC_SETTLED, req->cfg->sync_budget_ms, NULL,
             err, sizeof err);
    return 0;
}

int main(int argc, char **argv)
{
    return http_serve(argc, argv, "webhook", route, NULL);
}
