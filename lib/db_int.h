/* db_int.h: private to lib/db*.c: the connection and statement structs both back ends fill,
 * and the MySQL back end's entry points that lib/db.c dispatches to by db->kind. */
#ifndef DB_INT_H
#define DB_INT_H

#include "db.h"

struct sqlite3_stmt;
struct dbm;      /* MySQL connection state (db_mysql.c) */
struct dbm_stmt; /* one MySQL prepared statement with its parameter map and result buffers */

struct db_stmt {
    struct db *db;
    enum db_stmt_id id;
    struct sqlite3_stmt *s; /* SQLite */
    struct dbm_stmt *m;     /* MySQL */
};

struct db {
    enum db_kind kind;
    struct sqlite3 *h; /* SQLite */
    struct dbm *m;     /* MySQL */
    struct db_stmt st[DB__MAX];
    struct sqlite3_stmt *version_st; /* SQLite: PRAGMA data_version */
    struct sqlite3_stmt *tx_st[3];   /* SQLite: BEGIN IMMEDIATE, COMMIT, ROLLBACK, prepared once */
    long long busy_since_us;         /* SQLite: when the current wait for a lock began */
};

/* The statement texts of each dialect (indexed by enum db_stmt_id). */
extern const char *const db_sql_sqlite[DB__MAX];
extern const char *const db_sql_mysql[DB__MAX];

/* The MySQL back end: the same contracts as the db_* calls of db.h. */
int dbm_open(struct db *db, const char *url, const char *password, char *errbuf, size_t errlen);
void dbm_close(struct db *db);
int dbm_migrate(struct db *db, char *errbuf, size_t errlen);
int dbm_version(struct db *db);
int dbm_prepare(struct db *db, struct db_stmt *st);
void dbm_reset(struct db_stmt *st, int clear);
int dbm_exec(struct db *db, struct db_stmt *st);
int dbm_bind_int64(struct db_stmt *st, int idx, long long v);
int dbm_bind_text(struct db_stmt *st, int idx, const char *s);
int dbm_bind_null(struct db_stmt *st, int idx);
int dbm_param_count(struct db_stmt *st);
int dbm_step(struct db_stmt *st);
long long dbm_col_int64(struct db_stmt *st, int col);
const unsigned char *dbm_col_text(struct db_stmt *st, int col);
int dbm_col_is_null(struct db_stmt *st, int col);
int dbm_changes(struct db *db);
long long dbm_last_id(struct db *db);
const char *dbm_errmsg(struct db *db);
int dbm_exec_sql(struct db *db, const char *sql);
int dbm_begin(struct db *db);
int dbm_commit(struct db *db);
void dbm_rollback(struct db *db);
int dbm_in_transaction(struct db *db);

#endif
