/* vesta_row.c: Vesta's appointment rows: reading them, their snapshots, and the mapping of
 * their fields to calsync's appointment (summary, location, notes). */
#include "vesta_row.h"
#include "cs.h"
#include "cfg.h"
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

void vesta_row_free(struct vesta_row *r)
{
    if (r == NULL)
        return;
    free(r->notes);
    free(r->gid);
    free(r->gen_title);
    free(r->gnotes);
    memset(r, 0, sizeof *r);
}

static char *vesta_dup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static int vesta_strs_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int vesta_row_read(struct db_stmt *st, int first, struct vesta_row *r, struct vesta_row *prev)
{
    const unsigned char *snap;

    db_col_copy(st, first, r->user_id, sizeof r->user_id);
    r->contact_id = db_col_is_null(st, first + 1) ? 0 : db_col_int64(st, first + 1);
    r->listing_id = db_col_is_null(st, first + 2) ? 0 : db_col_int64(st, first + 2);
    db_col_copy(st, first + 3, r->start, sizeof r->start);
    db_col_copy(st, first + 4, r->end, sizeof r->end);
    db_col_copy(st, first + 5, r->status, sizeof r->status);
    r->notes = db_col_dup(st, first + 6);
    db_col_copy(st, first + 7, r->type, sizeof r->type);
    r->active = db_col_int64(st, first + 8) != 0;
    r->trip = db_col_is_null(st, first + 9) ? -1 : db_col_int64(st, first + 9);
    r->gid = db_col_dup(st, first + 10);
    if (prev != NULL) {
        memset(prev, 0, sizeof *prev);
        snap = db_col_text(st, first + 11);
        if (snap != NULL && vesta_row_parse((const char *)snap, prev) == CS_OK)
            prev->id = r->id > 0 ? r->id : 1;
    }
    return CS_OK;
}

static int vesta_add_id(cJSON *o, const char *k, long long v, long long none)
{
    return (v == none ? cJSON_AddNullToObject(o, k) : cJSON_AddNumberToObject(o, k, (double)v)) !=
           NULL;
}

static int vesta_add_str(cJSON *o, const char *k, const char *v)
{
    return (v == NULL ? cJSON_AddNullToObject(o, k) : cJSON_AddStringToObject(o, k, v)) != NULL;
}

char *vesta_row_snap(const struct vesta_row *r)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;

    if (o != NULL && vesta_add_id(o, "c", r->contact_id, 0) &&
        vesta_add_id(o, "l", r->listing_id, 0) && vesta_add_str(o, "s", r->start) &&
        vesta_add_str(o, "e", r->end) && vesta_add_str(o, "st", r->status) &&
        vesta_add_str(o, "n", r->notes) && vesta_add_str(o, "t", r->type) &&
        cJSON_AddBoolToObject(o, "a", r->active) != NULL && vesta_add_id(o, "tr", r->trip, -1) &&
        vesta_add_str(o, "gt", r->gen_title) && vesta_add_str(o, "gn", r->gnotes))
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static long long vesta_num(const cJSON *o, const char *k, long long none)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsNumber(v) ? (long long)v->valuedouble : none;
}

static const char *vesta_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int vesta_row_parse(const char *snap, struct vesta_row *out)
{
    cJSON *o = cJSON_Parse(snap);
    const char *s;

    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return CS_ERR_INVAL;
    }
    out->contact_id = vesta_num(o, "c", 0);
    out->listing_id = vesta_num(o, "l", 0);
    snprintf(out->start, sizeof out->start, "%s", (s = vesta_str(o, "s")) ? s : "");
    snprintf(out->end, sizeof out->end, "%s", (s = vesta_str(o, "e")) ? s : "");
    snprintf(out->status, sizeof out->status, "%s", (s = vesta_str(o, "st")) ? s : "");
    snprintf(out->type, sizeof out->type, "%s", (s = vesta_str(o, "t")) ? s : "");
    out->notes = vesta_dup(vesta_str(o, "n"));
    out->active = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "a"));
    out->trip = vesta_num(o, "tr", -1);
    out->gen_title = vesta_dup(vesta_str(o, "gt"));
    out->gnotes = vesta_dup(vesta_str(o, "gn"));
    cJSON_Delete(o);
    return CS_OK;
}

