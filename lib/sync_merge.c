/* sync_merge.c: both sides changed: three-way merges on 412, re-linking events known before a
 * disconnect, and saving a merge unless the appointment was edited meanwhile. */
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Saves a merged appointment together with the Google version it was merged against, unless
 * it was edited meanwhile. CS_OK (a->updated_at advanced), CS_ERR_BUSY (edited meanwhile) or
 * CS_ERR_DB. The appointment stays queued: what is ours still goes out. */
int sync_merge_save(struct sync_ctx *c, struct appt *a, const char *gid, const char *etag,
                    const char *updated, const char *snap)
{
    struct db_stmt *st = db_stmt(c->db, DB_APPT_MERGE_SAVE);
    long long now = db_now_ms(), next = now > a->updated_at ? now : a->updated_at + 1;
    int rc;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, a->id);
    db_bind_text(st, 2, c->user_id);
    appt_bind_content(st, 3, a);
    db_bind_text(st, 12, gid);
    db_bind_text(st, 13, etag);
    db_bind_text(st, 14, updated);
    db_bind_text(st, 15, snap);
    db_bind_int64(st, 16, next);
    db_bind_int64(st, 17, a->updated_at);
    if ((rc = db_exec(c->db, st)) != CS_OK)
        return rc;
    if (db_changes(c->db) != 1)
        return CS_ERR_BUSY;
    a->updated_at = next;
    return sync_host_store(c, a);
}

/* Re-reads a changed event, merges field by field against the last synced version, saves
 * the merge locally; the pusher then sends it with the fresh etag. */
int sync_resolve_412(struct sync_ctx *c, struct appt *a)
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
        rc = SYNC_PUSH_AGAIN;
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
    /* one way to Google (vesta_to_google): Google's edits are not applied here; ours are sent
     * whole over them (the base becomes Google's version, so the patch carries every field
     * that differs) */
    conflicts = c->pulls ? gmap_merge(a, &remote, a->synced_snapshot,
                                      sync_parse_ms(updated) > a->updated_at)
                         : 0;
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
        rc = SYNC_PUSH_AGAIN;
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
int sync_adopt_former(struct sync_ctx *c, struct appt *a)
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
        rc = a->google_event_id ? SYNC_PUSH_AGAIN : CS_ERR_NOMEM;
    }
out:
    free(snap);
    appt_free(&remote);
    gapi_resp_free(&r);
    return rc;
}
