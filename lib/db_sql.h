/* db_sql.h: every SQL statement calsync runs, declared once (X-macro; included by db.h, db.c
 * and db_mysql.c). DB_STMT(name, sql) serves both stores; DB_STMT2(name, sqlite_sql, mysql_sql)
 * only where the dialects differ. Parameters are numbered ?1..?N (a number may repeat; the MySQL
 * back end maps them to positional markers). Portable habits: `trigger` and `key` in backticks
 * (reserved in MySQL), CASE instead of scalar max()/min(), no RETURNING, no subquery on the
 * table a statement changes, null-safe equality spelled out. */
/* an UPDATE's next updated_at: the given time, but always past the stored one */
#define NEXT_UPDATED(p) "CASE WHEN " p " > updated_at + 1 THEN " p " ELSE updated_at + 1 END"
/* A sync that outlives a disconnect must not relink anything. */
#define SYNC_ACTIVE                                                                                \
    "AND EXISTS (SELECT 1 FROM user_integrations i WHERE i.user_id = ?2 AND i.is_active = 1)"
#define APPT_COLS                                                                                  \
    "appointment_id, user_id, contact_id, title, description, location, start_utc, end_utc, "      \
    "all_day, type, status, is_active, google_event_id, google_etag, google_updated, "             \
    "synced_snapshot, last_synced_at, sync_state, sync_error, created_at, updated_at, "            \
    "former_event_id, reminders_sent, former_calendar_id"

/* users and sessions */
DB_STMT(USER_INSERT, "INSERT INTO users(id, email, password_hash, timezone, created_at) "
                     "VALUES(?1, ?2, ?3, ?4, ?5)")
DB_STMT(USER_BY_EMAIL, "SELECT id, email, timezone, password_hash FROM users WHERE email = ?1")
DB_STMT(USER_BY_ID, "SELECT id, email, timezone FROM users WHERE id = ?1")
DB_STMT(USER_LIST, "SELECT id, email, timezone FROM users ORDER BY email")
DB_STMT(USER_COUNT, "SELECT count(*) FROM users")
/* per-user settings (cgi/settings.c): reminders NULL = Google's defaults, else a JSON array */
DB_STMT(USER_GET_REMINDERS, "SELECT reminders FROM users WHERE id = ?1")
DB_STMT(USER_SET_REMINDERS, "UPDATE users SET reminders = ?2 WHERE id = ?1")
DB_STMT(SESSION_INSERT, "INSERT INTO sessions(token_hash, user_id, expires_at, created_at) "
                        "VALUES(?1, ?2, ?3, ?4)")
DB_STMT(SESSION_GET, "SELECT u.id, u.email, u.timezone, s.expires_at FROM sessions s JOIN users u "
                     "ON u.id = s.user_id WHERE s.token_hash = ?1 AND s.expires_at > ?2")
DB_STMT(SESSION_DELETE, "DELETE FROM sessions WHERE token_hash = ?1")
DB_STMT(SESSION_PURGE, "DELETE FROM sessions WHERE expires_at <= ?1")

/* login throttling (auth.c): ?1 pair key, ?2 address, ?3 account */
DB_STMT(LOGIN_LOCKED, "SELECT scope, locked_until FROM login_failures WHERE "
                      "(scope = 'pair' AND `key` = ?1) OR (scope = 'address' AND `key` = ?2) OR "
                      "(scope = 'account' AND `key` = ?3) ORDER BY locked_until DESC LIMIT 1")
/* one more failure for (?1 scope, ?2 key) at ?3: from the ?4th in a row, locked for ?5 s
 * doubling with every further failure, at most ?6 s */
DB_STMT2(LOGIN_FAILED,
         "INSERT INTO login_failures(scope, `key`, failures, locked_until, updated_at) "
         "VALUES(?1, ?2, 1, CASE WHEN ?4 <= 1 THEN ?3 + min(?5, ?6) ELSE 0 END, ?3) "
         "ON CONFLICT(scope, `key`) DO UPDATE SET failures = failures + 1, updated_at = ?3, "
         "locked_until = CASE WHEN failures + 1 >= ?4 "
         "THEN ?3 + min(?5 << min(failures + 1 - ?4, 20), ?6) ELSE locked_until END",
         /* MySQL assigns left to right, each seeing the ones before: locked_until first */
         "INSERT INTO login_failures(scope, `key`, failures, locked_until, updated_at) "
         "VALUES(?1, ?2, 1, CASE WHEN ?4 <= 1 THEN ?3 + LEAST(?5, ?6) ELSE 0 END, ?3) "
         "ON DUPLICATE KEY UPDATE locked_until = CASE WHEN failures + 1 >= ?4 "
         "THEN ?3 + LEAST(?5 << LEAST(failures + 1 - ?4, 20), ?6) ELSE locked_until END, "
         "failures = failures + 1, updated_at = ?3")
