/* realcal.c: what a real agent's calendar holds beyond the events a client made (issue 24):
 * invitations, special event types, split series, renamed zones, guests; and a seeded account. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cal.h"
#include "cs.h"
#include "emu.h"

static const char *emu_s(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *emu_type(const cJSON *body)
{
    const char *t = emu_s(body, "eventType");

    return t ? t : "default";
}

/* "organizer.self: whether the organizer corresponds to the calendar on which this copy of the
 * event appears"; "attendees[].self: whether this entry represents the calendar on which this
 * copy of the event appears" (events resource). */
void emu_realcal_selves(cJSON *body, const char *calendar)
{
    cJSON *org = cJSON_GetObjectItemCaseSensitive(body, "organizer"), *a;
    const char *e;

    if (cJSON_IsObject(org) && (e = emu_s(org, "email")) != NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(org, "self");
        if (strcasecmp(e, calendar) == 0)
            cJSON_AddBoolToObject(org, "self", 1);
    }
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(body, "attendees"))
    {
        if ((e = emu_s(a, "email")) == NULL)
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(a, "self");
        if (strcasecmp(e, calendar) == 0)
            cJSON_AddBoolToObject(a, "self", 1);
    }
}

static int emu_foreign(const cJSON *body)
{
    const cJSON *org = cJSON_GetObjectItemCaseSensitive(body, "organizer");

    return cJSON_IsObject(org) && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(org, "self"));
}

/* Fields an attendee may change on their copy: their answer, their reminders and colour. */
static int emu_attendee_field(const char *key)
{
    static const char *const ok[] = {"attendees",
                                     "reminders",
                                     "colorId",
                                     "transparency",
                                     "visibility",
                                     "id",
                                     "kind",
                                     "etag",
                                     "updated",
                                     "created",
                                     "htmlLink",
                                     "iCalUID",
                                     "organizer",
                                     "creator",
                                     "sequence",
                                     "eventType",
                                     "recurringEventId",
                                     "originalStartTime"};

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(key, ok[i]) == 0)
            return 1;
    return 0;
}

int emu_realcal_write_check(const struct emu_event *ev, const char *method, const cJSON *body,
                            struct emu_reply *r)
{
    const char *type = emu_type(ev->body);
    int del = strcmp(method, "DELETE") == 0;
    const cJSON *f;

    if (strcmp(type, "default") != 0) {
        emu.nondefault_writes++;
        /* the event-types guide: each special type takes only some properties; writes of others
         * are refused (eventTypeRestriction); birthdays take no private extended properties */
        if (!del) {
            emu_reply_error(r, 400, "eventTypeRestriction",
                            strcmp(type, "birthday") == 0
                                ? "Birthday events do not support this property."
                                : "This property cannot be set on events of this type.");
            return -1;
        }
    }
    if (emu_foreign(ev->body)) {
        /* an attendee's copy: Google takes only the attendee's own answer and reminders from
         * them; anything shared, even a private extended property, answers 403
         * forbiddenForNonOrganizer (kewisch/gdata-provider#366, #426, #728). Deleting it
         * removes this copy only (the organizer's event stays for everyone else). */
        if (del) {
            emu.invite_deletes++;
            return 0;
        }
        cJSON_ArrayForEach(f, body)
        {
            const cJSON *cur = cJSON_GetObjectItemCaseSensitive(ev->body, f->string);
            if (emu_attendee_field(f->string))
                continue;
            if (strcmp(method, "PUT") == 0 && cur != NULL && cJSON_Compare(cur, f, 1))
                continue; /* a full update may repeat what is there */
            emu.foreign_writes++;
            emu_reply_error(r, 403, "forbiddenForNonOrganizer",
                            "Shared properties can only be changed by the organizer of the event.");
            return -1;
        }
    }
    if (!del && ev->deleted && emu.refuse_restore) {
        /* googleapis/google-api-ruby-client#1811: an update of an event deleted in Google's UI
         * answered 403 */
        emu_reply_error(r, 403, "forbidden", "Forbidden");
        return -1;
    }
    return 0;
}

