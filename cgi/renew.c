/* calsync-renew: the cron program. Renews push channels before they expire (new first, then
 * the old is stopped), re-opens missing channels, retries due outbox rows and polls
 * integrations without a channel. Safe to run from several hosts at once (per-user lease). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "log.h"
#include "sync.h"

#define MAX_USERS 10000

/* Collects the user ids a statement selects, binding ?1 and ?2 where it has them. */
static size_t users(struct db *db, enum db_stmt_id id, long long p1, long long p2,
                    char (*out)[CRYPT_UUIDLEN])
{
    sqlite3_stmt *st = db_stmt(db, id);
    size_t n = 0;

    if (st == NULL)
        return 0;
    if (sqlite3_bind_parameter_count(st) > 0)
        sqlite3_bind_int64(st, 1, p1);
    if (sqlite3_bind_parameter_count(st) > 1)
        sqlite3_bind_int64(st, 2, p2);
    while (n < MAX_USERS && sqlite3_step(st) == SQLITE_ROW)
        db_col_copy(st, 0, out[n++], CRYPT_UUIDLEN);
    sqlite3_reset(st);
    return n;
}

int main(int argc, char **argv)
{
    struct cfg cfg;
    struct db *db = NULL;
    char err[CS_ERRLEN];
    char(*ids)[CRYPT_UUIDLEN] = NULL;
    int renewed = 0, opened = 0, failed = 0, polled = 0, retried = 0, errors = 0;
    size_t n;

    (void)argv;
    log_init("renew");
    if (argc > 1) {
        fprintf(stderr, "usage: calsync-renew   (run from cron; configuration from the "
                        "environment)\n");
        return 2;
    }
    cfg_load_or_die(&cfg);
    if (crypt_init() != CS_OK || db_open(cfg.db_path, &db, err, sizeof err) != CS_OK) {
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
        /* channels expiring soon (or already expired): open the new one, then stop the old */
        n = users(db, DB_INTEG_RENEW_DUE, db_now_ms() + (long long)cfg.renew_before_s * 1000, 0,
                  ids);
        for (size_t i = 0; i < n; i++) {
            int rc = sync_channel_open(db, &cfg, ids[i]);
            if (rc == CS_OK)
                renewed++;
            else if (rc != CS_ERR_BUSY) /* BUSY: another renewer got there first */
                failed++;
        }
        /* integrations that have no channel (opening failed earlier) */
        n = users(db, DB_INTEG_NO_CHANNEL, 0, 0, ids);
        for (size_t i = 0; i < n; i++) {
            int rc = sync_channel_open(db, &cfg, ids[i]);
            if (rc == CS_OK)
                opened++;
            else if (rc != CS_ERR_BUSY)
                failed++;
        }
    }
    /* outbox rows whose retry time has come */
    n = users(db, DB_OUTBOX_USERS_DUE, db_now_ms(), 0, ids);
    for (size_t i = 0; i < n; i++) {
        int rc = sync_run(db, &cfg, ids[i], "cron", SYNC_PUSH, cfg.sync_budget_ms, NULL, err,
                          sizeof err);
        if (rc == CS_OK)
            retried++;
        else if (rc != CS_ERR_BUSY)
            errors++;
    }
    /* polling: integrations without push, and a safety net for those with it */
    n = users(db, DB_INTEG_POLL_DUE, db_now(), SYNC_SAFETY_POLL_S, ids);
    for (size_t i = 0; i < n; i++) {
        int rc = sync_run(db, &cfg, ids[i], "poll", SYNC_FULL, cfg.sync_budget_ms, NULL, err,
                          sizeof err);
        if (rc == CS_OK)
            polled++;
        else if (rc != CS_ERR_BUSY)
            errors++;
    }
out:
    printf("renew: channels renewed=%d opened=%d failed=%d outbox_users=%d polled=%d "
           "errors=%d\n",
           renewed, opened, failed, retried, polled, errors);
    free(ids);
    db_close(db);
    cfg_free(&cfg);
    return failed + errors > 0 ? 1 : 0;
}
