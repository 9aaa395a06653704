/* jobs_worker.c: the worker's side of the job queue: wake-up, claim under a lease, end of a run. */
#include "jobs.h"
#include "jobs_int.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

void jobs_wake(const struct cfg *cfg)
{
    static int fd = -1;
    struct sockaddr_un sa;

    if (cfg->worker_socket == NULL || cfg->worker_socket[0] == '\0')
        return;
    if (fd < 0) {
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", cfg->worker_socket);
    /* a full queue or no listener is fine: the worker polls the table as well */
    if (sendto(fd, "j", 1, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof sa) < 0 &&
        errno != EAGAIN && errno != ENOENT && errno != ECONNREFUSED)
        log_debug("worker wake-up not sent: %s", strerror(errno));
}

void jobs_free(struct job *j)
{
    free(j->payload);
    j->payload = NULL;
}

/* Runs a one-row, one-column count query (?1 user, ?2 job, ?3 now); -1 on error. */
static long long jobs_others_running(struct db *db, const char *user_id, long long job_id,
                                     long long now)
{
    struct db_stmt *st = db_stmt(db, DB_JOB_OTHER_RUNNING);
    long long n = -1;

    if (st == NULL)
        return -1;
    db_bind_text(st, 1, user_id);
    db_bind_int64(st, 2, job_id);
    db_bind_int64(st, 3, now);
    if (db_step(st) == DB_ROW)
        n = db_col_int64(st, 0);
    db_reset(st);
    return n;
}

/* Inside the claiming transaction: locks the job's user (on a shared server two nodes must
 * not start two jobs of one user), checks that no other job of the user runs, takes the lease
 * with a conditional UPDATE under j->owner (fresh and random) and reads the job back by it.
 * CS_OK (j filled), CS_ERR_BUSY (taken or the user busy), CS_ERR_DB. */
static int jobs_take(struct db *db, long long job_id, const char *user_id, long long now,
                     struct job *j)
{
    struct db_stmt *st;
    char kind[16];
    long long n;
    int step, rc = CS_ERR_BUSY;

    if ((st = db_stmt(db, DB_USER_LOCK)) == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    step = db_step(st);
    db_reset(st);
    if (step == DB_FAILED)
        return CS_ERR_DB;
    if ((n = jobs_others_running(db, user_id, job_id, now)) < 0)
        return CS_ERR_DB;
    if (n > 0)
        return CS_ERR_BUSY;
    if ((st = db_stmt(db, DB_JOB_TAKE)) == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, job_id);
    db_bind_text(st, 2, j->owner);
    db_bind_int64(st, 3, j->lease_until);
    db_bind_int64(st, 4, now);
    if (db_exec(db, st) != CS_OK)
        return CS_ERR_DB;
    if (db_changes(db) != 1)
        return CS_ERR_BUSY;
    if ((st = db_stmt(db, DB_JOB_BY_OWNER)) == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, job_id);
    db_bind_text(st, 2, j->owner);
    step = db_step(st);
    if (step == DB_ROW) {
        j->id = db_col_int64(st, 0);
        db_col_copy(st, 1, j->user_id, sizeof j->user_id);
        db_col_copy(st, 2, kind, sizeof kind);
        j->pull = db_col_int(st, 3);
        db_col_copy(st, 4, j->trigger, sizeof j->trigger);
        j->payload = db_col_dup(st, 5);
        j->gen = db_col_int64(st, 6);
        j->attempts = db_col_int64(st, 7);
        rc = jobs_kind_parse(kind, &j->kind) == CS_OK ? CS_OK : CS_ERR_DB;
    } else {
        rc = CS_ERR_DB;
    }
    db_reset(st);
    if (rc != CS_OK)
        jobs_free(j);
    return rc;
}

/* A fresh owner token and lease for j. */
static void jobs_claim_init(struct job *j, long long lease_ms, long long now)
{
    memset(j, 0, sizeof *j);
    crypt_random_token(j->owner, 16);
    j->lease_ms = lease_ms;
    j->lease_until = now + lease_ms;
}

#define JOBS_CANDIDATES 4 /* due jobs looked at per claim (others may take the first ones) */
#define JOBS_USERLEN CRYPT_UUIDLEN

/* Up to max due jobs a worker may claim, oldest first (ids and their users); n or -1. */
static int jobs_candidates(struct db *db, long long now, long long *ids,
                           char (*users)[JOBS_USERLEN], int max)
{
    struct db_stmt *st = db_stmt(db, DB_JOB_CANDIDATE);
    int n = 0, step = DB_DONE;

    if (st == NULL)
        return -1;
    db_bind_int64(st, 1, now);
    db_bind_int(st, 2, max);
    while (n < max && (step = db_step(st)) == DB_ROW) {
        ids[n] = db_col_int64(st, 0);
        db_col_copy(st, 1, users[n], JOBS_USERLEN);
        n++;
    }
    db_reset(st);
    if (step == DB_FAILED) {
        log_error("cannot look for due jobs: %s", db_errmsg(db));
        return -1;
    }
    return n;
}

int jobs_claim(struct db *db, long long lease_ms, struct job *j)
{
    long long now = db_now_ms(), ids[JOBS_CANDIDATES];
    char users[JOBS_CANDIDATES][JOBS_USERLEN];
    int n, own, rc = CS_ERR_NOTFOUND;

    jobs_claim_init(j, lease_ms, now);
    /* most polls find nothing: look before taking the write lock */
    if (!db_in_transaction(db) && (n = jobs_candidates(db, now, ids, users, 1)) <= 0)
        return n < 0 ? CS_ERR_DB : CS_ERR_NOTFOUND;
    if (jobs_tx_begin(db, &own) != CS_OK)
        return CS_ERR_DB;
    if ((n = jobs_candidates(db, now, ids, users, JOBS_CANDIDATES)) < 0) {
        rc = CS_ERR_DB;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        int r = jobs_take(db, ids[i], users[i], now, j);
        if (r == CS_OK || r == CS_ERR_DB) {
            rc = r;
            break;
        }
    }
    if (rc == CS_ERR_DB)
        log_error("cannot claim a job: %s", db_errmsg(db));
out:
    if (rc == CS_ERR_NOTFOUND) /* nothing to claim is no failure: keep the transaction short */
        return jobs_tx_end(db, own, CS_OK) == CS_OK ? CS_ERR_NOTFOUND : CS_ERR_DB;
    rc = jobs_tx_end(db, own, rc);
    if (rc != CS_OK)
        jobs_free(j);
    return rc;
}

int jobs_claim_id(struct db *db, long long job_id, long long lease_ms, struct job *j)
{
    struct db_stmt *st;
    long long now = db_now_ms();
    char user[sizeof j->user_id];
    int own, rc = CS_ERR_BUSY, step;

    jobs_claim_init(j, lease_ms, now);
    if (jobs_tx_begin(db, &own) != CS_OK)
        return CS_ERR_DB;
    if ((st = db_stmt(db, DB_JOB_USER_OF)) == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    db_bind_int64(st, 1, job_id);
    step = db_step(st);
    if (step == DB_ROW)
        db_col_copy(st, 0, user, sizeof user);
    db_reset(st);
    if (step == DB_FAILED)
        rc = CS_ERR_DB;
    else if (step == DB_ROW)
        /* not while another job of the user runs (e.g. a channel being opened: it must be
         * able to stop its channel before the grant is revoked) */
        rc = jobs_take(db, job_id, user, now, j);
out:
    if (rc == CS_ERR_BUSY)
        return jobs_tx_end(db, own, CS_OK) == CS_OK ? CS_ERR_BUSY : CS_ERR_DB;
    rc = jobs_tx_end(db, own, rc);
    if (rc != CS_OK)
        jobs_free(j);
    return rc;
}

long long jobs_next_due(struct db *db)
{
    struct db_stmt *st = db_stmt(db, DB_JOB_NEXT_DUE);
    long long due = 0;

    if (st == NULL)
        return 0;
    if (db_step(st) == DB_ROW)
        due = db_col_int64(st, 0);
    db_reset(st);
    return due;
}

/* Runs one of the lease-bound statements (?1 job, ?2 owner, ...); returns rows changed or -1. */
static int jobs_lease_stmt(struct db *db, enum db_stmt_id id, const struct job *j, long long p3,
                           const char *p4)
{
    struct db_stmt *st = db_stmt(db, id);

    if (st == NULL)
        return -1;
    db_bind_int64(st, 1, j->id);
    db_bind_text(st, 2, j->owner);
    if (db_param_count(st) >= 3)
        db_bind_int64(st, 3, p3);
    if (db_param_count(st) >= 4)
        db_bind_text(st, 4, p4);
    if (db_exec(db, st) != CS_OK)
        return -1;
    return db_changes(db);
}

int jobs_lease_due(const struct job *j)
{
    return j->lease_until - db_now_ms() <= j->lease_ms / 2;
}

int jobs_keepalive(struct db *db, struct job *j)
{
    if (!jobs_lease_due(j))
        return CS_OK; /* still young: spare the write */
    j->lease_until = db_now_ms() + j->lease_ms;
    if (jobs_lease_stmt(db, DB_JOB_EXTEND, j, j->lease_until, NULL) != 1) {
        log_info("%s job %lld was taken from us (cancelled or lease lapsed) user=%s",
                 jobs_kind_name(j->kind), j->id, j->user_id);
        return CS_ERR_BUSY;
    }
    return CS_OK;
}

int jobs_done(struct db *db, struct job *j)
{
    int n = jobs_lease_stmt(db, DB_JOB_DONE, j, 0, NULL);

    if (n < 0)
        return CS_ERR_DB;
    if (n == 0 && jobs_lease_stmt(db, DB_JOB_AGAIN, j, 0, NULL) == 1)
        log_info("more came in during the %s job: one more pass user=%s", jobs_kind_name(j->kind),
                 j->user_id);
    return CS_OK;
}

int jobs_retry(struct db *db, struct job *j, long long retry_at_ms, const char *err)
{
    long long now = db_now_ms();

    if (retry_at_ms <= now) {
        long long d = 2000LL << (j->attempts < 12 ? j->attempts : 12);
        if (d > JOBS_RETRY_MAX_MS)
            d = JOBS_RETRY_MAX_MS;
        /* jitter: between half and the whole delay, so failed users do not retry in step */
        retry_at_ms = now + d / 2 + (long long)randombytes_uniform((uint32_t)(d / 2 + 1));
    }
    log_info("%s job %lld retried in %lld ms (attempt %lld) user=%s", jobs_kind_name(j->kind),
             j->id, retry_at_ms - now, j->attempts + 1, j->user_id);
    switch (jobs_lease_stmt(db, DB_JOB_RETRY, j, retry_at_ms, err)) {
    case -1:
        return CS_ERR_DB;
    case 0: /* cancelled by a disconnect meanwhile: nothing to retry */
        return jobs_done(db, j);
    default:
        return CS_OK;
    }
}
