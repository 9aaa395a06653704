/* vesta_feed.c: the vesta host's change feed: Vesta's app writes its appointments table
 * directly, so calsync finds every insert, update, soft delete and outright delete itself and
 * queues them for Google. The feed reads rows by updated_at (an index calsync adds), compares
 * each with what calsync last saw of it (its snapshot), so calsync's own writes and no-op
 * updates go nowhere. */
#include "appt.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "log.h"
#include "outbox.h"
#include "vesta_feed.h"
#include "vesta_row.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VESTA_FEED_PAGE 500
/* updated_at has second resolution and a transaction's rows can commit after a later second
 * was read: each pass reads again from a little before its mark */
#define VESTA_FEED_OVERLAP_S 5
/* a writer whose clock runs behind (the ORM sets updated_at itself) can write a time already
 * passed: a wider pass every minute reaches an hour back */
#define VESTA_FEED_DEEP_EVERY_S 60
#define VESTA_FEED_DEEP_SPAN_S 3600
/* rows deleted outright leave no trace to read by time: calsync's linked rows are checked */
#define VESTA_GONE_EVERY_MS 1000

static int vesta_store_save(struct db *db, const struct appt *a)
{
    struct db_stmt *st = db_stmt(db, DB_APPT_HOST_SAVE);

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, a->id);
    db_bind_text(st, 2, a->user_id);
    appt_bind_content(st, 3, a);
    db_bind_int(st, 12, a->is_active);
    db_bind_int64(st, 13, db_now_ms());
    return db_exec(db, st);
}

static int vesta_store_insert(struct db *db, struct appt *a, int queued)
{
    struct db_stmt *st = db_stmt(db, DB_APPT_INSERT_ID);

    if (st == NULL)
        return CS_ERR_DB;
    a->created_at = a->updated_at = db_now_ms();
    db_bind_text(st, 1, a->user_id);
    appt_bind_content(st, 2, a);
    db_bind_text(st, 11, queued ? "pending" : "local");
    db_bind_int64(st, 12, a->created_at);
    db_bind_int64(st, 13, a->id);
    return db_exec(db, st);
}

/* A Vesta link made before calsync (Vesta's own attempt): re-used on the first push. */
static int vesta_store_former(struct db *db, long long id, const char *gid)
{
    struct db_stmt *st = db_stmt(db, DB_APPT_SET_FORMER);

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, id);
    db_bind_text(st, 2, gid);
    return db_exec(db, st);
}

/* Brings one Vesta row into the store (inside the caller's transaction). push: the job delay,
 * or OUTBOX_NO_PUSH (a first sync queues everything itself). *changed says whether anything
 * was new. */
static int vesta_apply(struct db *db, struct vesta_row *r, const struct vesta_row *prev,
                       long long push, int *changed)
{
    struct appt a;
    char *title = NULL, *loc = NULL;
    int rc, mask, have;

    *changed = 0;
    if (prev->id != 0 && vesta_row_same(r, prev))
        return CS_OK; /* calsync's own write, a no-op update, or seen already */
    memset(&a, 0, sizeof a);
    mask = prev->id != 0 ? vesta_row_diff(r, prev) : ~0;
    if ((rc = appt_get_any(db, r->user_id, r->id, &a)) != CS_OK && rc != CS_ERR_NOTFOUND)
        goto out;
    have = rc == CS_OK;
    /* calsync's notes and generated title carry over from the snapshot */
    r->gen_title = prev->gen_title ? strdup(prev->gen_title) : NULL;
    r->gnotes = prev->gnotes ? strdup(prev->gnotes) : NULL;
    if (!have && !r->active) {
        rc = vesta_snap_put(db, r); /* deleted before calsync had it: nothing to tell Google */
        goto out;
    }
    if (!have || (mask & (VR_TYPE | VR_CONTACT | VR_LISTING))) {
        if ((rc = vesta_describe(db, r, &title, &loc)) != CS_OK)
            goto out;
    }
    if (!have) {
        vesta_row_to_appt(r, &a);
        a.title = title;
        a.location = loc;
        a.description = r->notes ? strdup(r->notes) : strdup("");
        title = loc = NULL;
        free(r->gen_title);
        r->gen_title = strdup(a.title);
        if (a.description == NULL || r->gen_title == NULL) {
            rc = CS_ERR_NOMEM;
            goto out;
        }
        rc = vesta_store_insert(db, &a, push != OUTBOX_NO_PUSH);
        if (rc == CS_OK && r->gid != NULL && *r->gid)
            rc = vesta_store_former(db, a.id, r->gid);
        if (rc == CS_OK)
            rc = outbox_put(db, a.user_id, a.id, "upsert", push);
        *changed = 1;
        if (rc == CS_OK)
            rc = vesta_snap_put(db, r);
        goto out;
    }
    /* the fields Vesta changed, over what the store has (Google's summary is kept unless the
     * type or the contact changed) */
    if (mask & VR_TIMES)
        vesta_row_times(r, &a);
    if ((mask & VR_TYPE) && appt_type_valid(r->type))
        snprintf(a.type, sizeof a.type, "%.15s", r->type);
    if (mask & VR_STATUS)
        snprintf(a.status, sizeof a.status, "%.15s",
                 appt_status_valid(r->status) ? r->status : "Scheduled");
    if (mask & VR_CONTACT)
        a.contact_id = r->contact_id;
    if (mask & VR_ACTIVE)
        a.is_active = r->active;
    if (mask & VR_NOTES) {
        char *d = vesta_desc_of(r->notes, &a, r->gen_title);
        if (d == NULL) {
            rc = CS_ERR_NOMEM;
            goto out;
        }
        free(a.description);
        a.description = d;
    }
    if (mask & (VR_TYPE | VR_CONTACT)) {
        free(a.title);
        a.title = title;
        title = NULL;
        free(r->gen_title);
        r->gen_title = strdup(a.title);
    }
    if (mask & VR_LISTING) {
        free(a.location);
        a.location = loc;
        loc = NULL;
    }
    if ((rc = vesta_store_save(db, &a)) != CS_OK)
        goto out;
    rc = outbox_put(db, a.user_id, a.id, a.is_active ? "upsert" : "delete", push);
    *changed = 1;
    if (rc == CS_OK)
        rc = vesta_snap_put(db, r);
out:
    free(title);
    free(loc);
    appt_free(&a);
    return rc;
}

