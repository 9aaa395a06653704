/* calendar.c: the emulator's Calendar v3 events, sync tokens, recurrence and channels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cal.h"
#include "cs.h"
#include "emu.h"

#define EMU_PAGE_DEFAULT 250
#define EMU_PAGE_MAX 2500
#define EMU_INSTANCES_MAX 1000

void emu_reply_error(struct emu_reply *r, int status, const char *reason, const char *message)
{
    cJSON *o = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(o, "error");
    cJSON *errs = cJSON_AddArrayToObject(err, "errors"), *e = cJSON_CreateObject();
    const char *domain = "global";

    /* domains as Google's errors guide and the trackers show them: usage limits under
     * usageLimits (quotaExceeded: "Calendar usage limits exceeded.", inovex/CalendarSync#280;
     * dailyLimitExceeded: phw198/OutlookGoogleCalendarSync#14), the organizer's and the event
     * types' refusals under calendar (kewisch/gdata-provider#366) */
    if (strcmp(reason, "rateLimitExceeded") == 0 || strcmp(reason, "userRateLimitExceeded") == 0 ||
        strcmp(reason, "quotaExceeded") == 0 || strcmp(reason, "dailyLimitExceeded") == 0)
        domain = "usageLimits";
    else if (strcmp(reason, "forbiddenForNonOrganizer") == 0 ||
             strcmp(reason, "eventTypeRestriction") == 0 || strcmp(reason, "timeRangeEmpty") == 0)
        domain = "calendar";
    cJSON_AddStringToObject(e, "domain", domain);
    cJSON_AddStringToObject(e, "reason", reason);
    cJSON_AddStringToObject(e, "message", message);
    if (status == 401) {
        cJSON_AddStringToObject(e, "locationType", "header");
        cJSON_AddStringToObject(e, "location", "Authorization");
    }
    cJSON_AddItemToArray(errs, e);
    cJSON_AddNumberToObject(err, "code", status);
    cJSON_AddStringToObject(err, "message", message);
    cJSON_Delete(r->json);
    r->json = o;
    r->status = status;
}

static cJSON *emu_instance(const struct emu_event *ev, int k, char *iid, size_t iidlen);
static int emu_is_recurring(const struct emu_event *ev);
static void emu_fill_server_fields(struct emu_event *ev);
static void emu_event_stamp(struct emu_event *ev);

/* ---- authorisation ---- */

/* True when the space-separated scope list holds want exactly (calendar.app.created is not
 * calendar). */
static int emu_has_scope(const char *scope, const char *want)
{
    size_t n = strlen(want);

    for (const char *p = scope; p != NULL && (p = strstr(p, want)) != NULL; p += n)
        if ((p == scope || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return 1;
    return 0;
}

/* Google's answer to a token whose grant lacks the scope a call needs. */
static void emu_insufficient(struct emu_reply *r)
{
    cJSON *details, *info, *meta;

    emu_reply_error(r, 403, "insufficientPermissions",
                    "Request had insufficient authentication scopes.");
    /* the errors[] message and the google.rpc details Google adds */
    cJSON *e =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r->json, "error"), "errors"), 0);
    cJSON_ReplaceItemInObject(e, "message", cJSON_CreateString("Insufficient Permission"));
    cJSON_AddStringToObject(cJSON_GetObjectItem(r->json, "error"), "status", "PERMISSION_DENIED");
    details = cJSON_AddArrayToObject(cJSON_GetObjectItem(r->json, "error"), "details");
    info = cJSON_CreateObject();
    cJSON_AddStringToObject(info, "@type", "type.googleapis.com/google.rpc.ErrorInfo");
    cJSON_AddStringToObject(info, "reason", "ACCESS_TOKEN_SCOPE_INSUFFICIENT");
    cJSON_AddStringToObject(info, "domain", "googleapis.com");
    meta = cJSON_AddObjectToObject(info, "metadata");
    cJSON_AddStringToObject(meta, "service", "calendar-json.googleapis.com");
    cJSON_AddItemToArray(details, info);
}

/* The account a Bearer token belongs to (and its grant's scopes in *scope), or NULL (and a 401
 * in r). */
static const char *emu_bearer(const char *auth, const char **scope, struct emu_reply *r)
{
    long long now = emu_now_ms() / 1000;

    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        for (size_t i = 0; i < emu.ntokens; i++) {
            struct emu_token *t = &emu.tokens[i];
            if (strcmp(t->token, auth + 7) == 0) {
                struct emu_grant *g = &emu.grants[t->grant];
                if (g->revoked || t->expires_at <= now)
                    break;
                *scope = g->scope;
                return g->account;
            }
        }
    }
    emu_reply_error(r, 401, "authError", "Invalid Credentials");
    return NULL;
}

/* ---- calendars ---- */

static struct emu_calendar *emu_calendar_find(const char *id)
{
    for (size_t i = 0; i < emu.ncalendars; i++)
        if (strcmp(emu.calendars[i].id, id) == 0)
            return &emu.calendars[i];
    return NULL;
}

static cJSON *emu_calendar_json(const struct emu_calendar *c)
{
    cJSON *o = cJSON_CreateObject();
    char etag[40];

    snprintf(etag, sizeof etag, "\"%lld\"", c->seq);
    cJSON_AddStringToObject(o, "kind", "calendar#calendar");
    cJSON_AddStringToObject(o, "etag", etag);
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "summary", c->summary);
    cJSON_AddStringToObject(o, "timeZone", c->time_zone);
    return o;
}

void emu_calendars_reset(void)
{
    for (size_t i = 0; i < emu.ncalendars; i++) {
        free(emu.calendars[i].id);
        free(emu.calendars[i].owner);
        free(emu.calendars[i].summary);
        free(emu.calendars[i].time_zone);
    }
    emu.ncalendars = 0;
}

