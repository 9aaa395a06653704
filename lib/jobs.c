/* jobs.c: the durable job queue in the store: enqueue with the cause, claim under a lease,
 * finish, retry with backoff, wake the worker. */
#include "jobs.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

static const char *const job_kinds[JOB__MAX] = {"sync", "channel", "cleanup"};

const char *jobs_kind_name(enum job_kind k)
{
    return k < JOB__MAX ? job_kinds[k] : "?";
}

static int jobs_kind_parse(const char *s, enum job_kind *out)
{
    for (int k = 0; k < JOB__MAX; k++)
        if (s != NULL && strcmp(s, job_kinds[k]) == 0) {
            *out = (enum job_kind)k;
            return CS_OK;
        }
    return CS_ERR_INVAL;
}

/* Opens a transaction unless the caller has one; *own says whether to close it. */
static int jobs_tx_begin(struct db *db, int *own)
{
    *own = !db_in_transaction(db);
    return *own ? db_begin(db) : CS_OK;
}

/* Closes what jobs_tx_begin opened: commit on CS_OK, else roll back; returns rc or the
 * commit's failure. */
static int jobs_tx_end(struct db *db, int own, int rc)
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
