/* calsync-renew: the cron program. Records the jobs calsync-worker runs: push channels to renew
 * before they expire (new first, then the old is stopped) or to re-open, due outbox retries,
 * polls of integrations without a channel (and a safety-net poll for those with one). Calls no
 * Google API itself; safe to run from several hosts at once (jobs coalesce). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "store.h"
#include "sync.h"

#define MAX_USERS 10000

/* Collects the user ids a statement selects, binding ?1 and ?2 where it has them. */
static size_t users(struct db *db, enum db_stmt_id id, long long p1, long long p2,
                    char (*out)[CRYPT_UUIDLEN])
{
    struct db_stmt *st = db_stmt(db, id);
    size_t n = 0;

    if (st == NULL)
        return 0;
    if (db_param_count(st) > 0)
        db_bind_int64(st, 1, p1);
    if (db_param_count(st) > 1)
        db_bind_int64(st, 2, p2);
    while (n < MAX_USERS && db_step(st) == DB_ROW)
        db_col_copy(st, 0, out[n++], CRYPT_UUIDLEN);
    db_reset(st);
    return n;
}

static void count(int rc, int *ok, int *errors)
{
    if (rc == CS_OK)
        (*ok)++;
    else
        (*errors)++;
}

int main(int argc, char **argv)
{
    struct cfg cfg;
    struct db *db = NULL;
    char err[CS_ERRLEN];
    char(*ids)[CRYPT_UUIDLEN] = NULL;
    int renewed = 0, opened = 0, polled = 0, retried = 0, errors = 0, stale = 0;
    size_t n;

    (void)argv;
    log_init("renew");
    if (argc > 1) {
        fprintf(stderr, "usage: calsync-renew   (run from cron; configuration from the "
                        "environment)\n");
        return 2;
    }
    cfg_load_or_die(&cfg);
    if (crypt_init() != CS_OK || store_open(&cfg, 1, &db, err, sizeof err) != CS_OK) {
        fprintf(stderr, "calsync-renew: %s\n", err);
        cfg_free(&cfg);
        return 1;
    }
    if (!cfg_google_enabled(&cfg)) {
        printf("renew: Google Calendar not configured; nothing to do\n");
        goto out;
    }
    ids = calloc(MAX_USERS, sizeof *ids);
    if (ids == NULL)
        goto out;

    if (*cfg.webhook_url != '\0') {
        /* channels expiring soon (or already expired), and integrations without one (opening
         * failed earlier): the worker opens the new one, then stops the old */
        n = users(db, DB_INTEG_RENEW_DUE, db_now_ms() + (long long)cfg.renew_before_s * 1000, 0,
                  ids);
        for (size_t i = 0; i < n; i++)
            count(jobs_enqueue_channel(db, ids[i], "renew"), &renewed, &errors);
        n = users(db, DB_INTEG_NO_CHANNEL, 0, 0, ids);
        for (size_t i = 0; i < n; i++)
            count(jobs_enqueue_channel(db, ids[i], "renew"), &opened, &errors);
    }
    /* outbox rows whose retry time has come */
    n = users(db, DB_OUTBOX_USERS_DUE, db_now_ms(), 0, ids);
    for (size_t i = 0; i < n; i++)
        count(jobs_enqueue_sync(db, ids[i], 0, "cron", 0, NULL, NULL), &retried, &errors);
    /* polling: integrations without push, and a safety net for those with it */
    n = users(db, DB_INTEG_POLL_DUE, db_now(), SYNC_SAFETY_POLL_S, ids);
    for (size_t i = 0; i < n; i++)
        count(jobs_enqueue_sync(db, ids[i], 1, "poll", 0, NULL, NULL), &polled, &errors);
    /* jobs whose worker died: their lease lapses and any worker takes them over */
    {
        struct db_stmt *st = db_stmt(db, DB_JOB_STALE);
        if (st != NULL) {
            db_bind_int64(st, 1, db_now_ms());
            if (db_step(st) == DB_ROW)
                stale = db_col_int(st, 0);
            db_reset(st);
        }
    }
    if (renewed + opened + retried + polled > 0)
        jobs_wake(&cfg);
out:
    /* counts of jobs queued for calsync-worker */
    printf("renew: channels renewed=%d opened=%d outbox_users=%d polled=%d stale_leases=%d "
           "errors=%d\n",
           renewed, opened, retried, polled, stale, errors);
    free(ids);
    db_close(db);
    cfg_free(&cfg);
    return errors > 0 ? 1 : 0;
}
