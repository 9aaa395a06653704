/* db_sql_integ.h: the statements of Google integrations, Vesta calendars, the sync log and
 * OAuth states (part of db_sql.h, included by it only, in its place in the statement order). */
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
         "epoch = epoch + 1, backoff_until = 0, backoff_attempts = 0, writes_paused_until = 0, "
         "writes_paused_reason = NULL",
         INTEG_CONNECT_INSERT
         "ON DUPLICATE KEY UPDATE access_token = VALUES(access_token), "
         "refresh_token = coalesce(VALUES(refresh_token), refresh_token), "
         "expiry_date = VALUES(expiry_date), is_active = 1, state = 'connected', "
         "last_error = NULL, sync_token = NULL, updated_at = VALUES(updated_at), "
         "epoch = epoch + 1, backoff_until = 0, backoff_attempts = 0, writes_paused_until = 0, "
         "writes_paused_reason = NULL")
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
    "progress = NULL, writes_paused_until = 0, writes_paused_reason = NULL WHERE user_id = ?1 AND "
    "provider = 'google_calendar'")
/* a connect's choice (in its transaction): kind ?2 and calendar ?3 ('' = to be ensured) */
DB_STMT(INTEG_SET_CALENDAR,
        "UPDATE user_integrations SET calendar_kind = ?2, calendar_id = ?3, progress = NULL "
        "WHERE user_id = ?1 AND provider = 'google_calendar'")
/* the Vesta calendar ensured by a sync job of connection epoch ?3 */
DB_STMT(INTEG_SET_CALENDAR_ID, "UPDATE user_integrations SET calendar_id = ?2 WHERE user_id = ?1 "
                               "AND provider = 'google_calendar' AND is_active = 1 AND epoch = ?3 "
                               "AND calendar_kind = 'vesta'")
/* Google's usage limits: the user's writes wait until ?2 (epoch ms) for reason ?3 (every node
 * reads it before pushing); ?2 = 0 ends the pause */
DB_STMT(INTEG_WRITES_PAUSE, "UPDATE user_integrations SET writes_paused_until = ?2, "
                            "writes_paused_reason = ?3 WHERE user_id = ?1 "
                            "AND provider = 'google_calendar' AND is_active = 1")
DB_STMT(INTEG_WRITES_PAUSED, "SELECT writes_paused_until, writes_paused_reason "
                             "FROM user_integrations WHERE user_id = ?1 "
                             "AND provider = 'google_calendar' AND is_active = 1")
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
