/* gmap.h: mapping between Vesta appointments and Google Calendar events. */
#ifndef GMAP_H
#define GMAP_H

#include <cjson/cJSON.h>

#include "appt.h"

/* Our deterministic Google event id for an appointment (lowercase base32hex, 26 chars), so a
 * retried insert answers 409 instead of creating a twin. */
#define GMAP_IDLEN 32
void gmap_event_id(const unsigned char key[32], const struct appt *a, char out[GMAP_IDLEN]);
/* The same for generation gen (0: gmap_event_id's): when Google keeps our id for an event it
 * will not give back (deleted, and refusing to be restored), the appointment moves on to the
 * next generation's id, still derived, so a retried insert stays a 409. */
#define GMAP_ID_GENERATIONS 4
void gmap_event_id_gen(const unsigned char key[32], const struct appt *a, int gen,
                       char out[GMAP_IDLEN]);

/* The event body for a: summary, description, location, start/end (dateTime + timeZone tz, or
 * date for all-day), extendedProperties.private. With id != NULL it is included (insert).
 * NULL on OOM; free with cJSON_Delete. */
cJSON *gmap_to_event(const struct appt *a, const char *tz, const char *id);

/* The body of a PATCH: only the fields that differ from the last synced snapshot (all of them
 * when there is none), so a local edit of one field never rewrites another on Google. The
 * private extended properties always go along. NULL on OOM. */
cJSON *gmap_to_patch(const struct appt *a, const char *tz, const char *base_snapshot);

/* Reads an event into the content fields of out (title, description, location, start, end,
 * all_day, type, status, contact_id). Returns CS_OK or CS_ERR_INVAL (unusable times). The
 * caller frees with appt_free. */
int gmap_from_event(const cJSON *ev, const char *tz, struct appt *out);

/* The synced-fields snapshot of a (JSON text, malloc'd) used for field-level merges. */
char *gmap_snapshot(const struct appt *a);

/* Field-level three-way merge into local: for every field changed on one side only the change
 * wins; a field changed on both sides goes to the later modification (remote_newer). Returns
 * the number of true conflicts. base may be NULL (no snapshot: everything is a conflict
 * where the sides differ). */
int gmap_merge(struct appt *local, const struct appt *remote, const char *base_snapshot,
               int remote_newer);

/* A Cancelled appointment stays on Google, its title marked with this prefix (stripped again
 * when such an event is read back). */
#define GMAP_CANCELLED_PREFIX "[Cancelada] "

/* What an event carries beyond the appointment itself. */
struct gmap_extra {
    const char *color_id;  /* colorId of the appointment's type ("1".."11"), or NULL */
    const char *reminders; /* reminders to send: "default" or a JSON array of minutes (popup);
                              NULL: leave Google's as they are */
    const char *source_url, *source_title; /* Google's "source" (a link back), or NULL */
    int n_priv;                            /* more private extended properties: key, value */
    const char *(*priv)[2];
};
/* gmap_to_event with x (may be NULL): colorId and reminders go along when set. */
cJSON *gmap_event_body(const struct appt *a, const char *tz, const char *id,
                       const struct gmap_extra *x);
/* gmap_to_patch with x (may be NULL): colorId only when the type changed since the snapshot
 * (so a colour set on Google stays until then), reminders when x has them. */
cJSON *gmap_patch_body(const struct appt *a, const char *tz, const char *base_snapshot,
                       const struct gmap_extra *x);
/* Google's reminders object for a setting ("default" or "[10,60]"); NULL on OOM or a setting
 * that is not one. Free with cJSON_Delete. */
cJSON *gmap_reminders(const char *setting);
/* Validates a reminders setting from the API ("default", or an array of at most 5 integers
 * 0..40320) into its stored form (*canon: "default" or e.g. "[10,60]", malloc'd).
 * CS_OK, or CS_ERR_INVAL with errbuf saying why. */
#define GMAP_REMINDERS_MAX 5
#define GMAP_REMINDER_MINUTES_MAX 40320
int gmap_reminders_canon(const cJSON *v, char **canon, char *errbuf, size_t errlen);

/* Helpers for extendedProperties.private. */
const char *gmap_private(const cJSON *ev, const char *key);
/* True when the two appointments' synced fields are equal. */
int gmap_same(const struct appt *a, const struct appt *b);

#endif