cJSON *emu_calendars_json(const char *account)
{
    cJSON *arr = cJSON_CreateArray(), *p = cJSON_CreateObject();

    cJSON_AddStringToObject(p, "id", account);
    cJSON_AddStringToObject(p, "summary", account);
    cJSON_AddBoolToObject(p, "primary", 1);
    cJSON_AddItemToArray(arr, p);
    for (size_t i = 0; i < emu.ncalendars; i++) {
        struct emu_calendar *c = &emu.calendars[i];
        if (strcmp(c->owner, account) != 0 || c->deleted)
            continue;
        cJSON *o = emu_calendar_json(c);
        cJSON_AddBoolToObject(o, "appCreated", c->app_created);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

int emu_calendar_delete(const char *account, const char *id, struct emu_reply *r)
{
    struct emu_calendar *c = emu_calendar_find(id);

    if (strcmp(id, "primary") == 0 || strcmp(id, account) == 0) {
        emu_reply_error(r, 400, "cannotDeletePrimaryCalendar",
                        "The primary calendar cannot be deleted; clear it instead.");
        return -1;
    }
    if (c == NULL || c->deleted || strcmp(c->owner, account) != 0) {
        emu_reply_error(r, 404, "notFound", "Not Found");
        return -1;
    }
    c->deleted = 1; /* its events go with it: every call on it answers 404 from now on */
    for (size_t i = 0; i < emu.nchannels; i++)
        if (strcmp(emu.channels[i].calendar, id) == 0)
            emu.channels[i].stopped = 1;
    r->status = 204;
    return 0;
}

/* calendars.insert: a secondary calendar of the account (calendar or calendar.app.created). */
static void emu_calendar_insert(const char *account, const char *scope, cJSON *body,
                                struct emu_reply *r)
{
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(body, "summary");
    const cJSON *tz = cJSON_GetObjectItemCaseSensitive(body, "timeZone");
    struct emu_calendar *c;
    char id[80];

    if (!emu_has_scope(scope, EMU_CAL_SCOPE_FULL) && !emu_has_scope(scope, EMU_CAL_SCOPE_APP)) {
        emu_insufficient(r);
        return;
    }
    if (!cJSON_IsString(sum) || sum->valuestring[0] == '\0') {
        emu_reply_error(r, 400, "required", "Missing title.");
        return;
    }
    if (tz != NULL && (!cJSON_IsString(tz) || !cal_zone_valid(tz->valuestring))) {
        emu_reply_error(r, 400, "invalid", "Invalid time zone definition.");
        return;
    }
    emu_rand_id(id, 26, "0123456789abcdefghijklmnopqrstuvwxyz");
    snprintf(id + 26, sizeof id - 26, "@group.calendar.google.com");
    c = emu_push((void **)&emu.calendars, &emu.ncalendars, &emu.capcalendars, sizeof *c);
    c->id = emu_strdup(id);
    c->owner = emu_strdup(account);
    c->summary = emu_strdup(sum->valuestring);
    c->time_zone = emu_strdup(tz ? tz->valuestring : "UTC");
    c->app_created = 1;
    c->seq = ++emu.seq;
    r->status = 200;
    r->json = emu_calendar_json(c);
}

/* Resolves a calendar id of a path for account under scope: the id events are kept under
 * (the account itself for its primary calendar) into out, or an error in r (-1). events:
 * the call is on the calendar's events (calendar.events suffices), else on the calendar. */
static int emu_calendar_access(const char *account, const char *scope, const char *cal, int events,
                               char *out, size_t outlen, struct emu_reply *r)
{
    int full = emu_has_scope(scope, EMU_CAL_SCOPE_FULL);
    int ev = emu_has_scope(scope, EMU_CAL_SCOPE), app = emu_has_scope(scope, EMU_CAL_SCOPE_APP);
    struct emu_calendar *c;

    if (strcmp(cal, "primary") == 0 || strcmp(cal, account) == 0) {
        /* calendar.app.created reaches only what the app created: never primary */
        if (!(full || (events && ev))) {
            emu_insufficient(r);
            return -1;
        }
        snprintf(out, outlen, "%s", account);
        return 0;
    }
    c = emu_calendar_find(cal);
    if (c == NULL || c->deleted || strcmp(c->owner, account) != 0) {
        emu_reply_error(r, 404, "notFound", "Not Found");
        return -1;
    }
    if (!(full || (events && ev) || (app && c->app_created))) {
        emu_insufficient(r);
        return -1;
    }
    snprintf(out, outlen, "%s", c->id);
    return 0;
}

/* ---- event storage ---- */

struct emu_event *emu_event_find(const char *calendar, const char *id)
{
    for (size_t i = 0; i < emu.nevents; i++)
        if (strcmp(emu.events[i].id, id) == 0 && strcmp(emu.events[i].calendar, calendar) == 0)
            return &emu.events[i];
    return NULL;
}

static void emu_event_stamp(struct emu_event *ev)
{
    char etag[64], upd[64];
    long long ms = emu_now_ms();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    ev->seq = ++emu.seq;
    snprintf(etag, sizeof etag, "\"%lld%06lld\"", ms, ev->seq % 1000000);
    gmtime_r(&t, &tm);
    snprintf(upd, sizeof upd, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
    cJSON_DeleteItemFromObjectCaseSensitive(ev->body, "etag");
    cJSON_DeleteItemFromObjectCaseSensitive(ev->body, "updated");
    cJSON_AddStringToObject(ev->body, "etag", etag);
    cJSON_AddStringToObject(ev->body, "updated", upd);
    if (cJSON_GetObjectItemCaseSensitive(ev->body, "created") == NULL)
        cJSON_AddStringToObject(ev->body, "created", upd);
}

static int emu_id_valid(const char *id)
{
    size_t n = strlen(id);

    if (n < 5 || n > 1024)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'v') || (*p >= '0' && *p <= '9')))
            return 0;
    return 1;
}

