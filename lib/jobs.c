/* jobs.c: the durable job queue in the store: enqueue with the cause, cancel, wait for a run. */
#include "jobs.h"
#include "jobs_int.h"
#include "cs.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

static const char *const job_kinds[JOB__MAX] = {"sync", "channel", "cleanup"};

const char *jobs_kind_name(enum job_kind k)
{
    return k < JOB__MAX ? job_kinds[k] : "?";
}

int jobs_kind_parse(const char *s, enum job_kind *out)
{
    for (int k = 0; k < JOB__MAX; k++)
        if (s != NULL && strcmp(s, job_kinds[k]) == 0) {
            *out = (enum job_kind)k;
            return CS_OK;
        }
    return CS_ERR_INVAL;
}

/* Opens a transaction unless the caller has one; *own says whether to close it. */
int jobs_tx_begin(struct db *db, int *own)
{
    *own = !db_in_transaction(db);
    return *own ? db_begin(db) : CS_OK;
}

/* Closes what jobs_tx_begin opened: commit on CS_OK, else roll back; returns rc or the
 * commit's failure. */
int jobs_tx_end(struct db *db, int own, int rc)
{
    return own ? db_end(db, rc) : rc;
}

/* The upsert behind every enqueue, then the row's id and generation read back by its
 * coalescing key (one transaction, so that no run can finish and delete it in between). */
static int jobs_put(struct db *db, const char *user_id, enum job_kind kind, const char *ckey,
                    int pull, const char *trigger, const char *payload, long long delay_ms,
                    long long *job_id, long long *gen)
{
    struct db_stmt *st;
    long long now = db_now_ms();
    int own, rc, step;

    if (jobs_tx_begin(db, &own) != CS_OK)
        return CS_ERR_DB;
    rc = CS_ERR_DB;
    if ((st = db_stmt(db, DB_JOB_ENQUEUE)) == NULL)
        goto out;
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, job_kinds[kind]);
    db_bind_text(st, 3, ckey);
    db_bind_int(st, 4, pull);
    db_bind_text(st, 5, trigger);
    db_bind_text(st, 6, payload);
    db_bind_int64(st, 7, now + (delay_ms > 0 ? delay_ms : 0));
    db_bind_int64(st, 8, now);
    if (db_exec(db, st) != CS_OK)
        goto out;
    if (job_id != NULL || gen != NULL) {
        if ((st = db_stmt(db, DB_JOB_KEY)) == NULL)
            goto out;
        db_bind_text(st, 1, job_kinds[kind]);
        db_bind_text(st, 2, ckey);
        step = db_step(st);
        if (step == DB_ROW) {
            if (job_id != NULL)
                *job_id = db_col_int64(st, 0);
            if (gen != NULL)
                *gen = db_col_int64(st, 1);
        }
        db_reset(st);
        if (step != DB_ROW)
            goto out;
    }
    rc = CS_OK;
out:
    if (rc != CS_OK)
        log_error("cannot record a %s job: %s", job_kinds[kind], db_errmsg(db));
    return jobs_tx_end(db, own, rc);
}

int jobs_enqueue_sync(struct db *db, const char *user_id, int pull, const char *trigger,
                      long long delay_ms, long long *job_id, long long *gen)
{
    return jobs_put(db, user_id, JOB_SYNC, user_id, pull ? 1 : 0, trigger, NULL, delay_ms, job_id,
                    gen);
}

int jobs_sync_covered(struct db *db, const char *user_id, int pull, long long delay_ms)
{
    struct db_stmt *st = db_stmt(db, DB_JOB_COVERS);
    int yes;

    if (st == NULL)
        return 0;
    db_bind_text(st, 1, job_kinds[JOB_SYNC]);
    db_bind_text(st, 2, user_id);
    db_bind_int(st, 3, pull ? 1 : 0);
    db_bind_int64(st, 4, db_now_ms() + (delay_ms > 0 ? delay_ms : 0));
    yes = db_step(st) == DB_ROW;
    db_reset(st);
    return yes;
}

int jobs_enqueue_channel(struct db *db, const char *user_id, const char *trigger)
{
    return jobs_put(db, user_id, JOB_CHANNEL, user_id, 0, trigger, NULL, 0, NULL, NULL);
}

int jobs_enqueue_cleanup(struct db *db, const char *user_id, const char *payload, long long *job_id)
{
    char key[CRYPT_UUIDLEN];

    crypt_uuid(key); /* never coalesced: each disconnect cleans up its own connection */
    /* the disconnect route tries it first; the worker takes over only if that failed */
    return jobs_put(db, user_id, JOB_CLEANUP, key, 0, "disconnect", payload, 10000, job_id, NULL);
}

int jobs_cancel_user(struct db *db, const char *user_id)
{
    struct db_stmt *st = db_stmt(db, DB_JOB_CANCEL_USER);
    int rc;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    db_bind_int64(st, 2, db_now_ms());
    if ((rc = db_exec(db, st)) != CS_OK)
        return rc;
    if ((st = db_stmt(db, DB_JOB_CANCEL_RUNNING)) == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    return db_exec(db, st);
}

int jobs_wait_user_idle(struct db *db, const char *user_id, long long wait_ms)
{
    long long until = db_now_ms() + wait_ms;

    for (;;) {
        struct db_stmt *st = db_stmt(db, DB_JOB_USER_BUSY);
        long long n = 0;
        if (st == NULL)
            return CS_ERR_DB;
        db_bind_text(st, 1, user_id);
        db_bind_int64(st, 2, db_now_ms());
        if (db_step(st) == DB_ROW)
            n = db_col_int64(st, 0);
        db_reset(st);
        if (n == 0)
            return CS_OK;
        if (db_now_ms() >= until)
            return CS_ERR_BUSY;
        usleep(20 * 1000);
    }
}

/* The run of job_id covering gen, if it finished: 1 (res filled), 0 not yet, -1 error. */
static int jobs_result_of(struct db *db, long long job_id, long long gen, struct jobs_result *res)
{
    struct db_stmt *st = db_stmt(db, DB_JOB_RUN_OF);
    int found = 0;

    if (st == NULL)
        return -1;
    db_bind_int64(st, 1, job_id);
    db_bind_int64(st, 2, gen);
    if (db_step(st) == DB_ROW) {
        res->ok = db_col_int(st, 0);
        db_col_copy(st, 1, res->error, sizeof res->error);
        res->pushed = db_col_int(st, 2);
        res->pulled = db_col_int(st, 3);
        res->deleted = db_col_int(st, 4);
        res->conflicts = db_col_int(st, 5);
        res->errors = db_col_int(st, 6);
        found = 1;
    }
    db_reset(st);
    return found;
}

int jobs_wait(struct db *db, long long job_id, long long gen, long long wait_ms,
              struct jobs_result *res)
{
    long long until = db_now_ms() + wait_ms;
    int sleep_ms = 5;

    memset(res, 0, sizeof *res);
    for (;;) {
        int found = jobs_result_of(db, job_id, gen, res);
        if (found < 0)
            return CS_ERR_DB;
        if (found)
            return CS_OK;
        if (db_now_ms() >= until)
            return CS_ERR_BUSY;
        usleep((useconds_t)sleep_ms * 1000);
        if (sleep_ms < 50)
            sleep_ms *= 2;
    }
}
