/* db.h: SQLite store: open + migrate, one table of prepared statements, transactions. */
#ifndef DB_H
#define DB_H

#include <stddef.h>
#include <sqlite3.h>

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

struct db;

/* Opens (creating if needed) the database in WAL mode with a busy timeout and applies
 * pending migrations. On CS_OK *out is set: free with db_close. */
int db_open(const char *path, struct db **out, char *errbuf, size_t errlen);
void db_close(struct db *db);
sqlite3 *db_handle(struct db *db);
/* Applies migrations newer than PRAGMA user_version; returns CS_OK or CS_ERR_DB. */
int db_migrate(struct db *db, char *errbuf, size_t errlen);
/* Schema version now in the file. */
int db_version(struct db *db);

/* The statement, prepared once per process, reset and with bindings cleared; NULL on error
 * (logged). Owned by db: never finalize it. */
sqlite3_stmt *db_stmt(struct db *db, enum db_stmt_id id);
/* Steps a statement that returns no rows; CS_OK on SQLITE_DONE, CS_ERR_CONFLICT on a
 * constraint violation, else CS_ERR_DB (logged). Resets it either way. */
int db_exec(struct db *db, sqlite3_stmt *st);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* Binds s, or NULL when s is NULL. */
int db_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* Column as a malloc'd string (free()), or NULL when the column is NULL or on OOM. */
char *db_col_dup(sqlite3_stmt *st, int col);
/* Copies a column into a fixed buffer, "" when NULL. */
void db_col_copy(sqlite3_stmt *st, int col, char *out, size_t outlen);

/* Wall clock in epoch seconds / milliseconds (one place, so tests can reason about it). */
long long db_now(void);
long long db_now_ms(void);

#endif
