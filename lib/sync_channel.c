/* sync_channel.c: push channels (open, renew, stop) and the clean-up at Google after a
 * disconnect. */
#include "sync_int.h"
#include "appt.h"
#include "cal.h"
#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "gapi.h"
#include "gevent.h"
#include "gmap.h"
#include "host.h"
#include "integ.h"
#include "jobs.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sync_channel_stop(struct gapi *g, const char *channel_id, const char *resource_id)
{
    struct gapi_resp r;
    cJSON *body = cJSON_CreateObject();
    int rc;

    if (body == NULL || !cJSON_AddStringToObject(body, "id", channel_id) ||
        !cJSON_AddStringToObject(body, "resourceId", resource_id)) {
        cJSON_Delete(body);
        return CS_ERR_NOMEM;
    }
    rc = gapi_call(g, "POST", "/channels/stop", body, NULL, &r);
    if (rc == CS_OK && r.status != 200 && r.status != 204 && r.status != 404)
        rc = CS_ERR_GOOGLE;
    log_info("channel stop -> %s (status %ld) user=%s", cs_strerror(rc), r.status, g->user_id);
    gapi_resp_free(&r);
    cJSON_Delete(body);
    return rc;
}

/* Stops a channel with the tokens g holds, whatever became of the connection meanwhile. */
static void sync_channel_stop_detached(struct gapi *g, const char *id, const char *rid)
{
    struct gapi d;

    if (gapi_open_detached(&d, g->cfg, g->user_id, g->access, g->refresh, 5000) == CS_OK) {
        sync_channel_stop(&d, id, rid);
        gapi_close(&d);
    }
}

static int sync_channel_alive(void *ctx)
{
    struct sync_ctx *c = ctx;

    return c->job != NULL && jobs_keepalive(c->db, c->job) != CS_OK ? CS_ERR_BUSY : CS_OK;
}

