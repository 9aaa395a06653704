/* sync_pull.c: Google's changes applied here: incremental (syncToken) or full listings, page by
 * page, smaller pages when one is too big, reconciliation after a full listing. */
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

#define SYNC_PAGE_SIZE 2500 /* Google's maximum */
#define SYNC_PAGE_FLOOR 1   /* one event per page: only an event over the reply cap fails */

/* An instance of a recurring series by (recurringEventId, originalStartTime). */
static int sync_load_instance(struct sync_ctx *c, const struct gevent *ge, struct appt *a)
{
    struct db_stmt *st = db_stmt(c->db, DB_APPT_BY_INSTANCE);
    int rc = CS_ERR_NOTFOUND;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, c->user_id);
    db_bind_text(st, 2, ge->recurring_id);
    db_bind_text(st, 3, ge->original_start);
    if (db_step(st) == DB_ROW)
        rc = appt_from_row(st, a);
    db_reset(st);
    return rc;
}

/* One of ours whose link was lost: trusted only when its id is one calsync would have chosen
 * for that appointment (any generation: a fresh id replaces one Google keeps deleted). */
static int sync_load_ours(struct sync_ctx *c, const cJSON *ev, const char *gid, struct appt *a)
{
    const char *vid = gmap_private(ev, "vestaAppointmentId");
    char *end, want[GMAP_IDLEN];
    long long id = vid ? strtoll(vid, &end, 10) : 0;

    if (id <= 0 || *end != '\0' || sync_load(c, id, a) != CS_OK)
        return 0;
    for (int gen = 0; gen < GMAP_ID_GENERATIONS; gen++) {
        gmap_event_id_gen(c->cfg->secret_key, a, gen, want);
        if (strcmp(want, gid) == 0)
            return 1;
    }
    appt_free(a);
    return 0;
}

