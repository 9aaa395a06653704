/* db_sqlite.c: the store's SQLite back end (db_backend_sqlite): the file in WAL mode with a
 * short-sleeping busy handler, migrations under the write lock with PRAGMA user_version,
 * persistent prepared statements, and transactions by statements prepared once. */
#include <sqlite3.h>

#include "db_be.h"
#include "cs.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

/* How long a statement waits for another process's write lock before it fails (SQLITE_BUSY). */
#define DBS_BUSY_MS 10000

enum { DBS_BEGIN, DBS_COMMIT, DBS_ROLLBACK, DBS_TX__MAX };

/* The connection behind db->conn. */
struct dbs {
    sqlite3 *h;
    sqlite3_stmt *version_st;         /* PRAGMA data_version */
    sqlite3_stmt *tx_st[DBS_TX__MAX]; /* BEGIN IMMEDIATE, COMMIT, ROLLBACK, prepared once */
    long long busy_since_us;          /* when the current wait for a lock began */
    char *path;                       /* the file opened, and which it was (dbs_ping) */
    int have_file;                    /* it was a file (not ":memory:") */
    dev_t dev;
    ino_t ino;
};

static sqlite3 *dbs_h(struct db *db)
{
    return ((struct dbs *)db->conn)->h;
}

/* A database made before the private umask (0644) is tightened to 0600, with its WAL and
 * shared-memory files: they hold sessions hashes and sealed tokens. */
static void dbs_tighten_modes(const char *path)
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

/* SQLite's own busy handler sleeps whole milliseconds, doubling up to 100: far longer than the
 * transactions it waits for (tens of microseconds), so a burst of writers spends its time
 * asleep. Wait 50 us at first, doubling up to 2 ms, for DBS_BUSY_MS in all. Returns 0 to give
 * up. */
