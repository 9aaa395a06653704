/* db.c: the store behind lib/db.h: the SQLite back end (connection, migrations, the
 * per-connection statement cache, bind/step/column), and the dispatch to the MySQL back end
 * (lib/db_mysql.c) by db->kind. */
#include <sqlite3.h>

#include "db.h"
#include "db_int.h"
#include "cs.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/time.h>

#define DB_STMT(name, sql) [DB_##name] = sql,
#define DB_STMT2(name, sqlite_sql, mysql_sql) [DB_##name] = sqlite_sql,
const char *const db_sql_sqlite[DB__MAX] = {
#include "db_sql.h"
};
#undef DB_STMT
#undef DB_STMT2
#define DB_STMT(name, sql) [DB_##name] = sql,
#define DB_STMT2(name, sqlite_sql, mysql_sql) [DB_##name] = mysql_sql,
const char *const db_sql_mysql[DB__MAX] = {
#include "db_sql.h"
};
#undef DB_STMT
#undef DB_STMT2

/* A database made before the private umask (0644) is tightened to 0600, with its WAL and
 * shared-memory files: they hold sessions hashes and sealed tokens. */
static void db_tighten_modes(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char p[4096];
    struct stat st;

    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if ((size_t)snprintf(p, sizeof p, "%s%s", path, suffixes[i]) >= sizeof p)
            return;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) == 0)
            continue;
        if (chmod(p, st.st_mode & 0700) != 0)
            log_warn("cannot make %s private", p);
        else
            log_info("made %s private (mode 0600)", p);
    }
}

/* How long a statement waits for another process's write lock before it fails (SQLITE_BUSY). */
#define DB_BUSY_MS 10000

/* SQLite's own busy handler sleeps whole milliseconds, doubling up to 100: far longer than the
 * transactions it waits for (tens of microseconds), so a burst of writers spends its time
 * asleep. Wait 50 us at first, doubling up to 2 ms, for DB_BUSY_MS in all. Returns 0 to give
 * up. */
