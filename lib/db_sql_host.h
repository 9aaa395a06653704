/* db_sql_host.h: the statements of the host seam (included by db_sql.h, last). Vesta's own
 * tables are written in backticks (`appointments`): the calsync_ prefix the vesta host gives
 * calsync's tables never touches them. VESTA_* statements run on the MySQL protocol only (the
 * vesta host refuses SQLite); their SQLite text is a placeholder that is never prepared. */
#define VESTA_ONLY "SELECT NULL WHERE 0"
/* Vesta's raw fields of a row, in the order vesta_row_read expects them */
#define VESTA_ROW_COLS                                                                             \
    "a.user_id, a.contact_id, a.listing_id, "                                                      \
    "DATE_FORMAT(a.datetime_start, '%Y-%m-%dT%H:%i:%sZ'), "                                        \
    "DATE_FORMAT(a.datetime_end, '%Y-%m-%dT%H:%i:%sZ'), a.status, a.notes, a.type, "               \
    "coalesce(a.is_active, 1), a.trip_time_minutes, a.google_event_id, r.hsnap"

/* a new appointment under the id its host row got (?13) */
DB_STMT(APPT_INSERT_ID,
        "INSERT INTO appointments(user_id, contact_id, title, description, location, start_utc, "
        "end_utc, all_day, type, status, sync_state, created_at, updated_at, appointment_id) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13)")
/* APPT_PULL_INSERT under the id its host row got (?1) */
DB_STMT(
    APPT_PULL_INSERT_ID,
    "INSERT INTO appointments(appointment_id, user_id, contact_id, title, description, location, "
    "start_utc, end_utc, all_day, type, status, google_event_id, google_etag, google_updated, "
    "synced_snapshot, last_synced_at, sync_state, created_at, updated_at, reminders_sent) "
    "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 'synced', ?17, "
    "?17, (SELECT coalesce(u.reminders, 'default') FROM users u WHERE u.id = ?2) "
    "FROM user_integrations i WHERE i.user_id = ?2 AND i.is_active = 1 LIMIT 1")
/* the host changed an appointment: its content in the store, queued for Google */
DB_STMT(APPT_HOST_SAVE,
        "UPDATE appointments SET contact_id = ?3, title = ?4, description = ?5, location = ?6, "
        "start_utc = ?7, end_utc = ?8, all_day = ?9, type = ?10, status = ?11, is_active = ?12, "
        "sync_state = 'pending', sync_error = NULL, updated_at = " NEXT_UPDATED(
            "?13") " WHERE appointment_id = ?1 AND user_id = ?2")
/* an appointment the host had linked before calsync (Vesta's own attempt): adopted, not doubled */
DB_STMT(APPT_SET_FORMER, "UPDATE appointments SET former_event_id = ?2, former_calendar_id = NULL "
                         "WHERE appointment_id = ?1 AND google_event_id IS NULL")

/* vesta: identity (BetterAuth's sessions and users, read only) */
DB_STMT2(VESTA_SESSION, VESTA_ONLY,
         "SELECT u.id, u.email, u.timezone FROM `sessions` s JOIN `users` u ON u.id = s.user_id "
         "WHERE s.token = ?1 AND s.expires_at > UTC_TIMESTAMP() AND u.account_id IS NOT NULL "
         "AND coalesce(u.is_active, 1) <> 0 LIMIT 1")
/* calsync's own row of a Vesta user (settings, the job lock; no password: '!' matches none) */
DB_STMT2(VESTA_USER_SHADOW, VESTA_ONLY,
         "INSERT INTO users(id, email, password_hash, timezone, created_at) "
         "VALUES(?1, ?4, '!', ?2, ?3) ON DUPLICATE KEY UPDATE timezone = VALUES(timezone), "
         "email = VALUES(email)")

/* vesta: appointments */
DB_STMT2(VESTA_ROW_LOCK, VESTA_ONLY,
         "SELECT " VESTA_ROW_COLS " FROM `appointments` a "
         "LEFT JOIN vesta_rows r ON r.appointment_id = a.appointment_id "
         "WHERE a.appointment_id = ?1 FOR UPDATE")
/* the contact's name and the listing's address, both of the user's own account only */
DB_STMT2(
    VESTA_DESCRIBE, VESTA_ONLY,
    "SELECT c.first_name, c.last_name, p.street, p.address_details, p.postal_code, l2.city "
    "FROM `users` u LEFT JOIN `contacts` c ON c.contact_id = ?2 AND c.account_id = u.account_id "
    "LEFT JOIN `listings` l ON l.listing_id = ?3 AND l.account_id = u.account_id "
    "LEFT JOIN `properties` p ON p.property_id = l.property_id AND p.account_id = u.account_id "
    "LEFT JOIN `locations` l2 ON l2.neighborhood_id = p.neighborhood_id WHERE u.id = ?1")