int sync_channel_open(struct db *db, const struct cfg *cfg, const char *user_id, struct job *job)
{
    char id[CRYPT_UUIDLEN], token[CRYPT_HEXLEN], token_hash[CRYPT_HEXLEN];
    struct sync_ctx c;
    struct integ in;
    struct gapi_resp r;
    struct buf path;
    cJSON *body = NULL;
    const char *rid = NULL;
    long long exp;
    struct db_stmt *st;
    int rc;

    memset(&r, 0, sizeof r);
    if (*cfg->webhook_url == '\0')
        return CS_ERR_NOTFOUND;
    if ((rc = integ_get(db, user_id, &in)) != CS_OK)
        return rc;
    if (!in.is_active || strcmp(in.state, "reauth_required") == 0 || in.calendar_id[0] == '\0') {
        /* a "vesta" connection whose calendar is not there yet: the sync job that makes it
         * records the channel job again; never watch primary instead */
        integ_free(&in);
        return CS_ERR_NOTFOUND;
    }
    memset(&c, 0, sizeof c);
    c.db = db;
    c.job = job;
    if ((rc = gapi_open(&c.g, db, cfg, user_id, cfg->sync_budget_ms)) != CS_OK) {
        integ_free(&in);
        return rc;
    }
    c.g.alive = sync_channel_alive;
    c.g.alive_ctx = &c;
    if (c.g.epoch != in.epoch) {
        rc = CS_ERR_NOTFOUND;
        goto out;
    }
    crypt_uuid(id);
    crypt_hmac_text(cfg->webhook_secret, id, token);
    crypt_sha256_hex(token, strlen(token), token_hash);
    buf_init(&path, 4096);
    body = cJSON_CreateObject();
    if (body == NULL || !cJSON_AddStringToObject(body, "id", id) ||
        !cJSON_AddStringToObject(body, "type", "web_hook") ||
        !cJSON_AddStringToObject(body, "address", cfg->webhook_url) ||
        !cJSON_AddStringToObject(body, "token", token) ||
        !cJSON_AddNumberToObject(body, "expiration",
                                 (double)(db_now_ms() + (long long)cfg->channel_ttl_s * 1000)) ||
        buf_adds(&path, "/calendars/") != CS_OK ||
        gapi_path_segment(&path, in.calendar_id) != CS_OK ||
        /* notified only for the types the pull lists (events.watch takes eventTypes too):
         * a contact's birthday changing wakes nothing */
        buf_adds(&path, "/events/watch?" GEVENT_TYPES) != CS_OK) {
        rc = CS_ERR_NOMEM;
        goto out_path;
    }
    rc = gapi_call(&c.g, "POST", path.data, body, NULL, &r);
    if (rc == CS_OK && r.status != 200)
        rc = CS_ERR_GOOGLE;
    if (rc == CS_OK && gapi_watch_parse(r.json, &rid, &exp) != CS_OK)
        rc = CS_ERR_GOOGLE; /* no usable channel: a surplus one, if any, expires by itself */
    if (rc != CS_OK) {
        log_warn("opening push channel failed (%s, status %ld %s) user=%s", cs_strerror(rc),
                 r.status, r.reason, user_id);
        if (job != NULL && rc == CS_ERR_RATELIMIT)
            job->lease_until = c.g.retry_at_ms; /* tells the worker when to retry */
        goto out_path;
    }
    if (exp < 0) /* Google always says; if not, what we asked for */
        exp = db_now_ms() + (long long)cfg->channel_ttl_s * 1000;
    st = db_stmt(db, DB_INTEG_SET_CHANNEL);
    if (st == NULL) {
        rc = CS_ERR_DB;
        goto out_path;
    }
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, id);
    db_bind_text(st, 3, rid);
    db_bind_text(st, 4, token_hash);
    db_bind_int64(st, 5, exp);
    db_bind_int64(st, 6, db_now());
    db_bind_text(st, 7, in.channel_id);
    db_bind_int64(st, 8, in.epoch);
    rc = db_exec(db, st);
    if (rc == CS_OK && db_changes(db) != 1) {
        /* another renewer stored its channel first, or the user disconnected (or reconnected)
         * meanwhile: ours is surplus and must not live on at Google */
        log_info("channel not needed any more (renewed elsewhere or disconnected); stopping it "
                 "user=%s",
                 user_id);
        sync_channel_stop_detached(&c.g, id, rid);
        rc = integ_is_connected(db, user_id) ? CS_ERR_BUSY : CS_ERR_NOTFOUND;
        goto out_path;
    }
    log_info("push channel opened (expires in %llds) user=%s", (exp - db_now_ms()) / 1000, user_id);
    if (rc == CS_OK && in.channel_id != NULL && in.resource_id != NULL)
        sync_channel_stop(&c.g, in.channel_id, in.resource_id); /* new first, then the old */
out_path:
    gapi_resp_free(&r);
    cJSON_Delete(body);
    buf_free(&path);
out:
    gapi_close(&c.g);
    integ_free(&in);
    return rc;
}

/* ---- disconnect ---- */

/* The clean-up payload: the channel and the tokens, sealed together, kept only for telling
 * Google. NULL when there is nothing to tell (never connected, or no tokens and no channel). */
static char *sync_cleanup_payload(const struct cfg *cfg, const struct integ *in)
{
    char *access = NULL, *refresh = NULL, *text = NULL, *sealed = NULL;
    char ada[INTEG_ADLEN], adr[INTEG_ADLEN], adc[INTEG_ADLEN];
    cJSON *o;

    integ_token_ad("access_token", in->user_id, ada);
    integ_token_ad("refresh_token", in->user_id, adr);
    integ_token_ad("cleanup", in->user_id, adc);
    if (in->access_token != NULL &&
        crypt_open_ad(cfg->secret_key, in->access_token, ada, &access) != CS_OK)
        access = NULL;
    if (in->refresh_token != NULL &&
        crypt_open_ad(cfg->secret_key, in->refresh_token, adr, &refresh) != CS_OK)
        refresh = NULL;
    if (access == NULL && refresh == NULL)
        goto out; /* no grant left to revoke or to stop a channel with */
    o = cJSON_CreateObject();
    if (o != NULL && (access == NULL || cJSON_AddStringToObject(o, "access", access)) &&
        (refresh == NULL || cJSON_AddStringToObject(o, "refresh", refresh)) &&
        (in->channel_id == NULL || cJSON_AddStringToObject(o, "channel", in->channel_id)) &&
        (in->resource_id == NULL || cJSON_AddStringToObject(o, "resource", in->resource_id)))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text != NULL && crypt_seal_ad(cfg->secret_key, text, adc, &sealed) != CS_OK)
        sealed = NULL;
