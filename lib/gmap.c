/* gmap.c: appointment <-> Google event mapping, snapshots and the three-way merge. */
#include "gmap.h"
#include "cal.h"
#include "cs.h"
#include "gevent.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

void gmap_event_id(const unsigned char key[32], const struct appt *a, char out[GMAP_IDLEN])
{
    gmap_event_id_gen(key, a, 0, out);
}

void gmap_event_id_gen(const unsigned char key[32], const struct appt *a, int gen,
                       char out[GMAP_IDLEN])
{
    char msg[128], hex[CRYPT_HEXLEN];
    unsigned char raw[16];
    size_t binlen = 0;

    if (gen == 0)
        snprintf(msg, sizeof msg, "event:%s:%lld:%lld", a->user_id, a->id, a->created_at);
    else
        snprintf(msg, sizeof msg, "event:%s:%lld:%lld:%d", a->user_id, a->id, a->created_at, gen);
    crypt_hmac_hex(key, "calsync-event-id", msg, hex);
    sodium_hex2bin(raw, sizeof raw, hex, 32, NULL, &binlen, NULL);
    crypt_base32hex(raw, sizeof raw, out);
    out[26] = '\0';
}

static int gmap_when(cJSON *ev, const char *key, const char *stored, int all_day, const char *tz)
{
    cJSON *w = cJSON_AddObjectToObject(ev, key);
    char s[CAL_STRLEN];
    time_t t;

    if (w == NULL || cal_parse_rfc3339(stored, &t) != CS_OK)
        return CS_ERR_INVAL;
    if (all_day) {
        cal_format_date(t, s);
        return cJSON_AddStringToObject(w, "date", s) ? CS_OK : CS_ERR_NOMEM;
    }
    if (cal_format_local(t, tz, s) != CS_OK) {
        /* a zone this machine knows only under its other name (Europe/Kiev, Europe/Kyiv) */
        const char *alias = gevent_zone_alias(tz);
        if (alias != NULL && cal_format_local(t, alias, s) == CS_OK)
            tz = alias;
        else
            cal_format_utc(t, s);
    }
    if (cJSON_AddStringToObject(w, "dateTime", s) == NULL ||
        cJSON_AddStringToObject(w, "timeZone", tz) == NULL)
        return CS_ERR_NOMEM;
    return CS_OK;
}

static int gmap_str_eq(const char *a, const char *b);

/* The title as Google shows it: a Cancelled appointment's marked with the prefix. Returns
 * title itself or buf (malloc'd, the caller frees *buf). */
static const char *gmap_display_title(const char *title, const char *status, char **buf)
{
    size_t pl = strlen(GMAP_CANCELLED_PREFIX), tl;

    *buf = NULL;
    if (title == NULL)
        title = "";
    if (status == NULL || strcmp(status, "Cancelled") != 0 ||
        strncmp(title, GMAP_CANCELLED_PREFIX, pl) == 0)
        return title;
    tl = strlen(title);
    if ((*buf = malloc(pl + tl + 1)) == NULL)
        return NULL;
    memcpy(*buf, GMAP_CANCELLED_PREFIX, pl);
    memcpy(*buf + pl, title, tl + 1);
    return *buf;
}

cJSON *gmap_to_event(const struct appt *a, const char *tz, const char *id)
{
    return gmap_event_body(a, tz, id, NULL);
}