/* Rows of the store whose Vesta row was deleted outright: deleted, and queued. */
static int vesta_gone(struct db *db, const struct cfg *cfg, int *found)
{
    struct db_stmt *st = db_stmt(db, DB_VESTA_GONE);
    long long ids[64];
    char users[64][CRYPT_UUIDLEN];
    int n = 0, rc = CS_OK;

    if (st == NULL)
        return CS_ERR_DB;
    while (n < 64 && db_step(st) == DB_ROW) {
        ids[n] = db_col_int64(st, 0);
        db_col_copy(st, 1, users[n], sizeof users[n]);
        n++;
    }
    db_reset(st);
    for (int i = 0; i < n && rc == CS_OK; i++) {
        struct appt a;
        struct vesta_row r;
        memset(&a, 0, sizeof a);
        memset(&r, 0, sizeof r);
        r.id = ids[i];
        snprintf(r.user_id, sizeof r.user_id, "%s", users[i]);
        if ((rc = appt_get_any(db, r.user_id, r.id, &a)) == CS_OK) {
            a.is_active = 0;
            rc = vesta_store_save(db, &a);
            if (rc == CS_OK)
                rc = outbox_put(db, a.user_id, a.id, "delete", vesta_push_delay(cfg));
            (*found)++;
        } else if (rc == CS_ERR_NOTFOUND) {
            rc = CS_OK;
        }
        appt_free(&a);
    }
    return rc;
}

static int vesta_idcmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The connected agents (sorted), read once per pass; *n of them. NULL with *n 0 when none. */
static char (*vesta_connected(struct db *db, size_t *n, int *rc))[CRYPT_UUIDLEN]
{
    struct db_stmt *st = db_stmt(db, DB_VESTA_CONNECTED);
    char(*ids)[CRYPT_UUIDLEN] = NULL;
    size_t cap = 0;

    *n = 0;
    *rc = CS_OK;
    if (st == NULL) {
        *rc = CS_ERR_DB;
        return NULL;
    }
    while (db_step(st) == DB_ROW) {
        if (*n == cap) {
            char(*p)[CRYPT_UUIDLEN] = realloc(ids, (cap = cap ? cap * 2 : 64) * sizeof *ids);
            if (p == NULL) {
                *rc = CS_ERR_NOMEM;
                break;
            }
            ids = p;
        }
        db_col_copy(st, 0, ids[*n], sizeof ids[*n]);
        (*n)++;
    }
    db_reset(st);
    if (ids != NULL)
        qsort(ids, *n, sizeof *ids, vesta_idcmp);
    return ids;
}

