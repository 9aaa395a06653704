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
#include "metrics.h"
#include "sync.h"

#define HDR_MAX 256

static int header(struct http_req *req, const char *name, char *out, size_t outlen)
{
    return http_header_token(http_param(req, name), out, outlen);
}

/* A channel met in the open batch: its lookup, done once per batch, and what the batch adds.
 * Google sends a channel's notifications one after another, so a busy channel has several in
 * a batch: one lookup, one HMAC, one message-number write and one job upsert serve them all. */
struct chan_seen {
    char chan[HDR_MAX], rid[HDR_MAX], user_id[CRYPT_UUIDLEN], expect[CRYPT_HEXLEN];
    long long last; /* the highest message number: stored, or accepted in this batch */
    int dirty;      /* last was accepted in this batch: written as the batch ends */
    int enqueued;   /* the user's pull job was put in this batch */
};

/* Message numbers accepted in batches that wrote nothing else: stored when a later batch
 * writes anyway, or when the loop is idle, so that a notification a pending pull already
 * covers costs no write at all. Only numbers of committed batches come here (a number of a
 * batch that was rolled back must not make Google's retry look like a replay). Kept in this
 * process only; losing them (a crash) only lets a replay through, which a pending pull
 * absorbs. */
#define LATE_MAX 64

struct late {
    char chan[HDR_MAX], rid[HDR_MAX];
    long long last;
};

struct batch {
    int wake;   /* a job of the open batch was added or changed: the batch writes */
    int stored; /* the batch's numbers (and the late ones) go in its transaction */
    size_t n;
    struct chan_seen c[HTTP_BATCH_MAX]; /* a request adds at most one */
    size_t nlate;
    struct late late[LATE_MAX];
    /* outcomes of the batch's notifications (metrics), counted once the batch's fate is known:
     * if it is rolled back every one of them is answered 503 */
    unsigned outcomes[METRICS_WH__MAX];
};

/* Stores the highest message number accepted for a channel. A conditional write: when another
 * node stored a higher one meanwhile (MySQL store), that one stays. */
static int seen(struct db *db, const char *chan, const char *rid, long long last)
{
    struct db_stmt *st = db_stmt(db, DB_INTEG_WEBHOOK_SEEN);

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, chan);
    db_bind_text(st, 2, rid);
    db_bind_int64(st, 3, last);
    return db_exec(db, st);
}

static struct late *late_find(struct batch *b, const char *chan)
{
    for (size_t i = 0; i < b->nlate; i++)
        if (strcmp(b->late[i].chan, chan) == 0)
            return &b->late[i];
    return NULL;
}

/* The channel of this batch, looked up (active integrations only) when first met: NULL for a
 * channel that is not (or no longer) active, or on a store error (*rc). */
static struct chan_seen *channel(struct http_req *req, struct batch *b, const char *chan, int *rc)
{
    struct chan_seen *cs;
    struct db_stmt *st;
    int step;

    *rc = CS_OK;
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->c[i].chan, chan) == 0)
            return &b->c[i];
    if (b->n == HTTP_BATCH_MAX || (st = db_stmt(req->db, DB_INTEG_CHANNEL_OWNER)) == NULL) {
        *rc = CS_ERR_DB;
        return NULL;
    }
    db_bind_text(st, 1, chan);
    if ((step = db_step(st)) != DB_ROW) {
        db_reset(st);
        if (step != DB_DONE) /* not "no such channel": answered 503, Google sends it again */
            *rc = CS_ERR_DB;
        return NULL;
    }
    cs = &b->c[b->n++];
    memset(cs, 0, sizeof *cs);
    snprintf(cs->chan, sizeof cs->chan, "%s", chan);
    db_col_copy(st, 0, cs->user_id, sizeof cs->user_id);
    db_col_copy(st, 1, cs->rid, sizeof cs->rid);
    cs->last = db_col_is_null(st, 2) ? -1 : db_col_int64(st, 2);
    db_reset(st);
    {
        const struct late *l = late_find(b, chan);
        if (l != NULL && l->last > cs->last)
            cs->last = l->last;
    }
    /* the token is HMAC(webhook secret, channel id) */
    crypt_hmac_text(req->cfg->webhook_secret, chan, cs->expect);
    return cs;
}

static void ok(struct http_req *req)
{
    http_reply(req, 200, "application/json", NULL, "{}", 2);
}

