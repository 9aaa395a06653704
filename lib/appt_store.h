/* appt_store.h: the API's writes of appointments (each with its outbox row and host row). */
#ifndef APPT_STORE_H
#define APPT_STORE_H

#include "appt.h"

struct db;
struct cfg;

/* The writes below run through the host's appointment source of cfg (NULL: standalone) in
 * the same transaction, and take push: the delay (ms) of the job that pushes the change to Google,
 * or APPT_NO_PUSH when the user is not connected. */
#define APPT_NO_PUSH (-1LL)
/* Inserts a (setting a->id), its outbox row and its push job in one transaction.
 * With idem_key (an Idempotency-Key; idem_hash: a hash of the request body) a retry within
 * 24 h creates nothing: CS_ERR_CONFLICT with a->id set to what the first request created, or
 * CS_ERR_INVAL when the key came with another body. */
int appt_create(struct db *db, const struct cfg *cfg, struct appt *a, long long push,
                const char *idem_key, const char *idem_hash);
/* Saves a's editable fields and its outbox row in one transaction. */
int appt_update(struct db *db, const struct cfg *cfg, struct appt *a, long long push);
/* Soft-deletes and queues the Google delete in one transaction. CS_ERR_NOTFOUND when absent. */
int appt_delete(struct db *db, const struct cfg *cfg, const char *user_id, long long id,
                long long push);
/* The user's reminders setting (NULL: Google's defaults; else a JSON array of minutes) into
 * *out (malloc'd "default" or the array; free()). CS_OK or CS_ERR_DB / CS_ERR_NOTFOUND. */
int appt_reminders_get(struct db *db, const char *user_id, char **out);
/* Saves the setting (canon: "default" or a JSON array) and, when push is not APPT_NO_PUSH,
 * queues the user's upcoming linked appointments so the new reminders reach their events, with
 * the job that pushes them: one transaction. *queued counts them (may be NULL). */
int appt_reminders_set(struct db *db, const char *user_id, const char *canon, long long push,
                       int *queued);
#endif
