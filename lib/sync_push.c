/* sync_push.c: the outbox drained to Google: inserts with our ids (batched when many), updates
 * with If-Match, deletes; per-row retries and errors. */
#include "sync_int.h"
#include "appt.h"
#include "cal.h"
#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "gapi.h"
#include "gmap.h"
#include "integ.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYNC_OUTBOX_BATCH 200
#define SYNC_PROGRESS_MIN 100 /* pushes from which the status shows progress */

/* Inserts with our deterministic id; 409 means it exists already: adopt it if it is ours. */
static int sync_push_insert(struct sync_ctx *c, struct appt *a, int depth)
{
    char id[GMAP_IDLEN];
    struct gapi_resp r;
    struct buf path;
    struct gmap_extra x;
    cJSON *body;
    int rc;

    /* a link from before a disconnect is re-used on the same calendar only: after switching
     * between the primary and the Vesta calendar the event is made afresh on the new one */
    if (depth == 0 && sync_former_here(c, a)) {
        rc = sync_adopt_former(c, a);
        if (rc == SYNC_PUSH_AGAIN)
            return sync_push_upsert(c, a, depth + 1);
        if (rc != CS_ERR_NOTFOUND)
            return rc;
    }

    gmap_event_id(c->cfg->secret_key, a, id);
    sync_extra(c, a, 1, &x);
    body = gmap_event_body(a, c->tz, id, &x);
    buf_init(&path, 4096);
    if (body == NULL || (rc = sync_path(c, &path, NULL, "?sendUpdates=none")) != CS_OK) {
        cJSON_Delete(body);
        buf_free(&path);
        return CS_ERR_NOMEM;
    }
    rc = gapi_call(&c->g, "POST", path.data, body, NULL, &r);
    if (rc == CS_OK && r.status == 200) {
        rc = sync_link(c, a, r.json);
        if (rc == CS_OK)
            sync_reminders_sent(c, a, body);
    } else if (rc == CS_OK && r.status == 409) {
        /* a retried insert: the event is ours (same derived id); update it to our values */
        free(a->google_event_id);
        a->google_event_id = strdup(id);
        free(a->google_etag);
        a->google_etag = NULL;
        rc = a->google_event_id ? sync_push_upsert(c, a, depth + 1) : CS_ERR_NOMEM;
    } else if (rc == CS_OK) {
        rc = sync_event_error(c, &r, "the new event");
    }
    gapi_resp_free(&r);
    cJSON_Delete(body);
    buf_free(&path);
    return rc;
}

int sync_push_upsert(struct sync_ctx *c, struct appt *a, int depth)
{
    struct gapi_resp r;
    struct buf path;
    struct gmap_extra x;
    cJSON *body;
    int rc;

    if (depth > 4)
        return cs_fail(c->err, sizeof c->err, CS_ERR_CONFLICT, "event keeps changing on Google");
    if (a->google_event_id == NULL)
        return sync_push_insert(c, a, depth);
    /* with a known etag: a PATCH of what changed here (colour only with a new type, reminders
     * only with a new setting: what the user set on Google stays); without (adopting or
     * restoring) the whole event */
    sync_extra(c, a, a->google_etag == NULL, &x);
    body = a->google_etag ? gmap_patch_body(a, c->tz, a->synced_snapshot, &x)
                          : gmap_event_body(a, c->tz, NULL, &x);
    buf_init(&path, 4096);
    if (body == NULL ||
        (rc = sync_path(c, &path, a->google_event_id, "?sendUpdates=none")) != CS_OK) {
        cJSON_Delete(body);
        buf_free(&path);
        return CS_ERR_NOMEM;
    }
    /* without a known etag (adopting or restoring) a full update makes the event whole */
    rc = gapi_call(&c->g, a->google_etag ? "PATCH" : "PUT", path.data, body, a->google_etag, &r);
    if (rc == CS_OK && r.status == 200) {
        rc = sync_link(c, a, r.json);
        if (rc == CS_OK)
            sync_reminders_sent(c, a, body);
    } else if (rc == CS_OK && r.status == 412) {
        rc = sync_resolve_412(c, a);
        if (rc == SYNC_PUSH_AGAIN)
            rc = sync_push_upsert(c, a, depth + 1);
    } else if (rc == CS_OK && (r.status == 404 || r.status == 410)) {
        if (a->google_etag != NULL) {
            /* deleted on Google after our last sync; the local edit is newer: restore */
            free(a->google_etag);
            a->google_etag = NULL;
            rc = sync_push_upsert(c, a, depth + 1);
        } else {
            /* gone for good: create it afresh under our own id */
            free(a->google_event_id);
            a->google_event_id = NULL;
            rc = r.status == 404 && depth == 0 ? sync_push_insert(c, a, depth + 1)
                                               : sync_event_error(c, &r, "the update");
        }
    } else if (rc == CS_OK) {
        rc = sync_event_error(c, &r, "the update");
    }
    gapi_resp_free(&r);
    cJSON_Delete(body);
    buf_free(&path);
    return rc;
}

