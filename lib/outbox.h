/* outbox.h: queueing an appointment's change for Google (sync rule 1). */
#ifndef OUTBOX_H
#define OUTBOX_H

struct db;

/* push: the delay (ms) of the job that pushes the change, or OUTBOX_NO_PUSH when the user is
 * not connected (the row waits for a connection's first sync). */
#define OUTBOX_NO_PUSH (-1LL)

/* The outbox row of a change (op "upsert" or "delete") and, unless push is OUTBOX_NO_PUSH, the
 * job that pushes it: in the caller's transaction, with the change itself. CS_OK or CS_ERR_DB. */
int outbox_put(struct db *db, const char *user_id, long long id, const char *op, long long push);

#endif
