/* callback: GET /api/google/calendar/callback: checks state + PKCE, stores the tokens sealed,
 * records the jobs that open the push channel and run the initial two-way sync, 302 back to
 * /calendario. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "gapi.h"
#include "http.h"
#include "integ.h"
#include "jobs.h"
#include "log.h"
#include "sync.h"

/* Vesta's page reads its own codes (../shared/VESTA.md): each of ours maps to one of them. */
static const char *vesta_code(const char *reason)
{
    static const struct {
        const char *ours, *vesta;
    } map[] = {
        {"invalid_state", "invalid_state"},
        {"expired_state", "invalid_state"},
        {"state_mismatch", "invalid_state"},
        {"not_logged_in", "unauthorized"},
        {"missing_code", "invalid_callback"},
        {"token_exchange_failed", "token_exchange_failed"},
        {"google_unavailable", "token_exchange_failed"},
        {"insufficient_scope", "oauth_failed"},
        {"no_refresh_token", "oauth_failed"},
        {"server_error", "callback_failed"},
        {"not_configured", "callback_failed"},
    };

    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].ours, reason) == 0)
            return map[i].vesta;
    return "oauth_failed"; /* Google's own error codes: the consent failed */
}

static void back(struct http_req *req, const char *reason)
{
    char loc[1024];

    if (reason != NULL)
        log_info("connect ends: %s", reason);

    if (req->cfg->host == CFG_HOST_VESTA) {
        if (reason == NULL)
            snprintf(loc, sizeof loc, "%s/calendario?success=google_connected", req->cfg->base_url);
        else
            /* exactly Vesta's form (its page reads error=); our finer reason is in the log */
            snprintf(loc, sizeof loc, "%s/calendario?error=%s", req->cfg->base_url,
                     vesta_code(reason));
    } else if (reason == NULL)
        snprintf(loc, sizeof loc, "%s/calendario?google=connected", req->cfg->base_url);
    else
        snprintf(loc, sizeof loc, "%s/calendario?google=error&reason=%s", req->cfg->base_url,
                 reason);
    http_redirect(req, loc, NULL);
}

/* Only short [a-z_] error codes from Google are echoed back. */
static const char *safe_reason(const char *e)
{
    static char out[40];
    size_t n = 0;

    for (; e && *e && n + 1 < sizeof out; e++)
        if ((*e >= 'a' && *e <= 'z') || *e == '_')
            out[n++] = *e;
    out[n] = '\0';
    return n ? out : "google_error";
}

/* True when granted (space-separated) holds a scope that lets calsync work with the chosen
 * calendar: events (or the whole calendar) for primary; app.created (or the whole calendar)
 * for a Vesta calendar. */
