/* gevent.c: what a Google Calendar event is to calsync beyond its fields (issue 24): type,
 * organizer, the user's answer to an invitation, the instance key; renamed time zones. */
#include "gevent.h"
#include "cal.h"
#include "cs.h"

#include <stdio.h>
#include <string.h>

static const char *gevent_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* originalStartTime {dateTime | date} as the UTC form appointments store ("" when absent). */
static void gevent_original(const cJSON *w, char out[CAL_STRLEN])
{
    const char *dt = gevent_str(w, "dateTime"), *d = gevent_str(w, "date");
    time_t t;

    out[0] = '\0';
    if (dt != NULL && cal_parse_rfc3339(dt, &t) == CS_OK)
        cal_format_utc(t, out);
    else if (d != NULL && cal_parse_date(d, &t) == CS_OK)
        cal_format_utc(t, out);
}

void gevent_read(const cJSON *ev, struct gevent *g)
{
    const cJSON *org = cJSON_GetObjectItemCaseSensitive(ev, "organizer"), *att;
    const char *type = gevent_str(ev, "eventType");

    memset(g, 0, sizeof *g);
    g->cls = GEVENT_APPT;
    /* Types: the event-types guide (developers.google.com/workspace/calendar/api/guides/
     * event-types). Out of office is time the agent is away: worth seeing in Vesta as busy
     * time. fromGmail (flights, hotels) keeps showing as before. Anything else is not an
     * appointment, including types Google adds later; a type is never an error. */
    if (type != NULL && strcmp(type, "default") != 0) {
        if (strcmp(type, "outOfOffice") != 0 && strcmp(type, "fromGmail") != 0)
            g->cls = GEVENT_IGNORED;
        g->type = type;
    } else if (cJSON_GetObjectItemCaseSensitive(ev, "eventType") != NULL && type == NULL) {
        g->cls = GEVENT_IGNORED; /* an eventType that is not even a string */
    }
    /* organizer.self: "Whether the organizer corresponds to the calendar on which this copy of
     * the event appears" (events resource). Another organizer's event is an invitation: Google
     * answers an attendee's edit with 403 forbiddenForNonOrganizer ("Shared properties can only
     * be changed by the organizer of the event", kewisch/gdata-provider#366, #426, #728). */
    if (cJSON_IsObject(org) && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(org, "self")) &&
        gevent_str(org, "email") != NULL && *gevent_str(org, "email") != '\0')
        g->organizer = gevent_str(org, "email");
    /* attendees[].self with responseStatus "declined": the user said no (events resource) */
    cJSON_ArrayForEach(att, cJSON_GetObjectItemCaseSensitive(ev, "attendees"))
    {
        const char *rs = gevent_str(att, "responseStatus");
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(att, "self")) && rs != NULL &&
            strcmp(rs, "declined") == 0 && g->cls == GEVENT_APPT)
            g->cls = GEVENT_DECLINED;
    }
    /* an instance is (recurringEventId, originalStartTime) (recurring events guide,
     * developers.google.com/workspace/calendar/api/guides/recurringevents); its id is opaque
     * and its format may change, so it is never parsed */
    g->recurring_id = gevent_str(ev, "recurringEventId");
    if (g->recurring_id != NULL)
        gevent_original(cJSON_GetObjectItemCaseSensitive(ev, "originalStartTime"),
                        g->original_start);
    if (g->recurring_id != NULL && g->original_start[0] == '\0')
        g->recurring_id = NULL; /* no usable key: treated as a single event */
    g->read_only = g->organizer != NULL || g->type != NULL;
}

/* IANA renames Google's list may lag behind (or lead): both names of each. */
static const char *const gevent_renamed[][2] = {
    {"Europe/Kyiv", "Europe/Kiev"},          {"Asia/Kolkata", "Asia/Calcutta"},
    {"Asia/Ho_Chi_Minh", "Asia/Saigon"},     {"Asia/Kathmandu", "Asia/Katmandu"},
    {"Asia/Yangon", "Asia/Rangoon"},         {"America/Nuuk", "America/Godthab"},
    {"Pacific/Kanton", "Pacific/Enderbury"}, {"Atlantic/Faroe", "Atlantic/Faeroe"},
};

const char *gevent_zone_alias(const char *zone)
{
    for (size_t i = 0; zone != NULL && i < sizeof gevent_renamed / sizeof gevent_renamed[0]; i++) {
        if (strcmp(zone, gevent_renamed[i][0]) == 0)
            return gevent_renamed[i][1];
        if (strcmp(zone, gevent_renamed[i][1]) == 0)
            return gevent_renamed[i][0];
    }
    return NULL;
}

int gevent_zone_refused(long status, const char *message)
{
    /* "Invalid time zone definition for start time." */
    return status == 400 && message != NULL &&
           (strstr(message, "time zone") != NULL || strstr(message, "Time zone") != NULL ||
            strstr(message, "timeZone") != NULL);
}