cJSON *gmap_event_body(const struct appt *a, const char *tz, const char *id,
                       const struct gmap_extra *x)
{
    cJSON *ev = cJSON_CreateObject(), *ext, *priv;
    char num[32], *tbuf = NULL;
    const char *title = gmap_display_title(a->title, a->status, &tbuf);
    int ok;

    if (ev == NULL || title == NULL) {
        cJSON_Delete(ev);
        return NULL;
    }
    ok = (id == NULL || cJSON_AddStringToObject(ev, "id", id) != NULL) &&
         cJSON_AddStringToObject(ev, "summary", title) != NULL &&
         cJSON_AddStringToObject(ev, "description", a->description ? a->description : "") != NULL &&
         cJSON_AddStringToObject(ev, "location", a->location ? a->location : "") != NULL &&
         cJSON_AddStringToObject(ev, "status", "confirmed") != NULL &&
         gmap_when(ev, "start", a->start, a->all_day, tz) == CS_OK &&
         gmap_when(ev, "end", a->end, a->all_day, tz) == CS_OK;
    ext = ok ? cJSON_AddObjectToObject(ev, "extendedProperties") : NULL;
    priv = ext ? cJSON_AddObjectToObject(ext, "private") : NULL;
    snprintf(num, sizeof num, "%lld", a->id);
    ok = priv != NULL && cJSON_AddStringToObject(priv, "vestaAppointmentId", num) != NULL &&
         cJSON_AddStringToObject(priv, "vestaType", a->type) != NULL &&
         cJSON_AddStringToObject(priv, "vestaStatus", a->status) != NULL;
    if (ok) {
        if (a->contact_id) {
            snprintf(num, sizeof num, "%lld", a->contact_id);
            ok = cJSON_AddStringToObject(priv, "vestaContactId", num) != NULL;
        } else if (id == NULL) {
            /* on a patch, an explicit null removes a contact set earlier */
            ok = cJSON_AddNullToObject(priv, "vestaContactId") != NULL;
        }
    }
    for (int i = 0; ok && x != NULL && i < x->n_priv; i++)
        ok = cJSON_AddStringToObject(priv, x->priv[i][0], x->priv[i][1]) != NULL;
    if (ok && x != NULL && x->source_url != NULL) {
        cJSON *src = cJSON_AddObjectToObject(ev, "source");
        ok = src != NULL && cJSON_AddStringToObject(src, "url", x->source_url) != NULL &&
             cJSON_AddStringToObject(src, "title", x->source_title ? x->source_title : "Vesta");
    }
    if (ok && x != NULL && x->color_id != NULL)
        ok = cJSON_AddStringToObject(ev, "colorId", x->color_id) != NULL;
    if (ok && x != NULL && x->reminders != NULL) {
        cJSON *r = gmap_reminders(x->reminders);
        ok = r != NULL && cJSON_AddItemToObject(ev, "reminders", r);
    }
    free(tbuf);
    if (!ok) {
        cJSON_Delete(ev);
        return NULL;
    }
    return ev;
}

cJSON *gmap_to_patch(const struct appt *a, const char *tz, const char *base_snapshot)
{
    return gmap_patch_body(a, tz, base_snapshot, NULL);
}

cJSON *gmap_patch_body(const struct appt *a, const char *tz, const char *base_snapshot,
                       const struct gmap_extra *x)
{
    cJSON *ev = gmap_event_body(a, tz, NULL, x), *b;
    const cJSON *v;
    char bw[3 * CAL_STRLEN], lw[3 * CAL_STRLEN], *t1 = NULL, *t2 = NULL;
    int same_title;

    if (ev == NULL || base_snapshot == NULL || (b = cJSON_Parse(base_snapshot)) == NULL)
        return ev; /* no base to compare with: every field */
#define BASE_STR(k)                                                                                \
    ((v = cJSON_GetObjectItemCaseSensitive(b, k)) && cJSON_IsString(v) ? v->valuestring : NULL)
    /* only what changed here since the last sync: Google keeps everything else as it is */
    cJSON_DeleteItemFromObjectCaseSensitive(ev, "status");
    /* the title as shown on Google: a change of status to or from Cancelled changes it too */
    {
        const char *bt = BASE_STR("title"), *bst = BASE_STR("status");
        const char *d1 = gmap_display_title(a->title, a->status, &t1);
        const char *d2 = gmap_display_title(bt, bst, &t2);
        same_title = d1 != NULL && d2 != NULL && gmap_str_eq(d1, d2);
        free(t1);
        free(t2);
    }
    if (same_title)
        cJSON_DeleteItemFromObjectCaseSensitive(ev, "summary");
    /* back to the calendar's defaults: the overrides set before must go (a PATCH merges the
     * reminders object, and Google refuses useDefault with overrides) */
    {
        cJSON *rem = cJSON_GetObjectItemCaseSensitive(ev, "reminders");
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rem, "useDefault")))
            cJSON_AddNullToObject(rem, "overrides");
    }
    /* a colour the user picked on Google stays until the type changes here */
    if (gmap_str_eq(a->type, BASE_STR("type")))
        cJSON_DeleteItemFromObjectCaseSensitive(ev, "colorId");
    if (gmap_str_eq(a->description, BASE_STR("description")))
        cJSON_DeleteItemFromObjectCaseSensitive(ev, "description");
    if (gmap_str_eq(a->location, BASE_STR("location")))
        cJSON_DeleteItemFromObjectCaseSensitive(ev, "location");
    {
        const char *bs = BASE_STR("start"), *be = BASE_STR("end");
        snprintf(bw, sizeof bw, "%s|%s|%d", bs ? bs : "", be ? be : "",
                 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "allDay")));
    }
    snprintf(lw, sizeof lw, "%s|%s|%d", a->start, a->end, a->all_day);
    if (strcmp(bw, lw) == 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(ev, "start");
        cJSON_DeleteItemFromObjectCaseSensitive(ev, "end");
    }
#undef BASE_STR
    cJSON_Delete(b);
    return ev;
}