int vesta_row_diff(const struct vesta_row *a, const struct vesta_row *b)
{
    int m = 0;

    if (a->contact_id != b->contact_id)
        m |= VR_CONTACT;
    if (a->listing_id != b->listing_id)
        m |= VR_LISTING;
    if (strcmp(a->start, b->start) != 0 || strcmp(a->end, b->end) != 0)
        m |= VR_TIMES;
    if (strcmp(a->status, b->status) != 0)
        m |= VR_STATUS;
    /* NULL and "" notes are the same text */
    if (!vesta_strs_eq(a->notes ? a->notes : "", b->notes ? b->notes : ""))
        m |= VR_NOTES;
    if (strcmp(a->type, b->type) != 0)
        m |= VR_TYPE;
    if (a->active != b->active)
        m |= VR_ACTIVE;
    if (a->trip != b->trip)
        m |= VR_TRIP;
    return m;
}

int vesta_row_same(const struct vesta_row *a, const struct vesta_row *b)
{
    return vesta_row_diff(a, b) == 0;
}

int vesta_row_take(struct vesta_row *dst, const struct vesta_row *src, int mask)
{
    if (mask & VR_CONTACT)
        dst->contact_id = src->contact_id;
    if (mask & VR_LISTING)
        dst->listing_id = src->listing_id;
    if (mask & VR_TIMES) {
        memcpy(dst->start, src->start, sizeof dst->start);
        memcpy(dst->end, src->end, sizeof dst->end);
    }
    if (mask & VR_STATUS)
        memcpy(dst->status, src->status, sizeof dst->status);
    if (mask & VR_TYPE)
        memcpy(dst->type, src->type, sizeof dst->type);
    if (mask & VR_ACTIVE)
        dst->active = src->active;
    if (mask & VR_TRIP)
        dst->trip = src->trip;
    if (mask & VR_NOTES) {
        char *n = vesta_dup(src->notes);
        if (src->notes != NULL && n == NULL)
            return CS_ERR_NOMEM;
        free(dst->notes);
        dst->notes = n;
    }
    return CS_OK;
}

void vesta_time_sql(const char *rfc3339, char out[CAL_STRLEN])
{
    time_t t;

    if (cal_parse_rfc3339(rfc3339, &t) != CS_OK)
        t = 0;
    cal_format_utc(t, out); /* "YYYY-MM-DDTHH:MM:SSZ" */
    out[10] = ' ';
    out[19] = '\0';
}

char *vesta_title(const char *type, const char *first, const char *last)
{
    const char *t = type != NULL && appt_type_valid(type) ? type : "Reunión";
    char buf[APPT_TITLE_MAX + 1];

    if ((first == NULL || !*first) && (last == NULL || !*last))
        snprintf(buf, sizeof buf, "%s", t);
    else
        snprintf(buf, sizeof buf, "%s · %s%s%s", t, first ? first : "",
                 first && *first && last && *last ? " " : "", last ? last : "");
    return strdup(buf);
}

char *vesta_location(const char *street, const char *details, const char *postal, const char *city)
{
    char buf[APPT_LOCATION_MAX + 1] = "";
    size_t n = 0;
    const char *parts[] = {street, details};

    for (size_t i = 0; i < 2; i++)
        if (parts[i] != NULL && *parts[i] && n < sizeof buf)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", n ? ", " : "", parts[i]);
    if (n < sizeof buf && ((postal && *postal) || (city && *city)))
        snprintf(buf + n, sizeof buf - n, "%s%s%s%s", n ? ", " : "", postal ? postal : "",
                 postal && *postal && city && *city ? " " : "", city ? city : "");
    return strdup(buf);
}

