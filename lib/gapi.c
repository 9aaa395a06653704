/* gapi.c: every call calsync makes to Google (or the emulator standing in for it). */
#include "gapi.h"
#include "cal.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "http.h"
#include "integ.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#define GAPI_BACKOFF_BASE_MS 250
#define GAPI_BACKOFF_MAX_MS 16000
#define GAPI_REFRESH_MARGIN_S 120

int gapi_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? CS_OK : CS_ERR_NOMEM;
}

void gapi_resp_free(struct gapi_resp *r)
{
    buf_free(&r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
    r->retry_after = -1;
}

/* The write callback: refuses (ends the transfer) once the cap is reached. */
static size_t gapi_write(char *p, size_t size, size_t n, void *ud)
{
    struct gapi_resp *r = ud;

    if (buf_add(&r->body, p, size * n) != CS_OK) {
        r->truncated = 1;
        return 0;
    }
    return size * n;
}

void gapi_header_parse(struct gapi_resp *r, const char *p, size_t len)
{
    if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
        size_t vl = len - 13;
        const char *v = p + 13;
        while (vl > 0 && *v == ' ')
            v++, vl--;
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        if (vl >= sizeof r->ctype)
            vl = sizeof r->ctype - 1;
        memcpy(r->ctype, v, vl);
        r->ctype[vl] = '\0';
    }

    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[32];
        size_t vl = len - 12 < sizeof v - 1 ? len - 12 : sizeof v - 1;
        char *end;
        long secs;
        memcpy(v, p + 12, vl);
        v[vl] = '\0';
        secs = strtol(v, &end, 10);
        if (end != v && secs >= 0 && secs < 3600)
            r->retry_after = secs;
    }
}

static size_t gapi_header(char *p, size_t size, size_t n, void *ud)
{
    gapi_header_parse(ud, p, size * n);
    return size * n;
}

/* Pulls Google's error reason/message (or OAuth's error/error_description) out of the body. */
void gapi_parse_error(struct gapi_resp *r)
{
    const cJSON *err, *errs, *first, *v;

    if (r->json == NULL)
        return;
    err = cJSON_GetObjectItemCaseSensitive(r->json, "error");
    if (cJSON_IsString(err)) {
        snprintf(r->reason, sizeof r->reason, "%s", err->valuestring);
        v = cJSON_GetObjectItemCaseSensitive(r->json, "error_description");
        if (cJSON_IsString(v))
            snprintf(r->message, sizeof r->message, "%s", v->valuestring);
        return;
    }
    if (!cJSON_IsObject(err))
        return;
    v = cJSON_GetObjectItemCaseSensitive(err, "message");
    if (cJSON_IsString(v))
        snprintf(r->message, sizeof r->message, "%s", v->valuestring);
    errs = cJSON_GetObjectItemCaseSensitive(err, "errors");
    first = cJSON_IsArray(errs) ? cJSON_GetArrayItem(errs, 0) : NULL;
    v = first ? cJSON_GetObjectItemCaseSensitive(first, "reason") : NULL;
    if (cJSON_IsString(v))
        snprintf(r->reason, sizeof r->reason, "%s", v->valuestring);
}

