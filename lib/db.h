/* db.h: the store: open + migrate, one table of prepared statements, transactions, and the
 * bind/step/column calls every caller uses. Callers never name an engine: the back end (SQLite
 * today, the MySQL protocol beside it) lives behind these calls, in lib/db*.c only. */
#ifndef DB_H
#define DB_H

#include <stddef.h>

struct db_migration {
    const char *name; /* schema/NNN_name.sql */
    const char *sql;
};
extern const struct db_migration db_migrations[];
extern const size_t db_migrations_count;

#define DB_STMT(name, sql) DB_##name,
enum db_stmt_id {
#include "db_sql.h"
    DB__MAX
};
#undef DB_STMT

enum db_kind { DB_SQLITE, DB_MYSQL };

struct db;      /* a connection */
struct db_stmt; /* one of its prepared statements */

/* What db_step returns. */
#define DB_ROW 100
#define DB_DONE 101
#define DB_FAILED 1

/* Opens (creating if needed) the store named by url (a SQLite path; mysql://... once that back
 * end is built in) and applies pending migrations. On CS_OK *out is set: free with db_close. */
int db_open(const char *url, struct db **out, char *errbuf, size_t errlen);
/* The same without migrating (calsync-admin doctor looks at the schema version as it is). */
int db_connect(const char *url, struct db **out, char *errbuf, size_t errlen);
void db_close(struct db *db);
enum db_kind db_kind(const struct db *db);
/* Applies migrations newer than the recorded version; returns CS_OK or CS_ERR_DB. */
int db_migrate(struct db *db, char *errbuf, size_t errlen);
/* Schema version now in the store (-1 on error). */
int db_version(struct db *db);

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

/* Write transaction (SQLite: BEGIN IMMEDIATE) / COMMIT / ROLLBACK. */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* Runs SQL text of the statement table's dialect with no parameters and no result (admin
 * tasks, tests). CS_OK or CS_ERR_DB. */
int db_exec_sql(struct db *db, const char *sql);

/* Wall clock in epoch seconds / milliseconds (one place, so tests can reason about it). */
long long db_now(void);
long long db_now_ms(void);

/* The SQLite connection under db, or NULL on another back end: for tests that look at
 * SQLite itself (query plans, pragmas). */
struct sqlite3;
struct sqlite3 *db_handle(struct db *db);

#endif