DB_STMT(LOGIN_OK, "DELETE FROM login_failures WHERE scope = 'pair' AND `key` = ?1")
DB_STMT(LOGIN_PURGE, "DELETE FROM login_failures WHERE updated_at < ?1")
/* over ?2 rows: the oldest go first, rows holding a lock (at ?1) last */
DB_STMT2(LOGIN_CAP,
         "DELETE FROM login_failures WHERE rowid IN (SELECT rowid FROM login_failures "
         "ORDER BY locked_until > ?1, updated_at LIMIT max(0, "
         "(SELECT count(*) FROM login_failures) - ?2))",
         /* keeps the ?2 last rows of that order (a derived table: MySQL cannot delete from
          * a table its subquery reads) */
         "DELETE f FROM login_failures f JOIN (SELECT scope, `key`, ROW_NUMBER() OVER "
         "(ORDER BY locked_until > ?1 DESC, updated_at DESC) AS n FROM login_failures) t "
         "ON t.scope = f.scope AND t.`key` = f.`key` WHERE t.n > ?2")

/* appointments */
DB_STMT(APPT_INSERT,
        "INSERT INTO appointments(user_id, contact_id, title, description, location, start_utc, "
        "end_utc, all_day, type, status, sync_state, created_at, updated_at) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)")
DB_STMT(APPT_GET, "SELECT " APPT_COLS " FROM appointments WHERE appointment_id = ?1 "
                  "AND user_id = ?2 AND is_active = 1")
DB_STMT(APPT_GET_ANY, "SELECT " APPT_COLS " FROM appointments WHERE appointment_id = ?1 "
                      "AND user_id = ?2")
/* keyset paging: the rows after (?4 start_utc, ?5 appointment_id) in the list order */
DB_STMT(APPT_LIST, "SELECT " APPT_COLS " FROM appointments WHERE user_id = ?1 AND is_active = 1 "
                   "AND end_utc > ?2 AND start_utc < ?3 "
                   "AND (start_utc > ?4 OR (start_utc = ?4 AND appointment_id > ?5)) "
                   "ORDER BY start_utc, appointment_id LIMIT ?6")
DB_STMT(APPT_UPDATE,
        "UPDATE appointments SET contact_id = ?3, title = ?4, description = ?5, location = ?6, "
        "start_utc = ?7, end_utc = ?8, all_day = ?9, type = ?10, status = ?11, sync_state = ?12, "
        "sync_error = NULL, updated_at = " NEXT_UPDATED(
            "?13") " "
                   "WHERE appointment_id = ?1 AND user_id = ?2 AND is_active = 1")
DB_STMT(APPT_DEACTIVATE,
        "UPDATE appointments SET is_active = 0, sync_state = ?3, updated_at = " NEXT_UPDATED(
            "?4") " "
                  "WHERE appointment_id = ?1 AND user_id = ?2 AND is_active = 1")
DB_STMT(APPT_BY_GOOGLE_ID, "SELECT " APPT_COLS " FROM appointments WHERE user_id = ?1 "
                           "AND google_event_id = ?2 ORDER BY is_active DESC LIMIT 1")
/* only a link of the same calendar (?3) is re-used; links older than 007 were on primary.
 * (unary + keeps the planner on appointments_former: without statistics the extra condition
 * made it pick appointments_google and walk the user's unlinked rows) */
DB_STMT(APPT_BY_FORMER_ID, "SELECT " APPT_COLS " FROM appointments WHERE user_id = ?1 "
                           "AND former_event_id = ?2 AND +google_event_id IS NULL "
                           "AND coalesce(former_calendar_id, 'primary') = ?3 LIMIT 1")