const char *gmap_private(const cJSON *ev, const char *key)
{
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(ev, "extendedProperties");
    const cJSON *priv = ext ? cJSON_GetObjectItemCaseSensitive(ext, "private") : NULL;
    const cJSON *v = priv ? cJSON_GetObjectItemCaseSensitive(priv, key) : NULL;

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A text field whole: what Google holds is stored byte for byte (never cut), so a later
 * push can never write a shortened copy back. */
static char *gmap_text(const cJSON *ev, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, key);

    return strdup(cJSON_IsString(v) ? v->valuestring : "");
}

/* Reads start/end into the stored form. */
static int gmap_read_when(const cJSON *w, const char *tz, char out[CAL_STRLEN], int *all_day)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(w, "date");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(w, "dateTime");
    time_t t;

    (void)tz;
    if (cJSON_IsString(dt) && cal_parse_rfc3339(dt->valuestring, &t) == CS_OK) {
        *all_day = 0;
    } else if (cJSON_IsString(d) && cal_parse_date(d->valuestring, &t) == CS_OK) {
        *all_day = 1;
    } else {
        return CS_ERR_INVAL;
    }
    cal_format_utc(t, out);
    return CS_OK;
}

/* The type an event made on Google gets: a summary that starts with a type's word ("Visita
 * piso Goya", "firma: notaría") is of that type; anything else is a meeting. */
static const char *gmap_type_word(const char *title)
{
    for (int i = 0; i < APPT_TYPES; i++) {
        const char *t = appt_type_name(i);
        size_t n = strlen(t);
        if (title != NULL && strncasecmp(title, t, n) == 0 &&
            (title[n] == '\0' || strchr(" \t:,.-\xc2", title[n]) != NULL))
            return t;
    }
    return "Reunión";
}

int gmap_from_event(const cJSON *ev, const char *tz, struct appt *out)
{
    const char *type = gmap_private(ev, "vestaType"), *status = gmap_private(ev, "vestaStatus");
    const char *contact = gmap_private(ev, "vestaContactId");
    int ad_s, ad_e;

    if (gmap_read_when(cJSON_GetObjectItemCaseSensitive(ev, "start"), tz, out->start, &ad_s) !=
            CS_OK ||
        gmap_read_when(cJSON_GetObjectItemCaseSensitive(ev, "end"), tz, out->end, &ad_e) != CS_OK ||
        ad_s != ad_e || strcmp(out->end, out->start) < 0)
        return CS_ERR_INVAL;
    if (strcmp(out->end, out->start) == 0) {
        /* zero-length events exist on Google; Vesta needs end > start */
        time_t t;
        cal_parse_rfc3339(out->end, &t);
        cal_format_utc(t + (ad_s ? 86400 : 60), out->end);
    }
    out->all_day = ad_s;
    free(out->title);
    free(out->description);
    free(out->location);
    out->title = gmap_text(ev, "summary");
    out->description = gmap_text(ev, "description");
    out->location = gmap_text(ev, "location");
    if (out->title == NULL || out->description == NULL || out->location == NULL)
        return CS_ERR_NOMEM;
    snprintf(out->status, sizeof out->status, "%s",
             status && appt_status_valid(status) ? status : "Scheduled");
    if (strcmp(out->status, "Cancelled") == 0 &&
        strncmp(out->title, GMAP_CANCELLED_PREFIX, strlen(GMAP_CANCELLED_PREFIX)) == 0) {
        /* the mark we add to a Cancelled appointment's title: not part of the title */
        size_t pl = strlen(GMAP_CANCELLED_PREFIX);
        memmove(out->title, out->title + pl, strlen(out->title + pl) + 1);
    }
    if (out->title[strspn(out->title, " \t\r\n")] == '\0') {
        free(out->title);
        out->title = strdup("(sin título)");
        if (out->title == NULL)
            return CS_ERR_NOMEM;
    }
    if (type == NULL || !appt_type_valid(type))
        type = gmap_type_word(out->title);
    snprintf(out->type, sizeof out->type, "%s", type);
    out->contact_id = 0;
    if (contact != NULL) {
        char *end;
        long long v = strtoll(contact, &end, 10);
        if (*end == '\0' && v > 0 && v <= APPT_CONTACT_MAX)
            out->contact_id = v;
    }
    return CS_OK;
}

