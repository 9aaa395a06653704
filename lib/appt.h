/* appt.h: Vesta appointments: validation, JSON mapping, storage with the outbox. */
#ifndef APPT_H
#define APPT_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "buf.h"

#include "cal.h"
#include "crypt.h"

struct db;
struct db_stmt;

#define APPT_TITLE_MAX 500
#define APPT_LOCATION_MAX 500
#define APPT_DESC_MAX 8000
#define APPT_LIST_MAX 2000
#define APPT_SPAN_MAX (366LL * 86400)
#define APPT_IDEM_TTL_S (24 * 3600)
#define APPT_CONTACT_MAX 9007199254740991LL /* 2^53 - 1: exact in JSON numbers */

struct appt {
    long long id;
    char user_id[CRYPT_UUIDLEN];
    long long contact_id; /* 0 when none */
    char *title, *description, *location;
    char start[CAL_STRLEN], end[CAL_STRLEN]; /* UTC RFC 3339; all-day: date at 00:00Z */
    int all_day;
    char type[16], status[16];
    int is_active;
    char *google_event_id, *google_etag, *google_updated, *synced_snapshot;
    long long last_synced_at;
    char sync_state[12];
    char *sync_error;
    long long created_at, updated_at; /* ms */
    char *former_event_id;            /* the event linked before a disconnect, or NULL */
    char *reminders_sent;     /* the reminders setting last sent to Google with it, or NULL */
    char *former_calendar_id; /* the calendar former_event_id lived in (NULL: primary) */
    /* the linked Google event, as far as it limits what calsync may do (010_realcal) */
    char *google_event_type;     /* its eventType when not "default", else NULL */
    char *google_organizer;      /* its organizer's address when someone else's, else NULL */
    char *google_recurring_id;   /* an instance: its series (recurringEventId), else NULL */
    char *google_original_start; /* an instance: its originalStartTime (UTC RFC 3339) */
};

/* True when the linked event is not calsync's to write: an invitation (another organizer) or
 * an event of a special type (out of office, from Gmail). Such an appointment is shown, never
 * written to Google; a change made here stays here. */
int appt_read_only(const struct appt *a);

/* Frees the strings of a (not a itself); safe on a zeroed struct. */
void appt_free(struct appt *a);
/* Fills a from a row selected with APPT_COLS; free with appt_free. */
int appt_from_row(struct db_stmt *st, struct appt *a);
/* Loads one active appointment of user; CS_ERR_NOTFOUND when absent or another user's. */
int appt_get(struct db *db, const char *user_id, long long id, struct appt *a);
/* Loads an appointment of the user whether active or not: CS_OK (free with appt_free),
 * CS_ERR_NOTFOUND (none of the user's) or CS_ERR_DB. */
int appt_get_any(struct db *db, const char *user_id, long long id, struct appt *a);

/* True for the five types / five statuses (Scheduled, Completed, Cancelled, Rescheduled,
 * NoShow: exact, UTF-8). */
#define APPT_TYPES 5
int appt_type_valid(const char *s);
/* The index (0..APPT_TYPES-1) of a type in the order Visita, Reunión, Firma, Cierre, Viaje,
 * or -1; the name of index i (NULL out of range). */
int appt_type_index(const char *s);
const char *appt_type_name(int i);
int appt_status_valid(const char *s);

/* Validates the fields in obj and applies them to a. With partial=0 (create) title, start and
 * end are required. tz interprets an all-day datetime. On failure errbuf says which field. */
int appt_apply_json(struct appt *a, const cJSON *obj, int partial, const char *tz, char *errbuf,
                    size_t errlen);
/* The API form of an appointment; NULL on OOM. Caller frees with cJSON_Delete. */
cJSON *appt_to_json(const struct appt *a);

/* Binds the content fields of a (contact, title, description, location, start, end, all-day,
 * type, status) to parameters first .. first + 8 of st, in that order. */
void appt_bind_content(struct db_stmt *st, int first, const struct appt *a);

#endif
