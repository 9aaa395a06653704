/* db.c: the SQLite connection, migrations and the per-process statement cache. */
#include "db.h"
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
static const char *const db_sql[DB__MAX] = {
#include "db_sql.h"
};
#undef DB_STMT

struct db {
    sqlite3 *h;
    sqlite3_stmt *st[DB__MAX];
};

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

int db_open(const char *path, struct db **out, char *errbuf, size_t errlen)
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
    sqlite3_busy_timeout(db->h, 10000);
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
    rc = db_migrate(db, errbuf, errlen);
    if (rc != CS_OK)
        goto fail;
    *out = db;
    return CS_OK;
fail:
    db_close(db);
    return rc;
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    for (int i = 0; i < DB__MAX; i++)
        sqlite3_finalize(db->st[i]);
    sqlite3_close(db->h);
    free(db);
}

sqlite3 *db_handle(struct db *db)
{
    return db->h;
}

int db_version(struct db *db)
{
    sqlite3_stmt *st;
    int v = -1;

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

sqlite3_stmt *db_stmt(struct db *db, enum db_stmt_id id)
{
    if (id >= DB__MAX)
        return NULL;
    if (db->st[id] == NULL) {
        if (sqlite3_prepare_v3(db->h, db_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &db->st[id],
                               NULL) != SQLITE_OK) {
            log_error("prepare of statement %d failed: %s", (int)id, sqlite3_errmsg(db->h));
            db->st[id] = NULL;
            return NULL;
        }
    } else {
        sqlite3_reset(db->st[id]);
        sqlite3_clear_bindings(db->st[id]);
    }
    return db->st[id];
}

int db_exec(struct db *db, sqlite3_stmt *st)
{
    int rc;

    if (st == NULL)
        return CS_ERR_DB;
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return CS_OK;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return CS_ERR_CONFLICT;
    log_error("sql failed: %s", sqlite3_errmsg(db->h));
    return CS_ERR_DB;
}

static int db_simple(struct db *db, const char *sql)
{
    if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK) {
        log_error("%s failed: %s", sql, sqlite3_errmsg(db->h));
        return CS_ERR_DB;
    }
    return CS_OK;
}

int db_begin(struct db *db)
{
    return db_simple(db, "BEGIN IMMEDIATE");
}

int db_commit(struct db *db)
{
    return db_simple(db, "COMMIT");
}

void db_rollback(struct db *db)
{
    if (!sqlite3_get_autocommit(db->h))
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

int db_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    if (s == NULL)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

char *db_col_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);

    return s ? strdup((const char *)s) : NULL;
}

void db_col_copy(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
    const unsigned char *s = sqlite3_column_text(st, col);

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