int vesta_feed(struct db *db, const struct cfg *cfg, int *found)
{
    char(*users)[CRYPT_UUIDLEN] = NULL;
    size_t nusers = 0;
    struct db_stmt *st;
    long long mark_s, mark_id, now_s, deep_s, gone_ms, from_s, from_id, last_s, last_id;
    long long t_ms = db_now_ms();
    int rc, n = 0, deep;

    *found = 0;
    if ((rc = db_begin(db)) != CS_OK)
        return rc;
    /* one node at a time: the others wait here, then find the mark moved on */
    if ((st = db_stmt(db, DB_VESTA_FEED_LOCK)) == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    if (db_step(st) != DB_ROW) {
        db_reset(st);
        rc = CS_ERR_DB;
        goto out;
    }
    mark_s = db_col_int64(st, 0);
    mark_id = db_col_int64(st, 1);
    now_s = db_col_int64(st, 2);
    deep_s = db_col_int64(st, 3);
    gone_ms = db_col_int64(st, 4);
    db_reset(st);
    deep = now_s - deep_s >= VESTA_FEED_DEEP_EVERY_S;
    if ((users = vesta_connected(db, &nusers, &rc)) == NULL && rc != CS_OK)
        goto out;
    from_s = deep ? now_s - VESTA_FEED_DEEP_SPAN_S : mark_s - VESTA_FEED_OVERLAP_S;
    if (from_s < 0)
        from_s = 0;
    from_id = 0;
    last_s = mark_s;
    last_id = mark_id;
    for (;;) {
        struct vesta_row rows[VESTA_FEED_PAGE / 10], prevs[VESTA_FEED_PAGE / 10];
        int got = 0, limit = VESTA_FEED_PAGE / 10;
        if ((st = db_stmt(db, DB_VESTA_FEED)) == NULL) {
            rc = CS_ERR_DB;
            break;
        }
        db_bind_int64(st, 1, from_s);
        db_bind_int64(st, 2, from_id);
        db_bind_int64(st, 3, limit);
        while (got < limit && db_step(st) == DB_ROW) {
            memset(&rows[got], 0, sizeof rows[got]);
            rows[got].id = db_col_int64(st, 0);
            vesta_row_read(st, 1, &rows[got], &prevs[got]);
            rows[got].updated_s = db_col_int64(st, 13);
            got++;
        }
        db_reset(st);
        for (int i = 0; i < got; i++) {
            int changed = 0;
            if (rc == CS_OK && nusers > 0 &&
                bsearch(rows[i].user_id, users, nusers, sizeof *users, vesta_idcmp) != NULL)
                rc = vesta_apply(db, &rows[i], &prevs[i], vesta_push_delay(cfg), &changed);
            n += changed;
            from_s = rows[i].updated_s;
            from_id = rows[i].id;
            if (from_s > last_s || (from_s == last_s && from_id > last_id)) {
                last_s = from_s;
                last_id = from_id;
            }
            vesta_row_free(&rows[i]);
            vesta_row_free(&prevs[i]);
        }
        if (rc != CS_OK || got < limit)
            break;
    }
    if (rc == CS_OK && t_ms - gone_ms >= VESTA_GONE_EVERY_MS) {
        rc = vesta_gone(db, cfg, &n);
        gone_ms = t_ms;
    }
    if (rc == CS_OK && (st = db_stmt(db, DB_VESTA_FEED_SET)) != NULL) {
        /* the mark never passes the database's own clock: a row written later in this second
         * is read again next time (the overlap) */
        /* nothing newer read: the mark still moves up to a little before now, so each pass
         * reads a bounded window however long the feed was idle */
        if (last_s < now_s - VESTA_FEED_OVERLAP_S) {
            last_s = now_s - VESTA_FEED_OVERLAP_S;
            last_id = 0;
        }
        db_bind_int64(st, 1, last_s > now_s ? now_s : last_s);
        db_bind_int64(st, 2, last_s > now_s ? 0 : last_id);
        db_bind_int64(st, 3, deep ? now_s : deep_s);
        db_bind_int64(st, 4, gone_ms);
        rc = db_exec(db, st);
    }
out:
    free(users);
    rc = db_end(db, rc);
    if (rc == CS_OK && n > 0)
        log_info("vesta feed: %d appointment change(s) queued", n);
    *found = n;
    return rc;
}

int vesta_seed(struct db *db, const struct cfg *cfg, const char *user_id)
{
    struct db_stmt *st;
    int rc, n = 0;

    (void)cfg;
    if ((rc = db_begin(db)) != CS_OK)
        return rc;
    if ((st = db_stmt(db, DB_VESTA_SEED)) == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    db_bind_text(st, 1, user_id);
    /* collected first: the statement's rows must be read out before others run */
    {
        struct vesta_row *rows = NULL, *prevs = NULL;
        size_t cnt = 0, cap = 0;
        while (rc == CS_OK && db_step(st) == DB_ROW) {
            if (cnt == cap) {
                size_t nc = cap ? cap * 2 : 64;
                struct vesta_row *r2 = realloc(rows, nc * sizeof *rows);
                struct vesta_row *p2 = r2 ? realloc(prevs, nc * sizeof *prevs) : NULL;
                if (r2 != NULL)
                    rows = r2;
                if (p2 == NULL) {
                    rc = CS_ERR_NOMEM;
                    break;
                }
                prevs = p2;
                cap = nc;
            }
            memset(&rows[cnt], 0, sizeof rows[cnt]);
            rows[cnt].id = db_col_int64(st, 0);
            vesta_row_read(st, 1, &rows[cnt], &prevs[cnt]);
            cnt++;
        }
        db_reset(st);
        for (size_t i = 0; i < cnt; i++) {
            int changed = 0;
            if (rc == CS_OK)
                rc = vesta_apply(db, &rows[i], &prevs[i], OUTBOX_NO_PUSH, &changed);
            n += changed;
            vesta_row_free(&rows[i]);
            vesta_row_free(&prevs[i]);
        }
        free(rows);
        free(prevs);
    }
out:
    rc = db_end(db, rc);
    if (rc == CS_OK)
        log_info("vesta: %d appointment(s) of user=%s brought in for the first sync", n, user_id);
    return rc;
}