static int dbs_busy_wait(void *arg, int tries)
{
    struct dbs *s = arg;
    struct timespec ts;
    long long now_us, step_us = 50LL << (tries < 6 ? tries : 6);

    clock_gettime(CLOCK_MONOTONIC, &ts);
    now_us = (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
    if (tries == 0)
        s->busy_since_us = now_us;
    if (now_us - s->busy_since_us >= DBS_BUSY_MS * 1000LL)
        return 0;
    usleep((useconds_t)(step_us > 2000 ? 2000 : step_us));
    return 1;
}

/* Opens the file (created if needed) in WAL mode with the busy handler; the password is not
 * used. */
static int dbs_open(struct db *db, const char *path, const char *password, char *errbuf,
                    size_t errlen)
{
    struct dbs *s;

    (void)password;
    if ((s = calloc(1, sizeof *s)) == NULL)
        return CS_ERR_NOMEM;
    db->conn = s;
    if (sqlite3_open_v2(path, &s->h,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        return cs_fail(errbuf, errlen, CS_ERR_DB, "cannot open database %s: %s", path,
                       s->h ? sqlite3_errmsg(s->h) : "out of memory");
    sqlite3_busy_handler(s->h, dbs_busy_wait, s);
    /* Switching a new file to WAL takes a lock the busy handler does not wait for: when
     * several workers start on a fresh database at once, retry for a while. */
    for (int tries = 0;; tries++) {
        int erc = sqlite3_exec(s->h,
                               "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                               "PRAGMA foreign_keys=ON;",
                               NULL, NULL, NULL);
        if (erc == SQLITE_OK)
            break;
        if (((erc & 0xff) != SQLITE_BUSY && (erc & 0xff) != SQLITE_LOCKED) || tries >= 200)
            return cs_fail(errbuf, errlen, CS_ERR_DB, "cannot configure database %s: %s", path,
                           sqlite3_errmsg(s->h));
        usleep(50 * 1000);
    }
    dbs_tighten_modes(path);
    {
        struct stat st;
        if ((s->path = strdup(path)) == NULL)
            return cs_fail(errbuf, errlen, CS_ERR_NOMEM, "out of memory");
        if (stat(path, &st) == 0) {
            s->have_file = 1;
            s->dev = st.st_dev;
            s->ino = st.st_ino;
        }
    }
    return CS_OK;
}

static void dbs_close(struct db *db)
{
    struct dbs *s = db->conn;

    for (int i = 0; i < DB__MAX; i++) {
        sqlite3_finalize(db->st[i].h);
        db->st[i].h = NULL;
    }
    if (s == NULL)
        return;
    sqlite3_finalize(s->version_st);
    for (int i = 0; i < DBS_TX__MAX; i++)
        sqlite3_finalize(s->tx_st[i]);
    sqlite3_close(s->h);
    free(s->path);
    free(s);
    db->conn = NULL;
}

/* The file is still where the store is configured (moved or deleted away, the connection
 * would go on writing a file nobody else opens), and it reads. */
static int dbs_ping(struct db *db)
{
    struct dbs *s = db->conn;
    struct stat st;

    if (s->have_file && (stat(s->path, &st) != 0 || st.st_dev != s->dev || st.st_ino != s->ino))
        return CS_ERR_DB;
    return sqlite3_exec(s->h, "SELECT 1 FROM sqlite_master LIMIT 1", NULL, NULL, NULL) == SQLITE_OK
               ? CS_OK
               : CS_ERR_DB;
}

static int dbs_version(struct db *db)
{
    sqlite3_stmt *st;
    int v = -1;

    if (sqlite3_prepare_v2(dbs_h(db), "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* BEGIN IMMEDIATE, COMMIT or ROLLBACK: statements prepared once per connection, since every
 * request of a busy route runs them. */
static int dbs_tx_step(struct db *db, int which)
{
    static const char *const sql[DBS_TX__MAX] = {"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"};
    struct dbs *s = db->conn;
    sqlite3_stmt *st = s->tx_st[which];
    int rc;

    if (st == NULL) {
        if (sqlite3_prepare_v3(s->h, sql[which], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
            SQLITE_OK) {
            log_error("%s failed: %s", sql[which], sqlite3_errmsg(s->h));
            return CS_ERR_DB;
        }
        s->tx_st[which] = st;
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        log_error("%s failed: %s", sql[which], sqlite3_errmsg(s->h));
        return CS_ERR_DB;
    }
    return CS_OK;
}

static int dbs_begin(struct db *db)
{
    return dbs_tx_step(db, DBS_BEGIN);
}

static int dbs_commit(struct db *db)
{
    return dbs_tx_step(db, DBS_COMMIT);
}

static void dbs_rollback(struct db *db)
{
    if (!sqlite3_get_autocommit(dbs_h(db)))
        dbs_tx_step(db, DBS_ROLLBACK);
}

static int dbs_in_transaction(struct db *db)
{
    return !sqlite3_get_autocommit(dbs_h(db));
}

/* Applies list[version..n) in one write transaction, recording each in PRAGMA user_version. */
static int dbs_migrate(struct db *db, const struct db_migration *list, size_t n, char *errbuf,
                       size_t errlen)
{
    char *msg = NULL;
    char pragma[64];
    int v, rc = CS_OK;

    if (dbs_version(db) >= (int)n)
        return CS_OK;
    /* Several workers may start at once: the write lock makes exactly one migrate. */
    if (dbs_begin(db) != CS_OK)
        return cs_fail(errbuf, errlen, CS_ERR_DB, "cannot lock database for migration");
    v = dbs_version(db);
    for (size_t i = (size_t)(v < 0 ? 0 : v); i < n; i++) {
        if (sqlite3_exec(dbs_h(db), list[i].sql, NULL, NULL, &msg) != SQLITE_OK) {
            rc = cs_fail(errbuf, errlen, CS_ERR_DB, "migration %s failed: %s", list[i].name,
                         msg ? msg : "?");
            sqlite3_free(msg);
            dbs_rollback(db);
            return rc;
        }
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%zu", i + 1);
        if (sqlite3_exec(dbs_h(db), pragma, NULL, NULL, NULL) != SQLITE_OK) {
            dbs_rollback(db);
            return cs_fail(errbuf, errlen, CS_ERR_DB, "cannot record schema version");
        }
        log_info("applied migration %s", list[i].name);
    }
    if (dbs_commit(db) != CS_OK)
        return cs_fail(errbuf, errlen, CS_ERR_DB, "cannot commit migration");
    return CS_OK;
}

static int dbs_prepare(struct db *db, struct db_stmt *st, const char *sql)
{
    sqlite3_stmt *h = NULL;

    if (sqlite3_prepare_v3(dbs_h(db), sql, -1, SQLITE_PREPARE_PERSISTENT, &h, NULL) != SQLITE_OK) {
        log_error("prepare of statement %d failed: %s", (int)st->id, sqlite3_errmsg(dbs_h(db)));
        sqlite3_finalize(h);
        return CS_ERR_DB;
    }
    st->h = h;
    return CS_OK;
}

static void dbs_reset(struct db_stmt *st, int clear)
{
    sqlite3_reset(st->h);
    if (clear)
        sqlite3_clear_bindings(st->h);
}

static int dbs_exec(struct db *db, struct db_stmt *st)
{
    int rc = sqlite3_step(st->h);

    sqlite3_reset(st->h);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return CS_OK;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return CS_ERR_CONFLICT;
    log_error("sql failed: %s", sqlite3_errmsg(dbs_h(db)));
    return CS_ERR_DB;
}

static int dbs_bind_int64(struct db_stmt *st, int idx, long long v)
{
    return sqlite3_bind_int64(st->h, idx, v) == SQLITE_OK ? CS_OK : CS_ERR_DB;
}

static int dbs_bind_text(struct db_stmt *st, int idx, const char *s)
{
    return sqlite3_bind_text(st->h, idx, s, -1, SQLITE_TRANSIENT) == SQLITE_OK ? CS_OK : CS_ERR_DB;
}

static int dbs_bind_null(struct db_stmt *st, int idx)
{
    return sqlite3_bind_null(st->h, idx) == SQLITE_OK ? CS_OK : CS_ERR_DB;
}

static int dbs_param_count(struct db_stmt *st)
{
    return sqlite3_bind_parameter_count(st->h);
}

static int dbs_step(struct db_stmt *st)
{
    int rc = sqlite3_step(st->h);

    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc == SQLITE_DONE)
        return DB_DONE;
    return DB_FAILED;
}

static long long dbs_col_int64(struct db_stmt *st, int col)
{
    return sqlite3_column_int64(st->h, col);
}

static const unsigned char *dbs_col_text(struct db_stmt *st, int col)
{
    return sqlite3_column_text(st->h, col);
}

static int dbs_col_is_null(struct db_stmt *st, int col)
{
    return sqlite3_column_type(st->h, col) == SQLITE_NULL;
}

static int dbs_changes(struct db *db)
{
    return sqlite3_changes(dbs_h(db));
}

static long long dbs_last_id(struct db *db)
{
    return sqlite3_last_insert_rowid(dbs_h(db));
}

static const char *dbs_errmsg(struct db *db)
{
    return sqlite3_errmsg(dbs_h(db));
}

static int dbs_exec_sql(struct db *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(dbs_h(db), sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("sql failed: %s", msg ? msg : sqlite3_errmsg(dbs_h(db)));
        sqlite3_free(msg);
        return CS_ERR_DB;
    }
    return CS_OK;
}

static long long dbs_data_version(struct db *db)
{
    struct dbs *s = db->conn;
    sqlite3_stmt *st = s->version_st;
    long long v = -1;

    if (st == NULL && sqlite3_prepare_v3(s->h, "PRAGMA data_version", -1, SQLITE_PREPARE_PERSISTENT,
                                         &st, NULL) != SQLITE_OK)
        return -1;
    s->version_st = st;
    if (sqlite3_step(st) == SQLITE_ROW)
        /* data_version moves with other connections' commits, total_changes with ours */
        v = (sqlite3_column_int64(st, 0) << 32) ^ (long long)sqlite3_total_changes(s->h);
    sqlite3_reset(st);
    return v;
}

static void dbs_checkpoint_pages(struct db *db, int pages)
{
    sqlite3_wal_autocheckpoint(dbs_h(db), pages);
}

static struct sqlite3 *dbs_sqlite_handle(struct db *db)
{
    return dbs_h(db);
}

const struct db_backend db_backend_sqlite = {
    .name = "sqlite",
    .kind = DB_SQLITE,
    .sql = db_sql_sqlite,
    .migrations = db_migrations,
    .migrations_count = &db_migrations_count,
    .open = dbs_open,
    .close = dbs_close,
    .version = dbs_version,
    .ping = dbs_ping,
    .migrate = dbs_migrate,
    .prepare = dbs_prepare,
    .reset = dbs_reset,
    .exec = dbs_exec,
    .bind_int64 = dbs_bind_int64,
    .bind_text = dbs_bind_text,
    .bind_null = dbs_bind_null,
    .param_count = dbs_param_count,
    .step = dbs_step,
    .col_int64 = dbs_col_int64,
    .col_text = dbs_col_text,
    .col_is_null = dbs_col_is_null,
    .changes = dbs_changes,
    .last_id = dbs_last_id,
    .errmsg = dbs_errmsg,
    .exec_sql = dbs_exec_sql,
    .begin = dbs_begin,
    .commit = dbs_commit,
    .rollback = dbs_rollback,
    .in_transaction = dbs_in_transaction,
    .data_version = dbs_data_version,
    .checkpoint_pages = dbs_checkpoint_pages,
    .sqlite_handle = dbs_sqlite_handle,
};