DB_STMT(APPT_SET_SYNCED,
        "UPDATE appointments SET google_event_id = ?3, google_etag = ?4, google_updated = ?5, "
        "synced_snapshot = ?6, last_synced_at = ?7, sync_error = NULL, former_event_id = NULL, "
        "sync_state = CASE "
        "WHEN updated_at = ?8 THEN 'synced' ELSE 'pending' END "
        "WHERE appointment_id = ?1 AND user_id = ?2 " SYNC_ACTIVE)
DB_STMT(APPT_SET_SYNC_ERROR, "UPDATE appointments SET sync_state = ?3, sync_error = ?4 "
                             "WHERE appointment_id = ?1 AND user_id = ?2")
DB_STMT(
    APPT_PULL_INSERT,
    "INSERT INTO appointments(user_id, contact_id, title, description, location, start_utc, "
    "end_utc, all_day, type, status, google_event_id, google_etag, google_updated, "
    "synced_snapshot, last_synced_at, sync_state, created_at, updated_at, reminders_sent) "
    /* numbered like APPT_PULL_UPDATE (?1, the row id, unused) so one binding serves both; an
     * event made on Google keeps its reminders: the setting in force counts as sent */
    "SELECT ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 'synced', ?17, ?17, "
    "(SELECT coalesce(u.reminders, 'default') FROM users u WHERE u.id = ?2) "
    "FROM user_integrations i WHERE i.user_id = ?2 AND i.is_active = 1 LIMIT 1")
DB_STMT(
    APPT_PULL_UPDATE,
    "UPDATE appointments SET contact_id = ?3, title = ?4, description = ?5, location = ?6, "
    "start_utc = ?7, end_utc = ?8, all_day = ?9, type = ?10, status = ?11, "
    "google_event_id = ?12, google_etag = ?13, google_updated = ?14, synced_snapshot = ?15, "
    "last_synced_at = ?16, sync_state = 'synced', sync_error = NULL, is_active = 1, "
    "updated_at = " NEXT_UPDATED("?17") " WHERE appointment_id = ?1 AND user_id = ?2 " SYNC_ACTIVE)
DB_STMT(APPT_PULL_DELETE,
        "UPDATE appointments SET is_active = 0, sync_state = 'synced', sync_error = NULL, "
        "last_synced_at = ?3, updated_at = " NEXT_UPDATED(
            "?4") " "
                  "WHERE appointment_id = ?1 AND user_id = ?2")
DB_STMT(APPT_LINKED_IDS, "SELECT appointment_id, google_event_id FROM appointments "
                         "WHERE user_id = ?1 AND is_active = 1 AND google_event_id IS NOT NULL")
DB_STMT(APPT_COUNT_LINKED, "SELECT count(*) FROM appointments WHERE user_id = ?1 "
                           "AND is_active = 1 AND google_event_id IS NOT NULL")
DB_STMT(APPT_UNLINKED_ACTIVE, "SELECT appointment_id FROM appointments WHERE user_id = ?1 "
                              "AND is_active = 1 AND google_event_id IS NULL")
DB_STMT(APPT_CLEAR_GOOGLE,
        "UPDATE appointments SET former_calendar_id = CASE WHEN google_event_id IS NULL "
        "THEN former_calendar_id ELSE (SELECT i.calendar_id FROM user_integrations i "
        "WHERE i.user_id = ?1 AND i.provider = 'google_calendar') END, "
        "former_event_id = coalesce(google_event_id, former_event_id), reminders_sent = NULL, "
        "google_event_id = NULL, google_etag = NULL, google_updated = NULL, "
        "synced_snapshot = NULL, last_synced_at = NULL, sync_state = 'local', sync_error = NULL "
        "WHERE user_id = ?1")
DB_STMT(APPT_SET_REMINDERS_SENT, "UPDATE appointments SET reminders_sent = ?3 "
                                 "WHERE appointment_id = ?1 AND user_id = ?2")
/* a changed reminders setting goes to the appointments still to come (?2: now, UTC) */
DB_STMT(APPT_UPCOMING_LINKED, "SELECT appointment_id FROM appointments WHERE user_id = ?1 "
                              "AND is_active = 1 AND start_utc > ?2 "
                              "AND google_event_id IS NOT NULL")
DB_STMT(APPT_COUNT_STATE, "SELECT count(*) FROM appointments WHERE user_id = ?1 AND is_active = 1 "
                          "AND sync_state IN ('pending', 'error')")

