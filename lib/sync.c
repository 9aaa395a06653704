/* sync.c: the two-way sync engine: outbox push, incremental pull, merges, leases, channels. */
#include "sync.h"
#include "appt.h"
#include "cal.h"
#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "gapi.h"
#include "gmap.h"
#include "integ.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYNC_OUTBOX_BATCH 200
#define SYNC_MAX_PASSES 4
#define SYNC_PAGE_SIZE "2500"
#define SYNC_LEASE_SLACK_MS 15000
#define SYNC_ANNOUNCED_S 60

struct sync_ctx {
    char owner[CRYPT_TOKLEN]; /* our lease */
    long long budget_ms;
    struct db *db;
    const struct cfg *cfg;
    struct gapi g;
    char user_id[CRYPT_UUIDLEN];
    char tz[65];
    char cal[600]; /* "/calendars/<encoded id>" */
    struct sync_stats *st;
    char err[CS_ERRLEN];
    int pulled; /* a pull ran: the poll clock restarts */
};

/* ---- small helpers ---- */

static int sync_lease(struct db *db, enum db_stmt_id id, const char *user_id, const char *owner,
                      long long until);

/* Keeps our lease alive while work goes on (a dead process's lease lapses soon after). */
static void sync_keepalive(struct sync_ctx *c)
{
    sync_lease(c->db, DB_LEASE_EXTEND, c->user_id, c->owner,
               db_now_ms() + c->budget_ms + SYNC_LEASE_SLACK_MS);
}

static long long sync_parse_ms(const char *rfc3339)
{
    time_t t;
    const char *dot;
    long long ms = 0;

    if (rfc3339 == NULL || cal_parse_rfc3339(rfc3339, &t) != CS_OK)
        return 0;
    dot = strchr(rfc3339, '.');
    if (dot != NULL && dot[1] >= '0' && dot[1] <= '9') {
        int digits = 0;
        for (const char *p = dot + 1; *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
            ms = ms * 10 + (*p - '0');
        while (digits++ < 3)
            ms *= 10;
    }
    return (long long)t * 1000 + ms;
}

static const char *sync_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void sync_user_tz(struct sync_ctx *c)
{
    sqlite3_stmt *st = db_stmt(c->db, DB_USER_BY_ID);

    snprintf(c->tz, sizeof c->tz, "%s", c->cfg->default_tz);
    if (st == NULL)
        return;
    db_bind_text(st, 1, c->user_id);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 2) != NULL)
        db_col_copy(st, 2, c->tz, sizeof c->tz);
    sqlite3_reset(st);
}

/* Loads an appointment of the user whether active or not. */
static int sync_load(struct sync_ctx *c, long long id, struct appt *a)
{
    sqlite3_stmt *st = db_stmt(c->db, DB_APPT_GET_ANY);
    int rc = CS_ERR_NOTFOUND;

    if (st == NULL)
        return CS_ERR_DB;
    sqlite3_bind_int64(st, 1, id);
    db_bind_text(st, 2, c->user_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        rc = appt_from_row(st, a);
    sqlite3_reset(st);
    return rc;
}

static int sync_load_by(struct sync_ctx *c, enum db_stmt_id id, const char *gid, struct appt *a)
{
    sqlite3_stmt *st = db_stmt(c->db, id);
    int rc = CS_ERR_NOTFOUND;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, c->user_id);
    db_bind_text(st, 2, gid);
    if (sqlite3_step(st) == SQLITE_ROW)
        rc = appt_from_row(st, a);
    sqlite3_reset(st);
    return rc;
}

/* The pending outbox op of an appointment: "upsert", "delete" or "" (none). */
static void sync_pending_op(struct sync_ctx *c, long long id, char op[8])
{
    sqlite3_stmt *st = db_stmt(c->db, DB_OUTBOX_FOR_APPT);

    op[0] = '\0';
    if (st == NULL)
        return;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        db_col_copy(st, 0, op, 8);
    sqlite3_reset(st);
}

static void sync_set_error(struct sync_ctx *c, long long id, const char *state, const char *msg)
{
    sqlite3_stmt *st = db_stmt(c->db, DB_APPT_SET_SYNC_ERROR);

    if (st == NULL)
        return;
    sqlite3_bind_int64(st, 1, id);
    db_bind_text(st, 2, c->user_id);
    db_bind_text(st, 3, state);
    db_bind_text(st, 4, msg);
    db_exec(c->db, st);
}

/* Marks an appointment deleted because Google no longer has its event (or has just deleted
 * it for us). */
static int sync_mark_deleted(struct sync_ctx *c, long long id)
{
    sqlite3_stmt *st = db_stmt(c->db, DB_APPT_PULL_DELETE);

    if (st == NULL)
        return CS_ERR_DB;
    sqlite3_bind_int64(st, 1, id);
    db_bind_text(st, 2, c->user_id);
    sqlite3_bind_int64(st, 3, db_now());
    sqlite3_bind_int64(st, 4, db_now_ms());
    return db_exec(c->db, st);
}

/* The appointment ids a statement (bound with the user) selects, in *ids (free()). CS_OK, or
 * CS_ERR_NOMEM with the ids collected so far, or CS_ERR_DB. */
static int sync_collect_ids(struct sync_ctx *c, enum db_stmt_id id, long long **ids, size_t *n)
{
    sqlite3_stmt *st = db_stmt(c->db, id);
    size_t cap = 0;
    int rc = CS_OK;

    *ids = NULL;
    *n = 0;
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, c->user_id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) {
            long long *p = realloc(*ids, (cap = cap ? cap * 2 : 64) * sizeof **ids);
            if (p == NULL) {
                rc = CS_ERR_NOMEM;
                break;
            }
            *ids = p;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    return rc;
}

