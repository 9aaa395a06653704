/* db_sql_copy.h: the statements of calsync-admin copy (part of db_sql.h, included by it only,
 * in its place in the statement order). */
/* calsync-admin copy (lib/db_copy.c): every table with every column, read in key order from one
 * store and written as it is into another (ids, sealed tokens and all). A new column must be
 * added here too; tests/integration/it_copy.c compares every column of both stores. */
#define COPY_TABLE(t, cols, order, vals)                                                           \
    DB_STMT(COPY_GET_##t, "SELECT " cols " FROM " #t " ORDER BY " order)                           \
    DB_STMT(COPY_PUT_##t, "INSERT INTO " #t "(" cols ") VALUES(" vals ")")                         \
    DB_STMT(COPY_COUNT_##t, "SELECT count(*) FROM " #t)                                            \
    DB_STMT(COPY_CLEAR_##t, "DELETE FROM " #t)
#define COPY_V4 "?1, ?2, ?3, ?4"
#define COPY_V5 COPY_V4 ", ?5"
#define COPY_V9 COPY_V5 ", ?6, ?7, ?8, ?9"
#define COPY_V14 COPY_V9 ", ?10, ?11, ?12, ?13, ?14"
#define COPY_V18 COPY_V14 ", ?15, ?16, ?17, ?18"
#define COPY_V22 COPY_V18 ", ?19, ?20, ?21, ?22"
#define COPY_V6 COPY_V5 ", ?6"
#define COPY_V7 COPY_V6 ", ?7"
#define COPY_V24 COPY_V22 ", ?23, ?24"
#define COPY_V26 COPY_V22 ", ?23, ?24, ?25, ?26"
#define COPY_V28 COPY_V26 ", ?27, ?28"
#define COPY_V30 COPY_V28 ", ?29, ?30"
COPY_TABLE(users, "id, email, password_hash, timezone, created_at, reminders, sync_direction", "id",
           COPY_V7)
COPY_TABLE(sessions, "token_hash, user_id, expires_at, created_at", "token_hash", COPY_V4)
COPY_TABLE(user_integrations,
           "integration_id, user_id, provider, access_token, refresh_token, expiry_date, "
           "calendar_id, sync_token, channel_id, resource_id, channel_token_hash, "
           "channel_expiration, is_active, state, last_sync_at, last_error, lease_owner, "
           "lease_until, sync_requested, next_poll_at, created_at, updated_at, epoch, "
           "backoff_until, backoff_attempts, channel_msgno, calendar_kind, progress, "
           "writes_paused_until, writes_paused_reason",
           "integration_id", COPY_V30)
COPY_TABLE(appointments, APPT_COLS, "appointment_id", COPY_V28)
COPY_TABLE(outbox,
           "outbox_id, user_id, appointment_id, op, version, attempts, next_attempt_at, "
           "last_error, created_at",
           "outbox_id", COPY_V9)
COPY_TABLE(sync_jobs,
           "job_id, user_id, kind, ckey, epoch, pull, `trigger`, payload, gen, claimed_gen, "
           "done_gen, not_before, attempts, lease_owner, lease_until, last_error, cancelled, "
           "created_at",
           "job_id", COPY_V18)
COPY_TABLE(sync_runs,
           "run_id, user_id, `trigger`, started_at, finished_at, pushed, pulled, deleted, "
           "conflicts, ok, error, job_id, job_gen, errors",
           "run_id", COPY_V14)
COPY_TABLE(oauth_states, "state_hash, user_id, verifier, expires_at, calendar", "state_hash",
           COPY_V5)
COPY_TABLE(vesta_calendars, "user_id, calendar_id, created_at, used_at", "user_id, calendar_id",
           COPY_V4)
COPY_TABLE(idempotency_keys, "user_id, idem_key, body_hash, appointment_id, created_at",
           "user_id, idem_key", COPY_V5)
COPY_TABLE(login_failures, "scope, `key`, failures, locked_until, updated_at", "scope, `key`",
           COPY_V5)
#undef COPY_TABLE