/* A zone name this "Google" does not know: IANA renamed Europe/Kiev to Europe/Kyiv (tzdata
 * 2022b) and a service's zone list may hold only one of the two names for a while; an unknown
 * timeZone is a 400 "invalid" (errors guide: 400 for an invalid field value; the text is the
 * one calendars.insert gives, "Invalid time zone definition."). */
int emu_realcal_zone_check(const cJSON *body, struct emu_reply *r)
{
    static const char *const keys[] = {"start", "end"};

    for (int i = 0; i < 2; i++) {
        const char *z = emu_s(cJSON_GetObjectItemCaseSensitive(body, keys[i]), "timeZone");
        char pad[80];
        if (z == NULL)
            continue;
        snprintf(pad, sizeof pad, " %s ", z);
        if (!cal_zone_valid(z) || (emu.unknown_zones[0] && strstr(emu.unknown_zones, pad))) {
            emu_reply_error(r, 400, "invalid",
                            i == 0 ? "Invalid time zone definition for start time."
                                   : "Invalid time zone definition for end time.");
            return -1;
        }
    }
    return 0;
}

void emu_realcal_mail(const cJSON *ev_body, const char *calendar)
{
    const char *su = emu_arg(emu.cur_conn, "sendUpdates");
    const cJSON *a;
    int guests = 0;

    /* events.insert/patch/update/delete, sendUpdates: "all", "externalOnly" or "none"; a
     * client that does not say "none" may mail every guest */
    if (su != NULL && strcmp(su, "none") == 0)
        return;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(ev_body, "attendees"))
    {
        const char *e = emu_s(a, "email");
        if (e != NULL && strcasecmp(e, calendar) != 0)
            guests++;
    }
    emu.guest_mails += guests;
}

int emu_realcal_type_listed(const cJSON *body, const char *const *types, int n)
{
    const char *t = emu_type(body);

    if (emu.ignore_types) /* a listing that brings every type anyway (a client must cope) */
        return 1;
    for (int i = 0; i < n; i++)
        if (strcmp(types[i], t) == 0)
            return 1;
    return n == 0;
}