/* Records that a was synced as Google event ev (its id, etag, updated, and the snapshot). */
static int sync_link(struct sync_ctx *c, const struct appt *a, const cJSON *ev)
{
    sqlite3_stmt *st = db_stmt(c->db, DB_APPT_SET_SYNCED);
    char *snap = gmap_snapshot(a);
    int rc;

    if (st == NULL || snap == NULL) {
        free(snap);
        return CS_ERR_DB;
    }
    sqlite3_bind_int64(st, 1, a->id);
    db_bind_text(st, 2, c->user_id);
    db_bind_text(st, 3, sync_str(ev, "id"));
    db_bind_text(st, 4, sync_str(ev, "etag"));
    db_bind_text(st, 5, sync_str(ev, "updated"));
    db_bind_text(st, 6, snap);
    sqlite3_bind_int64(st, 7, db_now());
    sqlite3_bind_int64(st, 8, a->updated_at);
    rc = db_exec(c->db, st);
    free(snap);
    return rc;
}

/* Builds "/calendars/<cal>/events[/<id>]" + suffix. */
static int sync_path(struct sync_ctx *c, struct buf *b, const char *event_id, const char *suffix)
{
    int rc = buf_printf(b, "%s/events", c->cal);

    if (rc == CS_OK && event_id != NULL) {
        rc = buf_adds(b, "/");
        if (rc == CS_OK)
            rc = gapi_path_segment(b, event_id);
    }
    if (rc == CS_OK && suffix != NULL)
        rc = buf_adds(b, suffix);
    return rc;
}

/* Maps a final (non-2xx) Google answer on one event to an error text. */
static int sync_event_error(struct sync_ctx *c, const struct gapi_resp *r, const char *what)
{
    snprintf(c->err, sizeof c->err, "Google refused %s: %ld %.60s%s%.120s", what, r->status,
             r->reason, r->message[0] ? ": " : "", r->message);
    return CS_ERR_GOOGLE;
}

/* Saves a merged appointment together with the Google version it was merged against, unless
 * it was edited meanwhile. CS_OK (a->updated_at advanced), CS_ERR_BUSY (edited meanwhile) or
 * CS_ERR_DB. The appointment stays queued: what is ours still goes out. */
static int sync_merge_save(struct sync_ctx *c, struct appt *a, const char *gid, const char *etag,
                           const char *updated, const char *snap)
{
    sqlite3_stmt *st = db_stmt(c->db, DB_APPT_MERGE_SAVE);
    long long now = db_now_ms(), next = now > a->updated_at ? now : a->updated_at + 1;
    int rc;

    if (st == NULL)
        return CS_ERR_DB;
    sqlite3_bind_int64(st, 1, a->id);
    db_bind_text(st, 2, c->user_id);
    appt_bind_content(st, 3, a);
    db_bind_text(st, 12, gid);
    db_bind_text(st, 13, etag);
    db_bind_text(st, 14, updated);
    db_bind_text(st, 15, snap);
    sqlite3_bind_int64(st, 16, next);
    sqlite3_bind_int64(st, 17, a->updated_at);
    if ((rc = db_exec(c->db, st)) != CS_OK)
        return rc;
    if (sqlite3_changes(db_handle(c->db)) != 1)
        return CS_ERR_BUSY;
    a->updated_at = next;
    return CS_OK;
}

/* ---- push ---- */

static int sync_push_upsert(struct sync_ctx *c, struct appt *a, int depth);

/* Re-reads a changed event, merges field by field against the last synced version, saves
 * the merge locally, and pushes it with the fresh etag. */
static int sync_resolve_412(struct sync_ctx *c, struct appt *a, int depth)
{
    struct gapi_resp r;
    struct buf path;
    struct appt remote;
    const char *etag, *updated;
    char *snap = NULL;
    int rc, conflicts;

    memset(&remote, 0, sizeof remote);
    buf_init(&path, 4096);
    if ((rc = sync_path(c, &path, a->google_event_id, NULL)) != CS_OK)
        goto out;
    rc = gapi_call(&c->g, "GET", path.data, NULL, NULL, &r);
    if (rc != CS_OK)
        goto out_resp;
    if (r.status == 404 || r.status == 410 ||
        (r.status == 200 &&
         strcmp(sync_str(r.json, "status") ? sync_str(r.json, "status") : "", "cancelled") == 0)) {
        /* deleted on Google while edited here: the newer local edit restores it */
        free(a->google_etag);
        a->google_etag = NULL;
        rc = sync_push_upsert(c, a, depth + 1);
        goto out_resp;
    }
    if (r.status != 200) {
        rc = sync_event_error(c, &r, "reading a changed event");
        goto out_resp;
    }
    if (gmap_from_event(r.json, c->tz, &remote) != CS_OK) {
        rc = sync_event_error(c, &r, "an unreadable event");
        goto out_resp;
    }
    etag = sync_str(r.json, "etag");
    updated = sync_str(r.json, "updated");
    conflicts = gmap_merge(a, &remote, a->synced_snapshot, sync_parse_ms(updated) > a->updated_at);
    if (conflicts > 0) {
        c->st->conflicts++;
        log_info("conflict on appointment %lld (%d fields) resolved by latest modification user=%s",
                 a->id, conflicts, c->user_id);
    }
    snap = gmap_snapshot(&remote);
    if (snap == NULL) {
        rc = CS_ERR_NOMEM;
        goto out_resp;
    }
    if ((rc = sync_merge_save(c, a, sync_str(r.json, "id"), etag, updated, snap)) != CS_OK)
        goto out_resp; /* BUSY: edited again meanwhile; the next pass handles it */
    free(a->google_etag);
    free(a->synced_snapshot);
    a->google_etag = etag ? strdup(etag) : NULL;
    a->synced_snapshot = snap;
    snap = NULL;
    if (gmap_same(a, &remote))
        rc = sync_link(c, a, r.json); /* nothing of ours left to send */
    else
        rc = sync_push_upsert(c, a, depth + 1);
out_resp:
    gapi_resp_free(&r);
out:
    free(snap);
    appt_free(&remote);
    buf_free(&path);
    return rc;
}

