/* connect: GET /api/google/calendar/connect?calendar=primary|vesta -> 302 to Google's consent
 * page (PKCE S256): calendar.events for the primary calendar, calendar.app.created for a
 * dedicated "Vesta" calendar. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "http.h"
#include "integ.h"
#include "log.h"

#define SCOPE "https://www.googleapis.com/auth/calendar.events"
#define SCOPE_VESTA "https://www.googleapis.com/auth/calendar.app.created"
#define STATE_TTL 600

static int add_param(struct buf *b, const char *k, const char *v)
{
    int rc = buf_printf(b, "%s%s=", strchr(b->data, '?') ? "&" : "?", k);

    return rc == CS_OK ? http_urlencode(b, v) : rc;
}

static int route(struct http_req *req, void *ctx)
{
    struct auth_user u;
    char state[CRYPT_TOKLEN], verifier[CRYPT_TOKLEN], challenge[CRYPT_TOKLEN];
    char state_hash[CRYPT_HEXLEN], redirect[1024], ad[INTEG_ADLEN];
    char *sealed = NULL, calendar[16];
    struct buf url;
    struct db_stmt *st;
    int rc;

    (void)ctx;
    if (strcmp(req->method, "GET") != 0) {
        http_reply_405(req, "GET");
        return 0;
    }
    if (auth_require(req, &u) != CS_OK)
        return 0;
    rc = http_query_get(req->query, "calendar", calendar, sizeof calendar);
    if (rc == CS_ERR_NOTFOUND)
        snprintf(calendar, sizeof calendar, "primary");
    else if (rc != CS_OK || (strcmp(calendar, "primary") != 0 && strcmp(calendar, "vesta") != 0)) {
        http_reply_error(req, 400, "calendar must be primary or vesta");
        return 0;
    }
    if (!cfg_google_enabled(req->cfg)) {
        http_reply_error(req, 503, "Google Calendar is not configured on this server");
        return 0;
    }
    crypt_random_token(state, 32);
    crypt_random_token(verifier, 44); /* 59 characters: within PKCE's 43..128 */
    crypt_pkce_challenge(verifier, challenge);
    crypt_sha256_hex(state, strlen(state), state_hash);
    integ_token_ad("pkce", u.id, ad); /* the verifier only opens for the user who started */
    if (crypt_seal_ad(req->cfg->secret_key, verifier, ad, &sealed) != CS_OK) {
        http_reply_error(req, 500, "cannot start the connection");
        goto out;
    }
    if ((st = db_stmt(req->db, DB_STATE_PURGE)) != NULL) {
        db_bind_int64(st, 1, db_now());
        db_exec(req->db, st);
    }
    st = db_stmt(req->db, DB_STATE_INSERT);
    if (st == NULL) {
        http_reply_error(req, 500, "database error");
        goto out;
    }
    db_bind_text(st, 1, state_hash);
    db_bind_text(st, 2, u.id);
    db_bind_text(st, 3, sealed);
    db_bind_int64(st, 4, db_now() + STATE_TTL);
    db_bind_text(st, 5, calendar); /* the callback asks for the scope this choice needs */
    if (db_exec(req->db, st) != CS_OK) {
        http_reply_error(req, 500, "database error");
        goto out;
    }
    snprintf(redirect, sizeof redirect, "%s/api/google/calendar/callback", req->cfg->base_url);
    buf_init(&url, 8192);
    if (buf_adds(&url, req->cfg->auth_url) != CS_OK ||
        add_param(&url, "client_id", req->cfg->google_client_id) != CS_OK ||
        add_param(&url, "redirect_uri", redirect) != CS_OK ||
        add_param(&url, "response_type", "code") != CS_OK ||
        add_param(&url, "scope", strcmp(calendar, "vesta") == 0 ? SCOPE_VESTA : SCOPE) != CS_OK ||
        add_param(&url, "access_type", "offline") != CS_OK ||
        add_param(&url, "prompt", "consent") != CS_OK ||
        add_param(&url, "include_granted_scopes", "true") != CS_OK ||
        add_param(&url, "state", state) != CS_OK ||
        add_param(&url, "code_challenge", challenge) != CS_OK ||
        add_param(&url, "code_challenge_method", "S256") != CS_OK) {
        http_reply_error(req, 500, "cannot build the consent URL");
    } else {
        log_info("connect started (%s calendar) user=%s", calendar, u.id);
        http_redirect(req, url.data, NULL);
    }
    buf_free(&url);
out:
    free(sealed);
    sodium_memzero(verifier, sizeof verifier);
    sodium_memzero(state, sizeof state);
    return 0;
}

int main(int argc, char **argv)
{
    return http_serve(argc, argv, "connect", route, NULL);
}
