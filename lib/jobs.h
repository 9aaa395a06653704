/* jobs.h: durable sync jobs: every reason to call Google is a row, written with its cause and
 * run by calsync-worker under a lease (DESIGN.md section 5, rule 7). */
#ifndef JOBS_H
#define JOBS_H

#include <stddef.h>

#include "crypt.h"
#include "cs.h"

struct db;
struct cfg;

enum job_kind {
    JOB_SYNC,    /* push the outbox, and pull when pull is set */
    JOB_CHANNEL, /* open (or renew) the push channel of the current connection */
    JOB_CLEANUP, /* after a disconnect: stop the old channel, revoke the grant (payload) */
    JOB__MAX
};

/* Failed runs are retried after 2 s doubling up to this, with jitter. */
#define JOBS_RETRY_MAX_MS (15 * 60 * 1000LL)

struct job {
    long long id, gen, attempts;
    enum job_kind kind;
    char user_id[CRYPT_UUIDLEN];
    int pull;
    char trigger[16];
    char *payload; /* cleanup only; NULL otherwise */
    char owner[CRYPT_TOKLEN];
    long long lease_until; /* epoch ms */
    long long lease_ms;    /* how long a claim holds: kept alive while the job makes progress,
                              so only a dead or stuck worker loses it (cfg->job_lease_ms) */
};

/* Writes (or coalesces into the pending) sync job of a user; runs in the caller's transaction
 * when one is open. pull=1 asks for a pull too; delay_ms postpones it (settle window). job_id
 * and gen (may be NULL) identify the request, for jobs_wait. CS_OK or CS_ERR_DB. With both
 * NULL, db_changes() right after it is 0 when a pending job already covered the request and
 * nothing was written (on MySQL it counts the matched row: never 0). */
int jobs_enqueue_sync(struct db *db, const char *user_id, int pull, const char *trigger,
                      long long delay_ms, long long *job_id, long long *gen);
/* 1 when the user's pending sync job already covers a sync requested now (pulling when pull
 * is set, due in delay_ms): not cancelled, pulling as much, due as soon, and either not
 * running or holding a request for one more pass after the run. Then jobs_enqueue_sync would
 * change nothing, and need not be called. 0 otherwise, or when the store fails. */
int jobs_sync_covered(struct db *db, const char *user_id, int pull, long long delay_ms);
/* The same for opening / renewing the user's push channel. */
int jobs_enqueue_channel(struct db *db, const char *user_id, const char *trigger);
/* A cleanup job with its own (sealed) payload; *job_id is set. */
int jobs_enqueue_cleanup(struct db *db, const char *user_id, const char *payload,
                         long long *job_id);
/* Deletes the user's sync and channel jobs (disconnect); a running one notices at its next
 * Google call (the connection epoch changed) and stops. */
int jobs_cancel_user(struct db *db, const char *user_id);

/* Waits up to wait_ms until no sync or channel job of the user is running (a disconnect lets
 * a cancelled run reach its next Google call, where it stops). CS_OK or CS_ERR_BUSY. */
int jobs_wait_user_idle(struct db *db, const char *user_id, long long wait_ms);

/* Wakes calsync-worker (a datagram on cfg->worker_socket); silent when nobody listens: the
 * worker's polling finds the job anyway. */
void jobs_wake(const struct cfg *cfg);

/* Claims the next due job. CS_OK (free with jobs_free), CS_ERR_NOTFOUND when none is due,
 * CS_ERR_DB. */
int jobs_claim(struct db *db, long long lease_ms, struct job *j);
/* Claims one given job (a route running the job it just wrote). CS_OK or CS_ERR_BUSY. */
int jobs_claim_id(struct db *db, long long job_id, long long lease_ms, struct job *j);
/* Epoch ms when the earliest job is due, or 0 when there is none. */
long long jobs_next_due(struct db *db);
/* Extends the lease when it is getting old; CS_ERR_BUSY when the job was taken from us
 * (cancelled by a disconnect, or our lease lapsed). */
int jobs_keepalive(struct db *db, struct job *j);
/* True when jobs_keepalive would write (half of the lease is gone). */
int jobs_lease_due(const struct job *j);
/* Ends a run: done (deleted, unless a request came in meanwhile: then it stays for one more
 * pass; also when there is nothing more to do for what this run claimed, e.g. the user is not
 * connected any more), or retried at retry_at_ms (0: backoff by attempts) with err shown. */
int jobs_done(struct db *db, struct job *j);
int jobs_retry(struct db *db, struct job *j, long long retry_at_ms, const char *err);
void jobs_free(struct job *j);

/* Sync now: waits up to wait_ms for the run of job_id that covers request gen. CS_OK with
 * *ok and the counts (pushed, pulled, deleted, conflicts) of that run, err (may be NULL) its
 * error; CS_ERR_BUSY when it did not finish in time. */
struct jobs_result {
    int ok, pushed, pulled, deleted, conflicts, errors;
    char error[CS_ERRLEN];
};
int jobs_wait(struct db *db, long long job_id, long long gen, long long wait_ms,
              struct jobs_result *res);

const char *jobs_kind_name(enum job_kind k);

#endif