/* Moves the content fields of src into dst (src keeps none of its strings). */
static void sync_take_content(struct appt *dst, struct appt *src)
{
    free(dst->title);
    free(dst->description);
    free(dst->location);
    dst->title = src->title;
    dst->description = src->description;
    dst->location = src->location;
    src->title = src->description = src->location = NULL;
    memcpy(dst->start, src->start, sizeof dst->start);
    memcpy(dst->end, src->end, sizeof dst->end);
    memcpy(dst->type, src->type, sizeof dst->type);
    memcpy(dst->status, src->status, sizeof dst->status);
    dst->all_day = src->all_day;
    dst->contact_id = src->contact_id;
}

/* An appointment that was linked before a disconnect: when its event still exists, link it
 * again instead of creating a twin; whichever side changed last wins. CS_ERR_NOTFOUND when
 * the event is gone (the caller creates a new one). */
static int sync_adopt_former(struct sync_ctx *c, struct appt *a, int depth)
{
    struct gapi_resp r;
    struct buf path;
    struct appt remote;
    const char *status, *updated;
    char *snap = NULL;
    int rc;

    memset(&remote, 0, sizeof remote);
    buf_init(&path, 4096);
    if ((rc = sync_path(c, &path, a->former_event_id, NULL)) != CS_OK) {
        buf_free(&path);
        return rc;
    }
    rc = gapi_call(&c->g, "GET", path.data, NULL, NULL, &r);
    buf_free(&path);
    if (rc != CS_OK)
        goto out;
    status = sync_str(r.json, "status");
    updated = sync_str(r.json, "updated");
    if (r.status == 404 || r.status == 410 ||
        (r.status == 200 && status != NULL && strcmp(status, "cancelled") == 0)) {
        rc = CS_ERR_NOTFOUND;
        goto out;
    }
    if (r.status != 200) {
        rc = sync_event_error(c, &r, "reading a formerly linked event");
        goto out;
    }
    if (sync_parse_ms(updated) > a->updated_at &&
        gmap_from_event(r.json, c->tz, &remote) == CS_OK) {
        /* changed on Google since the disconnect, after the last change here */
        sync_take_content(a, &remote);
        snap = gmap_snapshot(a);
        rc = snap ? sync_merge_save(c, a, sync_str(r.json, "id"), sync_str(r.json, "etag"), updated,
                                    snap)
                  : CS_ERR_NOMEM;
        if (rc == CS_OK)
            rc = sync_link(c, a, r.json);
    } else {
        free(a->google_event_id);
        free(a->google_etag);
        a->google_etag = NULL;
        a->google_event_id = strdup(a->former_event_id);
        rc = a->google_event_id ? sync_push_upsert(c, a, depth + 1) : CS_ERR_NOMEM;
    }
out:
    free(snap);
    appt_free(&remote);
    gapi_resp_free(&r);
    return rc;
}

