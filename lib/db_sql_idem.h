/* db_sql_idem.h: the statements of idempotent creates (part of db_sql.h, included by it only,
 * in its place in the statement order). */
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
