/* host_vesta_appt.c: the vesta host's appointment source: Vesta's appointments table kept in
 * step with calsync's store (a row each, same id), under a compare-and-swap on what calsync
 * last saw of the row; the change feed lives in vesta_feed.c. */
#include "appt.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "host.h"
#include "log.h"
#include "vesta_feed.h"
#include "vesta_row.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Reads and locks a Vesta row with what calsync last saw of it (prev->id 0: nothing).
 * CS_ERR_NOTFOUND when the row is gone. */
static int vesta_lock(struct db *db, long long id, struct vesta_row *r, struct vesta_row *prev)
{
    struct db_stmt *st = db_stmt(db, DB_VESTA_ROW_LOCK);
    int rc = CS_ERR_NOTFOUND, step;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, id);
    r->id = id;
    step = db_step(st);
    if (step == DB_ROW)
        rc = vesta_row_read(st, 0, r, prev);
    else if (step != DB_DONE)
        rc = CS_ERR_DB;
    db_reset(st);
    return rc;
}

/* The id (first column) a statement of one row selects, 0 when none. Its parameters: ?1 the
 * text s1, or the number n when s1 is NULL; ?2 (when it has one) the text s2, else n. */
static long long vesta_one_id(struct db *db, enum db_stmt_id id, const char *s1, long long n,
                              const char *s2)
{
    struct db_stmt *st = db_stmt(db, id);
    long long v = 0;

    if (st == NULL)
        return 0;
    if (s1 != NULL)
        db_bind_text(st, 1, s1);
    else
        db_bind_int64(st, 1, n);
    if (s2 != NULL)
        db_bind_text(st, 2, s2);
    else if (s1 != NULL && db_param_count(st) >= 2)
        db_bind_int64(st, 2, n);
    if (db_step(st) == DB_ROW && !db_col_is_null(st, 0))
        v = db_col_int64(st, 0);
    db_reset(st);
    return v;
}

/* The account's "Google Calendar" contact (made once per account, marked in its
 * additional_info): the contact of events with no attendee among the account's contacts. */
static int vesta_gcal_contact(struct db *db, const char *user_id, long long *out)
{
    long long acc = vesta_one_id(db, DB_VESTA_ACCOUNT_OF, user_id, 0, NULL), cid;
    struct db_stmt *st;
    int rc;

    *out = 0;
    if (acc == 0)
        return cs_fail(NULL, 0, CS_ERR_NOTFOUND, "user without an account");
    if ((cid = vesta_one_id(db, DB_VESTA_GCAL_GET, NULL, acc, NULL)) > 0) {
        *out = cid;
        return CS_OK;
    }
    /* claim the account's row first: a second node making the contact at the same time waits
     * here for the first one's commit and then finds its contact */
    if ((st = db_stmt(db, DB_VESTA_GCAL_CLAIM)) == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, acc);
    if ((rc = db_exec(db, st)) != CS_OK)
        return rc;
    if ((cid = vesta_one_id(db, DB_VESTA_GCAL_GET, NULL, acc, NULL)) > 0) {
        *out = cid;
        return CS_OK;
    }
    if ((st = db_stmt(db, DB_VESTA_CONTACT_INSERT)) == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, acc);
    if ((rc = db_exec(db, st)) != CS_OK)
        return rc;
    cid = db_last_id(db);
    if ((st = db_stmt(db, DB_VESTA_GCAL_SET)) == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, acc);
    db_bind_int64(st, 2, cid);
    if ((rc = db_exec(db, st)) == CS_OK)
        *out = cid;
    return rc;
}

/* The contact of a Google event: an attendee (not the agent) who is a contact of the agent's
 * own account, else the account's "Google Calendar" contact. */
static int vesta_event_contact(struct db *db, const char *user_id, const cJSON *ev, long long *out)
{
    const cJSON *att, *a;

    att = ev != NULL ? cJSON_GetObjectItemCaseSensitive(ev, "attendees") : NULL;
    cJSON_ArrayForEach(a, att)
    {
        const cJSON *email = cJSON_GetObjectItemCaseSensitive(a, "email");
        long long cid;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "self")) || !cJSON_IsString(email))
            continue;
        if ((cid = vesta_one_id(db, DB_VESTA_CONTACT_BY_EMAIL, user_id, 0, email->valuestring)) >
            0) {
            *out = cid;
            return CS_OK;
        }
    }
    return vesta_gcal_contact(db, user_id, out);
}