/* Parses start/end {date|dateTime}; returns 0 and sets the instants, or -1. */
static int emu_when(const cJSON *w, time_t *t, int *all_day)
{
    const cJSON *d, *dt;

    if (!cJSON_IsObject(w))
        return -1;
    d = cJSON_GetObjectItemCaseSensitive(w, "date");
    dt = cJSON_GetObjectItemCaseSensitive(w, "dateTime");
    if (cJSON_IsString(d) && (dt == NULL || cJSON_IsNull(dt))) {
        *all_day = 1;
        return cal_parse_date(d->valuestring, t) == CS_OK ? 0 : -1;
    }
    if (cJSON_IsString(dt)) {
        *all_day = 0;
        return cal_parse_rfc3339(dt->valuestring, t) == CS_OK ? 0 : -1;
    }
    return -1;
}

/* colorId ("1".."11") and reminders as Google takes them: overrides only without the
 * calendar's defaults, at most 5, minutes 0..40320, method email or popup. */
static int emu_event_validate_extras(cJSON *body, struct emu_reply *r)
{
    const cJSON *color = cJSON_GetObjectItemCaseSensitive(body, "colorId");
    const cJSON *rem = cJSON_GetObjectItemCaseSensitive(body, "reminders"), *ud, *ov, *o;

    if (color != NULL && !cJSON_IsNull(color)) {
        char *end = NULL;
        long v = cJSON_IsString(color) ? strtol(color->valuestring, &end, 10) : 0;
        if (!cJSON_IsString(color) || end == color->valuestring || *end != '\0' || v < 1 ||
            v > 11) {
            emu_reply_error(r, 400, "invalid", "Invalid value for: colorId");
            return -1;
        }
    }
    if (rem == NULL || cJSON_IsNull(rem))
        return 0;
    ud = cJSON_GetObjectItemCaseSensitive(rem, "useDefault");
    ov = cJSON_GetObjectItemCaseSensitive(rem, "overrides");
    if (!cJSON_IsObject(rem) || (ud != NULL && !cJSON_IsBool(ud)) ||
        (ov != NULL && !cJSON_IsArray(ov) && !cJSON_IsNull(ov))) {
        emu_reply_error(r, 400, "invalid", "Invalid reminders.");
        return -1;
    }
    if (cJSON_IsTrue(ud) && cJSON_GetArraySize(ov) > 0) {
        emu_reply_error(r, 400, "cannotUseDefaultRemindersAndSpecifyOverride",
                        "Cannot specify both default reminders and overrides at the same time.");
        return -1;
    }
    if (cJSON_GetArraySize(ov) > 5) {
        emu_reply_error(r, 400, "tooManyReminders", "Too many reminders.");
        return -1;
    }
    cJSON_ArrayForEach(o, ov)
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "method");
        const cJSON *mi = cJSON_GetObjectItemCaseSensitive(o, "minutes");
        if (!cJSON_IsString(m) ||
            (strcmp(m->valuestring, "email") != 0 && strcmp(m->valuestring, "popup") != 0)) {
            emu_reply_error(r, 400, "invalid", "Invalid reminder method.");
            return -1;
        }
        if (!cJSON_IsNumber(mi)) {
            emu_reply_error(r, 400, "required", "Missing override reminder minutes.");
            return -1;
        }
        if (mi->valuedouble < 0 || mi->valuedouble > 40320 ||
            mi->valuedouble != (double)(long)mi->valuedouble) {
            emu_reply_error(r, 400, "invalid", "Invalid reminder minutes.");
            return -1;
        }
    }
    return 0;
}

/* Checks what Google checks on a write: times present and ordered. */
static int emu_event_validate(cJSON *body, struct emu_reply *r)
{
    time_t s, e;
    int ad_s, ad_e;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(body, "status");

    if (emu_event_validate_extras(body, r) != 0)
        return -1;

    if (emu_when(cJSON_GetObjectItemCaseSensitive(body, "start"), &s, &ad_s) != 0 ||
        emu_when(cJSON_GetObjectItemCaseSensitive(body, "end"), &e, &ad_e) != 0) {
        emu_reply_error(r, 400, "required", "Missing or invalid start or end time.");
        return -1;
    }
    if (ad_s != ad_e || e < s || (ad_s && e == s)) {
        emu_reply_error(r, 400, "timeRangeEmpty", "The specified time range is empty.");
        return -1;
    }
    if (st != NULL && (!cJSON_IsString(st) || (strcmp(st->valuestring, "confirmed") != 0 &&
                                               strcmp(st->valuestring, "tentative") != 0 &&
                                               strcmp(st->valuestring, "cancelled") != 0))) {
        emu_reply_error(r, 400, "invalid", "Invalid event status.");
        return -1;
    }
    return 0;
}

static void emu_set_str(cJSON *o, const char *key, const char *val)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    cJSON_AddStringToObject(o, key, val);
}

static void emu_fill_server_fields(struct emu_event *ev)
{
    char buf[2048];

    emu_set_str(ev->body, "kind", "calendar#event");
    emu_set_str(ev->body, "id", ev->id);
    if (cJSON_GetObjectItemCaseSensitive(ev->body, "status") == NULL)
        cJSON_AddStringToObject(ev->body, "status", "confirmed");
    snprintf(buf, sizeof buf, "%s@google.com", ev->id);
    if (cJSON_GetObjectItemCaseSensitive(ev->body, "iCalUID") == NULL)
        cJSON_AddStringToObject(ev->body, "iCalUID", buf);
    snprintf(buf, sizeof buf, "https://www.google.com/calendar/event?eid=%s", ev->id);
    emu_set_str(ev->body, "htmlLink", buf);
    if (cJSON_GetObjectItemCaseSensitive(ev->body, "organizer") == NULL) {
        cJSON *org = cJSON_AddObjectToObject(ev->body, "organizer");
        cJSON_AddStringToObject(org, "email", ev->calendar);
        cJSON_AddBoolToObject(org, "self", 1);
    }
    /* each calendar holds its own copy: self marks its owner (organizer, attendees) */
    emu_realcal_selves(ev->body, ev->calendar);
}

