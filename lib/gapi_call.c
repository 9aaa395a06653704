/* gapi_call.c: a user's authorised Calendar client: stored tokens, refresh, backoff, retries. */
#include "gapi.h"
#include "gapi_int.h"
#include "cal.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "integ.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#define GAPI_BACKOFF_BASE_MS 250
#define GAPI_BACKOFF_MAX_MS 16000
#define GAPI_REFRESH_MARGIN_S 120

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

/* Whether an answer is worth asking again after a backoff of seconds. Rate limits are
 * (429, 403 rateLimitExceeded / userRateLimitExceeded: "use exponential backoff", errors guide
 * developers.google.com/workspace/calendar/api/guides/errors). Usage limits are not: 403
 * quotaExceeded "Calendar usage limits exceeded" makes the calendar read-only for hours
 * (support.google.com/a/answer/2905486, via benjcunningham/googlecalendar#4 and
 * inovex/CalendarSync#280), so a write gets it back as a final answer (the pusher pauses the
 * user's writes); a read is not refused by it, so there it is treated as a rate limit. */
static int gapi_retryable(const char *method, const struct gapi_resp *r)
{
    if (r->status == 429 || r->status >= 500)
        return 1;
    if (r->status == 403 && strcmp(r->reason, "quotaExceeded") == 0)
        return strcmp(method, "GET") == 0;
    return r->status == 403 && (strcmp(r->reason, "rateLimitExceeded") == 0 ||
                                strcmp(r->reason, "userRateLimitExceeded") == 0);
}

long long gapi_next_quota_day_ms(long long now_ms)
{
    static const char zone[] = "America/Los_Angeles";
    time_t now = (time_t)(now_ms / 1000), midnight, next;
    char local[CAL_STRLEN];
    int secs = 0;

    /* the wall time in Mountain View ("YYYY-MM-DDTHH:MM:SS+hh:mm"), back to its midnight, one
     * day on (DST-correct) */
    if (cal_format_local(now, zone, local) != CS_OK || strlen(local) < 19)
        return now_ms + 24 * 3600 * 1000LL;
    for (int i = 11; i < 19; i += 3) {
        if (local[i] < '0' || local[i] > '9' || local[i + 1] < '0' || local[i + 1] > '9')
            return now_ms + 24 * 3600 * 1000LL;
        secs = secs * 60 + (local[i] - '0') * 10 + (local[i + 1] - '0');
    }
    midnight = now - secs;
    if (cal_add_local(midnight, zone, 1, 0, &next) != CS_OK)
        next = midnight + 24 * 3600;
    return (long long)next * 1000;
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
int gapi_call_url(struct gapi *g, const char *method, const char *url, const char *ctype,
                  const char *text, const char *if_match, const char *what, struct gapi_resp *out)
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
            if (out->status == 403 && strcmp(out->reason, "dailyLimitExceeded") == 0) {
                /* the project's daily quota: nothing works until it resets, at midnight
                 * Pacific time (Google Cloud quotas); every process waits for it */
                wait_ms = gapi_next_quota_day_ms(db_now_ms()) - db_now_ms();
                gapi_backoff_store(g, wait_ms);
                g->retry_at_ms = db_now_ms() + wait_ms;
                log_warn("google %s %s: daily limit exceeded; waiting %lld s for the next "
                         "quota day user=%s",
                         method, qpath, wait_ms / 1000, g->user_id);
                rc = CS_ERR_RATELIMIT;
                break;
            }
            if (!gapi_retryable(method, out)) {
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
