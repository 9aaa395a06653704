/* gevent.h: what a Google Calendar event is to calsync beyond its fields: its type, whose it
 * is, whether the user declined it, which instance of which series it is (issue 24). */
#ifndef GEVENT_H
#define GEVENT_H

#include <cjson/cJSON.h>

#include "cal.h"

/* The event types calsync lists (events.list eventTypes, repeated): ordinary events, out of
 * office (busy time worth seeing in Vesta) and events Gmail made (flights, hotels). Birthdays
 * (one yearly event per contact), working locations, focus time and any type Google adds later
 * are not even listed, so they never flood Vesta nor the import. Source: the eventType guide,
 * developers.google.com/workspace/calendar/api/guides/event-types ("eventTypes can be specified
 * in an Events:list call"), and events.list's eventTypes parameter. */
#define GEVENT_TYPES "eventTypes=default&eventTypes=outOfOffice&eventTypes=fromGmail"
#define GEVENT_LIST_TYPES "&" GEVENT_TYPES

enum gevent_class {
    GEVENT_APPT,     /* becomes an appointment (read-only when gevent.read_only) */
    GEVENT_IGNORED,  /* never an appointment: birthday, workingLocation, focusTime, unknown */
    GEVENT_DECLINED, /* an invitation the user declined: not an appointment (gone if it was) */
};

struct gevent {
    enum gevent_class cls;
    const char *type;      /* eventType when not "default", else NULL (points into the event) */
    const char *organizer; /* the organizer's address when someone else organizes it, else NULL */
    const char *recurring_id;        /* an instance: recurringEventId, else NULL */
    char original_start[CAL_STRLEN]; /* an instance: originalStartTime in UTC, else "" */
    int read_only;                   /* someone else's, or of a special type: never written */
};

/* Reads what ev is (any JSON: an unknown or malformed type is GEVENT_IGNORED, never an error).
 * Pointers in g point into ev. */
void gevent_read(const cJSON *ev, struct gevent *g);

/* The other name of a time zone IANA renamed (Europe/Kyiv <-> Europe/Kiev, ...), or NULL.
 * Google may know only one of the two: a write refused for its zone is sent again with the
 * other. */
const char *gevent_zone_alias(const char *zone);

/* True when a 400 answer (reason, message) refuses a write for its time zone. */
int gevent_zone_refused(long status, const char *message);

#endif