/* An instance of a recurring series, addressed by its instance id, becomes a stored
 * exception event the first time it is read or written (as on Google). NULL when id names
 * no instance. */
static struct emu_event *emu_event_find_or_instance(const char *calendar, const char *id)
{
    struct emu_event *ev = emu_event_find(calendar, id), *m;
    const char *us = strrchr(id, '_');
    char master[1100], iid[1100];
    cJSON *inst = NULL;

    if (ev != NULL || us == NULL || (size_t)(us - id) >= sizeof master)
        return ev;
    memcpy(master, id, (size_t)(us - id));
    master[us - id] = '\0';
    m = emu_event_find(calendar, master);
    if (m == NULL || m->deleted || !emu_is_recurring(m))
        return NULL;
    for (int k = 0; (inst = emu_instance(m, k, iid, sizeof iid)) != NULL; k++) {
        if (strcmp(iid, id) == 0)
            break;
        cJSON_Delete(inst);
    }
    if (inst == NULL)
        return NULL;
    ev = emu_push((void **)&emu.events, &emu.nevents, &emu.capevents, sizeof *ev);
    ev->id = emu_strdup(id);
    ev->calendar = emu_strdup(calendar);
    ev->body = inst;
    emu_fill_server_fields(ev);
    emu_event_stamp(ev);
    return ev;
}

