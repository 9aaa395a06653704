/* db.h: the store: open + migrate, one table of prepared statements, transactions, and the
 * bind/step/column calls every caller uses. Callers never name an engine: the back end (SQLite
 * today, the MySQL protocol beside it) lives behind these calls, in lib/db*.c only. */
#ifndef DB_H
#define DB_H

#include <stddef.h>

struct db_migration {
    const char *name; /* schema/NNN_name.sql (SQLite) or NNN_name.mysql.sql (MySQL) */
    const char *sql;
};
/* The migrations of each dialect, in order; version N means the first N are applied. */
extern const struct db_migration db_migrations[];
extern const size_t db_migrations_count;
extern const struct db_migration db_migrations_mysql[];
extern const size_t db_migrations_mysql_count;

/* db_sql.h declares each statement once: DB_STMT(name, sql) with one text for every store,
 * DB_STMT2(name, sqlite_sql, mysql_sql) where the dialects differ. */
#define DB_STMT(name, sql) DB_##name,
#define DB_STMT2(name, sqlite_sql, mysql_sql) DB_##name,
enum db_stmt_id {
#include "db_sql.h"
    DB__MAX
};
#undef DB_STMT
#undef DB_STMT2

enum db_kind { DB_SQLITE, DB_MYSQL };

struct db;      /* a connection */
struct db_stmt; /* one of its prepared statements */

/* What db_step returns. */
#define DB_ROW 100
#define DB_DONE 101
#define DB_FAILED 1

/* Opens the store named by url and applies pending migrations: a SQLite path (the file is
 * created if needed), or mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?socket=PATH] for the
 * MySQL-protocol store (MariaDB, MySQL, SingleStore; the database must exist). On CS_OK *out is
 * set: free with db_close. Error texts never contain the password. */
int db_open(const char *url, struct db **out, char *errbuf, size_t errlen);
/* The same without migrating (calsync-admin doctor looks at the schema version as it is). */
int db_connect(const char *url, struct db **out, char *errbuf, size_t errlen);
/* Either of them (migrate 1 or 0), with the MySQL password given apart from the URL
 * (CALSYNC_DB_PASSWORD_FILE); password NULL means the URL's. */
int db_open_with(const char *url, const char *password, int migrate, struct db **out, char *errbuf,
                 size_t errlen);
/* How to open the store beyond its URL. */
struct db_opts {
    const char *password; /* NULL: the URL's */
    int migrate;          /* apply pending migrations (calsync's, then extra) */
    /* calsync's tables named <prefix><name> (the vesta host: "calsync_"); NULL or "": none.
     * Every statement, migration and db_exec_sql text is rewritten (db_prefix.h). */
    const char *prefix;
    /* the host's own migrations after calsync's (versions kept apart, in host_migrations) */
    const struct db_migration *extra;
    size_t extra_count;
};
int db_open_opts(const char *url, const struct db_opts *o, struct db **out, char *errbuf,
                 size_t errlen);
/* The migrations of the vesta host (schema/vesta/NNN_name.mysql.sql). */
extern const struct db_migration db_migrations_vesta[];
extern const size_t db_migrations_vesta_count;
void db_close(struct db *db);
enum db_kind db_kind(const struct db *db);
/* Applies migrations newer than the recorded version; returns CS_OK or CS_ERR_DB. Several
 * processes (or nodes) starting at once migrate exactly once. */
int db_migrate(struct db *db, char *errbuf, size_t errlen);
/* CS_OK when the store is reachable now: SQLite, the path still names the file this connection
 * has open and it reads (a database moved or deleted away is gone, though the open file still
 * works); MySQL, the server answers (a lost connection is reconnected once). Else CS_ERR_DB. */
int db_ping(struct db *db);
/* Schema version now in the store (-1 on error), and the version this program brings. */
int db_version(struct db *db);
int db_version_latest(const struct db *db);

/* A mysql:// store URL taken apart (user, password and socket percent-decoded). */
struct db_url {
    char user[129];
    char password[257];
    char host[256];
    unsigned port;     /* 3306 when not given */
    char database[65]; /* letters, digits, _ and $ */
    char socket[256];  /* "" unless ?socket=PATH */
};
/* True when url names the MySQL-protocol store (mysql://...). */
int db_url_is_mysql(const char *url);
/* Parses a mysql:// URL; CS_OK, or CS_ERR_CONFIG with the reason in errbuf (never the
 * password). Wipe out->password with sodium_memzero when done. */