/* A refusal before the batch's transaction: counted at once, its answer stands. */
static void invalid(struct http_req *req, int status, const char *msg)
{
    metrics_webhook(METRICS_WH_INVALID, 1);
    http_reply_error(req, status, msg);
}

static int route(struct http_req *req, void *ctx)
{
    struct batch *b = ctx;
    char chan[HDR_MAX], rid[HDR_MAX], token[HDR_MAX], state[32];
    long long msgno;
    struct chan_seen *cs;
    int rc, good;

    if (strcmp(req->method, "POST") != 0) {
        metrics_webhook(METRICS_WH_INVALID, 1);
        http_reply_405(req, "POST");
        return 0;
    }
    if (req->content_length > 0) {
        invalid(req, 413, "notifications have no body");
        return 0;
    }
    if (header(req, "HTTP_X_GOOG_CHANNEL_ID", chan, sizeof chan) != CS_OK ||
        header(req, "HTTP_X_GOOG_RESOURCE_ID", rid, sizeof rid) != CS_OK ||
        header(req, "HTTP_X_GOOG_RESOURCE_STATE", state, sizeof state) != CS_OK) {
        invalid(req, 400,
                "missing or malformed X-Goog-Channel-ID, X-Goog-Resource-ID "
                "or X-Goog-Resource-State");
        return 0;
    }
    rc = header(req, "HTTP_X_GOOG_CHANNEL_TOKEN", token, sizeof token);
    if (rc == CS_ERR_INVAL) {
        invalid(req, 400, "malformed X-Goog-Channel-Token");
        return 0;
    }
    if (rc == CS_ERR_NOTFOUND)
        token[0] = '\0';
    rc = http_message_number(http_param(req, "HTTP_X_GOOG_MESSAGE_NUMBER"), &msgno);
    if (rc == CS_ERR_NOTFOUND)
        msgno = -1;
    if (rc == CS_ERR_INVAL) {
        invalid(req, 400, "malformed X-Goog-Message-Number");
        return 0;
    }
    if (strcmp(state, "sync") != 0 && strcmp(state, "exists") != 0 &&
        strcmp(state, "not_exists") != 0) {
        invalid(req, 400, "unknown X-Goog-Resource-State");
        return 0;
    }
    /* everything below reads and writes in the batch's one transaction: a lookup of its own
     * would take and drop the store's locks once more per batch */
    if (http_tx(req) != CS_OK) {
        metrics_webhook(METRICS_WH_ERROR, 1);
        http_reply_error(req, 503, "notification not recorded; try again");
        return 0;
    }
    if ((cs = channel(req, b, chan, &rc)) == NULL) {
        if (rc != CS_OK) {
            b->outcomes[METRICS_WH_ERROR]++;
            http_reply_error(req, 503, "notification not recorded; try again");
            return 0;
        }
        b->outcomes[METRICS_WH_UNKNOWN]++;
        /* a stopped or replaced channel (Google may still send a few), or a disconnected
         * user: nothing to do */
        log_debug("notification for an unknown or inactive channel ignored");
        ok(req);
        return 0;
    }
    /* one constant-time check of the token proves it; the resource id must be the one Google
     * gave this channel */
    good = crypt_str_eq(rid, cs->rid);
    good &= crypt_str_eq(token, cs->expect);
    if (!good) {
        b->outcomes[METRICS_WH_FORGED]++;
        log_warn("forged or mismatched notification refused");
        http_reply_error(req, 403, "notification not verified");
        return 0;
    }
    if (strcmp(state, "sync") == 0) {
        b->outcomes[METRICS_WH_SYNC]++;
        log_info("channel confirmed user=%s", cs->user_id);
        ok(req);
        return 0;
    }
    /* a number not above the highest stored or accepted is a replay (Google retries and may
     * deliver out of order): routine, and a line per request would let whoever floods the
     * endpoint fill the log */
    if (msgno >= 0 && cs->last >= msgno) {
        b->outcomes[METRICS_WH_REPLAY]++;
        log_debug("replayed or out-of-order notification ignored user=%s", cs->user_id);
        ok(req);
        return CS_OK;
    }
    if (msgno >= 0) {
        cs->last = msgno; /* stored as the batch ends, or later (ending, committed) */
        cs->dirty = 1;
    }
    b->outcomes[METRICS_WH_ACCEPTED]++; /* or 503 with its batch, if that is rolled back */
    rc = CS_OK;
    /* the pull job, in the batch's transaction, before the 200: a notification Google got a
     * 200 for is never lost (if the transaction fails, every notification in it is answered
     * 503 and Google sends it again). Once per user and batch. */
    if (!cs->enqueued) {
        /* a pending pull that already covers this notification is left as it is (nothing
         * written): the worker knows of it and needs no wake-up */
        if (!jobs_sync_covered(req->db, cs->user_id, 1, req->cfg->webhook_settle_ms)) {
            rc = jobs_enqueue_sync(req->db, cs->user_id, 1, "webhook", req->cfg->webhook_settle_ms,
                                   NULL, NULL);
            if (rc == CS_OK)
                b->wake = 1;
        }
        cs->enqueued = 1;
    }
    if (rc == CS_OK)
        ok(req);
    return rc;
}