static int sync_push_delete(struct sync_ctx *c, struct appt *a)
{
    struct gapi_resp r;
    struct buf path;
    int rc;

    if (a->google_event_id == NULL)
        return CS_OK; /* never reached Google */
    buf_init(&path, 4096);
    if ((rc = sync_path(c, &path, a->google_event_id, "?sendUpdates=none")) != CS_OK) {
        buf_free(&path);
        return rc;
    }
    rc = gapi_call(&c->g, "DELETE", path.data, NULL, NULL, &r);
    if (rc == CS_OK && (r.status == 200 || r.status == 204 || r.status == 404 || r.status == 410)) {
        rc = sync_mark_deleted(c, a->id);
    } else if (rc == CS_OK) {
        rc = sync_event_error(c, &r, "the delete");
    }
    gapi_resp_free(&r);
    buf_free(&path);
    return rc;
}

struct sync_row {
    long long outbox_id, appt_id, version, queued_ms;
    int attempts;
    char op[8];
    int done; /* settled by a batch */
};

static void sync_outbox_done(struct sync_ctx *c, const struct sync_row *row)
{
    struct db_stmt *st = db_stmt(c->db, DB_OUTBOX_DONE);

    metrics_latency(METRICS_TO_GOOGLE, row->queued_ms); /* now visible on Google */
    if (st != NULL) {
        db_bind_int64(st, 1, row->outbox_id);
        db_bind_int64(st, 2, row->version);
        db_exec(c->db, st);
    }
}

/* Records a failed push of a row. A refusal of this one event shows on the appointment and is
 * retried rarely; transient trouble is retried with backoff. Returns 1 when the trouble
 * concerns Google as a whole and the pass should stop (c->err says why). */
static int sync_row_failed(struct sync_ctx *c, const struct sync_row *row, int r)
{
    int fatal = r == CS_ERR_REAUTH || r == CS_ERR_RATELIMIT || r == CS_ERR_NET ||
                r == CS_ERR_AUTH || r == CS_ERR_DB || r == CS_ERR_CONFIG;
    /* trouble with Google as a whole leaves the row due: the job is retried after the shared
     * backoff and takes it along; only a refusal of this one event waits (an hour, or an edit) */
    long long delay = fatal ? 0 : 3600000LL;
    const char *msg = c->err[0] ? c->err : cs_strerror(r);
    struct db_stmt *st;

    st = db_stmt(c->db, DB_OUTBOX_RETRY);
    if (st != NULL) {
        db_bind_int64(st, 1, row->outbox_id);
        db_bind_int64(st, 2, db_now_ms() + delay);
        db_bind_text(st, 3, msg);
        db_bind_int64(st, 4, row->version);
        db_exec(c->db, st);
    }
    if (r != CS_ERR_REAUTH)
        sync_set_error(c, row->appt_id, fatal ? "pending" : "error", msg);
    c->st->errors++;
    log_warn("push of appointment %lld failed: %s user=%s", row->appt_id, msg, c->user_id);
    if (fatal && c->err[0] == '\0')
        snprintf(c->err, sizeof c->err, "%s", msg);
    return fatal;
}

