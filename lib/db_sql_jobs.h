/* db_sql_jobs.h: the statements of durable jobs, the shared Google backoff and the webhook's
 * replay guard (part of db_sql.h, included by it only, in its place in the statement order). */
/* durable jobs (lib/jobs.c): one row per pending reason to call Google, coalesced by (kind, ckey)
 */
/* enqueue = this upsert, then JOB_KEY reads the row's id and generation (one transaction) */
/* A request coalesces into the job of its key. One that the pending job already covers (not
 * cancelled, pulling as much, due as soon, and either not running or already holding a request
 * for one more pass after the run, which starts after whatever this request is about) changes
 * nothing, so a burst of notifications writes no page of sync_jobs (SQLite; MySQL's upsert has
 * no WHERE). The first request during a run sets when its one more pass is due (a
 * notification's settle window); later ones can only bring it forward. */
DB_STMT2(JOB_ENQUEUE,
         "INSERT INTO sync_jobs(user_id, kind, ckey, pull, `trigger`, payload, not_before, "
         "created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
         "ON CONFLICT(kind, ckey) DO UPDATE SET "
         "not_before = CASE WHEN lease_owner IS NOT NULL AND gen = claimed_gen "
         "THEN excluded.not_before ELSE min(not_before, excluded.not_before) END, "
         "gen = gen + 1, pull = max(pull, excluded.pull), `trigger` = excluded.`trigger`, "
         "cancelled = 0 "
         "WHERE NOT (cancelled = 0 AND pull >= excluded.pull AND "
         "not_before <= excluded.not_before AND (lease_owner IS NULL OR gen > claimed_gen))",
         "INSERT INTO sync_jobs(user_id, kind, ckey, pull, `trigger`, payload, not_before, "
         "created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
         "ON DUPLICATE KEY UPDATE "
         "not_before = IF(lease_owner IS NOT NULL AND gen = claimed_gen, VALUES(not_before), "
         "LEAST(not_before, VALUES(not_before))), "
         "gen = gen + 1, pull = GREATEST(pull, VALUES(pull)), `trigger` = VALUES(`trigger`), "
         "cancelled = 0")
DB_STMT(JOB_KEY, "SELECT job_id, gen FROM sync_jobs WHERE kind = ?1 AND ckey = ?2")
/* the job of the key covers a request pulling ?3, due at ?4 (JOB_ENQUEUE's test, read only:
 * on SQLite an upsert that changes nothing still rewrites sqlite_sequence, and on MySQL it
 * always writes the row) */
DB_STMT(JOB_COVERS, "SELECT 1 FROM sync_jobs WHERE kind = ?1 AND ckey = ?2 AND cancelled = 0 "
                    "AND pull >= ?3 AND not_before <= ?4 "
                    "AND (lease_owner IS NULL OR gen > claimed_gen)")
/* claiming, in one transaction: the candidate (for the worker: the next due job of a user
 * with no job running, whose Google backoff has passed), its user locked so that two nodes
 * cannot start two jobs of one user, no other job of the user running, then the conditional
 * UPDATE with a fresh owner token and the row read back by that token */
DB_STMT(JOB_CANDIDATE,
        "SELECT j.job_id, j.user_id FROM sync_jobs j "
        "LEFT JOIN user_integrations i ON i.user_id = j.user_id "
        "AND i.provider = 'google_calendar' "
        "WHERE j.not_before <= ?1 AND (j.lease_owner IS NULL OR j.lease_until < ?1) "
        "AND j.cancelled = 0 "
        "AND (j.kind = 'cleanup' OR coalesce(i.backoff_until, 0) <= ?1) "
        "AND NOT EXISTS (SELECT 1 FROM sync_jobs k WHERE k.user_id = j.user_id "
        "AND k.job_id <> j.job_id AND k.lease_owner IS NOT NULL AND k.lease_until >= ?1) "
        "ORDER BY j.not_before LIMIT ?2")
DB_STMT(JOB_USER_OF, "SELECT user_id FROM sync_jobs WHERE job_id = ?1")
/* SQLite's BEGIN IMMEDIATE already serialises writers */
DB_STMT2(USER_LOCK, "SELECT id FROM users WHERE id = ?1",
         "SELECT id FROM users WHERE id = ?1 FOR UPDATE")
/* disconnect: the integration row is locked before it is read, so a channel stored by a
 * running job (compare-and-swap on this row) is either in what the disconnect reads, or stored
 * after it and refused there (SQLite's BEGIN IMMEDIATE already serialises writers) */
DB_STMT2(INTEG_LOCK,
         "SELECT integration_id FROM user_integrations WHERE user_id = ?1 "
         "AND provider = 'google_calendar'",
         "SELECT integration_id FROM user_integrations WHERE user_id = ?1 "
         "AND provider = 'google_calendar' FOR UPDATE")