int gapi_http(const struct cfg *cfg, const char *method, const char *url, const char *bearer,
              const char *ctype, const char *body, const char *if_match, struct gapi_resp *out)
{
    char errbuf[CURL_ERROR_SIZE] = "", line[4096];
    struct curl_slist *h = NULL;
    CURL *c;
    CURLcode cc;
    int rc = CS_OK;

    memset(out, 0, sizeof *out);
    out->retry_after = -1;
    buf_init(&out->body, GAPI_REPLY_MAX);
    c = curl_easy_init();
    if (c == NULL)
        return CS_ERR_NOMEM;
    if (bearer != NULL) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, line);
        sodium_memzero(line, sizeof line);
    }
    if (body != NULL) {
        snprintf(line, sizeof line, "Content-Type: %s", ctype ? ctype : "application/json");
        h = curl_slist_append(h, line);
    }
    if (if_match != NULL) {
        snprintf(line, sizeof line, "If-Match: %s", if_match);
        h = curl_slist_append(h, line);
    }
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)cfg->http_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(cfg->http_timeout_ms < 5000 ? cfg->http_timeout_ms : 5000));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, gapi_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, gapi_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "calsync/1.0");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    cc = curl_easy_perform(c);
    if (cc == CURLE_WRITE_ERROR && out->truncated) {
        log_warn("Google reply over %d bytes refused", GAPI_REPLY_MAX);
        rc = CS_ERR_TOOBIG;
    } else if (cc != CURLE_OK) {
        log_warn("Google %s failed: %s", method, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        rc = CS_ERR_NET;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        if (out->body.len > 0)
            out->json = cJSON_ParseWithLength(out->body.data, out->body.len);
        if (out->status >= 400)
            gapi_parse_error(out);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

void gapi_tokens_free(struct gapi_tokens *t)
{
    crypt_free_secret(t->access);
    crypt_free_secret(t->refresh);
    free(t->scope);
    memset(t, 0, sizeof *t);
}

static int gapi_form_add(struct buf *b, const char *k, const char *v)
{
    int rc = CS_OK;

    if (b->len > 0)
        rc = buf_adds(b, "&");
    if (rc == CS_OK)
        rc = buf_adds(b, k);
    if (rc == CS_OK)
        rc = buf_adds(b, "=");
    if (rc == CS_OK)
        rc = http_urlencode(b, v);
    return rc;
}

/* POSTs a token-endpoint form and reads the token answer. */
static int gapi_token_post(const struct cfg *cfg, struct buf *form, struct gapi_tokens *t,
                           char *errbuf, size_t errlen)
{
    struct gapi_resp r;
    int rc;

    memset(t, 0, sizeof *t);
    rc = gapi_http(cfg, "POST", cfg->token_url, NULL, "application/x-www-form-urlencoded",
                   form->data, NULL, &r);
    if (rc != CS_OK) {
        gapi_resp_free(&r);
        return cs_fail(errbuf, errlen, CS_ERR_NET, "token endpoint unreachable");
    }
    if (r.status != 200) {
        log_warn("token endpoint answered %ld %s", r.status, r.reason);
        rc = strcmp(r.reason, "invalid_grant") == 0 ? CS_ERR_REAUTH
             : r.status >= 500 || r.status == 429   ? CS_ERR_NET
                                                    : CS_ERR_AUTH;
        cs_fail(errbuf, errlen, rc, "%s", r.reason[0] ? r.reason : "token_error");
        gapi_resp_free(&r);
        return rc;
    }
    rc = gapi_tokens_parse(r.body.data, r.body.len, t);
    if (r.body.data != NULL)
        sodium_memzero(r.body.data, r.body.len);
    gapi_resp_free(&r);
    if (rc == CS_ERR_GOOGLE)
        return cs_fail(errbuf, errlen, rc, "malformed token answer");
    return rc;
}

/* A token as it may go into an Authorization header: printable ASCII, no spaces, bounded. */
static int gapi_token_text_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > GAPI_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

int gapi_tokens_parse(const char *body, size_t len, struct gapi_tokens *t)
{
    const cJSON *at, *rt, *sc, *ex;
    cJSON *j;
    int rc = CS_ERR_GOOGLE;

    memset(t, 0, sizeof *t);
    if (body == NULL || (j = cJSON_ParseWithLength(body, len)) == NULL)
        return CS_ERR_GOOGLE;
    at = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    rt = cJSON_GetObjectItemCaseSensitive(j, "refresh_token");
    sc = cJSON_GetObjectItemCaseSensitive(j, "scope");
    ex = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
    /* the number is checked before it becomes a long: 1e300 or NaN must not */
    if (!cJSON_IsString(at) || !gapi_token_text_ok(at->valuestring) || !cJSON_IsNumber(ex) ||
        !(ex->valuedouble >= 0 && ex->valuedouble <= GAPI_EXPIRES_MAX) ||
        (rt != NULL && !cJSON_IsNull(rt) &&
         (!cJSON_IsString(rt) || !gapi_token_text_ok(rt->valuestring))) ||
        (sc != NULL && !cJSON_IsNull(sc) &&
         (!cJSON_IsString(sc) || strlen(sc->valuestring) > GAPI_TOKEN_MAX ||
          !cs_text_valid(sc->valuestring))))
        goto out;
    rc = CS_ERR_NOMEM;
    t->access = strdup(at->valuestring);
    t->refresh = cJSON_IsString(rt) ? strdup(rt->valuestring) : NULL;
    t->scope = strdup(cJSON_IsString(sc) ? sc->valuestring : "");
    t->expires_in = (long)ex->valuedouble;
    if (t->access == NULL || t->scope == NULL || (cJSON_IsString(rt) && t->refresh == NULL)) {
        gapi_tokens_free(t);
        goto out;
    }
    rc = CS_OK;
out:
    if (cJSON_IsString(at))
        sodium_memzero(at->valuestring, strlen(at->valuestring));
    if (cJSON_IsString(rt))
        sodium_memzero(rt->valuestring, strlen(rt->valuestring));
    cJSON_Delete(j);
    return rc;
}

int gapi_token_exchange(const struct cfg *cfg, const char *code, const char *verifier,
                        struct gapi_tokens *t, char *errbuf, size_t errlen)
{
    struct buf form, redirect;
    int rc;

    buf_init(&form, 16384);
    buf_init(&redirect, 4096);
    if (buf_printf(&redirect, "%s/api/google/calendar/callback", cfg->base_url) != CS_OK ||
        gapi_form_add(&form, "grant_type", "authorization_code") != CS_OK ||
        gapi_form_add(&form, "code", code) != CS_OK ||
        gapi_form_add(&form, "redirect_uri", redirect.data) != CS_OK ||
        gapi_form_add(&form, "client_id", cfg->google_client_id) != CS_OK ||
        gapi_form_add(&form, "client_secret", cfg->google_client_secret) != CS_OK ||
        gapi_form_add(&form, "code_verifier", verifier) != CS_OK) {
        rc = cs_fail(errbuf, errlen, CS_ERR_INVAL, "authorization code too long");
        goto out;
    }
    rc = gapi_token_post(cfg, &form, t, errbuf, errlen);
    if (rc == CS_ERR_REAUTH)
        rc = CS_ERR_AUTH; /* a refused code is not a revoked grant */
out:
    buf_free(&form);
    buf_free(&redirect);
    return rc;
}

int gapi_token_refresh(const struct cfg *cfg, const char *refresh, struct gapi_tokens *t,
                       char *errbuf, size_t errlen)
{
    struct buf form;
    int rc;

    buf_init(&form, 16384);
    if (gapi_form_add(&form, "grant_type", "refresh_token") != CS_OK ||
        gapi_form_add(&form, "refresh_token", refresh) != CS_OK ||
        gapi_form_add(&form, "client_id", cfg->google_client_id) != CS_OK ||
        gapi_form_add(&form, "client_secret", cfg->google_client_secret) != CS_OK) {
        buf_free(&form);
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "refresh token too long");
    }
    rc = gapi_token_post(cfg, &form, t, errbuf, errlen);
    buf_free(&form);
    return rc;
}

int gapi_revoke(const struct cfg *cfg, const char *token)
{
    struct buf form;
    struct gapi_resp r;
    int rc;

    buf_init(&form, 16384);
    if (gapi_form_add(&form, "token", token) != CS_OK) {
        buf_free(&form);
        return CS_ERR_INVAL;
    }
    rc = gapi_http(cfg, "POST", cfg->revoke_url, NULL, "application/x-www-form-urlencoded",
                   form.data, NULL, &r);
    buf_free(&form);
    if (rc == CS_OK && r.status != 200 && strcmp(r.reason, "invalid_token") != 0)
        rc = CS_ERR_GOOGLE;
    if (rc == CS_OK)
        log_info("token revoked (Google answered %ld)", r.status);
    else
        log_warn("token revoke failed (%s, status %ld)", cs_strerror(rc), r.status);
    gapi_resp_free(&r);
    return rc;
}

int gapi_store_tokens(struct db *db, const struct cfg *cfg, const char *user_id,
                      const struct gapi_tokens *t, int connect, long long epoch)
{
    char *sa = NULL, *sr = NULL, ada[INTEG_ADLEN], adr[INTEG_ADLEN];
    struct db_stmt *st;
    int rc;

    integ_token_ad("access_token", user_id, ada);
    integ_token_ad("refresh_token", user_id, adr);
    if ((rc = crypt_seal_ad(cfg->secret_key, t->access, ada, &sa)) != CS_OK)
        goto out;
    if (t->refresh != NULL && (rc = crypt_seal_ad(cfg->secret_key, t->refresh, adr, &sr)) != CS_OK)
        goto out;
    st = db_stmt(db, connect ? DB_INTEG_CONNECT : DB_INTEG_SET_TOKENS);
    if (st == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, sa);
    db_bind_text(st, 3, sr);
    db_bind_int64(st, 4, db_now() + t->expires_in);
    db_bind_int64(st, 5, db_now());
    if (!connect)
        db_bind_int64(st, 6, epoch);
    rc = db_exec(db, st);
out:
    free(sa);
    free(sr);
    return rc;
}

int gapi_open(struct gapi *g, struct db *db, const struct cfg *cfg, const char *user_id,
              long long budget_ms)
{
    struct integ in;
    char ada[INTEG_ADLEN], adr[INTEG_ADLEN];
    int rc;

    memset(g, 0, sizeof *g);
    g->db = db;
    g->cfg = cfg;
    snprintf(g->user_id, sizeof g->user_id, "%s", user_id);
    g->deadline_ms = cal_now_ms() + budget_ms;
    rc = integ_get(db, user_id, &in);
    if (rc == CS_ERR_DB)
        return rc;
    if (rc != CS_OK)
        return CS_ERR_REAUTH;
    g->epoch = in.epoch;
    rc = CS_ERR_REAUTH;
    if (!in.is_active || in.refresh_token == NULL)
        goto out;
    integ_token_ad("access_token", user_id, ada);
    integ_token_ad("refresh_token", user_id, adr);
    if (crypt_open_ad(cfg->secret_key, in.refresh_token, adr, &g->refresh) != CS_OK) {
        log_error("stored refresh token cannot be decrypted (wrong CALSYNC_SECRET_KEY, or not "
                  "sealed for this user?) user=%s",
                  user_id);
        goto out;
    }
    if (in.access_token != NULL &&
        crypt_open_ad(cfg->secret_key, in.access_token, ada, &g->access) != CS_OK)
        g->access = NULL;
    g->expiry = in.expiry;
    rc = CS_OK;
out:
    integ_free(&in);
    if (rc != CS_OK)
        gapi_close(g);
    return rc;
}

int gapi_open_detached(struct gapi *g, const struct cfg *cfg, const char *user_id,
                       const char *access, const char *refresh, long long budget_ms)
{
    memset(g, 0, sizeof *g);
    g->cfg = cfg;
    g->detached = 1;
    snprintf(g->user_id, sizeof g->user_id, "%s", user_id);
    g->deadline_ms = cal_now_ms() + budget_ms;
    if (access == NULL && refresh == NULL)
        return CS_ERR_REAUTH;
    g->access = access ? strdup(access) : NULL;
    g->refresh = refresh ? strdup(refresh) : NULL;
    if ((access != NULL && g->access == NULL) || (refresh != NULL && g->refresh == NULL)) {
        gapi_close(g);
        return CS_ERR_NOMEM;
    }
    /* an access token of unknown age: used until Google says 401, then refreshed */
    g->expiry = g->access ? db_now() + 3600 : 0;
    return CS_OK;
}

void gapi_close(struct gapi *g)
{
    crypt_free_secret(g->access);
    crypt_free_secret(g->refresh);
    g->access = g->refresh = NULL;
}

/* Marks the integration as needing the user to reconnect, wiping its tokens. */
static void gapi_reauth(struct gapi *g)
{
    /* detached: the connection is already gone, nothing to mark */
    struct db_stmt *st = g->detached ? NULL : db_stmt(g->db, DB_INTEG_REAUTH);

    log_warn("Google grant revoked for user=%s: reconnect required", g->user_id);
    if (st != NULL) {
        db_bind_text(st, 1, g->user_id);
        db_bind_text(st, 2, "Google access was revoked or expired; reconnect Google Calendar");
        db_bind_int64(st, 3, db_now());
        db_bind_int64(st, 4, g->epoch); /* only the connection these tokens belong to */
        db_exec(g->db, st);
    }
    gapi_close(g);
}

/* Gets a fresh access token. CS_OK, CS_ERR_REAUTH or CS_ERR_NET. */
static int gapi_refresh(struct gapi *g)
{
    struct gapi_tokens t;
    char err[CS_ERRLEN];
    int rc;

    if (g->refresh == NULL)
        return CS_ERR_REAUTH;
    rc = gapi_token_refresh(g->cfg, g->refresh, &t, err, sizeof err);
    g->calls++;
    if (rc == CS_ERR_REAUTH) { /* invalid_grant: the user's grant is gone */
        gapi_reauth(g);
        return CS_ERR_REAUTH;
    }
    if (rc == CS_ERR_AUTH) {
        /* Google refused our client (invalid_client...): a server configuration problem, so
         * the user's grant is kept and the error shows until it is fixed */
        log_error("token endpoint refused calsync's client credentials (%s)", err);
        return CS_ERR_CONFIG;
    }
    if (rc != CS_OK)
        return rc;
    crypt_free_secret(g->access);
    g->access = t.access;
    t.access = NULL;
    g->expiry = db_now() + t.expires_in;
    if (!g->detached) {
        struct gapi_tokens store = {
            .access = g->access, .refresh = t.refresh, .expires_in = t.expires_in};
        if (gapi_store_tokens(g->db, g->cfg, g->user_id, &store, 0, g->epoch) != CS_OK)
            log_warn("could not store refreshed token for user=%s", g->user_id);
    }
    if (t.refresh != NULL) {
        crypt_free_secret(g->refresh);
        g->refresh = t.refresh;
        t.refresh = NULL;
    }
    gapi_tokens_free(&t);
    log_info("access token refreshed for user=%s", g->user_id);
    return CS_OK;
}

static int gapi_retryable(const struct gapi_resp *r)
{
    if (r->status == 429 || r->status >= 500)
        return 1;
    return r->status == 403 && (strcmp(r->reason, "rateLimitExceeded") == 0 ||
                                strcmp(r->reason, "userRateLimitExceeded") == 0 ||
                                strcmp(r->reason, "quotaExceeded") == 0);
}

int gapi_path_segment(struct buf *b, const char *s)
{
    return http_urlencode(b, s);
}

/* Before each attempt: the job still holds its lease, the connection is the one the tokens
 * belong to, and no process was told by Google to wait. CS_OK, CS_ERR_NOTFOUND (disconnected),
 * CS_ERR_BUSY (job taken away), or CS_ERR_RATELIMIT with *wait_ms to wait first. */
static int gapi_guard(struct gapi *g, long long *wait_ms)
{
    struct db_stmt *st;
    int step, rc = CS_ERR_NOTFOUND;

    *wait_ms = 0;
    if (g->alive != NULL && (rc = g->alive(g->alive_ctx)) != CS_OK)
        return rc;
    if (g->detached)
        return CS_OK;
    if ((st = db_stmt(g->db, DB_INTEG_GUARD)) == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, g->user_id);
    db_bind_int64(st, 2, g->epoch);
    step = db_step(st);
    if (step == DB_ROW) {
        long long until = db_col_int64(st, 0), now = db_now_ms();
        g->backoff_attempts = db_col_int64(st, 1);
        rc = CS_OK;
        if (until > now) {
            *wait_ms = until - now;
            rc = CS_ERR_RATELIMIT;
        }
    } else if (step != DB_DONE) {
        rc = CS_ERR_DB;
    }
    db_reset(st);
    if (rc == CS_ERR_NOTFOUND)
        log_info("Google Calendar was disconnected meanwhile: call not made user=%s", g->user_id);
    return rc;
}

/* Google asked us to slow down: every process of this user waits until now + wait_ms. */
static void gapi_backoff_store(struct gapi *g, long long wait_ms)
{
    struct db_stmt *st;

    g->backoff_attempts++;
    if (g->detached || (st = db_stmt(g->db, DB_INTEG_BACKOFF)) == NULL)
        return;
    db_bind_text(st, 1, g->user_id);
    db_bind_int64(st, 2, g->epoch);
    db_bind_int64(st, 3, db_now_ms() + wait_ms);
    db_exec(g->db, st);
}

static void gapi_backoff_clear(struct gapi *g)
{
    struct db_stmt *st;

    if (g->backoff_attempts == 0 || g->detached ||
        (st = db_stmt(g->db, DB_INTEG_BACKOFF_CLEAR)) == NULL)
        return;
    g->backoff_attempts = 0;
    db_bind_text(st, 1, g->user_id);
    db_exec(g->db, st);
}

/* The retrying, refreshing core of every Calendar call: text (may be NULL) goes as ctype. */
static int gapi_call_url(struct gapi *g, const char *method, const char *url, const char *ctype,
                         const char *text, const char *if_match, const char *what,
                         struct gapi_resp *out)
{
    int rc, attempt = 0, refreshed = 0;
    char qpath[256];

    memset(out, 0, sizeof *out);
    out->retry_after = -1;
    snprintf(qpath, sizeof qpath, "%s", what);
    for (;;) {
        long long wait_ms, now;
        rc = gapi_guard(g, &wait_ms);
        if (rc == CS_ERR_RATELIMIT) {
            /* another process was told to wait: so are we */
            now = cal_now_ms();
            if (now + wait_ms > g->deadline_ms) {
                g->retry_at_ms = db_now_ms() + wait_ms;
                break;
            }
            usleep((useconds_t)(wait_ms * 1000));
            continue;
        }
        if (rc != CS_OK)
            break;
        if (g->access == NULL || g->expiry - GAPI_REFRESH_MARGIN_S < db_now()) {
            rc = gapi_refresh(g);
            if (rc == CS_ERR_REAUTH || rc == CS_ERR_CONFIG)
                break;
            if (rc != CS_OK)
                goto backoff;
        }
        gapi_resp_free(out);
        rc = gapi_http(g->cfg, method, url, g->access, ctype, text, if_match, out);
        g->calls++;
        if (rc == CS_ERR_TOOBIG)
            break;
        if (rc == CS_OK) {
            log_info("google %s %s -> %ld%s%s user=%s", method, qpath, out->status,
                     out->reason[0] ? " " : "", out->reason, g->user_id);
            if (out->status == 401 && !refreshed) {
                /* the token is dead whatever its expiry said: the loop refreshes it,
                 * retrying the refresh itself with backoff when Google is unwell */
                refreshed = 1;
                crypt_free_secret(g->access);
                g->access = NULL;
                continue;
            }
            if (out->status == 401) {
                rc = CS_ERR_AUTH;
                break;
            }
            if (!gapi_retryable(out)) {
                if (out->status < 500)
                    gapi_backoff_clear(g);
                break; /* a final answer */
            }
            rc = CS_ERR_RATELIMIT;
        }
    backoff : {
        /* exponential in the user's consecutive failures (across processes), with jitter;
         * Google's Retry-After when it asks for longer */
        long long n = g->backoff_attempts > attempt ? g->backoff_attempts : attempt;
        now = cal_now_ms();
        wait_ms = (long long)GAPI_BACKOFF_BASE_MS << (n < 7 ? n : 7);
        if (wait_ms > GAPI_BACKOFF_MAX_MS)
            wait_ms = GAPI_BACKOFF_MAX_MS;
        wait_ms = wait_ms / 2 + (long long)randombytes_uniform((uint32_t)(wait_ms / 2 + 1));
        if (out->retry_after >= 0 && out->retry_after * 1000LL > wait_ms)
            wait_ms = out->retry_after * 1000LL;
        gapi_backoff_store(g, wait_ms);
        if (now + wait_ms > g->deadline_ms) {
            log_warn("google %s %s: backing off %lld ms after %d attempts (%s) user=%s", method,
                     qpath, wait_ms, attempt + 1, cs_strerror(rc), g->user_id);
            g->retry_at_ms = db_now_ms() + wait_ms;
            if (rc == CS_OK)
                rc = CS_ERR_RATELIMIT;
            break;
        }
        attempt++;
        usleep((useconds_t)(wait_ms * 1000));
    }
    }
    return rc;
}

int gapi_call(struct gapi *g, const char *method, const char *path, const cJSON *body,
              const char *if_match, struct gapi_resp *out)
{
    struct buf url;
    char *text = NULL, what[256];
    int rc;

    memset(out, 0, sizeof *out);
    out->retry_after = -1;
    buf_init(&url, 16384);
    if (buf_printf(&url, "%s%s", g->cfg->api_url, path) != CS_OK) {
        buf_free(&url);
        return CS_ERR_INVAL;
    }
    snprintf(what, sizeof what, "%.*s", (int)strcspn(path, "?"), path);
    if (body != NULL && (text = cJSON_PrintUnformatted(body)) == NULL) {
        buf_free(&url);
        return CS_ERR_NOMEM;
    }
    rc = gapi_call_url(g, method, url.data, "application/json", text, if_match, what, out);
    free(text);
    buf_free(&url);
    return rc;
}

/* The path part of GOOGLE_CALENDAR_API_URL ("/calendar/v3"): inner batch requests carry paths. */
static const char *gapi_api_path(const struct cfg *cfg)
{
    const char *p = strstr(cfg->api_url, "://");

    p = p ? strchr(p + 3, '/') : NULL;
    return p ? p : "";
}

size_t gapi_batch_parse(const char *ctype, const char *body, size_t len, struct gapi_resp *outs,
                        size_t n)
{
    const char *b = ctype ? strstr(ctype, "boundary=") : NULL, *p, *end = body + len;
    char delim[72];
    size_t bl, got = 0;

    if (b == NULL)
        return 0;
    b += 9;
    if (*b == '"')
        b++;
    bl = strcspn(b, "\";, ");
    if (bl == 0)
        return 0;
    snprintf(delim, sizeof delim, "--%.*s", (int)(bl < 60 ? bl : 60), b);
    p = strstr(body, delim);
    while (p != NULL && got < n) {
        const char *next, *part_end, *status_line, *json, *rb;
        size_t jl;
        p += strlen(delim);
        if (strncmp(p, "--", 2) == 0)
            break;
        next = strstr(p, delim);
        part_end = next ? next : end;
        status_line = strstr(p, "HTTP/1.1 ");
        if (status_line == NULL || status_line > part_end)
            break;
        memset(&outs[got], 0, sizeof outs[got]);
        outs[got].retry_after = -1;
        outs[got].status = strtol(status_line + 9, NULL, 10);
        rb = http_after_blank(status_line, part_end);
        json = rb ? rb : part_end;
        jl = (size_t)(part_end - json);
        while (jl > 0 && (json[jl - 1] == '\r' || json[jl - 1] == '\n'))
            jl--;
        buf_init(&outs[got].body, GAPI_REPLY_MAX);
        if (jl > 0 && buf_add(&outs[got].body, json, jl) == CS_OK)
            outs[got].json = cJSON_ParseWithLength(json, jl);
        if (outs[got].status >= 400)
            gapi_parse_error(&outs[got]);
        got++;
        p = next;
    }
    return got;
}

int gapi_batch(struct gapi *g, size_t n, const char *const *methods, const char *const *paths,
               cJSON *const *bodies, struct gapi_resp *outs)
{
    char boundary[CRYPT_TOKLEN + 16], tok[CRYPT_TOKLEN], ctype[160];
    struct gapi_resp outer;
    struct buf body;
    size_t got = 0;
    int rc;

    for (size_t i = 0; i < n; i++) {
        memset(&outs[i], 0, sizeof outs[i]);
        outs[i].retry_after = -1;
    }
    if (n == 0 || n > GAPI_BATCH_MAX)
        return CS_ERR_INVAL;
    crypt_random_token(tok, 12);
    snprintf(boundary, sizeof boundary, "calsync_%s", tok);
    buf_init(&body, GAPI_REPLY_MAX);
    rc = CS_OK;
    for (size_t i = 0; i < n && rc == CS_OK; i++) {
        char *text = bodies[i] ? cJSON_PrintUnformatted(bodies[i]) : NULL;
        if (bodies[i] != NULL && text == NULL) {
            rc = CS_ERR_NOMEM;
            break;
        }
        rc = buf_printf(&body,
                        "--%s\r\nContent-Type: application/http\r\nContent-ID: <item%zu>\r\n\r\n"
                        "%s %s%s HTTP/1.1\r\n%s\r\n%s\r\n",
                        boundary, i, methods[i], gapi_api_path(g->cfg), paths[i],
                        text ? "Content-Type: application/json\r\n" : "", text ? text : "");
        free(text);
    }
    if (rc == CS_OK)
        rc = buf_printf(&body, "--%s--\r\n", boundary);
    if (rc != CS_OK) {
        buf_free(&body);
        return rc;
    }
    snprintf(ctype, sizeof ctype, "multipart/mixed; boundary=%s", boundary);
    rc = gapi_call_url(g, "POST", g->cfg->batch_url, ctype, body.data, NULL, "/batch", &outer);
    buf_free(&body);
    if (rc == CS_OK && outer.status != 200)
        rc = CS_ERR_GOOGLE;
    /* the answer: one application/http part per request, in order */
    if (rc == CS_OK && outer.body.data != NULL &&
        (got = gapi_batch_parse(outer.ctype, outer.body.data, outer.body.len, outs, n)) != n) {
        log_warn("batch answer had %zu parts for %zu requests", got, n);
        rc = CS_ERR_GOOGLE;
    } else if (rc == CS_OK && outer.body.data == NULL) {
        rc = CS_ERR_GOOGLE;
    }
    log_info("google batch of %zu -> %s (status %ld) user=%s", n, cs_strerror(rc), outer.status,
             g->user_id);
    gapi_resp_free(&outer);
    if (rc != CS_OK) /* nothing half-read reaches the caller */
        for (size_t i = 0; i < n; i++)
            gapi_resp_free(&outs[i]);
    return rc;
}

/* A page or sync token: printable ASCII without spaces, bounded (it goes back into a URL). */
static int gapi_page_token_ok(const cJSON *v)
{
    return v == NULL || cJSON_IsNull(v) ||
           (cJSON_IsString(v) && gapi_token_text_ok(v->valuestring));
}

int gapi_page_parse(const cJSON *page, const cJSON **items, const char **next_page,
                    const char **next_sync)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(page, "items");
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(page, "nextPageToken");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(page, "nextSyncToken");

    *items = NULL;
    *next_page = *next_sync = NULL;
    if (!cJSON_IsObject(page) || (it != NULL && !cJSON_IsArray(it) && !cJSON_IsNull(it)) ||
        !gapi_page_token_ok(np) || !gapi_page_token_ok(ns))
        return CS_ERR_GOOGLE;
    *items = cJSON_IsArray(it) ? it : NULL;
    *next_page = cJSON_IsString(np) ? np->valuestring : NULL;
    *next_sync = cJSON_IsString(ns) ? ns->valuestring : NULL;
    return CS_OK;
}

int gapi_watch_parse(const cJSON *ans, const char **resource_id, long long *expiration_ms)
{
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(ans, "resourceId");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(ans, "expiration");
    char *end;
    long long v;

    *resource_id = NULL;
    *expiration_ms = -1;
    if (!cJSON_IsObject(ans) || !cJSON_IsString(rid) || !gapi_token_text_ok(rid->valuestring) ||
        strlen(rid->valuestring) > 256)
        return CS_ERR_GOOGLE;
    if (cJSON_IsString(exp)) { /* Google sends the int64 as a string */
        const char *s = exp->valuestring;
        if (*s < '0' || *s > '9' || strlen(s) > 15)
            return CS_ERR_GOOGLE;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno != 0 || *end != '\0')
            return CS_ERR_GOOGLE;
        *expiration_ms = v;
    } else if (cJSON_IsNumber(exp)) {
        if (!(exp->valuedouble >= 0 && exp->valuedouble < 1e15))
            return CS_ERR_GOOGLE;
        *expiration_ms = (long long)exp->valuedouble;
    } else if (exp != NULL && !cJSON_IsNull(exp)) {
        return CS_ERR_GOOGLE;
    }
    *resource_id = rid->valuestring;
    return CS_OK;
}