/* True for an answer that refuses this one event for good (not a conflict, not a limit). */
static int sync_final_refusal(const struct gapi_resp *r)
{
    if (r->status < 400 || r->status >= 500 || r->status == 401 || r->status == 409 ||
        r->status == 429)
        return 0;
    return !(r->status == 403 && (strcmp(r->reason, "rateLimitExceeded") == 0 ||
                                  strcmp(r->reason, "userRateLimitExceeded") == 0 ||
                                  strcmp(r->reason, "quotaExceeded") == 0));
}

/* Sends k new appointments as one batch of inserts with our ids; links each one Google
 * created. What the batch does not settle stays for the one-by-one path. */
static void sync_insert_batch(struct sync_ctx *c, struct sync_row *rows, const int *idx,
                              struct appt *appts, int k)
{
    char ids[GAPI_BATCH_MAX][GMAP_IDLEN], path[700];
    cJSON *bodies[GAPI_BATCH_MAX];
    const char *methods[GAPI_BATCH_MAX], *paths[GAPI_BATCH_MAX];
    struct gapi_resp outs[GAPI_BATCH_MAX];
    int rc = CS_OK;

    snprintf(path, sizeof path, "%s/events?sendUpdates=none", c->cal);
    for (int j = 0; j < k; j++) {
        struct gmap_extra x;
        gmap_event_id(c->cfg->secret_key, &appts[j], ids[j]);
        sync_extra(c, &appts[j], 1, &x);
        bodies[j] = gmap_event_body(&appts[j], c->tz, ids[j], &x);
        methods[j] = "POST";
        paths[j] = path;
        if (bodies[j] == NULL)
            rc = CS_ERR_NOMEM;
    }
    if (rc == CS_OK)
        rc = gapi_batch(&c->g, (size_t)k, methods, paths, bodies, outs);
    for (int j = 0; j < k; j++) {
        if (rc == CS_OK && outs[j].status == 200 &&
            sync_link(c, &appts[j], outs[j].json) == CS_OK) {
            sync_reminders_sent(c, &appts[j], bodies[j]);
            sync_outbox_done(c, &rows[idx[j]]);
            rows[idx[j]].done = 1;
            c->st->pushed++;
        } else if (rc == CS_OK && sync_final_refusal(&outs[j])) {
            sync_event_error(c, &outs[j], "the new event");
            sync_row_failed(c, &rows[idx[j]], CS_ERR_GOOGLE);
            c->err[0] = '\0';
            rows[idx[j]].done = 1;
        }
        if (rc == CS_OK)
            gapi_resp_free(&outs[j]);
        cJSON_Delete(bodies[j]);
    }
}

/* First pushes of several new appointments (an initial sync, a reconnect) go out in batches. */
static void sync_push_batched(struct sync_ctx *c, struct sync_row *rows, int n)
{
    struct appt appts[GAPI_BATCH_MAX];
    int idx[GAPI_BATCH_MAX], k = 0;

    for (int i = 0; i <= n; i++) {
        if (i < n && strcmp(rows[i].op, "upsert") == 0) {
            struct appt a;
            memset(&a, 0, sizeof a);
            if (sync_load(c, rows[i].appt_id, &a) == CS_OK && a.is_active &&
                a.google_event_id == NULL && !sync_former_here(c, &a)) {
                appts[k] = a;
                idx[k++] = i;
            } else {
                appt_free(&a);
            }
        }
        if (k == GAPI_BATCH_MAX || (i == n && k > 0)) {
            if (k >= 2) /* a single one goes the usual way */
                sync_insert_batch(c, rows, idx, appts, k);
            for (int j = 0; j < k; j++)
                appt_free(&appts[j]);
            k = 0;
        }
    }
}

