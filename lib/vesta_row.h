/* vesta_row.h: one row of Vesta's appointments table as calsync reads and writes it, its
 * snapshot (what calsync last saw of it), and the mapping to calsync's appointment. */
#ifndef VESTA_ROW_H
#define VESTA_ROW_H

#include "appt.h"
#include "cal.h"
#include "crypt.h"

struct db;
struct db_stmt;

struct vesta_row {
    long long id;
    char user_id[CRYPT_UUIDLEN];
    long long contact_id, listing_id;        /* 0: NULL */
    char start[CAL_STRLEN], end[CAL_STRLEN]; /* RFC 3339 UTC ("...Z") */
    char status[24], type[24];
    char *notes; /* NULL: NULL */
    int active;
    long long trip; /* trip_time_minutes, -1: NULL */
    char *gid;      /* google_event_id, or NULL */
    /* calsync's side, from the snapshot: */
    char *gen_title; /* the title calsync last made from type and contact, or NULL */
    char *gnotes;    /* the notes calsync last made from Google's summary/description, or NULL */
    long long updated_s; /* updated_at (feed only) */
};

void vesta_row_free(struct vesta_row *r);
/* Reads VESTA_ROW_COLS starting at column first (user_id .. hsnap) into r, and the snapshot
 * (hsnap, may be NULL) into *prev when prev is not NULL (prev->id = 0 when there is none). */
int vesta_row_read(struct db_stmt *st, int first, struct vesta_row *r, struct vesta_row *prev);
/* The snapshot of r (JSON; free()), NULL on OOM. */
char *vesta_row_snap(const struct vesta_row *r);
/* Parses a snapshot; CS_OK or CS_ERR_INVAL. */
int vesta_row_parse(const char *snap, struct vesta_row *out);
/* True when the Vesta fields of a and b (not calsync's notes) are the same. */
int vesta_row_same(const struct vesta_row *a, const struct vesta_row *b);
/* Bit set of the Vesta fields that differ. */
enum {
    VR_CONTACT = 1,
    VR_LISTING = 2,
    VR_TIMES = 4,
    VR_STATUS = 8,
    VR_NOTES = 16,
    VR_TYPE = 32,
    VR_ACTIVE = 64,
    VR_TRIP = 128
};
int vesta_row_diff(const struct vesta_row *a, const struct vesta_row *b);
/* Copies the fields in mask from src into dst. CS_OK or CS_ERR_NOMEM. */
int vesta_row_take(struct vesta_row *dst, const struct vesta_row *src, int mask);

/* "2026-12-01T10:00:00Z" -> "2026-12-01 10:00:00" (a TIMESTAMP literal in UTC). */
void vesta_time_sql(const char *rfc3339, char out[CAL_STRLEN]);
/* The summary Vesta would show: "Visita · Ana García" (type alone without a contact name). */
char *vesta_title(const char *type, const char *first, const char *last);
/* The event's location from a property's address parts (NULL parts skipped); "" when none. */
char *vesta_location(const char *street, const char *details, const char *postal, const char *city);
/* Vesta's notes column is a `text` (65,535 bytes): longer notes are cut (Google and calsync's
 * store keep the whole description). */
#define VESTA_NOTES_MAX 65535
/* Vesta's notes for an appointment: its description; an event made on Google with no
 * description shows its summary there (Vesta has no title column). malloc'd. */
char *vesta_notes_of(const struct appt *a, const char *gen_title);
/* The description an appointment gets from Vesta's notes (the inverse of vesta_notes_of). */
char *vesta_desc_of(const char *notes, const struct appt *a, const char *gen_title);
/* A row's times as an appointment's (not all-day); an end not after the start (Vesta allows
 * it, Google does not) becomes the start plus a minute. */
void vesta_row_times(const struct vesta_row *r, struct appt *a);
/* A row's content as calsync's appointment (title and location as given). */
int vesta_row_to_appt(const struct vesta_row *r, struct appt *a);

struct cfg;

/* The summary and location Vesta shows for a row: the contact's name and the listing's address,
 * read only within the user's own account. *title / *location malloc'd (free()). */
int vesta_describe(struct db *db, const struct vesta_row *r, char **title, char **location);
/* Records what calsync now knows of row r (its snapshot). */
int vesta_snap_put(struct db *db, const struct vesta_row *r);
/* The push delay of a change the feed found (cfg->push_delay_ms). */
long long vesta_push_delay(const struct cfg *cfg);

#endif
