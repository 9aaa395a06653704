/* db_sql_appt.h: the statements of appointments, the full pull's seen set, and the outbox
 * (part of db_sql.h, included by it only, in its place in the statement order). */
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
/* what calsync may do with the linked event (010_realcal): its type when not default, its
 * organizer when someone else, an instance's (series, original start) */
DB_STMT(APPT_SET_GOOGLE_META,
        "UPDATE appointments SET google_event_type = ?3, google_organizer = ?4, "
        "google_recurring_id = ?5, google_original_start = ?6 "
        "WHERE appointment_id = ?1 AND user_id = ?2")
/* an instance of a recurring series by its key, whatever its id looks like now */
DB_STMT(APPT_BY_INSTANCE, "SELECT " APPT_COLS " FROM appointments WHERE user_id = ?1 "
                          "AND google_recurring_id = ?2 AND google_original_start = ?3 "
                          "ORDER BY is_active DESC LIMIT 1")
/* a read-only appointment (an invitation, an out-of-office) deleted here: gone from Vesta, the
 * event left as it is on Google, and not imported again */
DB_STMT(APPT_DISMISS, "UPDATE appointments SET is_active = 0, sync_state = 'dismissed', "
                      "sync_error = NULL, last_synced_at = ?3 "
                      "WHERE appointment_id = ?1 AND user_id = ?2")
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
DB_STMT(OUTBOX_DUE,
        "SELECT outbox_id, appointment_id, op, attempts, version, created_at FROM outbox "
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
