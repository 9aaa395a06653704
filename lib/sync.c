/* sync.c: the two-way sync engine's run (one job, one user): claim -> calendar -> push -> pull
 * -> status. Pushes live in sync_push.c, pulls in sync_pull.c, merges in sync_merge.c, the
 * helpers they share in sync_ctx.c, channels and the disconnect clean-up in sync_channel.c. */
#include "sync_int.h"
#include "appt.h"
#include "cal.h"
#include "cfg.h"
#include "crypt.h"
#include "direction.h"
#include "cs.h"
#include "db.h"
#include "gapi.h"
#include "gmap.h"
#include "integ.h"
#include "jobs.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYNC_VESTA_KNOWN 5
#define SYNC_VESTA_SUMMARY "Vesta"

/* A "vesta" connection's calendar: the newest calendar calsync made for this user that the new
 * grant can read (the same Google account, not deleted), else a new one named "Vesta" in the
 * user's zone. Remembers it, stores it on the integration (for this connection only), and
 * records the channel job that now has a calendar to watch. Nothing here touches primary. */
static int sync_vesta_ensure(struct sync_ctx *c, struct integ *in)
{
    char known[SYNC_VESTA_KNOWN][256], chosen[256] = "";
    struct db_stmt *st;
    struct gapi_resp r;
    int n = 0, rc = CS_OK, created = 0;

    if ((st = db_stmt(c->db, DB_VESTA_CAL_LIST)) == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, c->user_id);
    while (n < SYNC_VESTA_KNOWN && db_step(st) == DB_ROW)
        db_col_copy(st, 0, known[n++], sizeof known[0]);
    db_reset(st);
    for (int i = 0; i < n && chosen[0] == '\0'; i++) {
        struct buf path;
        buf_init(&path, 1024);
        if (buf_adds(&path, "/calendars/") != CS_OK ||
            gapi_path_segment(&path, known[i]) != CS_OK) {
            buf_free(&path);
            return CS_ERR_NOMEM;
        }
        rc = gapi_call(&c->g, "GET", path.data, NULL, NULL, &r);
        buf_free(&path);
        if (rc == CS_OK && r.status == 200)
            memcpy(chosen, known[i], sizeof chosen);
        else if (rc == CS_OK && r.status != 404 && r.status != 410 && r.status != 403)
            rc = sync_event_error(c, &r, "reading the Vesta calendar");
        /* 404/410: deleted on Google; 403: another Google account's (this grant cannot see it) */
        gapi_resp_free(&r);
        if (rc != CS_OK)
            return rc;
    }
    if (chosen[0] == '\0') {
        cJSON *body = cJSON_CreateObject();
        const char *id;
        if (body == NULL || !cJSON_AddStringToObject(body, "summary", SYNC_VESTA_SUMMARY) ||
            !cJSON_AddStringToObject(body, "timeZone", c->tz)) {
            cJSON_Delete(body);
            return CS_ERR_NOMEM;
        }
        rc = gapi_call(&c->g, "POST", "/calendars", body, NULL, &r);
        cJSON_Delete(body);
        id = rc == CS_OK && r.status == 200 ? sync_str(r.json, "id") : NULL;
        if (rc == CS_OK && r.status != 200)
            rc = sync_event_error(c, &r, "creating the Vesta calendar");
        else if (rc == CS_OK && (id == NULL || *id == '\0' || strlen(id) >= sizeof chosen))
            rc = cs_fail(c->err, sizeof c->err, CS_ERR_GOOGLE,
                         "Google answered the new calendar without a usable id");
        if (rc == CS_OK) {
            snprintf(chosen, sizeof chosen, "%s", id);
            created = 1;
        }
        gapi_resp_free(&r);
        if (rc != CS_OK)
            return rc;
    }
    if ((rc = db_begin(c->db)) != CS_OK)
        return rc;
    if ((st = db_stmt(c->db, DB_VESTA_CAL_REMEMBER)) == NULL) {
        rc = CS_ERR_DB;
    } else {
        db_bind_text(st, 1, c->user_id);
        db_bind_text(st, 2, chosen);
        db_bind_int64(st, 3, db_now());
        rc = db_exec(c->db, st);
    }
    if (rc == CS_OK && (st = db_stmt(c->db, DB_INTEG_SET_CALENDAR_ID)) == NULL)
        rc = CS_ERR_DB;
    if (rc == CS_OK) {
        db_bind_text(st, 1, c->user_id);
        db_bind_text(st, 2, chosen);
        db_bind_int64(st, 3, c->g.epoch);
        rc = db_exec(c->db, st);
        if (rc == CS_OK && db_changes(c->db) != 1)
            rc = CS_ERR_NOTFOUND; /* disconnected (or reconnected) meanwhile */
    }
    if (rc == CS_OK && *c->cfg->webhook_url != '\0')
        rc = jobs_enqueue_channel(c->db, c->user_id, "connect");
    if ((rc = db_end(c->db, rc)) != CS_OK)
        return rc;
    snprintf(in->calendar_id, sizeof in->calendar_id, "%s", chosen);
    log_info("Vesta calendar %s user=%s", created ? "created" : "re-used", c->user_id);
    if (*c->cfg->webhook_url != '\0')
        jobs_wake(c->cfg);
    return CS_OK;
}