DB_STMT(APPT_MERGE_SAVE,
        "UPDATE appointments SET contact_id = ?3, title = ?4, description = ?5, location = ?6, "
        "start_utc = ?7, end_utc = ?8, all_day = ?9, type = ?10, status = ?11, "
        "google_event_id = ?12, google_etag = ?13, google_updated = ?14, synced_snapshot = ?15, "
        "sync_state = 'pending', updated_at = ?16 "
        "WHERE appointment_id = ?1 AND user_id = ?2 AND updated_at = ?17 " SYNC_ACTIVE)
/* the Google ids a full pull saw, in a table private to the connection */
DB_STMT2(SEEN_CREATE, "CREATE TEMP TABLE IF NOT EXISTS seen_events(id TEXT PRIMARY KEY)",
         "CREATE TEMPORARY TABLE IF NOT EXISTS seen_events(id VARCHAR(512) NOT NULL PRIMARY KEY) "
         "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
DB_STMT(SEEN_CLEAR, "DELETE FROM seen_events")
DB_STMT2(SEEN_ADD, "INSERT OR IGNORE INTO seen_events(id) VALUES(?1)",
         "INSERT IGNORE INTO seen_events(id) VALUES(?1)")
DB_STMT(APPT_LINKED_UNSEEN,
        "SELECT appointment_id FROM appointments a WHERE user_id = ?1 AND is_active = 1 "
        "AND google_event_id IS NOT NULL "
        "AND google_event_id NOT IN (SELECT id FROM seen_events) "
        "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.appointment_id = a.appointment_id)")

/* outbox */
DB_STMT2(OUTBOX_PUT_IF_ABSENT,
         "INSERT OR IGNORE INTO outbox(user_id, appointment_id, op, attempts, next_attempt_at, "
         "created_at) VALUES(?1, ?2, 'upsert', 0, 0, ?3)",
         "INSERT INTO outbox(user_id, appointment_id, op, attempts, next_attempt_at, "
         "created_at) VALUES(?1, ?2, 'upsert', 0, 0, ?3) "
         "ON DUPLICATE KEY UPDATE outbox_id = outbox_id")
DB_STMT2(OUTBOX_PUT,
         "INSERT INTO outbox(user_id, appointment_id, op, attempts, next_attempt_at, created_at) "
         "VALUES(?1, ?2, ?3, 0, 0, ?4) ON CONFLICT(appointment_id) DO UPDATE SET "
         "op = excluded.op, version = version + 1, attempts = 0, next_attempt_at = 0, "
         "last_error = NULL",
         "INSERT INTO outbox(user_id, appointment_id, op, attempts, next_attempt_at, created_at) "
         "VALUES(?1, ?2, ?3, 0, 0, ?4) ON DUPLICATE KEY UPDATE "
         "op = VALUES(op), version = version + 1, attempts = 0, next_attempt_at = 0, "
         "last_error = NULL")
DB_STMT(OUTBOX_DUE, "SELECT outbox_id, appointment_id, op, attempts, version FROM outbox "
                    "WHERE user_id = ?1 AND next_attempt_at <= ?2 ORDER BY outbox_id LIMIT ?3")
DB_STMT(OUTBOX_DONE, "DELETE FROM outbox WHERE outbox_id = ?1 AND version = ?2")
DB_STMT(OUTBOX_RETRY, "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, "
                      "last_error = ?3 WHERE outbox_id = ?1 AND version = ?4")
DB_STMT(OUTBOX_FOR_APPT, "SELECT op FROM outbox WHERE appointment_id = ?1")
DB_STMT(OUTBOX_DROP_APPT, "DELETE FROM outbox WHERE appointment_id = ?1")
DB_STMT(OUTBOX_COUNT, "SELECT count(*) FROM outbox WHERE user_id = ?1")
DB_STMT(OUTBOX_CLEAR_USER, "DELETE FROM outbox WHERE user_id = ?1")
DB_STMT(OUTBOX_USERS_DUE, "SELECT DISTINCT o.user_id FROM outbox o JOIN user_integrations i "
                          "ON i.user_id = o.user_id AND i.is_active = 1 "
                          "WHERE o.next_attempt_at <= ?1")

/* integrations */
#define INTEG_COLS                                                                                 \
    "integration_id, user_id, access_token, refresh_token, expiry_date, calendar_id, sync_token, " \
    "channel_id, resource_id, channel_token_hash, channel_expiration, is_active, state, "          \
    "last_sync_at, last_error, next_poll_at, updated_at, epoch, calendar_kind, progress"
DB_STMT(INTEG_GET, "SELECT " INTEG_COLS " FROM user_integrations WHERE user_id = ?1 "
                   "AND provider = 'google_calendar'")
#define INTEG_CONNECT_INSERT                                                                       \
    "INSERT INTO user_integrations(user_id, provider, access_token, refresh_token, expiry_date, "  \
    "calendar_id, is_active, state, last_error, sync_token, created_at, updated_at) "              \
    "VALUES(?1, 'google_calendar', ?2, ?3, ?4, 'primary', 1, 'connected', NULL, NULL, ?5, ?5) "
DB_STMT2(INTEG_CONNECT,
         INTEG_CONNECT_INSERT
         "ON CONFLICT(user_id, provider) DO UPDATE SET access_token = excluded.access_token, "
         "refresh_token = coalesce(excluded.refresh_token, refresh_token), "
         "expiry_date = excluded.expiry_date, is_active = 1, state = 'connected', "
         "last_error = NULL, sync_token = NULL, updated_at = excluded.updated_at, "
         "epoch = epoch + 1, backoff_until = 0, backoff_attempts = 0",
         INTEG_CONNECT_INSERT
         "ON DUPLICATE KEY UPDATE access_token = VALUES(access_token), "
         "refresh_token = coalesce(VALUES(refresh_token), refresh_token), "
         "expiry_date = VALUES(expiry_date), is_active = 1, state = 'connected', "
         "last_error = NULL, sync_token = NULL, updated_at = VALUES(updated_at), "
         "epoch = epoch + 1, backoff_until = 0, backoff_attempts = 0")
DB_STMT(
    INTEG_SET_TOKENS,
    "UPDATE user_integrations SET access_token = ?2, refresh_token = coalesce(?3, refresh_token), "
    "expiry_date = ?4, updated_at = ?5 WHERE user_id = ?1 AND provider = 'google_calendar' "
    "AND is_active = 1 AND epoch = ?6")
DB_STMT(
    INTEG_REAUTH,
    "UPDATE user_integrations SET access_token = NULL, refresh_token = NULL, expiry_date = NULL, "
    "state = 'reauth_required', last_error = ?2, updated_at = ?3 "
    "WHERE user_id = ?1 AND provider = 'google_calendar' AND is_active = 1 AND epoch = ?4")
DB_STMT(
    INTEG_DISCONNECT,
    "UPDATE user_integrations SET access_token = NULL, refresh_token = NULL, expiry_date = NULL, "
    "sync_token = NULL, channel_id = NULL, resource_id = NULL, channel_token_hash = NULL, "
    "channel_expiration = NULL, is_active = 0, state = 'not_connected', last_error = NULL, "
    "lease_owner = NULL, lease_until = NULL, sync_requested = 0, updated_at = ?2, "
    "epoch = epoch + 1, backoff_until = 0, backoff_attempts = 0, channel_msgno = NULL, "
    "progress = NULL WHERE user_id = ?1 AND provider = 'google_calendar'")
/* a connect's choice (in its transaction): kind ?2 and calendar ?3 ('' = to be ensured) */
DB_STMT(INTEG_SET_CALENDAR,
        "UPDATE user_integrations SET calendar_kind = ?2, calendar_id = ?3, progress = NULL "
        "WHERE user_id = ?1 AND provider = 'google_calendar'")
/* the Vesta calendar ensured by a sync job of connection epoch ?3 */
DB_STMT(INTEG_SET_CALENDAR_ID, "UPDATE user_integrations SET calendar_id = ?2 WHERE user_id = ?1 "
                               "AND provider = 'google_calendar' AND is_active = 1 AND epoch = ?3 "
                               "AND calendar_kind = 'vesta'")
DB_STMT(INTEG_SET_PROGRESS, "UPDATE user_integrations SET progress = ?2 WHERE user_id = ?1 "
                            "AND provider = 'google_calendar'")
/* secondary calendars calsync made for a user (newest use first) */
DB_STMT(VESTA_CAL_LIST, "SELECT calendar_id FROM vesta_calendars WHERE user_id = ?1 "
                        "ORDER BY used_at DESC, created_at DESC LIMIT 5")
DB_STMT2(VESTA_CAL_REMEMBER,
         "INSERT INTO vesta_calendars(user_id, calendar_id, created_at, used_at) "
         "VALUES(?1, ?2, ?3, ?3) ON CONFLICT(user_id, calendar_id) DO UPDATE SET "
         "used_at = excluded.used_at",
         "INSERT INTO vesta_calendars(user_id, calendar_id, created_at, used_at) "
         "VALUES(?1, ?2, ?3, ?3) ON DUPLICATE KEY UPDATE used_at = VALUES(used_at)")
DB_STMT(INTEG_SET_STATE,
        "UPDATE user_integrations SET state = ?2, last_error = ?3, updated_at = ?4 "
        "WHERE user_id = ?1 AND provider = 'google_calendar' AND is_active = 1")
DB_STMT(INTEG_SYNC_DONE, "UPDATE user_integrations SET state = ?2, last_error = ?3, "
                         "last_sync_at = CASE WHEN ?3 IS NULL THEN ?4 ELSE last_sync_at END, "
                         "next_poll_at = coalesce(?5, next_poll_at), updated_at = ?4 "
                         "WHERE user_id = ?1 AND provider = 'google_calendar' AND is_active = 1")
DB_STMT(INTEG_SET_SYNC_TOKEN, "UPDATE user_integrations SET sync_token = ?2 WHERE user_id = ?1 "
                              "AND provider = 'google_calendar' AND is_active = 1")
DB_STMT(INTEG_SET_CHANNEL, "UPDATE user_integrations SET channel_id = ?2, resource_id = ?3, "
                           "channel_token_hash = ?4, "
                           "channel_expiration = ?5, updated_at = ?6, channel_msgno = NULL "
                           "WHERE user_id = ?1 AND provider = 'google_calendar' AND is_active = 1 "
                           "AND (channel_id = ?7 OR (channel_id IS NULL AND ?7 IS NULL)) AND epoch "
                           "= ?8") /* compare-and-swap:
concurrent renewals store one channel */
/* calsync-admin migrate: tokens sealed before they were bound to their row (v1) */
DB_STMT(INTEG_LEGACY_TOKENS, "SELECT user_id, access_token, refresh_token FROM user_integrations "
                             "WHERE provider = 'google_calendar' AND (access_token LIKE 'v1:%' "
                             "OR refresh_token LIKE 'v1:%')")
DB_STMT(INTEG_RESEAL, /* compare-and-swap: a token refreshed meanwhile is not overwritten */
        "UPDATE user_integrations SET access_token = ?2, refresh_token = ?3 "
        "WHERE user_id = ?1 AND provider = 'google_calendar' "
        "AND (access_token = ?4 OR (access_token IS NULL AND ?4 IS NULL)) "
        "AND (refresh_token = ?5 OR (refresh_token IS NULL AND ?5 IS NULL))")
/* the webhook's look-up: only what verifying a notification needs (no sealed tokens read) */
DB_STMT(INTEG_CHANNEL_OWNER, "SELECT user_id, resource_id, channel_msgno FROM user_integrations "
                             "WHERE channel_id = ?1 AND provider = 'google_calendar' "
                             "AND is_active = 1 AND resource_id IS NOT NULL")
DB_STMT(INTEG_RENEW_DUE, "SELECT user_id FROM user_integrations WHERE is_active = 1 "
                         "AND state IN ('connected', 'error', 'syncing') "
                         "AND channel_id IS NOT NULL AND channel_expiration < ?1")
DB_STMT(INTEG_NO_CHANNEL, "SELECT user_id FROM user_integrations WHERE is_active = 1 "
                          "AND state IN ('connected', 'error', 'syncing') AND channel_id IS NULL")
/* without a channel: every poll interval; with one: a safety-net pull when no full sync has
 * happened for ?2 seconds more, in case Google lost notifications */
DB_STMT(INTEG_POLL_DUE, "SELECT user_id FROM user_integrations WHERE is_active = 1 "
                        "AND state IN ('connected', 'error', 'syncing') "
                        "AND coalesce(next_poll_at, 0) + CASE WHEN channel_id IS NULL THEN 0 "
                        "ELSE ?2 END <= ?1")

DB_STMT(INTEG_OVERVIEW,
        "SELECT u.email, i.state, i.last_sync_at, i.channel_expiration, i.last_error, "
        "(SELECT count(*) FROM outbox o WHERE o.user_id = i.user_id) "
        "FROM user_integrations i JOIN users u ON u.id = i.user_id WHERE i.is_active = 1 "
        "ORDER BY u.email")

/* sync log */
DB_STMT(RUN_START, "INSERT INTO sync_runs(user_id, `trigger`, started_at, job_id, job_gen) "
                   "VALUES(?1, ?2, ?3, ?4, ?5)")
DB_STMT(RUN_FINISH,
        "UPDATE sync_runs SET finished_at = ?2, pushed = ?3, pulled = ?4, "
        "deleted = ?5, conflicts = ?6, ok = ?7, error = ?8, errors = ?9 WHERE run_id = ?1")
/* keeps the user's last 50 runs (the derived table lets MySQL read the table it deletes from) */
DB_STMT(RUN_TRIM, "DELETE FROM sync_runs WHERE user_id = ?1 AND run_id < (SELECT run_id FROM "
                  "(SELECT run_id FROM sync_runs WHERE user_id = ?1 ORDER BY run_id DESC "
                  "LIMIT 1 OFFSET 49) t)")
DB_STMT(RUN_COUNT, "SELECT count(*) FROM sync_runs WHERE user_id = ?1")

/* OAuth states */
DB_STMT(STATE_INSERT, "INSERT INTO oauth_states(state_hash, user_id, verifier, expires_at, "
                      "calendar) VALUES(?1, ?2, ?3, ?4, ?5)")
/* taking a state: read it, then delete it in the same transaction (single use: the caller
 * checks that its delete changed one row) */
DB_STMT(STATE_GET, "SELECT user_id, verifier, expires_at, calendar FROM oauth_states "
                   "WHERE state_hash = ?1")
DB_STMT(STATE_DELETE, "DELETE FROM oauth_states WHERE state_hash = ?1")
DB_STMT(STATE_PURGE, "DELETE FROM oauth_states WHERE expires_at <= ?1")

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

/* idempotent creates (Idempotency-Key), kept 24 h */
DB_STMT(IDEM_GET, "SELECT body_hash, appointment_id FROM idempotency_keys "
                  "WHERE user_id = ?1 AND idem_key = ?2 AND created_at > ?3")
DB_STMT2(IDEM_PUT,
         "INSERT INTO idempotency_keys(user_id, idem_key, body_hash, appointment_id, "
         "created_at) VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(user_id, idem_key) DO "
         "UPDATE SET body_hash = excluded.body_hash, "
         "appointment_id = excluded.appointment_id, created_at = excluded.created_at",
         "INSERT INTO idempotency_keys(user_id, idem_key, body_hash, appointment_id, "
         "created_at) VALUES(?1, ?2, ?3, ?4, ?5) ON DUPLICATE KEY "
         "UPDATE body_hash = VALUES(body_hash), "
         "appointment_id = VALUES(appointment_id), created_at = VALUES(created_at)")
DB_STMT(IDEM_PURGE, "DELETE FROM idempotency_keys WHERE created_at <= ?1")

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
#define COPY_V24 COPY_V22 ", ?23, ?24"
#define COPY_V26 COPY_V22 ", ?23, ?24, ?25, ?26"
#define COPY_V28 COPY_V26 ", ?27, ?28"
COPY_TABLE(users, "id, email, password_hash, timezone, created_at, reminders", "id", COPY_V6)
COPY_TABLE(sessions, "token_hash, user_id, expires_at, created_at", "token_hash", COPY_V4)
COPY_TABLE(user_integrations,
           "integration_id, user_id, provider, access_token, refresh_token, expiry_date, "
           "calendar_id, sync_token, channel_id, resource_id, channel_token_hash, "
           "channel_expiration, is_active, state, last_sync_at, last_error, lease_owner, "
           "lease_until, sync_requested, next_poll_at, created_at, updated_at, epoch, "
           "backoff_until, backoff_attempts, channel_msgno, calendar_kind, progress",
           "integration_id", COPY_V28)
COPY_TABLE(appointments, APPT_COLS, "appointment_id", COPY_V24)
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
#include "db_sql_host.h"