DB_STMT2(VESTA_INSERT, VESTA_ONLY,
         "INSERT INTO `appointments`(user_id, contact_id, datetime_start, datetime_end, status, "
         "notes, type, is_active, created_at, updated_at) "
         "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, UTC_TIMESTAMP(), UTC_TIMESTAMP())")
DB_STMT2(VESTA_UPDATE, VESTA_ONLY,
         "UPDATE `appointments` SET contact_id = ?2, datetime_start = ?3, datetime_end = ?4, "
         "status = ?5, notes = ?6, type = ?7, is_active = ?8 WHERE appointment_id = ?1")
DB_STMT2(VESTA_SOFT_DELETE, VESTA_ONLY,
         "UPDATE `appointments` SET is_active = 0 WHERE appointment_id = ?1 AND user_id = ?2 "
         "AND coalesce(is_active, 1) <> 0")
DB_STMT2(VESTA_LINK, VESTA_ONLY,
         "UPDATE `appointments` SET google_event_id = ?2, google_etag = ?3, "
         "last_synced_at = UTC_TIMESTAMP() WHERE appointment_id = ?1 "
         "AND NOT (google_event_id <=> ?2 AND google_etag <=> ?3)")
DB_STMT2(VESTA_UNLINK_USER, VESTA_ONLY,
         "UPDATE `appointments` SET google_event_id = NULL, google_etag = NULL "
         "WHERE google_event_id IS NOT NULL AND user_id = ?1")
/* what calsync last saw of a host row (JSON of its raw fields) */
DB_STMT2(VESTA_ROWS_PUT, VESTA_ONLY,
         "INSERT INTO vesta_rows(appointment_id, user_id, hsnap) VALUES(?1, ?2, ?3) "
         "ON DUPLICATE KEY UPDATE user_id = VALUES(user_id), hsnap = VALUES(hsnap)")
DB_STMT2(VESTA_ROWS_GET, VESTA_ONLY, "SELECT hsnap FROM vesta_rows WHERE appointment_id = ?1")
/* the change feed: rows changed at or after (?1 epoch s, ?2 id), read along the updated_at index
 * only (whose agent is connected is checked apart: a join could lead the plan through a table
 * scan of appointments) */
DB_STMT2(VESTA_FEED, VESTA_ONLY,
         "SELECT a.appointment_id, " VESTA_ROW_COLS ", UNIX_TIMESTAMP(a.updated_at) "
         "FROM `appointments` a LEFT JOIN vesta_rows r ON r.appointment_id = a.appointment_id "
         "WHERE a.updated_at >= FROM_UNIXTIME(?1) "
         "AND (a.updated_at > FROM_UNIXTIME(?1) OR a.appointment_id > ?2) "
         "ORDER BY a.updated_at, a.appointment_id LIMIT ?3")
/* the agents whose changes the feed takes */
DB_STMT2(VESTA_CONNECTED, VESTA_ONLY,
         "SELECT DISTINCT user_id FROM user_integrations WHERE is_active = 1")
/* every active row of one user (a connection's first sync) */
DB_STMT2(VESTA_SEED, VESTA_ONLY,
         "SELECT a.appointment_id, " VESTA_ROW_COLS ", UNIX_TIMESTAMP(a.updated_at) "
         "FROM `appointments` a LEFT JOIN vesta_rows r ON r.appointment_id = a.appointment_id "
         "WHERE a.user_id = ?1 AND coalesce(a.is_active, 1) <> 0")
/* rows of connected users deleted outright in the host */
DB_STMT2(VESTA_GONE, VESTA_ONLY,
         "SELECT m.appointment_id, m.user_id FROM appointments m JOIN user_integrations i "
         "ON i.user_id = m.user_id AND i.is_active = 1 WHERE m.is_active = 1 AND NOT EXISTS "
         "(SELECT 1 FROM `appointments` a WHERE a.appointment_id = m.appointment_id) LIMIT 500")
DB_STMT2(VESTA_FEED_LOCK, VESTA_ONLY,
         "SELECT mark_s, mark_id, UNIX_TIMESTAMP(UTC_TIMESTAMP()), deep_s, gone_ms "
         "FROM vesta_feed WHERE id = 1 FOR UPDATE")
DB_STMT2(VESTA_FEED_SET, VESTA_ONLY,
         "UPDATE vesta_feed SET mark_s = ?1, mark_id = ?2, deep_s = ?3, gone_ms = ?4 WHERE id = 1")