static int scope_ok(const char *granted, int vesta)
{
    const char *want[] = {vesta ? "https://www.googleapis.com/auth/calendar.app.created"
                                : "https://www.googleapis.com/auth/calendar.events",
                          "https://www.googleapis.com/auth/calendar"};

    for (size_t i = 0; i < 2; i++) {
        const char *p = granted;
        size_t n = strlen(want[i]);
        while ((p = strstr(p, want[i])) != NULL) {
            if ((p == granted || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
                return 1;
            p += n;
        }
    }
    return 0;
}

/* Takes a state (single use): reads it and deletes it in one transaction; only the request
 * whose delete removed the row has it. 1 with the owner, sealed verifier (free()), expiry and
 * the calendar asked for ("primary" or "vesta"),
 * 0 when unknown or already taken, -1 on a database error. */
static int take_state(struct db *db, const char *hash, char *owner, size_t ownerlen, char **sealed,
                      long long *expires, char *calendar, size_t callen)
{
    struct db_stmt *st;
    int found = 0, rc;

    if (db_begin(db) != CS_OK)
        return -1;
    if ((st = db_stmt(db, DB_STATE_GET)) == NULL)
        goto fail;
    db_bind_text(st, 1, hash);
    rc = db_step(st);
    if (rc == DB_ROW) {
        db_col_copy(st, 0, owner, ownerlen);
        *sealed = db_col_dup(st, 1);
        *expires = db_col_int64(st, 2);
        if (!db_col_is_null(st, 3))
            db_col_copy(st, 3, calendar, callen);
        found = 1;
    }
    db_reset(st);
    if (rc == DB_FAILED)
        goto fail;
    if (found) {
        if ((st = db_stmt(db, DB_STATE_DELETE)) == NULL)
            goto fail;
        db_bind_text(st, 1, hash);
        if (db_exec(db, st) != CS_OK)
            goto fail;
        found = db_changes(db) == 1; /* a concurrent callback took it first */
    }
    if (db_commit(db) != CS_OK)
        goto fail;
    if (!found) {
        free(*sealed);
        *sealed = NULL;
    }
    return found;
fail:
    db_rollback(db);
    free(*sealed);
    *sealed = NULL;
    return -1;
}

static int route(struct http_req *req, void *ctx)
{
    struct auth_user u;
    char state[256], code[1024], err[128], state_hash[CRYPT_HEXLEN], owner[CRYPT_UUIDLEN] = "";
    char calendar[16] = "primary";
    char *sealed = NULL, *verifier = NULL, errbuf[CS_ERRLEN], ad[INTEG_ADLEN];
    long long expires = 0;
    struct gapi_tokens t;
    struct integ in;
    struct db_stmt *st;
    int have_state = 0, rc, have_refresh, vesta = 0;

    (void)ctx;
    memset(&t, 0, sizeof t);
    if (strcmp(req->method, "GET") != 0) {
        http_reply_405(req, "GET");
        return 0;
    }
    if (!cfg_google_enabled(req->cfg)) {
        back(req, "not_configured");
        return 0;
    }
    if (http_query_get(req->query, "state", state, sizeof state) != CS_OK || state[0] == '\0') {
        back(req, "invalid_state");
        return 0;
    }
    /* the state is single use: take it before anything else */
    crypt_sha256_hex(state, strlen(state), state_hash);
    have_state = take_state(req->db, state_hash, owner, sizeof owner, &sealed, &expires, calendar,
                            sizeof calendar);
    if (have_state < 0) {
        back(req, "server_error");
        return 0;
    }
    if (!have_state) {
        log_warn("callback with unknown or used state");
        back(req, "invalid_state");
        goto out;
    }
    if (expires <= db_now()) {
        back(req, "expired_state");
        goto out;
    }
    if (auth_session_of(req, &u) != CS_OK) {
        back(req, "not_logged_in");
        goto out;
    }
    if (strcmp(owner, u.id) != 0) {
        log_warn("callback state of another user refused user=%s", u.id);
        back(req, "state_mismatch");
        goto out;
    }
    if (http_query_get(req->query, "error", err, sizeof err) == CS_OK) {
        log_info("consent refused (%s) user=%s", safe_reason(err), u.id);
        back(req, safe_reason(err));
        goto out;
    }
    if (http_query_get(req->query, "code", code, sizeof code) != CS_OK || code[0] == '\0') {
        back(req, "missing_code");
        goto out;
    }
    integ_token_ad("pkce", owner, ad);
    if (crypt_open_ad(req->cfg->secret_key, sealed, ad, &verifier) != CS_OK) {
        back(req, "invalid_state");
        goto out;
    }
    rc = gapi_token_exchange(req->cfg, code, verifier, &t, errbuf, sizeof errbuf);
    sodium_memzero(code, sizeof code);
    if (rc != CS_OK) {
        log_warn("code exchange failed: %s user=%s", errbuf, u.id);
        back(req, rc == CS_ERR_NET ? "google_unavailable" : "token_exchange_failed");
        goto out;
    }
    vesta = strcmp(calendar, "vesta") == 0;
    if (!scope_ok(t.scope, vesta)) {
        log_warn("calendar scope not granted user=%s", u.id);
        gapi_revoke(req->cfg, t.refresh ? t.refresh : t.access);
        back(req, "insufficient_scope");
        goto out;
    }
    have_refresh = t.refresh != NULL;
    if (!have_refresh && integ_get(req->db, u.id, &in) == CS_OK) {
        have_refresh = in.refresh_token != NULL;
        integ_free(&in);
    }
    if (!have_refresh) {
        back(req, "no_refresh_token");
        goto out;
    }
    /* tokens, "syncing", the channel and the initial sync jobs: one transaction, so a
     * disconnect right after sees (and cancels) all of it */
    rc = db_begin(req->db);
    if (rc == CS_OK)
        rc = gapi_store_tokens(req->db, req->cfg, u.id, &t, 1, 0);
    if (rc == CS_OK && (st = db_stmt(req->db, DB_INTEG_SET_CALENDAR)) == NULL)
        rc = CS_ERR_DB;
    if (rc == CS_OK) {
        /* a Vesta calendar is found or made by the sync job (no Google call from here after
         * the answer); until then its id is '' and no job touches any calendar */
        db_bind_text(st, 1, u.id);
        db_bind_text(st, 2, vesta ? "vesta" : "primary");
        db_bind_text(st, 3, vesta ? "" : "primary");
        rc = db_exec(req->db, st);
    }
    if (rc == CS_OK)
        rc = integ_set_state(req->db, u.id, "syncing", NULL); /* shown from the first look */
    /* the channel needs the calendar: for "vesta" the sync job records it once it exists */
    if (rc == CS_OK && *req->cfg->webhook_url != '\0' && !vesta)
        rc = jobs_enqueue_channel(req->db, u.id, "connect");
    if (rc == CS_OK)
        rc = jobs_enqueue_sync(req->db, u.id, 1, "connect", 0, NULL, NULL);
    if (db_end(req->db, rc) != CS_OK) {
        back(req, "server_error");
        goto out;
    }
    log_info("Google Calendar connected (%s calendar) user=%s", vesta ? "Vesta" : "primary", u.id);
    back(req, NULL);
    jobs_wake(req->cfg); /* the worker opens the channel and runs the initial sync */
out:
    gapi_tokens_free(&t);
    crypt_free_secret(verifier);
    free(sealed);
    return 0;
}

int main(int argc, char **argv)
{
    /* before http_serve forks the workers: they share what it set up */
    if (gapi_global_init() != CS_OK) {
        fprintf(stderr, "calsync-callback: libcurl failed to initialise\n");
        return 1;
    }
    return http_serve(argc, argv, "callback", route, NULL);
}