/* The Vesta fields an appointment of the store maps to (row keeps what a does not say). */
static int vesta_fields_of(const struct appt *a, struct vesta_row *w)
{
    char *notes = vesta_notes_of(a, w->gen_title);

    if (notes == NULL)
        return CS_ERR_NOMEM;
    if (a->contact_id > 0)
        w->contact_id = a->contact_id;
    memcpy(w->start, a->start, sizeof w->start);
    memcpy(w->end, a->end, sizeof w->end);
    snprintf(w->status, sizeof w->status, "%s", a->status);
    snprintf(w->type, sizeof w->type, "%s", a->type);
    w->active = a->is_active;
    /* the notes follow Google only when the summary or description changed there: an edit of
     * the notes in Vesta is not overwritten by the form calsync would give them */
    if (w->gnotes == NULL || strcmp(w->gnotes, notes) != 0) {
        free(w->notes);
        w->notes = strdup(notes);
        free(w->gnotes);
        w->gnotes = notes;
        if (w->notes == NULL)
            return CS_ERR_NOMEM;
    } else {
        free(notes);
    }
    return CS_OK;
}

static int vesta_write(struct db *db, const struct vesta_row *w)
{
    struct db_stmt *st = db_stmt(db, DB_VESTA_UPDATE);
    char s[CAL_STRLEN], e[CAL_STRLEN];

    if (st == NULL)
        return CS_ERR_DB;
    vesta_time_sql(w->start, s);
    vesta_time_sql(w->end, e);
    db_bind_int64(st, 1, w->id);
    db_bind_int64(st, 2, w->contact_id);
    db_bind_text(st, 3, s);
    db_bind_text(st, 4, e);
    db_bind_text(st, 5, w->status);
    db_bind_text(st, 6, w->notes);
    db_bind_text(st, 7, w->type);
    db_bind_int(st, 8, w->active);
    return db_exec(db, st);
}