/* ---- the run ---- */

/* First sync of a connection: every appointment not on Google yet is queued. */
static void sync_enqueue_unlinked(struct sync_ctx *c)
{
    struct db_stmt *st;
    long long *ids;
    size_t n;

    sync_collect_ids(c, DB_APPT_UNLINKED_ACTIVE, &ids, &n); /* on OOM: what it collected */
    if (n > 0 && db_begin(c->db) == CS_OK) {
        for (size_t i = 0; i < n; i++) {
            st = db_stmt(c->db, DB_OUTBOX_PUT_IF_ABSENT);
            if (st == NULL)
                break;
            db_bind_text(st, 1, c->user_id);
            db_bind_int64(st, 2, ids[i]);
            db_bind_int64(st, 3, db_now_ms());
            db_exec(c->db, st);
        }
        db_end(c->db, CS_OK);
    }
    free(ids);
}

static void sync_finish_state(struct sync_ctx *c, int rc)
{
    struct db_stmt *st;

    if (rc == CS_ERR_REAUTH || rc == CS_ERR_NOTFOUND || rc == CS_ERR_BUSY)
        return; /* gapi recorded reauth_required; gone; or another worker carries on */
    st = db_stmt(c->db, DB_INTEG_SYNC_DONE);
    if (st == NULL)
        return;
    db_bind_text(st, 1, c->user_id);
    db_bind_text(st, 2, rc == CS_OK ? "connected" : "error");
    db_bind_text(st, 3, rc == CS_OK ? NULL : (c->err[0] ? c->err : cs_strerror(rc)));
    db_bind_int64(st, 4, db_now());
    if (c->pulled) /* a push alone must not postpone the next poll */
        db_bind_int64(st, 5, db_now() + c->cfg->poll_interval_s);
    db_exec(c->db, st);
}

/* gapi's check before every Google call: the job is still ours. */
static int sync_alive(void *ctx)
{
    return sync_keepalive(ctx);
}

static long long sync_run_start(struct sync_ctx *c, const char *trigger)
{
    struct db_stmt *st = db_stmt(c->db, DB_RUN_START);

    if (st == NULL)
        return 0;
    db_bind_text(st, 1, c->user_id);
    db_bind_text(st, 2, trigger);
    db_bind_int64(st, 3, db_now());
    if (c->job != NULL) {
        db_bind_int64(st, 4, c->job->id);
        db_bind_int64(st, 5, c->job->gen);
    }
    if (db_exec(c->db, st) != CS_OK)
        return 0;
    return db_last_id(c->db);
}

static void sync_run_finish(struct sync_ctx *c, long long run_id, int rc)
{
    struct db_stmt *st;

    if (run_id == 0 || (st = db_stmt(c->db, DB_RUN_FINISH)) == NULL)
        return;
    db_bind_int64(st, 1, run_id);
    db_bind_int64(st, 2, db_now());
    db_bind_int(st, 3, c->st->pushed);
    db_bind_int(st, 4, c->st->pulled);
    db_bind_int(st, 5, c->st->deleted);
    db_bind_int(st, 6, c->st->conflicts);
    db_bind_int(st, 7, rc == CS_OK);
    db_bind_text(st, 8, rc == CS_OK ? NULL : (c->err[0] ? c->err : cs_strerror(rc)));
    db_bind_int(st, 9, c->st->errors);
    db_exec(c->db, st);
    if ((st = db_stmt(c->db, DB_RUN_TRIM)) != NULL) {
        db_bind_text(st, 1, c->user_id);
        db_exec(c->db, st);
    }
}

