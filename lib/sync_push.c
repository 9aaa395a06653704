/* sync_push.c: the outbox drained to Google: first pushes batched when many, the rest one by
 * one (sync_write.c); per-row retries and errors; read-only appointments kept here; the pause
 * of writes Google's usage limits call for. */
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

/* True for a part of a batch that refuses this one event for good. Each part of a batch is
 * its own answer (200, 403, 412, 404 may come in one reply): a limit, a conflict, a missing
 * or changed event, a zone Google names otherwise go the one-by-one way, which handles each
 * of them; only what that way would refuse as well is recorded here. */
static int sync_final_refusal(const struct gapi_resp *r)
{
    if (r->status < 400 || r->status >= 500 || r->status == 401 || r->status == 404 ||
        r->status == 409 || r->status == 410 || r->status == 412 || r->status == 429 ||
        gevent_zone_refused(r->status, r->message))
        return 0;
    return !(r->status == 403 && (strcmp(r->reason, "rateLimitExceeded") == 0 ||
                                  strcmp(r->reason, "userRateLimitExceeded") == 0 ||
                                  strcmp(r->reason, "dailyLimitExceeded") == 0 ||
                                  strcmp(r->reason, "quotaExceeded") == 0));
}

/* Sends k new appointments as one batch of inserts with our ids; links each one Google
 * created. What the batch does not settle stays for the one-by-one path. Returns 1 when a part
 * said the usage limits are exceeded (writes paused: the pass stops). */
static int sync_insert_batch(struct sync_ctx *c, struct sync_row *rows, const int *idx,
                             struct appt *appts, int k)
{
    char ids[GAPI_BATCH_MAX][GMAP_IDLEN], path[700];
    cJSON *bodies[GAPI_BATCH_MAX];
    const char *methods[GAPI_BATCH_MAX], *paths[GAPI_BATCH_MAX];
    struct gapi_resp outs[GAPI_BATCH_MAX];
    int rc = CS_OK, paused = 0;

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
        } else if (rc == CS_OK && outs[j].status == 403 &&
                   strcmp(outs[j].reason, "quotaExceeded") == 0) {
            if (!paused)
                sync_writes_pause(c);
            paused = 1;
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
    return paused;
}

/* First pushes of several new appointments (an initial sync, a reconnect) go out in batches.
 * Returns 1 when Google's usage limits paused the writes. */