/* True when a's title is the Google summary (not empty, not the one calsync made). */
static int vesta_title_is_google(const struct appt *a, const char *gen_title)
{
    return a->title != NULL && *a->title && (gen_title == NULL || strcmp(a->title, gen_title) != 0);
}

/* Cuts s to at most VESTA_NOTES_MAX bytes, on a UTF-8 character boundary. */
static char *vesta_notes_cap(char *s)
{
    size_t n;

    if (s == NULL || (n = strlen(s)) <= VESTA_NOTES_MAX)
        return s;
    n = VESTA_NOTES_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    s[n] = '\0';
    return s;
}

char *vesta_notes_of(const struct appt *a, const char *gen_title)
{
    const char *d = a->description ? a->description : "";

    /* the description; an event made on Google without one shows its summary instead */
    if (*d == '\0' && vesta_title_is_google(a, gen_title))
        d = a->title;
    return vesta_notes_cap(strdup(d));
}

char *vesta_desc_of(const char *notes, const struct appt *a, const char *gen_title)
{
    if (notes == NULL || (vesta_title_is_google(a, gen_title) && strcmp(notes, a->title) == 0))
        return strdup(""); /* the summary shown for want of a description: no description */
    return strdup(notes);
}

void vesta_row_times(const struct vesta_row *r, struct appt *a)
{
    memcpy(a->start, r->start, sizeof a->start);
    memcpy(a->end, r->end, sizeof a->end);
    a->all_day = 0;
    if (strcmp(a->end, a->start) <= 0) { /* Vesta allows it; Google does not */
        time_t t;
        if (cal_parse_rfc3339(a->start, &t) == CS_OK)
            cal_format_utc(t + 60, a->end);
    }
}

int vesta_row_to_appt(const struct vesta_row *r, struct appt *a)
{
    a->id = r->id;
    snprintf(a->user_id, sizeof a->user_id, "%s", r->user_id);
    a->contact_id = r->contact_id;
    vesta_row_times(r, a);
    snprintf(a->type, sizeof a->type, "%.15s", appt_type_valid(r->type) ? r->type : "Reunión");
    snprintf(a->status, sizeof a->status, "%.15s",
             appt_status_valid(r->status) ? r->status : "Scheduled");
    a->is_active = r->active;
    return CS_OK;
}

long long vesta_push_delay(const struct cfg *cfg)
{
    return cfg != NULL ? cfg->push_delay_ms : 0;
}

int vesta_describe(struct db *db, const struct vesta_row *r, char **title, char **location)
{
    struct db_stmt *st = db_stmt(db, DB_VESTA_DESCRIBE);
    int rc = CS_OK;

    *title = *location = NULL;
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, r->user_id);
    db_bind_int64(st, 2, r->contact_id);
    db_bind_int64(st, 3, r->listing_id);
    if (db_step(st) == DB_ROW) {
        *title = vesta_title(r->type, (const char *)db_col_text(st, 0),
                             (const char *)db_col_text(st, 1));
        *location =
            vesta_location((const char *)db_col_text(st, 2), (const char *)db_col_text(st, 3),
                           (const char *)db_col_text(st, 4), (const char *)db_col_text(st, 5));
    } else {
        *title = vesta_title(r->type, NULL, NULL);
        *location = strdup("");
    }
    db_reset(st);
    if (*title == NULL || *location == NULL) {
        free(*title);
        free(*location);
        *title = *location = NULL;
        rc = CS_ERR_NOMEM;
    }
    return rc;
}

int vesta_snap_put(struct db *db, const struct vesta_row *r)
{
    struct db_stmt *st;
    char *snap = vesta_row_snap(r);
    int rc;

    if (snap == NULL)
        return CS_ERR_NOMEM;
    if ((st = db_stmt(db, DB_VESTA_ROWS_PUT)) == NULL) {
        free(snap);
        return CS_ERR_DB;
    }
    db_bind_int64(st, 1, r->id);
    db_bind_text(st, 2, r->user_id);
    db_bind_text(st, 3, snap);
    rc = db_exec(db, st);
    free(snap);
    return rc;
}