int sync_run(struct db *db, const struct cfg *cfg, struct job *job, struct sync_stats *stats,
             char *errbuf, size_t errlen)
{
    struct sync_ctx c;
    struct sync_stats local_stats;
    struct integ in;
    long long run_id, t0 = cal_now_ms();
    struct buf b;
    int rc, have_in = 0;

    memset(&c, 0, sizeof c);
    memset(&local_stats, 0, sizeof local_stats);
    c.st = stats ? stats : &local_stats;
    memset(c.st, 0, sizeof *c.st);
    c.db = db;
    c.cfg = cfg;
    c.job = job;
    c.host = host_appts_of(cfg);
    snprintf(c.user_id, sizeof c.user_id, "%s", job->user_id);
    run_id = sync_run_start(&c, job->trigger);
    if (!cfg_google_enabled(cfg)) {
        rc = cs_fail(c.err, sizeof c.err, CS_ERR_CONFIG, "Google Calendar is not configured");
        goto out;
    }
    if ((rc = integ_get(db, c.user_id, &in)) != CS_OK || !in.is_active) {
        have_in = rc == CS_OK;
        rc = cs_fail(c.err, sizeof c.err, CS_ERR_NOTFOUND, "Google Calendar is not connected");
        goto out;
    }
    have_in = 1;
    if (strcmp(in.state, "reauth_required") == 0) {
        rc = cs_fail(c.err, sizeof c.err, CS_ERR_REAUTH, "reconnect Google Calendar");
        goto out;
    }
    sync_user_tz(&c);
    sync_user_reminders(&c);
    {
        /* the direction: a closed way keeps its place (outbox rows, sync token) until it opens */
        enum direction dir = DIR_BIDIRECTIONAL;
        direction_get(db, c.user_id, &dir);
        c.pushes = direction_pushes(dir);
        c.pulls = direction_pulls(dir);
    }
    c.initial = in.sync_token == NULL;
    if (job->pull)
        integ_set_state(db, c.user_id, "syncing", NULL);

    rc = gapi_open(&c.g, db, cfg, c.user_id, cfg->sync_budget_ms);
    if (rc == CS_ERR_REAUTH) {
        integ_set_state(db, c.user_id, "reauth_required",
                        "Google access is missing or unreadable; reconnect Google Calendar");
        snprintf(c.err, sizeof c.err, "reconnect Google Calendar");
        goto out;
    }
    if (rc != CS_OK)
        goto out;
    c.g.alive = sync_alive;
    c.g.alive_ctx = &c;
    if (in.epoch != c.g.epoch) { /* reconnected between the two reads: the next job serves it */
        rc = CS_ERR_NOTFOUND;
        goto out_gapi;
    }
    /* a "vesta" connection: its calendar first; until then nothing is pushed or pulled */
    if (strcmp(in.calendar_kind, "vesta") == 0 && in.calendar_id[0] == '\0' &&
        (rc = sync_vesta_ensure(&c, &in)) != CS_OK)
        goto out_gapi;
    if (in.calendar_id[0] == '\0') {
        rc = cs_fail(c.err, sizeof c.err, CS_ERR_INVAL, "no calendar to sync with");
        goto out_gapi;
    }
    snprintf(c.cal_id, sizeof c.cal_id, "%s", in.calendar_id);
    buf_init(&b, sizeof c.cal - 1);
    if (buf_adds(&b, "/calendars/") != CS_OK || gapi_path_segment(&b, in.calendar_id) != CS_OK) {
        buf_free(&b);
        rc = CS_ERR_NOMEM;
        goto out_gapi;
    }
    snprintf(c.cal, sizeof c.cal, "%s", b.data);
    buf_free(&b);
    if (in.sync_token == NULL) { /* first sync: everything local goes to Google */
        if ((rc = c.host->seed(db, cfg, c.user_id)) != CS_OK) {
            cs_fail(c.err, sizeof c.err, rc, "reading the appointments to sync failed");
            goto out_gapi;
        }
        sync_enqueue_unlinked(&c);
    }
    c.st->passes++;
    rc = c.pushes ? sync_push(&c) : CS_OK;
    if (rc == CS_OK && job->pull && c.pulls) {
        c.pulled = 1;
        rc = sync_pull(&c, in.sync_token);
    }
    if (rc == CS_ERR_RATELIMIT)
        c.st->retry_at_ms = c.g.retry_at_ms;
out_gapi:
    gapi_close(&c.g);
out:
    if (rc == CS_ERR_REAUTH) /* Sync now answers 409 on exactly this text */
        snprintf(c.err, sizeof c.err, "reconnect Google Calendar");
    if (rc != CS_OK && c.err[0] == '\0')
        snprintf(c.err, sizeof c.err, "%s", cs_strerror(rc));
    sync_progress_clear(&c);
    sync_finish_state(&c, rc);
    sync_run_finish(&c, run_id, rc);
    if (have_in)
        integ_free(&in);
    log_info("sync (%s) user=%s %s: pushed=%d pulled=%d deleted=%d conflicts=%d errors=%d "
             "google_calls=%d %lldms",
             job->trigger, c.user_id, rc == CS_OK ? "ok" : cs_strerror(rc), c.st->pushed,
             c.st->pulled, c.st->deleted, c.st->conflicts, c.st->errors, c.g.calls,
             cal_now_ms() - t0);
    if (rc != CS_OK)
        cs_fail(errbuf, errlen, rc, "%s", c.err);
    return rc;
}
