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

struct sync_stats {
    int pushed, pulled, deleted, conflicts, errors, passes;
};

enum sync_mode {
    SYNC_PUSH,    /* drain the outbox only */
    SYNC_FULL,    /* push, then pull */
    SYNC_SETTLED, /* a notification: hold the lease for cfg->webhook_settle_ms first, so a
                     burst of notifications arriving meanwhile is served by one pass */
};

/* Runs one sync for user under the per-user lease. trigger names the cause in logs and the run
 * log ("manual", "webhook", "connect", "poll", "change", "cron"). Returns CS_OK;
 * CS_ERR_BUSY when another process holds the lease (it was asked to run once more);
 * CS_ERR_NOTFOUND when the user is not connected; CS_ERR_REAUTH; or another error, which is
 * also recorded on the integration (state "error", last_error). st may be NULL. */
int sync_run(struct db *db, const struct cfg *cfg, const char *user_id, const char *trigger,
             enum sync_mode mode, long long budget_ms, struct sync_stats *st, char *errbuf,
             size_t errlen);

/* Pushes the user's pending outbox rows within cfg->push_budget_ms (called by routes after
 * their commit and answer). Never fails the caller: problems stay queued and visible. */
void sync_after_commit(struct db *db, const struct cfg *cfg, const char *user_id);

/* Opens a push channel for the user's calendar (when a webhook URL is configured), stores
 * it, then stops the channel it replaces. CS_ERR_NOTFOUND when webhooks are off. */
int sync_channel_open(struct db *db, const struct cfg *cfg, const char *user_id);
/* Stops a channel at Google (404 counts as stopped). */
int sync_channel_stop(struct gapi *g, const char *channel_id, const char *resource_id);

/* The status object of GET /api/google/calendar/status; NULL on OOM. */
cJSON *sync_status_json(struct db *db, const char *user_id);

#endif