/* Room for the batch's new numbers among the late ones. */
static int late_room(struct batch *b)
{
    size_t add = 0;

    for (size_t i = 0; i < b->n; i++)
        if (b->c[i].dirty && late_find(b, b->c[i].chan) == NULL)
            add++;
    return b->nlate + add <= LATE_MAX;
}

/* As the batch's transaction ends: when it writes anyway (a job changed), or the late numbers
 * have no room for its own, every number goes in it; else they wait (committed). */
static int ending(struct db *db, int commit, void *ctx)
{
    struct batch *b = ctx;
    int rc = CS_OK;

    if (!commit) { /* rolled back: nothing of the batch was stored or answered 200 */
        unsigned n = 0;
        for (int o = 0; o < METRICS_WH__MAX; o++)
            n += b->outcomes[o];
        metrics_webhook(METRICS_WH_ERROR, n); /* every one of them is answered 503 */
        memset(b->outcomes, 0, sizeof b->outcomes);
        b->n = 0;
        b->wake = b->stored = 0;
        return CS_OK;
    }
    b->stored = b->wake || !late_room(b);
    for (size_t i = 0; b->stored && rc == CS_OK && i < b->n; i++)
        if (b->c[i].dirty)
            rc = seen(db, b->c[i].chan, b->c[i].rid, b->c[i].last);
    for (size_t i = 0; b->stored && rc == CS_OK && i < b->nlate; i++)
        rc = seen(db, b->late[i].chan, b->late[i].rid, b->late[i].last);
    return rc;
}

/* After a batch is stored: the worker runs the pull jobs it added or moved; numbers that were
 * not written wait among the late ones. */
static void committed(const struct cfg *cfg, void *ctx)
{
    struct batch *b = ctx;

    if (b->stored) {
        b->nlate = 0;
    } else {
        for (size_t i = 0; i < b->n; i++) {
            const struct chan_seen *cs = &b->c[i];
            struct late *l;
            if (!cs->dirty)
                continue;
            if ((l = late_find(b, cs->chan)) == NULL) {
                l = &b->late[b->nlate++]; /* late_room made sure there is room */
                snprintf(l->chan, sizeof l->chan, "%s", cs->chan);
                snprintf(l->rid, sizeof l->rid, "%s", cs->rid);
                l->last = -1;
            }
            if (cs->last > l->last)
                l->last = cs->last;
        }
    }
    b->n = 0;
    b->stored = 0;
    for (int o = 0; o < METRICS_WH__MAX; o++)
        metrics_webhook((enum metrics_webhook)o, b->outcomes[o]);
    memset(b->outcomes, 0, sizeof b->outcomes);
    if (b->wake)
        jobs_wake(cfg);
    b->wake = 0;
}

/* Nothing else to do: the late numbers are written (best effort: a number is a guard against
 * needless work, not a record anything depends on). */
static void idle(struct db *db, void *ctx)
{
    struct batch *b = ctx;
    int rc;

    if (b->nlate == 0)
        return;
    if ((rc = db_begin(db)) == CS_OK) {
        for (size_t i = 0; rc == CS_OK && i < b->nlate; i++)
            rc = seen(db, b->late[i].chan, b->late[i].rid, b->late[i].last);
        rc = db_end(db, rc);
    }
    if (rc != CS_OK)
        log_warn("message numbers of %zu channel(s) not stored: %s", b->nlate, cs_strerror(rc));
    b->nlate = 0;
}

int main(int argc, char **argv)
{
    static struct batch b;
    static const struct http_batched r = {"webhook", route, committed, &b, ending, idle};

    return http_serve_batched(argc, argv, &r);
}