static int db_busy_wait(void *arg, int tries)
{
    struct db *db = arg;
    struct timespec ts;
    long long now_us, step_us = 50LL << (tries < 6 ? tries : 6);

    clock_gettime(CLOCK_MONOTONIC, &ts);
    now_us = (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
    if (tries == 0)
        db->busy_since_us = now_us;
    if (now_us - db->busy_since_us >= DB_BUSY_MS * 1000LL)
        return 0;
    usleep((useconds_t)(step_us > 2000 ? 2000 : step_us));
    return 1;
}

/* Opens the SQLite file in WAL mode with a busy timeout; migrate or not. */
static int db_open_sqlite(const char *path, int migrate, struct db **out, char *errbuf,
                          size_t errlen)
{
    struct db *db;
    int rc;

    *out = NULL;
    db = calloc(1, sizeof *db);
    if (db == NULL)
        return CS_ERR_NOMEM;
    if (sqlite3_open_v2(path, &db->h,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = cs_fail(errbuf, errlen, CS_ERR_DB, "cannot open database %s: %s", path,
                     db->h ? sqlite3_errmsg(db->h) : "out of memory");
        goto fail;
    }
    sqlite3_busy_handler(db->h, db_busy_wait, db);
    /* Switching a new file to WAL takes a lock the busy handler does not wait for: when
     * several workers start on a fresh database at once, retry for a while. */
    for (int tries = 0;; tries++) {
        int erc = sqlite3_exec(db->h,
                               "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                               "PRAGMA foreign_keys=ON;",
                               NULL, NULL, NULL);
        if (erc == SQLITE_OK)
            break;
        if (((erc & 0xff) != SQLITE_BUSY && (erc & 0xff) != SQLITE_LOCKED) || tries >= 200) {
            rc = cs_fail(errbuf, errlen, CS_ERR_DB, "cannot configure database %s: %s", path,
                         sqlite3_errmsg(db->h));
            goto fail;
        }
        usleep(50 * 1000);
    }
    db_tighten_modes(path);
    for (int i = 0; i < DB__MAX; i++) {
        db->st[i].db = db;
        db->st[i].id = (enum db_stmt_id)i;
    }
    if (migrate && (rc = db_migrate(db, errbuf, errlen)) != CS_OK)
        goto fail;
    *out = db;
    return CS_OK;
fail:
    db_close(db);
    return rc;
}

/* Connects to the MySQL-protocol store; migrate or not. */
static int db_open_mysql(const char *url, const char *password, int migrate, struct db **out,
                         char *errbuf, size_t errlen)
{
    struct db *db;
    int rc;

    *out = NULL;
    db = calloc(1, sizeof *db);
    if (db == NULL)
        return CS_ERR_NOMEM;
    db->kind = DB_MYSQL;
    for (int i = 0; i < DB__MAX; i++) {
        db->st[i].db = db;
        db->st[i].id = (enum db_stmt_id)i;
    }
    if ((rc = dbm_open(db, url, password, errbuf, errlen)) != CS_OK)
        goto fail;
    if (migrate && (rc = db_migrate(db, errbuf, errlen)) != CS_OK)
        goto fail;
    *out = db;
    return CS_OK;
fail:
    db_close(db);
    return rc;
}

int db_open_with(const char *url, const char *password, int migrate, struct db **out, char *errbuf,
                 size_t errlen)
{
    if (db_url_is_mysql(url))
        return db_open_mysql(url, password, migrate, out, errbuf, errlen);
    return db_open_sqlite(url, migrate, out, errbuf, errlen);
}

int db_open(const char *url, struct db **out, char *errbuf, size_t errlen)
{
    return db_open_with(url, NULL, 1, out, errbuf, errlen);
}

int db_connect(const char *url, struct db **out, char *errbuf, size_t errlen)
{
    return db_open_with(url, NULL, 0, out, errbuf, errlen);
}

enum db_kind db_kind(const struct db *db)
{
    return db->kind;
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    if (db->kind == DB_MYSQL) {
        dbm_close(db);
        free(db);
        return;
    }
    for (int i = 0; i < DB__MAX; i++)
        sqlite3_finalize(db->st[i].s);
    sqlite3_finalize(db->version_st);
    for (int i = 0; i < 3; i++)
        sqlite3_finalize(db->tx_st[i]);
    sqlite3_close(db->h);
    free(db);
}

void db_checkpoint_pages(struct db *db, int pages)
{
    if (db->kind == DB_SQLITE)
        sqlite3_wal_autocheckpoint(db->h, pages);
}

struct sqlite3 *db_handle(struct db *db)
{
    return db->kind == DB_SQLITE ? db->h : NULL;
}

int db_version(struct db *db)
{
    sqlite3_stmt *st;
    int v = -1;

    if (db->kind == DB_MYSQL)
        return dbm_version(db);
    if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

int db_migrate(struct db *db, char *errbuf, size_t errlen)
{
    char *msg = NULL;
    char pragma[64];
    int v, rc = CS_OK;

    if (db->kind == DB_MYSQL)
        return dbm_migrate(db, errbuf, errlen);
    if (db_version(db) >= (int)db_migrations_count)
        return CS_OK;
    /* Several workers may start at once: the write lock makes exactly one migrate. */
    if (db_begin(db) != CS_OK)
        return cs_fail(errbuf, errlen, CS_ERR_DB, "cannot lock database for migration");
    v = db_version(db);
    for (size_t i = (size_t)(v < 0 ? 0 : v); i < db_migrations_count; i++) {
        if (sqlite3_exec(db->h, db_migrations[i].sql, NULL, NULL, &msg) != SQLITE_OK) {
            rc = cs_fail(errbuf, errlen, CS_ERR_DB, "migration %s failed: %s",
                         db_migrations[i].name, msg ? msg : "?");
            sqlite3_free(msg);
            db_rollback(db);
            return rc;
        }
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%zu", i + 1);
        if (sqlite3_exec(db->h, pragma, NULL, NULL, NULL) != SQLITE_OK) {
            db_rollback(db);
            return cs_fail(errbuf, errlen, CS_ERR_DB, "cannot record schema version");
        }
        log_info("applied migration %s", db_migrations[i].name);
    }
    if (db_commit(db) != CS_OK)
        return cs_fail(errbuf, errlen, CS_ERR_DB, "cannot commit migration");
    return CS_OK;
}

struct db_stmt *db_stmt(struct db *db, enum db_stmt_id id)
{
    struct db_stmt *st;

    if (id >= DB__MAX)
        return NULL;
    st = &db->st[id];
    if (db->kind == DB_MYSQL) {
        if (st->m == NULL)
            return dbm_prepare(db, st) == CS_OK ? st : NULL;
        dbm_reset(st, 1);
        return st;
    }
    if (st->s == NULL) {
        if (sqlite3_prepare_v3(db->h, db_sql_sqlite[id], -1, SQLITE_PREPARE_PERSISTENT, &st->s,
                               NULL) != SQLITE_OK) {
            log_error("prepare of statement %d failed: %s", (int)id, sqlite3_errmsg(db->h));
            st->s = NULL;
            return NULL;
        }
    } else {
        sqlite3_reset(st->s);
        sqlite3_clear_bindings(st->s);
    }
    return st;
}

const char *db_sql_text(struct db *db, enum db_stmt_id id)
{
    if (id >= DB__MAX)
        return NULL;
    return db->kind == DB_MYSQL ? db_sql_mysql[id] : db_sql_sqlite[id];
}

int db_version_latest(const struct db *db)
{
    return (int)(db->kind == DB_MYSQL ? db_migrations_mysql_count : db_migrations_count);
}

int db_exec(struct db *db, struct db_stmt *st)
{
    int rc;

    if (st == NULL)
        return CS_ERR_DB;
    if (db->kind == DB_MYSQL)
        return dbm_exec(db, st);
    rc = sqlite3_step(st->s);
    sqlite3_reset(st->s);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return CS_OK;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return CS_ERR_CONFLICT;
    log_error("sql failed: %s", sqlite3_errmsg(db->h));
    return CS_ERR_DB;
}

int db_bind_int(struct db_stmt *st, int idx, int v)
{
    if (st->db->kind == DB_MYSQL)
        return dbm_bind_int64(st, idx, v);
    return sqlite3_bind_int(st->s, idx, v) == SQLITE_OK ? CS_OK : CS_ERR_DB;
}

int db_bind_int64(struct db_stmt *st, int idx, long long v)
{
    if (st->db->kind == DB_MYSQL)
        return dbm_bind_int64(st, idx, v);
    return sqlite3_bind_int64(st->s, idx, v) == SQLITE_OK ? CS_OK : CS_ERR_DB;
}

int db_bind_null(struct db_stmt *st, int idx)
{
    if (st->db->kind == DB_MYSQL)
        return dbm_bind_null(st, idx);
    return sqlite3_bind_null(st->s, idx) == SQLITE_OK ? CS_OK : CS_ERR_DB;
}

int db_param_count(struct db_stmt *st)
{
    if (st->db->kind == DB_MYSQL)
        return dbm_param_count(st);
    return sqlite3_bind_parameter_count(st->s);
}

int db_step(struct db_stmt *st)
{
    int rc;

    if (st->db->kind == DB_MYSQL)
        return dbm_step(st);
    rc = sqlite3_step(st->s);

    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc == SQLITE_DONE)
        return DB_DONE;
    return DB_FAILED;
}

void db_reset(struct db_stmt *st)
{
    if (st->db->kind == DB_MYSQL)
        dbm_reset(st, 0);
    else
        sqlite3_reset(st->s);
}

long long db_col_int64(struct db_stmt *st, int col)
{
    if (st->db->kind == DB_MYSQL)
        return dbm_col_int64(st, col);
    return sqlite3_column_int64(st->s, col);
}

int db_col_int(struct db_stmt *st, int col)
{
    if (st->db->kind == DB_MYSQL)
        return (int)dbm_col_int64(st, col);
    return sqlite3_column_int(st->s, col);
}

const unsigned char *db_col_text(struct db_stmt *st, int col)
{
    if (st->db->kind == DB_MYSQL)
        return dbm_col_text(st, col);
    return sqlite3_column_text(st->s, col);
}

int db_col_is_null(struct db_stmt *st, int col)
{
    if (st->db->kind == DB_MYSQL)
        return dbm_col_is_null(st, col);
    return sqlite3_column_type(st->s, col) == SQLITE_NULL;
}

long long db_data_version(struct db *db)
{
    sqlite3_stmt *st = db->version_st;
    long long v = -1;

    if (db->kind != DB_SQLITE)
        return -1; /* nothing tells cheaply: answers are not kept */
    if (st == NULL && sqlite3_prepare_v3(db->h, "PRAGMA data_version", -1,
                                         SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        return -1;
    db->version_st = st;
    if (sqlite3_step(st) == SQLITE_ROW)
        /* data_version moves with other connections' commits, total_changes with ours */
        v = (sqlite3_column_int64(st, 0) << 32) ^ (long long)sqlite3_total_changes(db->h);
    sqlite3_reset(st);
    return v;
}

int db_changes(struct db *db)
{
    if (db->kind == DB_MYSQL)
        return dbm_changes(db);
    return sqlite3_changes(db->h);
}

long long db_last_id(struct db *db)
{
    if (db->kind == DB_MYSQL)
        return dbm_last_id(db);
    return sqlite3_last_insert_rowid(db->h);
}

const char *db_errmsg(struct db *db)
{
    if (db->kind == DB_MYSQL)
        return dbm_errmsg(db);
    return sqlite3_errmsg(db->h);
}

int db_exec_sql(struct db *db, const char *sql)
{
    char *msg = NULL;

    if (db->kind == DB_MYSQL)
        return dbm_exec_sql(db, sql);

    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("sql failed: %s", msg ? msg : sqlite3_errmsg(db->h));
        sqlite3_free(msg);
        return CS_ERR_DB;
    }
    return CS_OK;
}

/* BEGIN IMMEDIATE (0), COMMIT (1) or ROLLBACK (2): statements prepared once per connection,
 * since every request of a busy route runs them. */
static int db_tx_step(struct db *db, int which)
{
    static const char *const sql[3] = {"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"};
    sqlite3_stmt *st = db->tx_st[which];
    int rc;

    if (st == NULL) {
        if (sqlite3_prepare_v3(db->h, sql[which], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
            SQLITE_OK) {
            log_error("%s failed: %s", sql[which], sqlite3_errmsg(db->h));
            return CS_ERR_DB;
        }
        db->tx_st[which] = st;
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        log_error("%s failed: %s", sql[which], sqlite3_errmsg(db->h));
        return CS_ERR_DB;
    }
    return CS_OK;
}

int db_begin(struct db *db)
{
    if (db->kind == DB_MYSQL)
        return dbm_begin(db);
    return db_tx_step(db, 0);
}

int db_commit(struct db *db)
{
    if (db->kind == DB_MYSQL)
        return dbm_commit(db);
    return db_tx_step(db, 1);
}

void db_rollback(struct db *db)
{
    if (db->kind == DB_MYSQL)
        dbm_rollback(db);
    else if (!sqlite3_get_autocommit(db->h))
        db_tx_step(db, 2);
}

int db_end(struct db *db, int rc)
{
    if (rc == CS_OK && db_commit(db) == CS_OK)
        return CS_OK;
    db_rollback(db);
    return rc == CS_OK ? CS_ERR_DB : rc;
}

int db_in_transaction(struct db *db)
{
    if (db->kind == DB_MYSQL)
        return dbm_in_transaction(db);
    return !sqlite3_get_autocommit(db->h);
}

int db_bind_text(struct db_stmt *st, int idx, const char *s)
{
    if (s == NULL)
        return db_bind_null(st, idx);
    if (st->db->kind == DB_MYSQL)
        return dbm_bind_text(st, idx, s);
    return sqlite3_bind_text(st->s, idx, s, -1, SQLITE_TRANSIENT) == SQLITE_OK ? CS_OK : CS_ERR_DB;
}

char *db_col_dup(struct db_stmt *st, int col)
{
    const unsigned char *s = db_col_text(st, col);

    return s ? strdup((const char *)s) : NULL;
}

void db_col_copy(struct db_stmt *st, int col, char *out, size_t outlen)
{
    const unsigned char *s = db_col_text(st, col);

    snprintf(out, outlen, "%s", s ? (const char *)s : "");
}

long long db_now(void)
{
    return (long long)time(NULL);
}

long long db_now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}