int db_url_parse(const char *url, struct db_url *out, char *errbuf, size_t errlen);
/* The URL fit for logs and messages: mysql://USER:***@HOST:PORT/DATABASE, or the path. */
void db_url_redact(const char *url, char *out, size_t outlen);

/* The statement, prepared once per connection, reset and with bindings cleared; NULL on error
 * (logged). Owned by db: never free it. */
struct db_stmt *db_stmt(struct db *db, enum db_stmt_id id);
/* The text of a statement in the connection's dialect (tests look at query plans). */
const char *db_sql_text(struct db *db, enum db_stmt_id id);
/* Steps a statement that returns no rows; CS_OK on success, CS_ERR_CONFLICT on a constraint
 * violation, else CS_ERR_DB (logged). Resets it either way. */
int db_exec(struct db *db, struct db_stmt *st);

/* Binds parameter idx (1-based, as ?N in the statement text). s NULL binds NULL. */
int db_bind_text(struct db_stmt *st, int idx, const char *s);
int db_bind_int(struct db_stmt *st, int idx, int v);
int db_bind_int64(struct db_stmt *st, int idx, long long v);
int db_bind_null(struct db_stmt *st, int idx);
/* Number of distinct parameters the statement takes. */
int db_param_count(struct db_stmt *st);
/* DB_ROW (a row is readable), DB_DONE, or DB_FAILED. */
int db_step(struct db_stmt *st);
void db_reset(struct db_stmt *st);
/* Columns of the current row (0-based). Text stays valid until the next step or reset; NULL
 * when the column is NULL. */
long long db_col_int64(struct db_stmt *st, int col);
int db_col_int(struct db_stmt *st, int col);
const unsigned char *db_col_text(struct db_stmt *st, int col);
int db_col_is_null(struct db_stmt *st, int col);
/* Column as a malloc'd string (free()), or NULL when the column is NULL or on OOM. */
char *db_col_dup(struct db_stmt *st, int col);
/* Copies a column into a fixed buffer, "" when NULL. */
void db_col_copy(struct db_stmt *st, int col, char *out, size_t outlen);

/* A number that changes whenever anything was committed to the store since the last call on
 * this connection (by this or any other process), so a process may keep answers computed from
 * it until then; -1 when the back end cannot tell (then nothing may be kept). */
long long db_data_version(struct db *db);
/* Rows changed by the last statement; the id of the last inserted row; the last error. */
int db_changes(struct db *db);
long long db_last_id(struct db *db);
const char *db_errmsg(struct db *db);

/* Write transaction (SQLite: BEGIN IMMEDIATE; MySQL: START TRANSACTION, READ COMMITTED) /
 * COMMIT / ROLLBACK. */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);
/* Ends the open transaction by how its work went: commits when rc is CS_OK, else rolls back.
 * Returns rc, or CS_ERR_DB when the commit itself failed (then it is rolled back). */
int db_end(struct db *db, int rc);
/* True inside db_begin .. db_commit/db_rollback. */
int db_in_transaction(struct db *db);

/* Runs SQL text of the statement table's dialect with no parameters and no result (admin
 * tasks, tests). CS_OK or CS_ERR_DB. */
int db_exec_sql(struct db *db, const char *sql);

/* Wall clock in epoch seconds / milliseconds (one place, so tests can reason about it). */
long long db_now(void);
long long db_now_ms(void);

/* SQLite: this connection's commits checkpoint the WAL once it holds this many pages (SQLite's
 * default: 1000). Each checkpoint costs two fsyncs whatever the WAL holds: a connection that
 * commits at a high rate does them less often with a larger WAL. Nothing on MySQL. */
void db_checkpoint_pages(struct db *db, int pages);

/* The SQLite connection under db, or NULL on another back end: for tests that look at
 * SQLite itself (query plans, pragmas). */
struct sqlite3;
struct sqlite3 *db_handle(struct db *db);

#endif