char *gmap_snapshot(const struct appt *a)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;

    if (o != NULL && cJSON_AddStringToObject(o, "title", a->title) &&
        cJSON_AddStringToObject(o, "description", a->description) &&
        cJSON_AddStringToObject(o, "location", a->location) &&
        cJSON_AddStringToObject(o, "start", a->start) &&
        cJSON_AddStringToObject(o, "end", a->end) &&
        cJSON_AddBoolToObject(o, "allDay", a->all_day) &&
        cJSON_AddStringToObject(o, "type", a->type) &&
        cJSON_AddStringToObject(o, "status", a->status) &&
        cJSON_AddNumberToObject(o, "contactId", (double)a->contact_id))
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int gmap_str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

int gmap_same(const struct appt *a, const struct appt *b)
{
    return gmap_str_eq(a->title, b->title) && gmap_str_eq(a->description, b->description) &&
           gmap_str_eq(a->location, b->location) && strcmp(a->start, b->start) == 0 &&
           strcmp(a->end, b->end) == 0 && a->all_day == b->all_day &&
           strcmp(a->type, b->type) == 0 && strcmp(a->status, b->status) == 0 &&
           a->contact_id == b->contact_id;
}

/* Picks one text field of the merge; returns 1 on a true conflict. */
static int gmap_pick(char **local, const char *remote, const char *base, int remote_newer)
{
    int lchg = !gmap_str_eq(*local, base), rchg = !gmap_str_eq(remote, base);
    char *dup;

    if (gmap_str_eq(*local, remote) || !rchg)
        return 0;
    if (lchg && !remote_newer)
        return 1;
    dup = strdup(remote ? remote : "");
    if (dup != NULL) {
        free(*local);
        *local = dup;
    }
    return lchg;
}

static int gmap_pick_buf(char *local, size_t len, const char *remote, const char *base,
                         int remote_newer)
{
    int lchg = !gmap_str_eq(local, base), rchg = !gmap_str_eq(remote, base);

    if (gmap_str_eq(local, remote) || !rchg)
        return 0;
    if (lchg && !remote_newer)
        return 1;
    snprintf(local, len, "%s", remote);
    return lchg;
}

int gmap_merge(struct appt *local, const struct appt *remote, const char *base_snapshot,
               int remote_newer)
{
    cJSON *b = base_snapshot ? cJSON_Parse(base_snapshot) : NULL;
    const cJSON *v;
    const char *bs, *be;
    int conflicts = 0, bad, lchg, rchg;
    char bw[3 * CAL_STRLEN], lw[3 * CAL_STRLEN], rw[3 * CAL_STRLEN];
    long long bc;

#define BASE_STR(k)                                                                                \
    ((v = cJSON_GetObjectItemCaseSensitive(b, k)) && cJSON_IsString(v) ? v->valuestring : NULL)
    bad = b == NULL;
    conflicts +=
        gmap_pick(&local->title, remote->title, bad ? "\x01" : BASE_STR("title"), remote_newer);
    conflicts += gmap_pick(&local->description, remote->description,
                           bad ? "\x01" : BASE_STR("description"), remote_newer);
    conflicts += gmap_pick(&local->location, remote->location, bad ? "\x01" : BASE_STR("location"),
                           remote_newer);
    conflicts += gmap_pick_buf(local->type, sizeof local->type, remote->type,
                               bad ? "\x01" : BASE_STR("type"), remote_newer);
    conflicts += gmap_pick_buf(local->status, sizeof local->status, remote->status,
                               bad ? "\x01" : BASE_STR("status"), remote_newer);
    /* start, end and all-day move together */
    bs = bad ? "\x01" : BASE_STR("start");
    be = bad ? "\x01" : BASE_STR("end");
    snprintf(bw, sizeof bw, "%s|%s|%d", bs ? bs : "", be ? be : "",
             !bad && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "allDay")));
    snprintf(lw, sizeof lw, "%s|%s|%d", local->start, local->end, local->all_day);
    snprintf(rw, sizeof rw, "%s|%s|%d", remote->start, remote->end, remote->all_day);
    lchg = strcmp(lw, bw) != 0;
    rchg = strcmp(rw, bw) != 0;
    if (strcmp(lw, rw) != 0 && rchg) {
        if (!lchg || remote_newer) {
            snprintf(local->start, sizeof local->start, "%s", remote->start);
            snprintf(local->end, sizeof local->end, "%s", remote->end);
            local->all_day = remote->all_day;
        }
        conflicts += lchg;
    }
    v = b ? cJSON_GetObjectItemCaseSensitive(b, "contactId") : NULL;
    bc = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= (double)APPT_CONTACT_MAX
             ? (long long)v->valuedouble
             : -1;
    if (local->contact_id != remote->contact_id && remote->contact_id != bc) {
        lchg = local->contact_id != bc;
        if (!lchg || remote_newer)
            local->contact_id = remote->contact_id;
        conflicts += lchg;
    }
#undef BASE_STR
    cJSON_Delete(b);
    return conflicts;
}