/* Reads up to SYNC_OUTBOX_BATCH due rows. */
static int sync_due_rows(struct sync_ctx *c, struct sync_row *rows, int *n)
{
    struct db_stmt *st = db_stmt(c->db, DB_OUTBOX_DUE);
    int step = DB_DONE;

    *n = 0;
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, c->user_id);
    db_bind_int64(st, 2, db_now_ms());
    db_bind_int(st, 3, SYNC_OUTBOX_BATCH);
    while (*n < SYNC_OUTBOX_BATCH && (step = db_step(st)) == DB_ROW) {
        struct sync_row *r = &rows[(*n)++];
        r->outbox_id = db_col_int64(st, 0);
        r->appt_id = db_col_int64(st, 1);
        db_col_copy(st, 2, r->op, sizeof r->op);
        r->attempts = db_col_int(st, 3);
        r->version = db_col_int64(st, 4);
        r->queued_ms = db_col_int64(st, 5);
        r->done = 0;
    }
    db_reset(st);
    return step == DB_ROW || step == DB_DONE ? CS_OK : CS_ERR_DB;
}

/* Pushes one row; returns 1 when it settled (done or recorded as failed), 0 when it stays due
 * (changed meanwhile), or -1 with *fatal set when Google as a whole is in trouble. */
static int sync_push_row(struct sync_ctx *c, struct sync_row *row, int *fatal)
{
    struct appt a;
    int r;

    c->err[0] = '\0';
    memset(&a, 0, sizeof a);
    r = sync_load(c, row->appt_id, &a);
    if (r == CS_ERR_NOTFOUND) {
        r = CS_OK;
    } else if (r == CS_OK) {
        if (strcmp(row->op, "delete") == 0 || !a.is_active)
            r = sync_push_delete(c, &a);
        else
            r = sync_push_upsert(c, &a, 0);
    }
    appt_free(&a);
    if (r == CS_OK) {
        sync_outbox_done(c, row);
        c->st->pushed++;
        return 1;
    }
    if (r == CS_ERR_BUSY && !c->lost)
        return 0; /* changed locally meanwhile: the row stays for the next round */
    if (r == CS_ERR_NOTFOUND || r == CS_ERR_BUSY) {
        *fatal = r; /* disconnected, or the job was taken from us: stop touching anything */
        return -1;
    }
    if (sync_row_failed(c, row, r)) {
        *fatal = r;
        return -1;
    }
    return 1;
}

/* How many rows the user's outbox holds (for the progress of a long push). */
static long long sync_outbox_count(struct sync_ctx *c)
{
    struct db_stmt *st = db_stmt(c->db, DB_OUTBOX_COUNT);
    long long n = 0;

    if (st == NULL)
        return 0;
    db_bind_text(st, 1, c->user_id);
    if (db_step(st) == DB_ROW)
        n = db_col_int64(st, 0);
    db_reset(st);
    return n;
}

int sync_push(struct sync_ctx *c)
{
    struct sync_row rows[SYNC_OUTBOX_BATCH];
    long long total = -1, done = 0;
    int n, rc;

    /* round after round until nothing due is left, or a round settles nothing (every row was
     * edited again meanwhile: those go in the next job, which the edits enqueued) */
    for (;;) {
        int settled = 0, fatal = CS_OK;
        if ((rc = sync_due_rows(c, rows, &n)) != CS_OK || n == 0)
            return rc;
        /* the setting as of these rows: a new setting commits with the rows it queues, so a
         * run that started before it must not push those rows with the setting it read then
         * (their events would keep the old reminders, and nothing would queue them again) */
        sync_user_reminders(c);
        if (total < 0 && n >= SYNC_PROGRESS_MIN &&
            (total = sync_outbox_count(c)) >= SYNC_PROGRESS_MIN)
            sync_progress(c, "push", 0, total); /* a first push of many: show how far it got */
        if (n >= 2)
            sync_push_batched(c, rows, n);
        for (int i = 0; i < n; i++) {
            if (rows[i].done) {
                settled++;
                continue;
            }
            int r = sync_push_row(c, &rows[i], &fatal);
            if (r < 0)
                return fatal;
            settled += r;
        }
        done += settled;
        if (total >= SYNC_PROGRESS_MIN)
            sync_progress(c, "push", done < total ? done : total, total);
        if (settled == 0)
            return CS_OK;
    }
}