int emu_event_insert(const char *calendar, cJSON *body, struct emu_reply *r)
{
    const cJSON *idj = cJSON_GetObjectItemCaseSensitive(body, "id");
    char idbuf[40];
    struct emu_event *ev;

    if (idj != NULL) {
        if (!cJSON_IsString(idj) || !emu_id_valid(idj->valuestring)) {
            emu_reply_error(r, 400, "invalid", "Invalid resource id value.");
            return -1;
        }
        if (emu_event_find(calendar, idj->valuestring) != NULL) {
            emu_reply_error(r, 409, "duplicate", "The requested identifier already exists.");
            return -1;
        }
    }
    if (emu_event_validate(body, r) != 0 || (emu.api && emu_realcal_zone_check(body, r) != 0))
        return -1;
    if (idj == NULL)
        emu_rand_id(idbuf, 26, "0123456789abcdefghijklmnopqrstuv");
    ev = emu_push((void **)&emu.events, &emu.nevents, &emu.capevents, sizeof *ev);
    ev->id = emu_strdup(idj ? idj->valuestring : idbuf);
    ev->calendar = emu_strdup(calendar);
    ev->body = cJSON_Duplicate(body, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(ev->body, "etag");
    cJSON_DeleteItemFromObjectCaseSensitive(ev->body, "created");
    emu_fill_server_fields(ev);
    emu_event_stamp(ev);
    if (emu.api)
        emu_realcal_mail(ev->body, calendar);
    r->status = 200;
    r->json = cJSON_Duplicate(ev->body, 1);
    emu_notify_calendar(calendar);
    return 0;
}

/* JSON merge for patch: objects merge recursively, null removes, others replace. */
static void emu_merge(cJSON *dst, const cJSON *patch)
{
    const cJSON *p;

    cJSON_ArrayForEach(p, patch)
    {
        cJSON *cur = cJSON_GetObjectItemCaseSensitive(dst, p->string);
        if (cJSON_IsNull(p)) {
            cJSON_DeleteItemFromObjectCaseSensitive(dst, p->string);
        } else if (cJSON_IsObject(p) && cJSON_IsObject(cur)) {
            emu_merge(cur, p);
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(dst, p->string);
            cJSON_AddItemToObject(dst, p->string, cJSON_Duplicate(p, 1));
        }
    }
}

static int emu_etag_matches(const struct emu_event *ev, const char *if_match)
{
    const cJSON *etag = cJSON_GetObjectItemCaseSensitive(ev->body, "etag");

    if (if_match == NULL || *if_match == '\0' || strcmp(if_match, "*") == 0)
        return 1;
    return cJSON_IsString(etag) && strcmp(etag->valuestring, if_match) == 0;
}

int emu_event_patch(const char *calendar, const char *id, cJSON *patch, int replace,
                    const char *if_match, struct emu_reply *r)
{
    struct emu_event *ev = emu_event_find_or_instance(calendar, id);
    cJSON *nb;

    if (ev == NULL) {
        emu_reply_error(r, 404, "notFound", "Not Found");
        return -1;
    }
    if (!emu_etag_matches(ev, if_match)) {
        emu_reply_error(r, 412, "conditionNotMet", "Precondition Failed");
        return -1;
    }
    if (emu.api && emu_realcal_write_check(ev, replace ? "PUT" : "PATCH", patch, r) != 0)
        return -1;
    if (replace) {
        nb = cJSON_Duplicate(patch, 1);
        cJSON *created = cJSON_GetObjectItemCaseSensitive(ev->body, "created");
        cJSON_DeleteItemFromObjectCaseSensitive(nb, "created");
        if (created)
            cJSON_AddStringToObject(nb, "created", created->valuestring);
    } else {
        nb = cJSON_Duplicate(ev->body, 1);
        emu_merge(nb, patch);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(nb, "etag");
    /* updating a deleted event with a non-cancelled status brings it back, as on Google */
    if (emu_event_validate(nb, r) != 0 || (emu.api && emu_realcal_zone_check(nb, r) != 0)) {
        cJSON_Delete(nb);
        return -1;
    }
    cJSON_Delete(ev->body);
    ev->body = nb;
    emu_fill_server_fields(ev);
    {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(ev->body, "status");
        ev->deleted = cJSON_IsString(st) && strcmp(st->valuestring, "cancelled") == 0;
    }
    emu_event_stamp(ev);
    if (emu.api)
        emu_realcal_mail(ev->body, calendar);
    r->status = 200;
    r->json = cJSON_Duplicate(ev->body, 1);
    emu_notify_calendar(calendar);
    return 0;
}

int emu_event_delete(const char *calendar, const char *id, const char *if_match,
                     struct emu_reply *r)
{
    struct emu_event *ev = emu_event_find_or_instance(calendar, id);

    if (ev == NULL) {
        emu_reply_error(r, 404, "notFound", "Not Found");
        return -1;
    }
    if (ev->deleted) {
        emu_reply_error(r, 410, "deleted", "Resource has been deleted");
        return -1;
    }
    if (!emu_etag_matches(ev, if_match)) {
        emu_reply_error(r, 412, "conditionNotMet", "Precondition Failed");
        return -1;
    }
    if (emu.api && emu_realcal_write_check(ev, "DELETE", NULL, r) != 0)
        return -1;
    if (emu.api)
        emu_realcal_mail(ev->body, calendar);
    ev->deleted = 1;
    emu_set_str(ev->body, "status", "cancelled");
    emu_event_stamp(ev);
    r->status = 204;
    emu_notify_calendar(calendar);
    return 0;
}

/* ---- recurrence: RRULE FREQ=DAILY|WEEKLY|MONTHLY with INTERVAL, COUNT, UNTIL ---- */

struct emu_rrule {
    int freq; /* 1 daily, 7 weekly, 30 monthly */
    int interval, count;
    time_t until; /* 0 = none */
};

static int emu_rrule_parse(const cJSON *recurrence, struct emu_rrule *rr)
{
    const cJSON *line;

    memset(rr, 0, sizeof *rr);
    rr->interval = 1;
    cJSON_ArrayForEach(line, recurrence)
    {
        char buf[512], *save = NULL, *tok;
        if (!cJSON_IsString(line) || strncmp(line->valuestring, "RRULE:", 6) != 0)
            continue;
        snprintf(buf, sizeof buf, "%s", line->valuestring + 6);
        for (tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
            if (strcmp(tok, "FREQ=DAILY") == 0)
                rr->freq = 1;
            else if (strcmp(tok, "FREQ=WEEKLY") == 0)
                rr->freq = 7;
            else if (strcmp(tok, "FREQ=MONTHLY") == 0)
                rr->freq = 30;
            else if (strcmp(tok, "FREQ=YEARLY") == 0)
                rr->freq = 365; /* birthdays */
            else if (strncmp(tok, "INTERVAL=", 9) == 0)
                rr->interval = atoi(tok + 9);
            else if (strncmp(tok, "COUNT=", 6) == 0)
                rr->count = atoi(tok + 6);
            else if (strncmp(tok, "UNTIL=", 6) == 0) {
                struct tm tm = {0};
                const char *u = tok + 6;
                if (strlen(u) >= 8 &&
                    sscanf(u, "%4d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) == 3) {
                    tm.tm_year -= 1900;
                    tm.tm_mon -= 1;
                    if (strlen(u) >= 15)
                        sscanf(u + 9, "%2d%2d%2d", &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
                    else
                        tm.tm_hour = 23, tm.tm_min = 59, tm.tm_sec = 59;
                    rr->until = timegm(&tm);
                }
            }
        }
    }
    if (rr->freq == 0)
        return -1;
    if (rr->interval < 1)
        rr->interval = 1;
    if (rr->count <= 0 || rr->count > EMU_INSTANCES_MAX)
        rr->count = EMU_INSTANCES_MAX;
    return 0;
}

/* Instant of occurrence k of a timed event starting at t in zone (DST-correct). */
static time_t emu_step(time_t t, const char *zone, const struct emu_rrule *rr, int k, int all_day)
{
    int days = rr->freq >= 30 ? 0 : k * rr->interval * rr->freq;
    int months = rr->freq == 30 ? k * rr->interval : rr->freq == 365 ? 12 * k * rr->interval : 0;
    struct tm tm;
    time_t out;

    if (!all_day && zone != NULL && cal_add_local(t, zone, days, months, &out) == CS_OK)
        return out;
    gmtime_r(&t, &tm);
    tm.tm_mday += days;
    tm.tm_mon += months;
    return timegm(&tm);
}

static void emu_when_set(cJSON *o, const char *key, time_t t, int all_day, const char *zone)
{
    cJSON *w = cJSON_CreateObject();
    char s[CAL_STRLEN];

    if (all_day) {
        cal_format_date(t, s);
        cJSON_AddStringToObject(w, "date", s);
    } else {
        if (zone == NULL || cal_format_local(t, zone, s) != CS_OK)
            cal_format_utc(t, s);
        cJSON_AddStringToObject(w, "dateTime", s);
        if (zone != NULL)
            cJSON_AddStringToObject(w, "timeZone", zone);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    cJSON_AddItemToObject(o, key, w);
}

/* The k-th instance of a recurring master as Google lists it with singleEvents=true;
 * NULL past the end. *iid gets the instance id. */
static cJSON *emu_instance(const struct emu_event *ev, int k, char *iid, size_t iidlen)
{
    struct emu_rrule rr;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(ev->body, "start");
    const cJSON *tzj = cJSON_GetObjectItemCaseSensitive(st, "timeZone");
    const char *zone = cJSON_IsString(tzj) ? tzj->valuestring : NULL;
    time_t s, e, is;
    int ad, ad2;
    cJSON *inst;

    if (emu_rrule_parse(cJSON_GetObjectItemCaseSensitive(ev->body, "recurrence"), &rr) != 0 ||
        k >= rr.count)
        return NULL;
    if (emu_when(st, &s, &ad) != 0 ||
        emu_when(cJSON_GetObjectItemCaseSensitive(ev->body, "end"), &e, &ad2) != 0)
        return NULL;
    is = emu_step(s, zone, &rr, k, ad);
    if (rr.until && is > rr.until)
        return NULL;
    emu_realcal_instance_id(ev->id, is, ad, iid, iidlen);
    inst = cJSON_Duplicate(ev->body, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(inst, "recurrence");
    emu_set_str(inst, "id", iid);
    emu_set_str(inst, "recurringEventId", ev->id);
    emu_when_set(inst, "originalStartTime", is, ad, zone);
    emu_when_set(inst, "start", is, ad, zone);
    emu_when_set(inst, "end", is + (e - s), ad, zone);
    return inst;
}

static int emu_is_recurring(const struct emu_event *ev)
{
    return cJSON_GetObjectItemCaseSensitive(ev->body, "recurrence") != NULL;
}

/* Minimal form of a deleted event, as Google sends in incremental syncs. */
static cJSON *emu_cancelled(const cJSON *full)
{
    cJSON *o = cJSON_CreateObject();
    const char *keep[] = {"kind", "etag", "id", "recurringEventId", "originalStartTime"};

    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(full, keep[i]);
        if (v)
            cJSON_AddItemToObject(o, keep[i], cJSON_Duplicate(v, 1));
    }
    cJSON_AddStringToObject(o, "status", "cancelled");
    return o;
}

static int emu_in_window(const cJSON *item, time_t tmin, time_t tmax)
{
    time_t s, e;
    int ad;

    if (emu_when(cJSON_GetObjectItemCaseSensitive(item, "start"), &s, &ad) != 0 ||
        emu_when(cJSON_GetObjectItemCaseSensitive(item, "end"), &e, &ad) != 0)
        return 1;
    return (tmin == 0 || e > tmin) && (tmax == 0 || s < tmax);
}

/* events.list */
static void emu_list(const char *calendar, void *conn, struct emu_reply *r)
{
    static const char *const forbidden[] = {
        "iCalUID", "orderBy",   "privateExtendedProperty", "q", "sharedExtendedProperty", "timeMin",
        "timeMax", "updatedMin"};
    const char *sync = emu_arg(conn, "syncToken"), *page = emu_arg(conn, "pageToken");
    const char *mr = emu_arg(conn, "maxResults"), *sd = emu_arg(conn, "showDeleted");
    const char *se = emu_arg(conn, "singleEvents");
    const char *tmin_s = emu_arg(conn, "timeMin"), *tmax_s = emu_arg(conn, "timeMax");
    const char *types[16];
    int ntypes = emu_arg_all(conn, "eventTypes", types, 16), empty = 0;
    long long since = -1;
    int gen, max = EMU_PAGE_DEFAULT, show_deleted = sd && strcmp(sd, "true") == 0;
    int single = se && strcmp(se, "true") == 0, n = 0;
    size_t idx = 0, inst = 0;
    time_t tmin = 0, tmax = 0;
    cJSON *o, *items;
    char tok[128];

    if (mr != NULL) {
        char *end;
        long v = strtol(mr, &end, 10);
        if (*end != '\0' || v < 1) {
            emu_reply_error(r, 400, "invalid", "Invalid value for maxResults.");
            return;
        }
        max = v > EMU_PAGE_MAX ? EMU_PAGE_MAX : (int)v;
    }
    if ((tmin_s && cal_parse_rfc3339(tmin_s, &tmin) != CS_OK) ||
        (tmax_s && cal_parse_rfc3339(tmax_s, &tmax) != CS_OK)) {
        emu_reply_error(r, 400, "badRequest", "Bad Request");
        return;
    }
    if (page != NULL) {
        /* p<idx>_<inst>_<since>_<gen>[E<empty pages served before it>] */
        const char *e = strchr(page, 'E');
        empty = e ? atoi(e + 1) : 0;
        if (sscanf(page, "p%zu_%zu_%lld_%d", &idx, &inst, &since, &gen) != 4 ||
            gen != emu.generation) {
            emu_reply_error(r, 400, "invalid", "Invalid page token value.");
            return;
        }
    } else if (sync != NULL) {
        for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
            if (emu_arg(conn, forbidden[i]) != NULL) {
                emu_reply_error(r, 400, "invalid",
                                "Sync token cannot be used with other query parameters.");
                return;
            }
        }
        if (sscanf(sync, "s%lld_%d", &since, &gen) != 2 || gen != emu.generation ||
            since > emu.seq) {
            emu_reply_error(r, 410, "fullSyncRequired",
                            "Sync token is no longer valid, a full sync is required.");
            return;
        }
    }
    if (since >= 0)
        show_deleted = 1; /* incremental syncs always carry deletions */

    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "calendar#events");
    cJSON_AddStringToObject(o, "summary", calendar);
    cJSON_AddStringToObject(o, "timeZone", "UTC");
    items = cJSON_AddArrayToObject(o, "items");
    if (empty < emu.empty_pages) {
        /* "a result page ... may have fewer events than maxResults, or none at all ...
         * detected by a non-empty nextPageToken" (events.list, maxResults): an empty page
         * that still leads on */
        snprintf(tok, sizeof tok, "p%zu_%zu_%lld_%dE%d", idx, inst, since, emu.generation,
                 empty + 1);
        cJSON_AddStringToObject(o, "nextPageToken", tok);
        r->status = 200;
        r->json = o;
        return;
    }
    for (; idx < emu.nevents && n < max; idx++, inst = 0) {
        struct emu_event *ev = &emu.events[idx];
        if (strcmp(ev->calendar, calendar) != 0)
            continue;
        if (since >= 0 && ev->seq <= since)
            continue;
        if (ev->deleted && !show_deleted)
            continue;
        if (!emu_realcal_type_listed(ev->body, types, ntypes))
            continue; /* eventTypes: only the types asked for (events.list) */
        if (single && emu_is_recurring(ev)) {
            char iid[1100];
            cJSON *it = NULL;
            while (n < max && (it = emu_instance(ev, (int)inst, iid, sizeof iid)) != NULL) {
                struct emu_event *ex = emu_event_find(calendar, iid);
                inst++;
                if (ex != NULL || !emu_in_window(it, tmin, tmax)) { /* exceptions list themselves */
                    cJSON_Delete(it);
                    continue;
                }
                if (ev->deleted) {
                    cJSON *c = emu_cancelled(it);
                    cJSON_Delete(it);
                    it = c;
                }
                cJSON_AddItemToArray(items, it);
                n++;
            }
            if (it != NULL)
                break; /* page full inside this series */
            continue;
        }
        if (!ev->deleted && !emu_in_window(ev->body, tmin, tmax))
            continue;
        cJSON_AddItemToArray(items,
                             ev->deleted ? emu_cancelled(ev->body) : cJSON_Duplicate(ev->body, 1));
        n++;
    }
    if (idx < emu.nevents) {
        snprintf(tok, sizeof tok, "p%zu_%zu_%lld_%d", idx, inst, since, emu.generation);
        cJSON_AddStringToObject(o, "nextPageToken", tok);
    } else {
        snprintf(tok, sizeof tok, "s%lld_%d", emu.seq, emu.generation);
        cJSON_AddStringToObject(o, "nextSyncToken", tok);
    }
    r->status = 200;
    r->json = o;
}

/* ---- channels ---- */

static void emu_watch(const char *calendar, cJSON *body, struct emu_reply *r)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "id");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
    const cJSON *addr = cJSON_GetObjectItemCaseSensitive(body, "address");
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(body, "token");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(body, "expiration");
    long long now = emu_now_ms(), max = now + (long long)emu.max_channel_ttl * 1000, want = max;
    struct emu_channel *ch;
    char rid[32], uri[1024], expbuf[32];
    cJSON *o;

    if (!cJSON_IsString(id) || !*id->valuestring || strlen(id->valuestring) > 64 ||
        !cJSON_IsString(type) ||
        (strcmp(type->valuestring, "web_hook") != 0 && strcmp(type->valuestring, "webhook") != 0) ||
        !cJSON_IsString(addr) ||
        (strncmp(addr->valuestring, "https://", 8) != 0 &&
         strncmp(addr->valuestring, "http://127.0.0.1", 16) != 0 &&
         strncmp(addr->valuestring, "http://localhost", 16) != 0)) {
        emu_reply_error(r, 400, "invalid",
                        "Invalid channel: id, type web_hook and an https address are required.");
        return;
    }
    if (token != NULL && (!cJSON_IsString(token) || strlen(token->valuestring) > 256)) {
        emu_reply_error(r, 400, "invalid", "Invalid channel token.");
        return;
    }
    for (size_t i = 0; i < emu.nchannels; i++) {
        if (strcmp(emu.channels[i].id, id->valuestring) == 0) {
            emu_reply_error(r, 400, "channelIdNotUnique", "Channel id not unique");
            return;
        }
    }
    if (exp != NULL) {
        long long e = 0;
        if (cJSON_IsNumber(exp))
            e = (long long)exp->valuedouble;
        else if (cJSON_IsString(exp))
            e = atoll(exp->valuestring);
        if (e > now && e < max)
            want = e;
    }
    ch = emu_push((void **)&emu.channels, &emu.nchannels, &emu.capchannels, sizeof *ch);
    emu_rand_id(rid, 27, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
    snprintf(uri, sizeof uri, "%s/calendar/v3/calendars/%s/events?alt=json", emu.base_url,
             calendar);
    ch->id = emu_strdup(id->valuestring);
    ch->resource_id = emu_strdup(rid);
    ch->token = token ? emu_strdup(token->valuestring) : NULL;
    ch->address = emu_strdup(addr->valuestring);
    ch->calendar = emu_strdup(calendar);
    ch->expiration_ms = want;
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "api#channel");
    cJSON_AddStringToObject(o, "id", ch->id);
    cJSON_AddStringToObject(o, "resourceId", ch->resource_id);
    cJSON_AddStringToObject(o, "resourceUri", uri);
    if (ch->token)
        cJSON_AddStringToObject(o, "token", ch->token);
    snprintf(expbuf, sizeof expbuf, "%lld", want);
    cJSON_AddStringToObject(o, "expiration", expbuf);
    r->status = 200;
    r->json = o;
    emu_notify_channel(ch, "sync");
}

static void emu_stop(cJSON *body, struct emu_reply *r)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "id");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(body, "resourceId");

    if (!cJSON_IsString(id) || !cJSON_IsString(rid)) {
        emu_reply_error(r, 400, "required", "Required parameter: id and resourceId.");
        return;
    }
    for (size_t i = 0; i < emu.nchannels; i++) {
        struct emu_channel *ch = &emu.channels[i];
        if (strcmp(ch->id, id->valuestring) == 0 &&
            strcmp(ch->resource_id, rid->valuestring) == 0 && !ch->stopped) {
            ch->stopped = 1;
            r->status = 204;
            return;
        }
    }
    emu_reply_error(r, 404, "notFound", "Channel not found for project.");
}