/* Inserts with our deterministic id; 409 means it exists already: adopt it if it is ours. */
static int sync_push_insert(struct sync_ctx *c, struct appt *a, int depth)
{
    char id[GMAP_IDLEN];
    struct gapi_resp r;
    struct buf path;
    cJSON *body;
    int rc;

    if (a->former_event_id != NULL && depth == 0) {
        rc = sync_adopt_former(c, a, depth);
        if (rc != CS_ERR_NOTFOUND)
            return rc;
    }

    gmap_event_id(c->cfg->secret_key, a, id);
    body = gmap_to_event(a, c->tz, id);
    buf_init(&path, 4096);
    if (body == NULL || (rc = sync_path(c, &path, NULL, "?sendUpdates=none")) != CS_OK) {
        cJSON_Delete(body);
        buf_free(&path);
        return CS_ERR_NOMEM;
    }
    rc = gapi_call(&c->g, "POST", path.data, body, NULL, &r);
    if (rc == CS_OK && r.status == 200) {
        rc = sync_link(c, a, r.json);
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

static int sync_push_upsert(struct sync_ctx *c, struct appt *a, int depth)
{
    struct gapi_resp r;
    struct buf path;
    cJSON *body;
    int rc;

    if (depth > 4)
        return cs_fail(c->err, sizeof c->err, CS_ERR_CONFLICT, "event keeps changing on Google");
    if (a->google_event_id == NULL)
        return sync_push_insert(c, a, depth);
    body = gmap_to_event(a, c->tz, NULL);
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
    } else if (rc == CS_OK && r.status == 412) {
        rc = sync_resolve_412(c, a, depth);
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
    long long outbox_id, appt_id, version;
    int attempts;
    char op[8];
    int done; /* settled by a batch */
};

static void sync_outbox_done(struct sync_ctx *c, const struct sync_row *row)
{
    sqlite3_stmt *st = db_stmt(c->db, DB_OUTBOX_DONE);

    if (st != NULL) {
        sqlite3_bind_int64(st, 1, row->outbox_id);
        sqlite3_bind_int64(st, 2, row->version);
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
    long long delay = fatal ? 5000LL << (row->attempts < 10 ? row->attempts : 10) : 3600000LL;
    const char *msg = c->err[0] ? c->err : cs_strerror(r);
    sqlite3_stmt *st;

    if (delay > 3600000LL)
        delay = 3600000LL;
    st = db_stmt(c->db, DB_OUTBOX_RETRY);
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, row->outbox_id);
        sqlite3_bind_int64(st, 2, db_now_ms() + delay);
        db_bind_text(st, 3, msg);
        sqlite3_bind_int64(st, 4, row->version);
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
        gmap_event_id(c->cfg->secret_key, &appts[j], ids[j]);
        bodies[j] = gmap_to_event(&appts[j], c->tz, ids[j]);
        methods[j] = "POST";
        paths[j] = path;
        if (bodies[j] == NULL)
            rc = CS_ERR_NOMEM;
    }
    sync_keepalive(c);
    if (rc == CS_OK)
        rc = gapi_batch(&c->g, (size_t)k, methods, paths, bodies, outs);
    for (int j = 0; j < k; j++) {
        if (rc == CS_OK && outs[j].status == 200 &&
            sync_link(c, &appts[j], outs[j].json) == CS_OK) {
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
                a.google_event_id == NULL && a.former_event_id == NULL) {
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

/* Drains the due outbox rows. Stops at the first failure that concerns Google as a whole. */
static int sync_push(struct sync_ctx *c)
{
    struct sync_row rows[SYNC_OUTBOX_BATCH];
    sqlite3_stmt *st;
    int n = 0, rc = CS_OK;

    st = db_stmt(c->db, DB_OUTBOX_DUE);
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, c->user_id);
    sqlite3_bind_int64(st, 2, db_now_ms());
    sqlite3_bind_int(st, 3, SYNC_OUTBOX_BATCH);
    while (n < SYNC_OUTBOX_BATCH && sqlite3_step(st) == SQLITE_ROW) {
        rows[n].outbox_id = sqlite3_column_int64(st, 0);
        rows[n].appt_id = sqlite3_column_int64(st, 1);
        db_col_copy(st, 2, rows[n].op, sizeof rows[n].op);
        rows[n].attempts = sqlite3_column_int(st, 3);
        rows[n].version = sqlite3_column_int64(st, 4);
        rows[n].done = 0;
        n++;
    }
    sqlite3_reset(st);

    if (n >= 2)
        sync_push_batched(c, rows, n);
    for (int i = 0; i < n; i++) {
        struct appt a;
        int r;
        if (rows[i].done)
            continue;
        c->err[0] = '\0';
        memset(&a, 0, sizeof a);
        sync_keepalive(c);
        r = sync_load(c, rows[i].appt_id, &a);
        if (r == CS_ERR_NOTFOUND) {
            r = CS_OK;
        } else if (r == CS_OK) {
            if (strcmp(rows[i].op, "delete") == 0 || !a.is_active)
                r = sync_push_delete(c, &a);
            else
                r = sync_push_upsert(c, &a, 0);
        }
        if (r == CS_OK) {
            sync_outbox_done(c, &rows[i]);
            c->st->pushed++;
        } else if (r == CS_ERR_BUSY) {
            /* changed locally meanwhile; the row stays for the next pass */
        } else if (sync_row_failed(c, &rows[i], r)) {
            rc = r;
            appt_free(&a);
            break;
        }
        appt_free(&a);
    }
    return rc;
}

/* ---- pull ---- */

/* Applies one event from a list page (inside the page's transaction). */
static int sync_pull_item(struct sync_ctx *c, const cJSON *ev, int full)
{
    const char *gid = sync_str(ev, "id"), *status = sync_str(ev, "status");
    const char *etag = sync_str(ev, "etag"), *updated = sync_str(ev, "updated");
    struct appt local, remote;
    char op[8] = "", *snap = NULL;
    sqlite3_stmt *st;
    int have, rc = CS_OK;

    if (gid == NULL)
        return CS_OK;
    {
        /* birthdays, working locations, focus time, out of office: not appointments */
        const char *type = sync_str(ev, "eventType");
        if (type != NULL && strcmp(type, "default") != 0 && strcmp(type, "fromGmail") != 0)
            return CS_OK;
    }
    memset(&local, 0, sizeof local);
    memset(&remote, 0, sizeof remote);
    /* linked now, or linked before a disconnect (reconnecting the same account) */
    have = sync_load_by(c, DB_APPT_BY_GOOGLE_ID, gid, &local) == CS_OK ||
           sync_load_by(c, DB_APPT_BY_FORMER_ID, gid, &local) == CS_OK;
    if (!have) {
        /* one of ours (created by us, link lost)? trust it only when the id is the one we
         * would have chosen for that appointment */
        const char *vid = gmap_private(ev, "vestaAppointmentId");
        char *end;
        long long id = vid ? strtoll(vid, &end, 10) : 0;
        if (id > 0 && *end == '\0' && sync_load(c, id, &local) == CS_OK) {
            char want[GMAP_IDLEN];
            gmap_event_id(c->cfg->secret_key, &local, want);
            have = strcmp(want, gid) == 0;
            if (!have)
                appt_free(&local);
        }
    }
    if (status != NULL && strcmp(status, "cancelled") == 0) {
        if (have && local.is_active) {
            sync_pending_op(c, local.id, op);
            if (strcmp(op, "upsert") != 0) { /* a pending local edit restores it instead */
                rc = sync_mark_deleted(c, local.id);
                st = db_stmt(c->db, DB_OUTBOX_DROP_APPT);
                if (st != NULL) {
                    sqlite3_bind_int64(st, 1, local.id);
                    db_exec(c->db, st);
                }
                c->st->deleted++;
            }
        }
        goto out;
    }
    if (full && (st = db_stmt(c->db, DB_SEEN_ADD)) != NULL) {
        db_bind_text(st, 1, gid);
        db_exec(c->db, st);
    }
    if (have && local.is_active && local.google_event_id && local.google_etag && etag &&
        strcmp(local.google_event_id, gid) == 0 && strcmp(local.google_etag, etag) == 0)
        goto out; /* what we already have: no echo */
    if (gmap_from_event(ev, c->tz, &remote) != CS_OK) {
        log_warn("skipping event with unusable times user=%s", c->user_id);
        goto out;
    }
    snap = gmap_snapshot(&remote);
    if (snap == NULL) {
        rc = CS_ERR_NOMEM;
        goto out;
    }
    if (have)
        sync_pending_op(c, local.id, op);
    if (have && strcmp(op, "delete") == 0)
        goto out; /* deleted here: our delete goes out next */
    if (have && strcmp(op, "upsert") == 0 && local.is_active) {
        /* both sides changed since the last sync: merge field by field */
        int conflicts = gmap_merge(&local, &remote, local.synced_snapshot,
                                   sync_parse_ms(updated) > local.updated_at);
        if (conflicts > 0)
            c->st->conflicts++;
        rc = sync_merge_save(c, &local, gid, etag, updated, snap);
        if (rc == CS_ERR_BUSY)
            rc = CS_OK; /* edited meanwhile: the next pass sees both again */
        c->st->pulled++;
        goto out;
    }
    st = db_stmt(c->db, have ? DB_APPT_PULL_UPDATE : DB_APPT_PULL_INSERT);
    if (st == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    if (have)
        sqlite3_bind_int64(st, 1, local.id);
    db_bind_text(st, 2, c->user_id);
    appt_bind_content(st, 3, &remote);
    db_bind_text(st, 12, gid);
    db_bind_text(st, 13, etag);
    db_bind_text(st, 14, updated);
    db_bind_text(st, 15, snap);
    sqlite3_bind_int64(st, 16, db_now());
    sqlite3_bind_int64(st, 17, db_now_ms());
    rc = db_exec(c->db, st);
    c->st->pulled++;
out:
    free(snap);
    appt_free(&local);
    appt_free(&remote);
    return rc;
}

/* After a full listing: linked appointments Google no longer has are deleted here, unless
 * that would remove more than half of them (and more than 10): then nothing is deleted. */
static int sync_reconcile(struct sync_ctx *c)
{
    sqlite3_stmt *st;
    long long *ids = NULL, linked = 0;
    size_t n = 0;
    int rc;

    st = db_stmt(c->db, DB_APPT_COUNT_LINKED);
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, c->user_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        linked = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    rc = sync_collect_ids(c, DB_APPT_LINKED_UNSEEN, &ids, &n);
    if (rc == CS_OK && n > 10 && (long long)n * 2 > linked) {
        snprintf(c->err, sizeof c->err,
                 "safety stop: Google no longer lists %zu of %lld linked appointments; nothing "
                 "was deleted",
                 n, linked);
        log_error("%s user=%s", c->err, c->user_id);
        rc = CS_ERR_CONFLICT;
    }
    if (rc == CS_OK && n > 0 && (rc = db_begin(c->db)) == CS_OK) {
        for (size_t i = 0; i < n && rc == CS_OK; i++)
            rc = sync_mark_deleted(c, ids[i]);
        if (rc == CS_OK)
            rc = db_commit(c->db);
        if (rc != CS_OK)
            db_rollback(c->db);
        else
            c->st->deleted += (int)n;
    }
    free(ids);
    return rc;
}

static int sync_store_token(struct sync_ctx *c, const char *token)
{
    sqlite3_stmt *st = db_stmt(c->db, DB_INTEG_SET_SYNC_TOKEN);

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, c->user_id);
    db_bind_text(st, 2, token);
    return db_exec(c->db, st);
}

/* Empties the per-connection table of event ids a full listing has seen. */
static int sync_seen_reset(struct sync_ctx *c)
{
    sqlite3_stmt *st;

    if ((st = db_stmt(c->db, DB_SEEN_CREATE)) == NULL || db_exec(c->db, st) != CS_OK ||
        (st = db_stmt(c->db, DB_SEEN_CLEAR)) == NULL || db_exec(c->db, st) != CS_OK)
        return CS_ERR_DB;
    return CS_OK;
}

/* Lists every page (incremental with the stored syncToken, else full) and applies it. */
static int sync_pull(struct sync_ctx *c, const char *sync_token)
{
    char *page = NULL, *next_sync = NULL;
    int full = sync_token == NULL, rc = CS_OK, restarted = 0;

    if (full && sync_seen_reset(c) != CS_OK)
        return CS_ERR_DB;
    for (;;) {
        struct gapi_resp r;
        struct buf path;
        const cJSON *items, *it;
        const char *np, *ns;

        buf_init(&path, 16384);
        rc = sync_path(c, &path, NULL, "?singleEvents=true&maxResults=" SYNC_PAGE_SIZE);
        if (rc == CS_OK && !full) {
            rc = buf_adds(&path, "&syncToken=");
            if (rc == CS_OK)
                rc = gapi_path_segment(&path, sync_token);
        }
        if (rc == CS_OK && page != NULL) {
            rc = buf_adds(&path, "&pageToken=");
            if (rc == CS_OK)
                rc = gapi_path_segment(&path, page);
        }
        if (rc != CS_OK) {
            buf_free(&path);
            break;
        }
        sync_keepalive(c);
        rc = gapi_call(&c->g, "GET", path.data, NULL, NULL, &r);
        buf_free(&path);
        if (rc == CS_OK && r.status == 410 && !full && !restarted) {
            /* the sync token expired: start over with a full sync and reconcile */
            log_info("sync token expired (410): full sync user=%s", c->user_id);
            gapi_resp_free(&r);
            free(page);
            page = NULL;
            full = 1;
            restarted = 1;
            sync_token = NULL;
            sync_store_token(c, NULL);
            if (sync_seen_reset(c) != CS_OK) {
                rc = CS_ERR_DB;
                break;
            }
            continue;
        }
        if (rc == CS_OK && r.status != 200)
            rc = sync_event_error(c, &r, "the event list");
        if (rc != CS_OK) {
            if (c->err[0] == '\0')
                snprintf(c->err, sizeof c->err, "listing events failed: %s", cs_strerror(rc));
            gapi_resp_free(&r);
            break;
        }
        items = cJSON_GetObjectItemCaseSensitive(r.json, "items");
        if ((rc = db_begin(c->db)) == CS_OK) {
            cJSON_ArrayForEach(it, items)
            {
                if ((rc = sync_pull_item(c, it, full)) != CS_OK)
                    break;
            }
            if (rc == CS_OK)
                rc = db_commit(c->db);
            if (rc != CS_OK)
                db_rollback(c->db);
        }
        np = sync_str(r.json, "nextPageToken");
        ns = sync_str(r.json, "nextSyncToken");
        free(page);
        page = np ? strdup(np) : NULL;
        if (ns != NULL) {
            free(next_sync);
            next_sync = strdup(ns);
        }
        gapi_resp_free(&r);
        if (rc != CS_OK)
            break;
        if (page == NULL)
            break;
    }
    if (rc == CS_OK && full)
        rc = sync_reconcile(c);
    if (rc == CS_OK && next_sync != NULL)
        rc = sync_store_token(c, next_sync);
    free(page);
    free(next_sync);
    return rc;
}

/* ---- the run ---- */

static void sync_enqueue_unlinked(struct sync_ctx *c)
{
    sqlite3_stmt *st;
    long long *ids;
    size_t n;

    sync_collect_ids(c, DB_APPT_UNLINKED_ACTIVE, &ids, &n); /* on OOM: what it collected */
    if (n > 0 && db_begin(c->db) == CS_OK) {
        for (size_t i = 0; i < n; i++) {
            st = db_stmt(c->db, DB_OUTBOX_PUT_IF_ABSENT);
            if (st == NULL)
                break;
            db_bind_text(st, 1, c->user_id);
            sqlite3_bind_int64(st, 2, ids[i]);
            sqlite3_bind_int64(st, 3, db_now_ms());
            db_exec(c->db, st);
        }
        if (db_commit(c->db) != CS_OK)
            db_rollback(c->db);
    }
    free(ids);
}

static int sync_pass(struct sync_ctx *c, enum sync_mode mode)
{
    struct integ in;
    int rc;

    if ((rc = integ_get(c->db, c->user_id, &in)) != CS_OK)
        return rc;
    if (!in.is_active) {
        integ_free(&in);
        return CS_ERR_NOTFOUND;
    }
    if (in.sync_token == NULL)
        sync_enqueue_unlinked(c); /* first sync: everything local goes to Google */
    c->st->passes++;
    rc = sync_push(c);
    if (rc == CS_OK && mode == SYNC_FULL) {
        c->pulled = 1;
        rc = sync_pull(c, in.sync_token);
    }
    integ_free(&in);
    return rc;
}

static int sync_lease(struct db *db, enum db_stmt_id id, const char *user_id, const char *owner,
                      long long until)
{
    sqlite3_stmt *st = db_stmt(db, id);

    if (st == NULL)
        return -1;
    db_bind_text(st, 1, user_id);
    if (owner != NULL)
        db_bind_text(st, 2, owner);
    if (until)
        sqlite3_bind_int64(st, 3, until);
    if (id == DB_LEASE_TAKE)
        sqlite3_bind_int64(st, 4, db_now_ms());
    if (db_exec(db, st) != CS_OK)
        return -1;
    return sqlite3_changes(db_handle(db));
}

static void sync_finish_state(struct sync_ctx *c, int rc)
{
    sqlite3_stmt *st;

    if (rc == CS_ERR_REAUTH)
        return; /* gapi already recorded reauth_required */
    st = db_stmt(c->db, DB_INTEG_SYNC_DONE);
    if (st == NULL)
        return;
    db_bind_text(st, 1, c->user_id);
    db_bind_text(st, 2, rc == CS_OK ? "connected" : "error");
    db_bind_text(st, 3, rc == CS_OK ? NULL : (c->err[0] ? c->err : cs_strerror(rc)));
    sqlite3_bind_int64(st, 4, db_now());
    if (c->pulled) /* a push alone must not postpone the next poll */
        sqlite3_bind_int64(st, 5, db_now() + c->cfg->poll_interval_s);
    db_exec(c->db, st);
}

int sync_run(struct db *db, const struct cfg *cfg, const char *user_id, const char *trigger,
             enum sync_mode mode, long long budget_ms, struct sync_stats *stats, char *errbuf,
             size_t errlen)
{
    struct sync_ctx c;
    struct sync_stats local_stats;
    char owner[CRYPT_TOKLEN], calenc[600];
    struct integ in;
    long long run_id = 0, t0 = cal_now_ms();
    sqlite3_stmt *st;
    struct buf b;
    int rc, took;

    memset(&c, 0, sizeof c);
    memset(&local_stats, 0, sizeof local_stats);
    c.st = stats ? stats : &local_stats;
    memset(c.st, 0, sizeof *c.st);
    c.db = db;
    c.cfg = cfg;
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    if (!cfg_google_enabled(cfg))
        return cs_fail(errbuf, errlen, CS_ERR_CONFIG, "Google Calendar is not configured");
    if ((rc = integ_get(db, user_id, &in)) != CS_OK || !in.is_active) {
        if (rc == CS_OK)
            integ_free(&in);
        return cs_fail(errbuf, errlen, CS_ERR_NOTFOUND, "Google Calendar is not connected");
    }
    if (strcmp(in.state, "reauth_required") == 0) {
        integ_free(&in);
        return cs_fail(errbuf, errlen, CS_ERR_REAUTH, "reconnect Google Calendar");
    }
    buf_init(&b, sizeof calenc - 1);
    buf_adds(&b, "/calendars/");
    gapi_path_segment(&b, in.calendar_id);
    snprintf(c.cal, sizeof c.cal, "%s", b.data ? b.data : "/calendars/primary");
    buf_free(&b);
    integ_free(&in);

    crypt_random_token(owner, 16);
    snprintf(c.owner, sizeof c.owner, "%s", owner);
    c.budget_ms = budget_ms;
    took = sync_lease(db, DB_LEASE_TAKE, user_id, owner,
                      db_now_ms() + budget_ms + SYNC_LEASE_SLACK_MS);
    if (took != 1) {
        sync_lease(db, DB_LEASE_REQUEST, user_id, NULL, 0);
        log_info("sync (%s) coalesced into the running one user=%s", trigger, user_id);
        return cs_fail(errbuf, errlen, CS_ERR_BUSY, "a sync is already running");
    }
    sync_user_tz(&c);
    if (mode == SYNC_SETTLED) {
        if (cfg->webhook_settle_ms > 0)
            usleep((useconds_t)cfg->webhook_settle_ms * 1000);
        /* whatever arrived while we waited is covered by the pass about to start */
        sync_lease(db, DB_LEASE_RERUN, user_id, owner, 0);
        mode = SYNC_FULL;
    }
    if ((st = db_stmt(db, DB_RUN_START)) != NULL) {
        db_bind_text(st, 1, user_id);
        db_bind_text(st, 2, trigger);
        sqlite3_bind_int64(st, 3, db_now());
        if (db_exec(db, st) == CS_OK)
            run_id = sqlite3_last_insert_rowid(db_handle(db));
    }
    if (mode == SYNC_FULL)
        integ_set_state(db, user_id, "syncing", NULL);

    rc = gapi_open(&c.g, db, cfg, user_id, budget_ms);
    if (rc == CS_ERR_REAUTH) {
        integ_set_state(db, user_id, "reauth_required",
                        "Google access is missing or unreadable; reconnect Google Calendar");
        snprintf(c.err, sizeof c.err, "reconnect Google Calendar");
    }
    for (int pass = 0; rc == CS_OK; pass++) {
        rc = sync_pass(&c, pass == 0 ? mode : SYNC_FULL);
        if (rc != CS_OK || pass + 1 >= SYNC_MAX_PASSES)
            break;
        sync_finish_state(&c, rc);
        /* release unless someone asked for another pass meanwhile */
        if (sync_lease(db, DB_LEASE_RELEASE, user_id, owner, 0) == 1) {
            owner[0] = '\0';
            break;
        }
        sync_lease(db, DB_LEASE_RERUN, user_id, owner, 0);
        sync_lease(db, DB_LEASE_EXTEND, user_id, owner,
                   db_now_ms() + budget_ms + SYNC_LEASE_SLACK_MS);
        log_info("another pass requested during sync user=%s", user_id);
    }
    if (rc != CS_OK || owner[0] != '\0')
        sync_finish_state(&c, rc);
    if (owner[0] != '\0') {
        /* forced release (error or pass limit): a request still pending is dropped here; the
         * next notification, poll or Sync now serves it */
        sync_lease(db, DB_LEASE_RERUN, user_id, owner, 0);
        sync_lease(db, DB_LEASE_RELEASE, user_id, owner, 0);
    }
    if (c.g.refresh != NULL || c.g.access != NULL)
        gapi_close(&c.g);
    if (run_id && (st = db_stmt(db, DB_RUN_FINISH)) != NULL) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, db_now());
        sqlite3_bind_int(st, 3, c.st->pushed);
        sqlite3_bind_int(st, 4, c.st->pulled);
        sqlite3_bind_int(st, 5, c.st->deleted);
        sqlite3_bind_int(st, 6, c.st->conflicts);
        sqlite3_bind_int(st, 7, rc == CS_OK);
        db_bind_text(st, 8, rc == CS_OK ? NULL : (c.err[0] ? c.err : cs_strerror(rc)));
        db_exec(db, st);
        if ((st = db_stmt(db, DB_RUN_TRIM)) != NULL) {
            db_bind_text(st, 1, user_id);
            db_exec(db, st);
        }
    }
    log_info("sync (%s) user=%s %s: pushed=%d pulled=%d deleted=%d conflicts=%d errors=%d "
             "passes=%d google_calls=%d %lldms",
             trigger, user_id, rc == CS_OK ? "ok" : cs_strerror(rc), c.st->pushed, c.st->pulled,
             c.st->deleted, c.st->conflicts, c.st->errors, c.st->passes, c.g.calls,
             cal_now_ms() - t0);
    if (rc != CS_OK)
        cs_fail(errbuf, errlen, rc, "%s", c.err[0] ? c.err : cs_strerror(rc));
    return rc;
}

void sync_after_commit(struct db *db, const struct cfg *cfg, const char *user_id)
{
    char err[CS_ERRLEN];

    if (cfg->push_budget_ms <= 0)
        return;
    sync_run(db, cfg, user_id, "change", SYNC_PUSH, cfg->push_budget_ms, NULL, err, sizeof err);
}

/* ---- channels ---- */

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

int sync_channel_open(struct db *db, const struct cfg *cfg, const char *user_id)
{
    char id[CRYPT_UUIDLEN], token[CRYPT_HEXLEN], token_hash[CRYPT_HEXLEN];
    struct integ in;
    struct gapi g;
    struct gapi_resp r;
    struct buf path;
    cJSON *body = NULL;
    const char *rid, *exp_s;
    long long exp;
    sqlite3_stmt *st;
    int rc;

    if (*cfg->webhook_url == '\0')
        return CS_ERR_NOTFOUND;
    if ((rc = integ_get(db, user_id, &in)) != CS_OK)
        return rc;
    if ((rc = gapi_open(&g, db, cfg, user_id,
                        cfg->push_budget_ms > 5000 ? cfg->push_budget_ms : 5000)) != CS_OK) {
        integ_free(&in);
        return rc;
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
        buf_adds(&path, "/events/watch") != CS_OK) {
        rc = CS_ERR_NOMEM;
        goto out;
    }
    rc = gapi_call(&g, "POST", path.data, body, NULL, &r);
    if (rc == CS_OK && r.status != 200)
        rc = CS_ERR_GOOGLE;
    rid = sync_str(r.json, "resourceId");
    exp_s = sync_str(r.json, "expiration");
    if (rc == CS_OK && rid == NULL)
        rc = CS_ERR_GOOGLE;
    if (rc != CS_OK) {
        log_warn("opening push channel failed (%s, status %ld %s) user=%s", cs_strerror(rc),
                 r.status, r.reason, user_id);
        gapi_resp_free(&r);
        goto out;
    }
    exp = exp_s ? strtoll(exp_s, NULL, 10) : db_now_ms() + (long long)cfg->channel_ttl_s * 1000;
    st = db_stmt(db, DB_INTEG_SET_CHANNEL);
    if (st == NULL) {
        rc = CS_ERR_DB;
        gapi_resp_free(&r);
        goto out;
    }
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, id);
    db_bind_text(st, 3, rid);
    db_bind_text(st, 4, token_hash);
    sqlite3_bind_int64(st, 5, exp);
    sqlite3_bind_int64(st, 6, db_now());
    db_bind_text(st, 7, in.channel_id);
    rc = db_exec(db, st);
    if (rc == CS_OK && sqlite3_changes(db_handle(db)) != 1) {
        /* another process replaced the channel first (or the user disconnected): ours is
         * surplus */
        log_info("channel renewed elsewhere meanwhile; stopping the surplus one user=%s", user_id);
        sync_channel_stop(&g, id, rid);
        gapi_resp_free(&r);
        rc = CS_ERR_BUSY;
        goto out;
    }
    log_info("push channel opened (expires in %llds) user=%s", (exp - db_now_ms()) / 1000, user_id);
    gapi_resp_free(&r);
    if (rc == CS_OK && in.channel_id != NULL && in.resource_id != NULL)
        sync_channel_stop(&g, in.channel_id, in.resource_id); /* new first, then the old */
out:
    cJSON_Delete(body);
    buf_free(&path);
    gapi_close(&g);
    integ_free(&in);
    return rc;
}