void emu_realcal_instance_id(const char *master, time_t t, int all_day, char *out, size_t len)
{
    struct tm tm;

    if (emu.instance_ids_v2) {
        /* ids of instances in another format: an instance is known by recurringEventId and
         * originalStartTime (recurring events guide, developers.google.com/workspace/calendar/
         * api/guides/recurringevents); its id is opaque and its format may change */
        snprintf(out, len, "%s_%llxv2", master, (unsigned long long)t);
        return;
    }
    gmtime_r(&t, &tm);
    if (all_day)
        snprintf(out, len, "%s_%04d%02d%02d", master, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    else
        snprintf(out, len, "%s_%04d%02d%02dT%02d%02d%02dZ", master, tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void emu_realcal_config(const cJSON *body, cJSON *o)
{
    const cJSON *v;

    if (body != NULL) {
        if ((v = cJSON_GetObjectItemCaseSensitive(body, "instanceIds")) && cJSON_IsString(v))
            emu.instance_ids_v2 = strcmp(v->valuestring, "v2") == 0;
        if ((v = cJSON_GetObjectItemCaseSensitive(body, "emptyPages")) && cJSON_IsNumber(v))
            emu.empty_pages = v->valueint < 0 ? 0 : v->valueint > 5 ? 5 : v->valueint;
        if ((v = cJSON_GetObjectItemCaseSensitive(body, "ignoreEventTypes")) && cJSON_IsBool(v))
            emu.ignore_types = cJSON_IsTrue(v);
        if ((v = cJSON_GetObjectItemCaseSensitive(body, "restoreDeleted")) && cJSON_IsBool(v))
            emu.refuse_restore = !cJSON_IsTrue(v);
        if ((v = cJSON_GetObjectItemCaseSensitive(body, "unknownZones")) && cJSON_IsArray(v)) {
            const cJSON *z;
            size_t at = 0;
            emu.unknown_zones[at++] = ' ';
            cJSON_ArrayForEach(z, v) if (cJSON_IsString(z)) at += (size_t)snprintf(
                emu.unknown_zones + at, sizeof emu.unknown_zones - at, "%s ", z->valuestring);
            emu.unknown_zones[at < sizeof emu.unknown_zones ? at : sizeof emu.unknown_zones - 1] =
                '\0';
        }
    }
    cJSON_AddStringToObject(o, "instanceIds", emu.instance_ids_v2 ? "v2" : "v1");
    cJSON_AddNumberToObject(o, "emptyPages", emu.empty_pages);
    cJSON_AddBoolToObject(o, "restoreDeleted", !emu.refuse_restore);
    cJSON_AddBoolToObject(o, "ignoreEventTypes", emu.ignore_types);
    cJSON_AddStringToObject(o, "unknownZones", emu.unknown_zones);
}

/* The RRULE of a recurrence with its COUNT and UNTIL parts replaced by tail. */
static cJSON *emu_rule_with(const cJSON *recurrence, const char *tail)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *line;

    cJSON_ArrayForEach(line, recurrence)
    {
        char out[512] = "RRULE:", buf[512], *save = NULL, *tok;
        if (!cJSON_IsString(line) || strncmp(line->valuestring, "RRULE:", 6) != 0) {
            cJSON_AddItemToArray(arr, cJSON_Duplicate(line, 1));
            continue;
        }
        snprintf(buf, sizeof buf, "%s", line->valuestring + 6);
        for (tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save))
            if (strncmp(tok, "COUNT=", 6) != 0 && strncmp(tok, "UNTIL=", 6) != 0)
                snprintf(out + strlen(out), sizeof out - strlen(out), "%s;", tok);
        if (tail != NULL && *tail)
            snprintf(out + strlen(out), sizeof out - strlen(out), "%s", tail);
        else if (out[strlen(out) - 1] == ';')
            out[strlen(out) - 1] = '\0';
        cJSON_AddItemToArray(arr, cJSON_CreateString(out));
    }
    return arr;
}

static time_t emu_when_t(const cJSON *w, int *all_day)
{
    const char *d = emu_s(w, "date"), *dt = emu_s(w, "dateTime");
    time_t t = 0;

    *all_day = dt == NULL;
    if (dt != NULL)
        cal_parse_rfc3339(dt, &t);
    else if (d != NULL)
        cal_parse_date(d, &t);
    return t;
}

/* "This and following events" changed in Google's UI: the series ends before at (UNTIL), a new
 * series with another id carries the rest, and the old series' instances from at on are
 * cancelled (they arrive so in an incremental sync). The recurring events guide describes the
 * same for "Modify all following instances": trim the original with UNTIL, make a new series
 * (developers.google.com/workspace/calendar/api/guides/recurringevents). */
void emu_realcal_split(const char *calendar, const char *id, const cJSON *body, struct emu_reply *r)
{
    struct emu_event *m = emu_event_find(calendar, id);
    const char *at_s = emu_s(body, "at"), *summary = emu_s(body, "summary");
    cJSON *nb, *inst, *o, *all;
    struct emu_reply sub;
    char iid[1100], tail[64], when[CAL_STRLEN];
    time_t at, first = 0;
    int cut = 0, kept = 0, ad;
    struct tm tm;

    if (m == NULL || m->deleted ||
        cJSON_GetObjectItemCaseSensitive(m->body, "recurrence") == NULL || at_s == NULL ||
        (cal_parse_rfc3339(at_s, &at) != CS_OK && cal_parse_date(at_s, &at) != CS_OK)) {
        emu_reply_error(r, 400, "invalid", "split: a live recurring event id and {\"at\"} needed");
        return;
    }
    nb = cJSON_Duplicate(m->body, 1);
    /* the instances first: materialising cancelled ones grows (moves) the event array */
    all = cJSON_CreateArray();
    for (int k = 0; (inst = emu_series_instance(m, k, iid, sizeof iid)) != NULL; k++)
        cJSON_AddItemToArray(all, inst);
    cJSON_ArrayForEach(inst, all)
    {
        time_t is = emu_when_t(cJSON_GetObjectItemCaseSensitive(inst, "originalStartTime"), &ad);
        const char *iid2 = emu_s(inst, "id");
        struct emu_event *ex;
        if (is < at) {
            kept++;
            continue;
        }
        if (first == 0)
            first = is;
        if ((ex = emu_event_find(calendar, iid2)) == NULL) {
            ex = emu_push((void **)&emu.events, &emu.nevents, &emu.capevents, sizeof *ex);
            ex->id = emu_strdup(iid2);
            ex->calendar = emu_strdup(calendar);
            ex->body = cJSON_Duplicate(inst, 1);
        }
        cJSON_DeleteItemFromObjectCaseSensitive(ex->body, "status");
        cJSON_AddStringToObject(ex->body, "status", "cancelled");
        ex->deleted = 1;
        emu_event_touch(ex);
        cut++;
    }
    cJSON_Delete(all);
    m = emu_event_find(calendar, id); /* the array may have moved */
    if (cut == 0 || kept == 0) {
        cJSON_Delete(nb);
        emu_reply_error(r, 400, "invalid", "split: no instance on both sides of \"at\"");
        return;
    }
    /* the old series ends the second before the first instance it gave away */
    first -= 1;
    gmtime_r(&first, &tm);
    snprintf(tail, sizeof tail, "UNTIL=%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cJSON_ReplaceItemInObjectCaseSensitive(
        m->body, "recurrence",
        emu_rule_with(cJSON_GetObjectItemCaseSensitive(m->body, "recurrence"), tail));
    emu_event_touch(m);
    /* the new series: the rest of the old one, from the first instance it took over */
    {
        static const char *const drop[] = {"id",      "etag",    "iCalUID",
                                           "created", "updated", "htmlLink"};
        cJSON *st = cJSON_GetObjectItemCaseSensitive(nb, "start");
        cJSON *en = cJSON_GetObjectItemCaseSensitive(nb, "end");
        time_t s0 = emu_when_t(st, &ad), e0 = emu_when_t(en, &ad);
        const char *zone = emu_s(st, "timeZone");
        for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
            cJSON_DeleteItemFromObjectCaseSensitive(nb, drop[i]);
        first += 1;
        for (int i = 0; i < 2; i++) {
            cJSON *w = i ? en : st;
            time_t t = i ? first + (e0 - s0) : first;
            if (ad)
                cal_format_date(t, when);
            else if (zone == NULL || cal_format_local(t, zone, when) != CS_OK)
                cal_format_utc(t, when);
            cJSON_ReplaceItemInObjectCaseSensitive(w, ad ? "date" : "dateTime",
                                                   cJSON_CreateString(when));
        }
        snprintf(tail, sizeof tail, "COUNT=%d", cut);
        cJSON_ReplaceItemInObjectCaseSensitive(
            nb, "recurrence",
            emu_rule_with(cJSON_GetObjectItemCaseSensitive(nb, "recurrence"), tail));
        if (summary != NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(nb, "summary", cJSON_CreateString(summary));
    }
    memset(&sub, 0, sizeof sub);
    if (emu_event_insert(calendar, nb, &sub) != 0) {
        cJSON_Delete(nb);
        *r = sub;
        return;
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "newId", emu_s(sub.json, "id"));
    cJSON_AddNumberToObject(o, "kept", kept);
    cJSON_AddNumberToObject(o, "cancelled", cut);
    cJSON_Delete(sub.json);
    cJSON_Delete(nb);
    emu_notify_calendar(calendar);
    r->status = 200;
    r->json = o;
}