static int vesta_create(struct db *db, const struct cfg *cfg, struct appt *a, const cJSON *ev)
{
    struct vesta_row w;
    struct db_stmt *st;
    char s[CAL_STRLEN], e[CAL_STRLEN];
    int rc;

    (void)cfg;
    memset(&w, 0, sizeof w);
    snprintf(w.user_id, sizeof w.user_id, "%s", a->user_id);
    w.trip = -1;
    /* a contact given through the API must be one of the agent's own account */
    if (ev == NULL && a->contact_id > 0) {
        if (vesta_one_id(db, DB_VESTA_CONTACT_OF_ACCOUNT, a->user_id, a->contact_id, NULL) <= 0) {
            rc = CS_ERR_NOTFOUND;
            goto out;
        }
        w.contact_id = a->contact_id;
    } else if ((rc = vesta_event_contact(db, a->user_id, ev, &w.contact_id)) != CS_OK) {
        goto out;
    }
    a->contact_id = w.contact_id;
    a->is_active = 1;
    if ((rc = vesta_fields_of(a, &w)) != CS_OK)
        goto out;
    if ((st = db_stmt(db, DB_VESTA_INSERT)) == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    vesta_time_sql(w.start, s);
    vesta_time_sql(w.end, e);
    db_bind_text(st, 1, w.user_id);
    db_bind_int64(st, 2, w.contact_id);
    db_bind_text(st, 3, s);
    db_bind_text(st, 4, e);
    db_bind_text(st, 5, w.status);
    db_bind_text(st, 6, w.notes);
    db_bind_text(st, 7, w.type);
    if ((rc = db_exec(db, st)) != CS_OK)
        goto out;
    a->id = w.id = db_last_id(db);
    rc = vesta_snap_put(db, &w);
out:
    vesta_row_free(&w);
    return rc;
}

/* Vesta's newer fields (those it changed since calsync last saw the row) into a. */
static int vesta_merge_into(struct appt *a, const struct vesta_row *cur, int mask)
{
    if (mask & VR_CONTACT)
        a->contact_id = cur->contact_id;
    if (mask & VR_TIMES) {
        memcpy(a->start, cur->start, sizeof a->start);
        memcpy(a->end, cur->end, sizeof a->end);
        a->all_day = 0;
    }
    if ((mask & VR_STATUS) && appt_status_valid(cur->status))
        snprintf(a->status, sizeof a->status, "%.15s", cur->status);
    if ((mask & VR_TYPE) && appt_type_valid(cur->type))
        snprintf(a->type, sizeof a->type, "%.15s", cur->type);
    if (mask & VR_ACTIVE)
        a->is_active = cur->active;
    if (mask & VR_NOTES) {
        char *d = vesta_desc_of(cur->notes, a, cur->gen_title);
        if (d == NULL)
            return CS_ERR_NOMEM;
        free(a->description);
        a->description = d;
    }
    return CS_OK;
}

/* A copy of r's Vesta fields (and calsync's notes of it from from). */
static int vesta_copy(struct vesta_row *dst, const struct vesta_row *r,
                      const struct vesta_row *from)
{
    memset(dst, 0, sizeof *dst);
    dst->id = r->id;
    memcpy(dst->user_id, r->user_id, sizeof dst->user_id);
    if (vesta_row_take(dst, r,
                       VR_CONTACT | VR_LISTING | VR_TIMES | VR_STATUS | VR_NOTES | VR_TYPE |
                           VR_ACTIVE | VR_TRIP) != CS_OK)
        return CS_ERR_NOMEM;
    dst->gen_title = from->gen_title ? strdup(from->gen_title) : NULL;
    dst->gnotes = from->gnotes ? strdup(from->gnotes) : NULL;
    if ((from->gen_title && !dst->gen_title) || (from->gnotes && !dst->gnotes))
        return CS_ERR_NOMEM;
    return CS_OK;
}

static int vesta_store(struct db *db, const struct cfg *cfg, struct appt *a, int by_api,
                       int *repush)
{
    struct vesta_row cur, prev, w;
    int rc, mask = 0;

    (void)cfg;
    *repush = 0;
    memset(&cur, 0, sizeof cur);
    memset(&prev, 0, sizeof prev);
    memset(&w, 0, sizeof w);
    if ((rc = vesta_lock(db, a->id, &cur, &prev)) != CS_OK) {
        rc = rc == CS_ERR_NOTFOUND ? CS_OK : rc; /* deleted outright: the feed deletes it */
        goto out;
    }
    /* a contact set through the API must be one of the agent's own account */
    if (by_api && a->contact_id > 0 && a->contact_id != cur.contact_id &&
        vesta_one_id(db, DB_VESTA_CONTACT_OF_ACCOUNT, a->user_id, a->contact_id, NULL) <= 0) {
        rc = CS_ERR_INVAL;
        goto out;
    }
    /* the compare-and-swap: the row is locked; what Vesta changed since calsync last saw it
     * wins field by field (as a 412 does on Google's side) */
    if (!by_api && prev.id != 0 && (mask = vesta_row_diff(&cur, &prev)) != 0) {
        cur.gen_title = prev.gen_title ? strdup(prev.gen_title) : NULL;
        if ((rc = vesta_merge_into(a, &cur, mask)) != CS_OK)
            goto out;
        *repush = 1;
        log_info("appointment %lld changed in Vesta while Google changed it: merged (fields %#x)",
                 a->id, (unsigned)mask);
    }
    if ((rc = vesta_copy(&w, &cur, &prev)) != CS_OK || (rc = vesta_fields_of(a, &w)) != CS_OK)
        goto out;
    if ((mask & VR_NOTES) && vesta_row_take(&w, &cur, VR_NOTES) != CS_OK) { /* Vesta's words */
        rc = CS_ERR_NOMEM;
        goto out;
    }
    if (vesta_row_diff(&w, &cur) != 0 && (rc = vesta_write(db, &w)) != CS_OK)
        goto out;
    rc = vesta_snap_put(db, &w);
out:
    vesta_row_free(&cur);
    vesta_row_free(&prev);
    vesta_row_free(&w);
    return rc;
}

static int vesta_remove(struct db *db, const char *user_id, long long id)
{
    struct vesta_row cur, prev;
    struct db_stmt *st;
    int rc;

    memset(&cur, 0, sizeof cur);
    memset(&prev, 0, sizeof prev);
    if ((rc = vesta_lock(db, id, &cur, &prev)) != CS_OK) {
        rc = rc == CS_ERR_NOTFOUND ? CS_OK : rc;
        goto out;
    }
    if ((st = db_stmt(db, DB_VESTA_SOFT_DELETE)) == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    db_bind_int64(st, 1, id);
    db_bind_text(st, 2, user_id);
    if ((rc = db_exec(db, st)) != CS_OK)
        goto out;
    cur.active = 0;
    free(cur.gen_title);
    free(cur.gnotes);
    cur.gen_title = prev.gen_title;
    cur.gnotes = prev.gnotes;
    prev.gen_title = prev.gnotes = NULL;
    rc = vesta_snap_put(db, &cur);
out:
    vesta_row_free(&cur);
    vesta_row_free(&prev);
    return rc;
}

static int vesta_link(struct db *db, long long id, const char *gid, const char *etag)
{
    struct db_stmt *st = db_stmt(db, DB_VESTA_LINK);

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, id);
    db_bind_text(st, 2, gid);
    db_bind_text(st, 3, gid ? etag : NULL);
    return db_exec(db, st);
}

static int vesta_unlink_user(struct db *db, const char *user_id)
{
    struct db_stmt *st = db_stmt(db, DB_VESTA_UNLINK_USER);

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    return db_exec(db, st);
}

static void vesta_event_extra(struct db *db, const struct cfg *cfg, const struct appt *a,
                              struct host_event_extra *x)
{
    struct db_stmt *st = db_stmt(db, DB_VESTA_ROWS_GET);
    struct vesta_row r;
    size_t n = 0;
    int k = 0;

    memset(&r, 0, sizeof r);
    r.trip = -1;
    x->n_priv = 0;
    if (st != NULL) {
        db_bind_int64(st, 1, a->id);
        if (db_step(st) == DB_ROW && db_col_text(st, 0) != NULL)
            vesta_row_parse((const char *)db_col_text(st, 0), &r);
        db_reset(st);
    }
    /* a link back to the appointment in Vesta (Google shows it on the event) */
    x->source_url = x->buf;
    n = (size_t)snprintf(x->buf, sizeof x->buf, "%s/calendario?appointment=%lld", cfg->base_url,
                         a->id) +
        1;
    x->source_title = "Vesta";
    if (r.trip >= 0 && n + 24 < sizeof x->buf) {
        x->priv[k][0] = "vestaTripTimeMinutes";
        x->priv[k++][1] = x->buf + n;
        n += (size_t)snprintf(x->buf + n, sizeof x->buf - n, "%lld", r.trip) + 1;
    }
    if (r.listing_id > 0 && n + 24 < sizeof x->buf) {
        x->priv[k][0] = "vestaListingId";
        x->priv[k++][1] = x->buf + n;
        n += (size_t)snprintf(x->buf + n, sizeof x->buf - n, "%lld", r.listing_id) + 1;
    }
    x->n_priv = k;
    vesta_row_free(&r);
}

static int vesta_seed_op(struct db *db, const struct cfg *cfg, const char *user_id)
{
    return vesta_seed(db, cfg, user_id);
}

static int vesta_feed_op(struct db *db, const struct cfg *cfg, int *found)
{
    return vesta_feed(db, cfg, found);
}

const struct host_appts host_appts_vesta = {
    .name = "vesta",
    .create = vesta_create,
    .store = vesta_store,
    .remove = vesta_remove,
    .link = vesta_link,
    .unlink_user = vesta_unlink_user,
    .seed = vesta_seed_op,
    .feed = vesta_feed_op,
    .event_extra = vesta_event_extra,
};