out:
    crypt_free_secret(text);
    crypt_free_secret(access);
    crypt_free_secret(refresh);
    return sealed;
}

int sync_disconnect(struct db *db, const struct cfg *cfg, const char *user_id,
                    long long *cleanup_id)
{
    enum db_stmt_id steps[] = {DB_INTEG_DISCONNECT, DB_APPT_CLEAR_GOOGLE, DB_OUTBOX_CLEAR_USER};
    struct integ in;
    struct db_stmt *st;
    char *payload = NULL;
    int rc, have;

    *cleanup_id = 0;
    if ((rc = db_begin(db)) != CS_OK)
        return rc;
    if ((st = db_stmt(db, DB_INTEG_LOCK)) == NULL) {
        db_rollback(db);
        return CS_ERR_DB;
    }
    db_bind_text(st, 1, user_id);
    while (db_step(st) == DB_ROW)
        ;
    db_reset(st);
    have = integ_get(db, user_id, &in) == CS_OK;
    if (have && in.is_active)
        payload = sync_cleanup_payload(cfg, &in);
    for (size_t i = 0; rc == CS_OK && i < sizeof steps / sizeof steps[0]; i++) {
        st = db_stmt(db, steps[i]);
        if (st == NULL) {
            rc = CS_ERR_DB;
            break;
        }
        db_bind_text(st, 1, user_id);
        if (steps[i] == DB_INTEG_DISCONNECT)
            db_bind_int64(st, 2, db_now());
        rc = db_exec(db, st);
    }
    if (rc == CS_OK) /* the host's Google link columns too; its appointments stay */
        rc = host_appts_of(cfg)->unlink_user(db, user_id);
    if (rc == CS_OK)
        rc = jobs_cancel_user(db, user_id);
    if (rc == CS_OK && payload != NULL)
        rc = jobs_enqueue_cleanup(db, user_id, payload, cleanup_id);
    if ((rc = db_end(db, rc)) != CS_OK)
        *cleanup_id = 0;
    if (have)
        integ_free(&in);
    free(payload);
    return rc;
}

int sync_cleanup(const struct cfg *cfg, struct job *job)
{
    char *text = NULL, ad[INTEG_ADLEN];
    const char *access, *refresh, *chan, *rid;
    cJSON *o = NULL;
    struct gapi g;
    int rc;

    integ_token_ad("cleanup", job->user_id, ad); /* opens only for the user it was made for */
    if (job->payload == NULL || crypt_open_ad(cfg->secret_key, job->payload, ad, &text) != CS_OK ||
        (o = cJSON_Parse(text)) == NULL) {
        log_error("disconnect clean-up job %lld is unreadable; dropped user=%s", job->id,
                  job->user_id);
        crypt_free_secret(text);
        return CS_ERR_INVAL;
    }
    access = sync_str(o, "access");
    refresh = sync_str(o, "refresh");
    chan = sync_str(o, "channel");
    rid = sync_str(o, "resource");
    rc = gapi_open_detached(&g, cfg, job->user_id, access, refresh, 5000);
    if (rc == CS_OK) {
        if (chan != NULL && rid != NULL)
            rc = sync_channel_stop(&g, chan, rid);
        /* a revoked grant cannot stop its channel: Google ends those channels itself */
        if (rc == CS_ERR_REAUTH)
            rc = CS_OK;
        /* revoking the refresh token ends the whole grant; the access token when it is all
         * we have */
        if (refresh != NULL || access != NULL) {
            int rr = gapi_revoke(cfg, refresh != NULL ? refresh : access);
            if (rc == CS_OK)
                rc = rr;
        }
        gapi_close(&g);
    } else if (rc == CS_ERR_REAUTH) {
        rc = CS_OK; /* nothing left to tell Google */
    }
    log_info("disconnect clean-up at Google: %s user=%s", rc == CS_OK ? "done" : cs_strerror(rc),
             job->user_id);
    cJSON_Delete(o);
    crypt_free_secret(text);
    return rc;
}
