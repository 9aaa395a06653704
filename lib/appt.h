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
};

/* Frees the strings of a (not a itself); safe on a zeroed struct. */
void appt_free(struct appt *a);
/* Fills a from a row selected with APPT_COLS; free with appt_free. */
int appt_from_row(struct db_stmt *st, struct appt *a);

/* True for the five types / three statuses (exact, UTF-8). */
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

/* Loads one active appointment of user; CS_ERR_NOTFOUND when absent or another user's. */
int appt_get(struct db *db, const char *user_id, long long id, struct appt *a);
/* The writes below take push: the delay (ms) of the job that pushes the change to Google, or
 * APPT_NO_PUSH when the user is not connected. */
#define APPT_NO_PUSH (-1LL)
/* Inserts a (setting a->id), its outbox row and its push job in one transaction.
 * With idem_key (an Idempotency-Key; idem_hash: a hash of the request body) a retry within
 * 24 h creates nothing: CS_ERR_CONFLICT with a->id set to what the first request created, or
 * CS_ERR_INVAL when the key came with another body. */
int appt_create(struct db *db, struct appt *a, long long push, const char *idem_key,
                const char *idem_hash);
/* Saves a's editable fields and its outbox row in one transaction. */
int appt_update(struct db *db, struct appt *a, long long push);
/* Soft-deletes and queues the Google delete in one transaction. CS_ERR_NOTFOUND when absent. */
int appt_delete(struct db *db, const char *user_id, long long id, long long push);
/* The user's reminders setting (NULL: Google's defaults; else a JSON array of minutes) into
 * *out (malloc'd "default" or the array; free()). CS_OK or CS_ERR_DB / CS_ERR_NOTFOUND. */
int appt_reminders_get(struct db *db, const char *user_id, char **out);
/* Saves the setting (canon: "default" or a JSON array) and, when push is not APPT_NO_PUSH,
 * queues the user's upcoming linked appointments so the new reminders reach their events, with
 * the job that pushes them: one transaction. *queued counts them (may be NULL). */
int appt_reminders_set(struct db *db, const char *user_id, const char *canon, long long push,
                       int *queued);
/* A place in the list order (start_utc, appointment_id): where a page ended. */
struct appt_pos {
    char start[CAL_STRLEN];
    long long id; /* 0: before everything */
};
#define APPT_CURSOR_LEN 96
/* The opaque "nextCursor" of a position (unpadded base64url of "start id"). */
int appt_cursor_encode(const struct appt_pos *p, char out[APPT_CURSOR_LEN]);
/* Reads a cursor back; CS_ERR_INVAL for anything appt_cursor_encode did not make. */
int appt_cursor_decode(const char *s, struct appt_pos *out);
/* One page of the active appointments overlapping [from, to) (UTC RFC 3339), in (start, id)
 * order, appended to arr: at most limit (1..APPT_LIST_MAX) rows after *after (NULL: from the
 * start). *next is where the page ended; *more says whether rows follow it. */
int appt_list(struct db *db, const char *user_id, const char *from, const char *to,
              const struct appt_pos *after, int limit, cJSON *arr, struct appt_pos *next,
              int *more);
/* The same page appended to b as a JSON array, byte for byte what cJSON_PrintUnformatted prints
 * for the array appt_list fills, written straight from the rows (a month of appointments
 * costs a tenth of building and printing the cJSON tree). CS_OK, CS_ERR_DB or the buf error. */
int appt_list_json(struct db *db, const char *user_id, const char *from, const char *to,
                   const struct appt_pos *after, int limit, struct buf *b, struct appt_pos *next,
                   int *more);

#endif
