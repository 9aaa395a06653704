/* sync.h: the two-way sync engine (DESIGN.md section 5). */
#ifndef SYNC_H
#define SYNC_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct db;
struct cfg;
struct gapi;

/* With a push channel, a full pull still happens when none did for this long. */
#define SYNC_SAFETY_POLL_S (6 * 3600)

struct job;
struct integ;

struct sync_stats {
    int pushed, pulled, deleted, conflicts, errors, passes;
    long long retry_at_ms; /* after CS_ERR_RATELIMIT: when Google may be asked again */
};

/* Runs a sync job (JOB_SYNC) for its user under the job's lease: pushes every due outbox row
 * (first sync: every appointment not on Google yet), then, when the job asks for it, pulls
 * every page since the stored sync token (or a full listing). Records the run (with the job's
 * id and generation, for Sync now) and the integration's state. Returns CS_OK;
 * CS_ERR_NOTFOUND when the user is not connected (or disconnected meanwhile); CS_ERR_REAUTH;
 * CS_ERR_BUSY when the lease was lost; CS_ERR_RATELIMIT (st->retry_at_ms says when to retry);
 * or another error, recorded on the integration (state "error", last_error). st may be NULL. */
int sync_run(struct db *db, const struct cfg *cfg, struct job *job, struct sync_stats *st,
             char *errbuf, size_t errlen);

/* Opens a push channel for the user's calendar (when a webhook URL is configured), stores
 * it, then stops the channel it replaces. A channel opened for a connection that ended
 * meanwhile is stopped at once. job (may be NULL) is the lease held. CS_ERR_NOTFOUND when
 * webhooks are off or the user is not connected; CS_ERR_BUSY when another renewer won. */
int sync_channel_open(struct db *db, const struct cfg *cfg, const char *user_id, struct job *job);
/* Stops a channel at Google (404 counts as stopped). */
int sync_channel_stop(struct gapi *g, const char *channel_id, const char *resource_id);

/* Disconnect: the local part in one transaction (integration inactive, tokens wiped, Google
 * ids cleared, jobs cancelled, appointments kept) plus a clean-up job keeping, sealed, what
 * Google must still be told (the channel to stop, the grant to revoke). *cleanup_id is that
 * job (0 when there is nothing to tell Google). */
int sync_disconnect(struct db *db, const struct cfg *cfg, const char *user_id,
                    long long *cleanup_id);
/* Runs a clean-up job: stops the channel and revokes the grant with the tokens it kept.
 * CS_OK when Google confirmed both (or they were already gone), else the error to retry. */
int sync_cleanup(const struct cfg *cfg, struct job *job);

/* The status object of GET /api/google/calendar/status; NULL on OOM. */
cJSON *sync_status_json(struct db *db, const char *user_id);

#endif
