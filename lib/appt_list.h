/* appt_list.h: listing a range of appointments, page by page. */
#ifndef APPT_LIST_H
#define APPT_LIST_H

#include <cjson/cJSON.h>

#include "appt.h"
#include "buf.h"

struct db;

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