/* ---- routing ---- */

static void emu_url_decode(char *s)
{
    char *o = s;

    for (; *s; s++) {
        if (*s == '%' && s[1] && s[2]) {
            char hex[3] = {s[1], s[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

static void emu_calendar_serve(const char *method, const char *path, const char *auth,
                               const char *if_match, cJSON *body, const char *body_raw, void *conn,
                               struct emu_reply *r);

void emu_calendar_handle(const char *method, const char *path, const char *auth,
                         const char *if_match, cJSON *body, const char *body_raw, void *conn,
                         struct emu_reply *r)
{
    /* what a client does through the API is checked as Google checks it (realcal.c); the
     * control API acts as the Google user in Google's own UI */
    emu.api = 1;
    emu.cur_conn = conn;
    emu_calendar_serve(method, path, auth, if_match, body, body_raw, conn, r);
    emu.api = 0;
    emu.cur_conn = NULL;
}

static void emu_calendar_serve(const char *method, const char *path, const char *auth,
                               const char *if_match, cJSON *body, const char *body_raw, void *conn,
                               struct emu_reply *r)
{
    const char *account, *p, *scope = "";
    char cal[512], evid[1100];
    int write = strcmp(method, "GET") != 0;

    account = emu_bearer(auth, &scope, r);
    if (account == NULL)
        return;
    snprintf(r->account, sizeof r->account, "%s", account);
    (void)body_raw;
    if (write && strcmp(method, "DELETE") != 0 && !cJSON_IsObject(body)) {
        emu_reply_error(r, 400, "parseError", "Parse Error");
        return;
    }
    if (strcmp(path, "/calendar/v3/channels/stop") == 0 && strcmp(method, "POST") == 0) {
        emu_stop(body, r);
        return;
    }
    if (strcmp(path, "/calendar/v3/calendars") == 0 ||
        strcmp(path, "/calendar/v3/calendars/") == 0) {
        if (strcmp(method, "POST") == 0)
            emu_calendar_insert(account, scope, body, r);
        else
            emu_reply_error(r, 405, "httpMethodNotAllowed", "Method not allowed");
        return;
    }
    if (strncmp(path, "/calendar/v3/calendars/", 23) != 0) {
        emu_reply_error(r, 404, "notFound", "Not Found");
        return;
    }
    p = path + 23;
    {
        size_t n = strcspn(p, "/");
        if (n == 0 || n >= sizeof cal) {
            emu_reply_error(r, 404, "notFound", "Not Found");
            return;
        }
        memcpy(cal, p, n);
        cal[n] = '\0';
        emu_url_decode(cal);
        p += n;
    }
    if (*p == '\0' || strcmp(p, "/") == 0) { /* calendars.get / calendars.delete */
        char id[512];
        if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
            emu_reply_error(r, 405, "httpMethodNotAllowed", "Method not allowed");
            return;
        }
        if (emu_calendar_access(account, scope, cal, 0, id, sizeof id, r) != 0)
            return;
        if (strcmp(method, "DELETE") == 0) {
            emu_calendar_delete(account, id, r);
        } else if (strcmp(id, account) == 0) {
            struct emu_calendar prim = {
                .id = (char *)account, .summary = (char *)account, .time_zone = "UTC"};
            r->status = 200;
            r->json = emu_calendar_json(&prim);
        } else {
            r->status = 200;
            r->json = emu_calendar_json(emu_calendar_find(id));
        }
        return;
    }
    {
        char id[512];
        if (emu_calendar_access(account, scope, cal, 1, id, sizeof id, r) != 0)
            return;
        snprintf(cal, sizeof cal, "%s", id);
    }
    if (strcmp(p, "/events") == 0 || strcmp(p, "/events/") == 0) {
        if (strcmp(method, "GET") == 0)
            emu_list(cal, conn, r);
        else if (strcmp(method, "POST") == 0)
            emu_event_insert(cal, body, r);
        else
            emu_reply_error(r, 405, "httpMethodNotAllowed", "Method not allowed");
        return;
    }
    if (strcmp(p, "/events/watch") == 0 && strcmp(method, "POST") == 0) {
        emu_watch(cal, body, r);
        return;
    }
    if (strncmp(p, "/events/", 8) == 0 && strlen(p + 8) < sizeof evid &&
        strchr(p + 8, '/') == NULL) {
        struct emu_event *ev;
        snprintf(evid, sizeof evid, "%s", p + 8);
        emu_url_decode(evid);
        if (strcmp(method, "GET") == 0) {
            ev = emu_event_find_or_instance(cal, evid);
            if (ev == NULL) {
                emu_reply_error(r, 404, "notFound", "Not Found");
                return;
            }
            r->status = 200;
            r->json = cJSON_Duplicate(ev->body, 1);
        } else if (strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0) {
            if (!cJSON_IsObject(body)) {
                emu_reply_error(r, 400, "parseError", "Parse Error");
                return;
            }
            emu_event_patch(cal, evid, body, strcmp(method, "PUT") == 0, if_match, r);
        } else if (strcmp(method, "DELETE") == 0) {
            emu_event_delete(cal, evid, if_match, r);
        } else {
            emu_reply_error(r, 405, "httpMethodNotAllowed", "Method not allowed");
        }
        return;
    }
    emu_reply_error(r, 404, "notFound", "Not Found");
}

/* ---- for realcal.c ---- */

cJSON *emu_series_instance(const struct emu_event *ev, int k, char *iid, size_t iidlen)
{
    return emu_is_recurring(ev) ? emu_instance(ev, k, iid, iidlen) : NULL;
}

void emu_event_touch(struct emu_event *ev)
{
    emu_fill_server_fields(ev);
    emu_event_stamp(ev);
}