/* vesta: contacts of the user's account */
DB_STMT2(VESTA_CONTACT_BY_EMAIL, VESTA_ONLY,
         "SELECT c.contact_id FROM `users` u JOIN `contacts` c ON c.account_id = u.account_id "
         "WHERE u.id = ?1 AND lower(c.email) = lower(?2) AND coalesce(c.is_active, 1) <> 0 "
         "ORDER BY c.contact_id LIMIT 1")
DB_STMT2(VESTA_CONTACT_OF_ACCOUNT, VESTA_ONLY,
         "SELECT c.contact_id FROM `users` u JOIN `contacts` c ON c.account_id = u.account_id "
         "WHERE u.id = ?1 AND c.contact_id = ?2")
DB_STMT2(VESTA_ACCOUNT_OF, VESTA_ONLY, "SELECT account_id FROM `users` WHERE id = ?1")
DB_STMT2(VESTA_GCAL_CLAIM, VESTA_ONLY,
         "INSERT IGNORE INTO vesta_accounts(account_id, contact_id) VALUES(?1, NULL)")
DB_STMT2(VESTA_GCAL_GET, VESTA_ONLY, "SELECT contact_id FROM vesta_accounts WHERE account_id = ?1")
DB_STMT2(VESTA_GCAL_SET, VESTA_ONLY,
         "UPDATE vesta_accounts SET contact_id = ?2 WHERE account_id = ?1")
DB_STMT2(VESTA_CONTACT_INSERT, VESTA_ONLY,
         "INSERT INTO `contacts`(account_id, first_name, last_name, additional_info, is_active, "
         "created_at, updated_at) VALUES(?1, 'Google', 'Calendar', "
         "'{\"calsync\": \"google_calendar\"}', 1, UTC_TIMESTAMP(), UTC_TIMESTAMP())")

/* vesta: what calsync needs of Vesta's schema (vesta_schema.c, calsync-admin doctor) */
DB_STMT2(VESTA_HAS_TABLE, VESTA_ONLY,
         "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
         "AND table_name = ?1")
DB_STMT2(VESTA_COLUMN_TYPE, VESTA_ONLY,
         "SELECT data_type FROM information_schema.columns WHERE table_schema = DATABASE() "
         "AND table_name = ?1 AND column_name = ?2")
DB_STMT2(VESTA_HAS_INDEX, VESTA_ONLY,
         "SELECT count(*) FROM information_schema.statistics WHERE table_schema = DATABASE() "
         "AND table_name = ?1 AND column_name = ?2 AND seq_in_index = 1")

/* the user's sync direction (settings, the run, status) */
DB_STMT(USER_GET_DIRECTION, "SELECT sync_direction FROM users WHERE id = ?1")
DB_STMT(USER_SET_DIRECTION, "UPDATE users SET sync_direction = ?2 WHERE id = ?1")
/* one node at a time looks at and adds to Vesta's schema (the migrations' lock: MariaDB has
 * been seen to crash with many processes reading information_schema while one added an index) */
DB_STMT2(VESTA_SCHEMA_LOCK, VESTA_ONLY,
         "SELECT GET_LOCK(CONCAT('calsync_migrate.', LEFT(DATABASE(), 40)), 60)")
DB_STMT2(VESTA_SCHEMA_UNLOCK, VESTA_ONLY,
         "SELECT RELEASE_LOCK(CONCAT('calsync_migrate.', LEFT(DATABASE(), 40)))")

/* vesta: the rows of Vesta's own earlier Google sync (calsync-admin vesta-adopt) */
DB_STMT2(VESTA_LEGACY_LIST, VESTA_ONLY,
         "SELECT i.integration_id, i.user_id, i.access_token, i.refresh_token, "
         "coalesce(UNIX_TIMESTAMP(i.expiry_date), 0), coalesce(i.calendar_id, 'primary'), "
         "i.channel_id, i.resource_id, coalesce(i.sync_direction, 'vesta_to_google'), u.email, "
         "u.timezone FROM `user_integrations` i LEFT JOIN `users` u ON u.id = i.user_id "
         "WHERE i.provider = 'google_calendar' AND coalesce(i.is_active, 1) <> 0 "
         "ORDER BY i.integration_id")
/* adopted: the plain-text tokens blanked (access_token is NOT NULL in Vesta), the row retired */
DB_STMT2(VESTA_LEGACY_RETIRE, VESTA_ONLY,
         "UPDATE `user_integrations` SET access_token = '', refresh_token = NULL, "
         "sync_token = NULL, channel_id = NULL, resource_id = NULL, is_active = 0 "
         "WHERE integration_id = ?1")
