/* db_sql_user.h: the statements of users, sessions and login throttling (part of db_sql.h,
 * included by it only, in its place in the statement order). */
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
