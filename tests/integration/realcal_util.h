/* realcal_util.h: helpers of it_realcal (a real agent's calendar against the emulator). */
#ifndef REALCAL_UTIL_H
#define REALCAL_UTIL_H

#include <cjson/cJSON.h>

#include "harness.h"

extern struct stack S;

/* Sync now for c: asserts 200 and success; the counts (each may be NULL). */
void rc_sync(struct client *c, int *pushed, int *pulled, int *deleted);
/* The Google events of WHO@gmail.test (all: cancelled ones too). Free with cJSON_Delete. */
cJSON *rc_google(const char *who, int all);
/* POSTs an event as the Google user WHO; its id (free). */
char *rc_google_post(const char *who, const char *json);
/* PATCH/PUT/DELETE an event as the Google user; asserts the status. */
void rc_google_edit(const char *who, const char *id, const char *method, const char *json);
/* The appointments of c in [from, to). Free with cJSON_Delete. */
cJSON *rc_local(struct client *c, const char *from, const char *to);
/* Creates an appointment through the API; its id. */
long long rc_create(struct client *c, const char *json);
/* GET /api/appointments/ID (asserts 200). Free with cJSON_Delete. */
cJSON *rc_appt(struct client *c, long long id);
/* The first item of arr whose key is val, or NULL. */
cJSON *rc_find(cJSON *arr, const char *key, const char *val);
/* The live Google events of WHO whose summary is title. */
int rc_count_summary(const char *who, const char *title);
/* The emulator's counter (stats) name. */
long long rc_stat(const char *name);
/* Emulator config / fault (asserts 200). */
void rc_emu(const char *path, const char *json);
/* A user WHO logged in, with appointments made by the caller, then connected (the first sync
 * pushes them in batches); 0 once the first sync is done. */
int rc_user(struct client *c, const char *who, const char *tz);
int rc_connect(struct client *c, const char *who);
/* A SELECT of one number where $U stands for WHO@example.com's user id. */
long long rc_count(const char *who, const char *where);
/* Counts the non-GET Calendar calls since mark whose query lacks sendUpdates=none. */
int rc_writes_without_none(size_t mark);

/* The scenarios of realcal_more.c; the converge check of realcal_soak.c (a seeded agent's
 * account, a randomized two-sided workload under usage- and rate-limit faults, then everything
 * must match). */
void realcal_split(void **state);
void realcal_limits(void **state);
void realcal_guests(void **state);
void realcal_listing(void **state);
void realcal_batch(void **state);
void realcal_converge(void **state);

#endif