/* Applies one event from a list page (inside the page's transaction). */
static int sync_pull_item(struct sync_ctx *c, const cJSON *ev, int full)
{
    const char *gid = sync_str(ev, "id"), *status = sync_str(ev, "status");
    const char *etag = sync_str(ev, "etag"), *updated = sync_str(ev, "updated");
    struct appt local, remote;
    struct gevent ge;
    char op[8] = "", *snap = NULL;
    struct db_stmt *st;
    int have, rc = CS_OK, gone;

    if (gid == NULL)
        return CS_OK;
    gevent_read(ev, &ge);
    gone = (status != NULL && strcmp(status, "cancelled") == 0) || ge.cls == GEVENT_DECLINED;
    /* birthdays, working locations, focus time, types Google adds later: never appointments
     * (a cancelled item carries no type: it is looked up like any other) */
    if (!gone && ge.cls == GEVENT_IGNORED)
        return CS_OK;
    memset(&local, 0, sizeof local);
    memset(&remote, 0, sizeof remote);
    /* linked now, or linked before a disconnect (reconnecting the same account) */
    have = sync_load_by(c, DB_APPT_BY_GOOGLE_ID, gid, &local) == CS_OK ||
           sync_load_by(c, DB_APPT_BY_FORMER_ID, gid, &local) == CS_OK;
    /* an instance whose id changed format is still the same (series, original start) */
    if (!have && ge.recurring_id != NULL)
        have = sync_load_instance(c, &ge, &local) == CS_OK;
    if (!have)
        have = sync_load_ours(c, ev, gid, &local);
    if (gone) {
        if (have && local.is_active) {
            sync_pending_op(c, local.id, op);
            /* a pending local edit restores one of ours; but an invitation the user declined,
             * someone else's event, or an instance Google took out of its series (deleted, or
             * cut off by a "this and following" split: restoring it would put a lone copy
             * beside the new series) goes, whatever was edited here */
            if (strcmp(op, "upsert") != 0 || ge.cls == GEVENT_DECLINED || appt_read_only(&local) ||
                local.google_recurring_id != NULL || ge.recurring_id != NULL) {
                if (strcmp(op, "upsert") == 0)
                    log_warn("appointment %lld: Google removed its event; the change made here "
                             "goes with it user=%s",
                             local.id, c->user_id);
                rc = sync_mark_deleted(c, local.id);
                st = db_stmt(c->db, DB_OUTBOX_DROP_APPT);
                if (st != NULL) {
                    db_bind_int64(st, 1, local.id);
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
    /* deleted here while it was someone else's: it stays out of Vesta */
    if (have && !local.is_active && strcmp(local.sync_state, "dismissed") == 0)
        goto out;
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
        if (rc == CS_OK)
            rc = sync_store_meta(c, local.id, &ge, &local);
        c->st->pulled++;
        goto out;
    }
    snprintf(remote.user_id, sizeof remote.user_id, "%s", c->user_id);
    remote.is_active = 1;
    remote.id = have ? local.id : 0;
    /* a new appointment: the host's row first, whose id it takes */
    if (!have && (rc = c->host->create(c->db, c->cfg, &remote, ev)) != CS_OK)
        goto out;
    st = db_stmt(c->db, have            ? DB_APPT_PULL_UPDATE
                        : remote.id > 0 ? DB_APPT_PULL_INSERT_ID
                                        : DB_APPT_PULL_INSERT);
    if (st == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    if (have || remote.id > 0)
        db_bind_int64(st, 1, remote.id);
    db_bind_text(st, 2, c->user_id);
    appt_bind_content(st, 3, &remote);
    db_bind_text(st, 12, gid);
    db_bind_text(st, 13, etag);
    db_bind_text(st, 14, updated);
    db_bind_text(st, 15, snap);
    db_bind_int64(st, 16, db_now());
    db_bind_int64(st, 17, db_now_ms());
    rc = db_exec(c->db, st);
    if (rc == CS_OK && !have && remote.id == 0)
        remote.id = db_last_id(c->db);
    if (rc == CS_OK)
        rc = sync_store_meta(c, remote.id, &ge, have ? &local : NULL);
    if (rc == CS_OK && have)
        rc = sync_host_store(c, &remote);
    c->st->pulled++;
out:
    free(snap);
    appt_free(&local);
    appt_free(&remote);
    return rc;
}

/* Inside a long write transaction (a page of events, a reconcile): keeps the job's lease, which
 * would lapse if the work outlasted it. The renewal is written between two transactions: on
 * MySQL it locks the job's row, and the webhook's enqueue would wait behind the rest of the
 * page. Splitting is safe: each item is applied on its own and the sync token is stored only
 * after the last page. */
static int sync_tx_keepalive(struct sync_ctx *c)
{
    int rc, rc2;

    if (c->lost)
        return CS_ERR_BUSY;
    if (c->job == NULL || !jobs_lease_due(c->job))
        return CS_OK;
    if ((rc = db_commit(c->db)) != CS_OK)
        return rc;
    rc = sync_keepalive(c);
    rc2 = db_begin(c->db);
    return rc != CS_OK ? rc : rc2;
}

/* After a full listing: linked appointments Google no longer has are deleted here, unless
 * that would remove more than half of them (and more than 10): then nothing is deleted. */
static int sync_reconcile(struct sync_ctx *c)
{
    struct db_stmt *st;
    long long *ids = NULL, linked = 0;
    size_t n = 0;
    int rc;

    st = db_stmt(c->db, DB_APPT_COUNT_LINKED);
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, c->user_id);
    if (db_step(st) == DB_ROW)
        linked = db_col_int64(st, 0);
    db_reset(st);
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
            if ((rc = sync_tx_keepalive(c)) == CS_OK)
                rc = sync_mark_deleted(c, ids[i]);
        if ((rc = db_end(c->db, rc)) == CS_OK)
            c->st->deleted += (int)n;
    }
    free(ids);
    return rc;
}

static int sync_store_token(struct sync_ctx *c, const char *token)
{
    struct db_stmt *st = db_stmt(c->db, DB_INTEG_SET_SYNC_TOKEN);

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, c->user_id);
    db_bind_text(st, 2, token);
    return db_exec(c->db, st);
}

/* Empties the per-connection table of event ids a full listing has seen. */
static int sync_seen_reset(struct sync_ctx *c)
{
    struct db_stmt *st;

    if ((st = db_stmt(c->db, DB_SEEN_CREATE)) == NULL || db_exec(c->db, st) != CS_OK ||
        (st = db_stmt(c->db, DB_SEEN_CLEAR)) == NULL || db_exec(c->db, st) != CS_OK)
        return CS_ERR_DB;
    return CS_OK;
}

/* Lists every page (incremental with the stored syncToken, else full) and applies it. */
int sync_pull(struct sync_ctx *c, const char *sync_token)
{
    char *page = NULL, *next_sync = NULL;
    int full = sync_token == NULL, rc = CS_OK, restarted = 0, size = SYNC_PAGE_SIZE;
    long long seen = 0;
    /* a first sync imports the calendar; a full listing may take long too: both show progress */
    const char *phase = c->initial ? "import" : "pull";

    if (full && sync_seen_reset(c) != CS_OK)
        return CS_ERR_DB;
    if (full)
        sync_progress(c, phase, 0, -1);
    for (;;) {
        struct gapi_resp r;
        struct buf path;
        const cJSON *items, *it;
        const char *np, *ns;

        buf_init(&path, 16384);
        /* only the types that may become appointments are listed (GEVENT_LIST_TYPES) */
        rc = sync_path(c, &path, NULL, "?singleEvents=true" GEVENT_LIST_TYPES "&maxResults=");
        if (rc == CS_OK)
            rc = buf_printf(&path, "%d", size);
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
        rc = gapi_call(&c->g, "GET", path.data, NULL, NULL, &r);
        buf_free(&path);
        if (rc == CS_ERR_TOOBIG && size > SYNC_PAGE_FLOOR) {
            /* the page is over the reply cap: the same page again, smaller; the rest of the
             * listing keeps the smaller size */
            gapi_resp_free(&r);
            size = size / 4 > SYNC_PAGE_FLOOR ? size / 4 : SYNC_PAGE_FLOOR;
            log_info("event list page over %d MiB: asking again with maxResults=%d user=%s",
                     GAPI_REPLY_MAX >> 20, size, c->user_id);
            continue;
        }
        if (rc == CS_ERR_TOOBIG)
            snprintf(c->err, sizeof c->err,
                     "an event on Google is larger than calsync accepts (%d MiB); the listing "
                     "is tried again later",
                     GAPI_REPLY_MAX >> 20);
        if (rc == CS_OK && r.status == 410 && restarted < 2) {
            /* the sync token expired, or a page token did in the middle of a listing (full
             * or not): start over with a full sync and reconcile. What earlier pages applied
             * stays applied; the full listing sees it again. */
            log_info("%s expired (410): full sync user=%s", page ? "page token" : "sync token",
                     c->user_id);
            gapi_resp_free(&r);
            free(page);
            page = NULL;
            full = 1;
            restarted++;
            seen = 0;
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
        if (gapi_page_parse(r.json, &items, &np, &ns) != CS_OK) {
            snprintf(c->err, sizeof c->err, "Google sent an unreadable event list page");
            gapi_resp_free(&r);
            rc = CS_ERR_GOOGLE;
            break;
        }
        if ((rc = db_begin(c->db)) == CS_OK) {
            cJSON_ArrayForEach(it, items)
            {
                int applied = c->st->pulled + c->st->deleted;
                if ((rc = sync_tx_keepalive(c)) != CS_OK ||
                    (rc = sync_pull_item(c, it, full)) != CS_OK)
                    break;
                if (!full && c->st->pulled + c->st->deleted > applied) /* a change from Google */
                    metrics_latency(METRICS_TO_VESTA, sync_parse_ms(sync_str(it, "updated")));
            }
            rc = db_end(c->db, rc);
        }
        seen += cJSON_GetArraySize(items);
        if (rc == CS_OK && (full || np != NULL || c->progress_set))
            sync_progress(c, phase, seen, -1);
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