/* ---- status ---- */

cJSON *sync_status_json(struct db *db, const char *user_id)
{
    cJSON *o = cJSON_CreateObject();
    struct integ in;
    sqlite3_stmt *st;
    long long pending = 0;
    int connected = 0, held = 0, have;
    char when[CAL_STRLEN];
    const char *state = "not_connected";

    if (o == NULL)
        return NULL;
    have = integ_get(db, user_id, &in) == CS_OK;
    if (have && in.is_active) {
        connected = strcmp(in.state, "reauth_required") != 0;
        state = in.state;
        st = db_stmt(db, DB_LEASE_HELD);
        if (st != NULL) {
            db_bind_text(st, 1, user_id);
            sqlite3_bind_int64(st, 2, db_now_ms());
            if (sqlite3_step(st) == SQLITE_ROW)
                held = sqlite3_column_int(st, 0);
            sqlite3_reset(st);
        }
        /* "syncing" while a run holds the lease, or was announced moments ago (the connect
         * callback says so before its sync starts); an old mark is a run that died */
        if (connected && (held || (strcmp(state, "syncing") == 0 &&
                                   db_now() - in.updated_at < SYNC_ANNOUNCED_S)))
            state = "syncing";
        else if (strcmp(state, "syncing") == 0)
            state = "connected";
    }
    st = db_stmt(db, DB_OUTBOX_COUNT);
    if (st != NULL && connected) {
        db_bind_text(st, 1, user_id);
        if (sqlite3_step(st) == SQLITE_ROW)
            pending = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    cJSON_AddStringToObject(o, "provider", "google_calendar");
    cJSON_AddBoolToObject(o, "connected", connected);
    cJSON_AddStringToObject(o, "state", state);
    cJSON_AddStringToObject(o, "calendarId",
                            have && in.calendar_id[0] ? in.calendar_id : "primary");
    if (have && in.is_active && in.last_sync_at > 0) {
        cal_format_utc((time_t)in.last_sync_at, when);
        cJSON_AddStringToObject(o, "lastSync", when);
    } else {
        cJSON_AddNullToObject(o, "lastSync");
    }
    if (have && in.is_active && in.last_error != NULL)
        cJSON_AddStringToObject(o, "lastError", in.last_error);
    else
        cJSON_AddNullToObject(o, "lastError");
    cJSON_AddNumberToObject(o, "pending", (double)pending);
    cJSON_AddBoolToObject(o, "realtime", have && in.is_active && in.channel_id != NULL);
    if (have)
        integ_free(&in);
    return o;
}