static int sync_push_batched(struct sync_ctx *c, struct sync_row *rows, int n)
{
    struct appt appts[GAPI_BATCH_MAX];
    int idx[GAPI_BATCH_MAX], k = 0, paused = 0;

    for (int i = 0; i <= n; i++) {
        if (i < n && strcmp(rows[i].op, "upsert") == 0) {
            struct appt a;
            memset(&a, 0, sizeof a);
            if (!paused && sync_load(c, rows[i].appt_id, &a) == CS_OK && a.is_active &&
                a.google_event_id == NULL && !sync_former_here(c, &a) && !appt_read_only(&a)) {
                appts[k] = a;
                idx[k++] = i;
            } else {
                appt_free(&a);
            }
        }
        if (k == GAPI_BATCH_MAX || (i == n && k > 0)) {
            if (k >= 2) /* a single one goes the usual way */
                paused = sync_insert_batch(c, rows, idx, appts, k);
            for (int j = 0; j < k; j++)
                appt_free(&appts[j]);
            k = 0;
        }
    }
    return paused;
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

/* A read-only appointment (someone else's event, or a special type): nothing goes to Google.
 * Deleted here, it leaves Vesta only (the event stays the organizer's, on every calendar it is
 * on); changed here, the change stays here and the appointment says why. refused: Google said
 * so (403 forbiddenForNonOrganizer, 400 eventTypeRestriction) for a link calsync had not known
 * to be read-only: what the event is is read back, so the page shows it from now on. */
static void sync_keep_local(struct sync_ctx *c, struct appt *a, int deleted, int refused)
{
    char msg[CS_ERRLEN];
    struct db_stmt *st;

    if (refused && a->google_event_id != NULL) {
        struct gapi_resp r;
        struct buf path;
        memset(&r, 0, sizeof r); /* freed below whether or not the call was made */
        buf_init(&path, 4096);
        if (sync_path(c, &path, a->google_event_id, NULL) == CS_OK &&
            gapi_call(&c->g, "GET", path.data, NULL, NULL, &r) == CS_OK && r.status == 200) {
            struct gevent ge;
            gevent_read(r.json, &ge);
            if (sync_store_meta(c, a->id, &ge, a) == CS_OK && ge.organizer != NULL &&
                a->google_organizer == NULL)
                a->google_organizer = strdup(ge.organizer);
        }
        gapi_resp_free(&r);
        buf_free(&path);
    }
    if (deleted) {
        if ((st = db_stmt(c->db, DB_APPT_DISMISS)) != NULL) {
            db_bind_int64(st, 1, a->id);
            db_bind_text(st, 2, c->user_id);
            db_bind_int64(st, 3, db_now());
            db_exec(c->db, st);
        }
        return;
    }
    if (a->google_organizer != NULL)
        snprintf(msg, sizeof msg,
                 "this is %.120s's event: Google takes changes from its organizer only, so this "
                 "change stays in Vesta",
                 a->google_organizer);
    else
        snprintf(msg, sizeof msg,
                 "this is a Google %.40s event, which calsync never changes: this change stays in "
                 "Vesta",
                 a->google_event_type ? a->google_event_type : "special");
    sync_set_error(c, a->id, "error", msg);
    c->st->errors++;
    log_info("appointment %lld is read-only on Google (%s): kept here user=%s", a->id,
             a->google_organizer ? "another organizer" : "special event type", c->user_id);
}

/* Pushes one row; returns 1 when it settled (done or recorded as failed), 0 when it stays due
 * (changed meanwhile), or -1 with *fatal set when Google as a whole is in trouble (or the
 * user's writes were paused: *fatal is SYNC_WRITES_PAUSED, the row untouched). */
static int sync_push_row(struct sync_ctx *c, struct sync_row *row, int *fatal)
{
    struct appt a;
    int r, deleted = 0;

    c->err[0] = '\0';
    memset(&a, 0, sizeof a);
    r = sync_load(c, row->appt_id, &a);
    if (r == CS_ERR_NOTFOUND) {
        r = CS_OK;
    } else if (r == CS_OK) {
        deleted = strcmp(row->op, "delete") == 0 || !a.is_active;
        if (appt_read_only(&a))
            r = SYNC_READ_ONLY; /* never sent: Google would refuse it anyway */
        else if (deleted)
            r = sync_push_delete(c, &a);
        else
            r = sync_push_upsert(c, &a, 0);
        if (r == SYNC_READ_ONLY) {
            sync_keep_local(c, &a, deleted, !appt_read_only(&a));
            sync_outbox_done(c, row);
            appt_free(&a);
            return 1; /* settled: never retried, never a loop */
        }
    }
    appt_free(&a);
    if (r == CS_OK) {
        sync_outbox_done(c, row);
        c->st->pushed++;
        return 1;
    }
    if (r == SYNC_WRITES_PAUSED) {
        *fatal = r;
        return -1;
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

/* The user's writes wait for Google's usage limits to lift: the rows stay queued, and one more
 * pass of this job is due when the pause ends (recorded in the store: any node runs it), so
 * the writes resume by themselves. The pull of this run goes on. */
static int sync_push_paused(struct sync_ctx *c, long long until)
{
    long long wait = until - db_now_ms();

    /* not an error of the run (which goes on to pull): the status says it (writesPaused) */
    c->err[0] = '\0';
    if (sync_outbox_count(c) > 0 &&
        jobs_enqueue_sync(c->db, c->user_id, 0, "resume", wait > 0 ? wait + 1000 : 1000, NULL,
                          NULL) != CS_OK)
        log_warn("could not schedule the writes after the pause user=%s", c->user_id);
    log_info("writes paused for %lld s more (usage limits): %lld queued user=%s",
             wait > 0 ? wait / 1000 : 0, sync_outbox_count(c), c->user_id);
    return CS_OK;
}

int sync_push(struct sync_ctx *c)
{
    struct sync_row rows[SYNC_OUTBOX_BATCH];
    long long total = -1, done = 0, until;
    int n, rc;

    if ((until = sync_writes_paused(c)) > 0)
        return sync_outbox_count(c) > 0 ? sync_push_paused(c, until) : CS_OK;
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
        if (n >= 2 && sync_push_batched(c, rows, n))
            return sync_push_paused(c, sync_writes_paused(c));
        for (int i = 0; i < n; i++) {
            if (rows[i].done) {
                settled++;
                continue;
            }
            int r = sync_push_row(c, &rows[i], &fatal);
            if (r < 0 && fatal == SYNC_WRITES_PAUSED)
                return sync_push_paused(c, sync_writes_paused(c));
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
