/* gmap.h: mapping between Vesta appointments and Google Calendar events. */
#ifndef GMAP_H
#define GMAP_H

#include <cjson/cJSON.h>

#include "appt.h"

/* Our deterministic Google event id for an appointment (lowercase base32hex, 26 chars), so a
 * retried insert answers 409 instead of creating a twin. */
#define GMAP_IDLEN 32
void gmap_event_id(const unsigned char key[32], const struct appt *a, char out[GMAP_IDLEN]);

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

/* Helpers for extendedProperties.private. */
const char *gmap_private(const cJSON *ev, const char *key);
/* True when the two appointments' synced fields are equal. */
int gmap_same(const struct appt *a, const struct appt *b);

#endif