DB_STMT(JOB_OTHER_RUNNING, "SELECT count(*) FROM sync_jobs WHERE user_id = ?1 AND job_id <> ?2 "
                           "AND lease_owner IS NOT NULL AND lease_until >= ?3")
DB_STMT(JOB_TAKE, "UPDATE sync_jobs SET lease_owner = ?2, lease_until = ?3, claimed_gen = gen "
                  "WHERE job_id = ?1 AND (lease_owner IS NULL OR lease_until < ?4)")
DB_STMT(JOB_BY_OWNER, "SELECT job_id, user_id, kind, pull, `trigger`, payload, claimed_gen, "
                      "attempts FROM sync_jobs WHERE job_id = ?1 AND lease_owner = ?2")
DB_STMT(JOB_NEXT_DUE, "SELECT min(not_before) FROM sync_jobs")
DB_STMT(JOB_EXTEND, "UPDATE sync_jobs SET lease_until = ?3 WHERE job_id = ?1 AND lease_owner = ?2 "
                    "AND cancelled = 0")
/* done, unless a request arrived during the run: then it stays for exactly one more pass */
DB_STMT(JOB_DONE, "DELETE FROM sync_jobs WHERE job_id = ?1 AND lease_owner = ?2 "
                  "AND (gen = claimed_gen OR cancelled = 1)")
DB_STMT(JOB_AGAIN,
        "UPDATE sync_jobs SET lease_owner = NULL, lease_until = NULL, done_gen = claimed_gen, "
        "attempts = 0, last_error = NULL WHERE job_id = ?1 AND lease_owner = ?2")
DB_STMT(JOB_RETRY,
        "UPDATE sync_jobs SET lease_owner = NULL, lease_until = NULL, done_gen = claimed_gen, "
        "attempts = attempts + 1, not_before = ?3, last_error = ?4 "
        "WHERE job_id = ?1 AND lease_owner = ?2 AND cancelled = 0")
/* disconnect: pending jobs go; a running one is marked and stops at its next Google call */
DB_STMT(JOB_CANCEL_USER, "DELETE FROM sync_jobs WHERE user_id = ?1 AND kind IN ('sync', 'channel') "
                         "AND (lease_owner IS NULL OR lease_until < ?2)")
DB_STMT(JOB_CANCEL_RUNNING, "UPDATE sync_jobs SET cancelled = 1 WHERE user_id = ?1 "
                            "AND kind IN ('sync', 'channel')")
DB_STMT(JOB_RUNNING, "SELECT count(*) FROM sync_jobs WHERE user_id = ?1 AND kind = 'sync' "
                     "AND lease_owner IS NOT NULL AND lease_until >= ?2")
DB_STMT(JOB_USER_BUSY, "SELECT count(*) FROM sync_jobs WHERE user_id = ?1 "
                       "AND kind IN ('sync', 'channel') AND lease_owner IS NOT NULL "
                       "AND lease_until >= ?2")
DB_STMT(JOB_RUN_OF, "SELECT ok, error, pushed, pulled, deleted, conflicts, errors FROM sync_runs "
                    "WHERE job_id = ?1 AND job_gen >= ?2 AND finished_at IS NOT NULL "
                    "ORDER BY run_id DESC LIMIT 1")
DB_STMT(JOB_STALE, /* leases that lapsed: a worker died mid-job (for calsync-renew's report) */
        "SELECT count(*) FROM sync_jobs WHERE lease_owner IS NOT NULL AND lease_until < ?1")

/* Google backoff shared by every process, and the connection epoch a job checks */
DB_STMT(INTEG_GUARD, "SELECT backoff_until, backoff_attempts FROM user_integrations "
                     "WHERE user_id = ?1 AND provider = 'google_calendar' AND is_active = 1 "
                     "AND epoch = ?2")
DB_STMT(INTEG_BACKOFF, "UPDATE user_integrations SET backoff_until = "
                       "CASE WHEN ?3 > backoff_until THEN ?3 ELSE backoff_until END, "
                       "backoff_attempts = backoff_attempts + 1 "
                       "WHERE user_id = ?1 AND provider = 'google_calendar' AND epoch = ?2")
DB_STMT(INTEG_BACKOFF_CLEAR,
        "UPDATE user_integrations SET backoff_attempts = 0 "
        "WHERE user_id = ?1 AND provider = 'google_calendar' AND backoff_attempts > 0")
/* replay guard: only a message number above the last accepted one counts */
DB_STMT(INTEG_WEBHOOK_SEEN,
        "UPDATE user_integrations SET channel_msgno = ?3 WHERE channel_id = ?1 "
        "AND provider = 'google_calendar' AND is_active = 1 AND resource_id = ?2 "
        "AND (channel_msgno IS NULL OR channel_msgno < ?3)")
