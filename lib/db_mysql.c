/* db_mysql.c: the store's MySQL-protocol back end (db_backend_mysql; MariaDB Connector/C for
 * MariaDB, MySQL, SingleStore): open and close, migrations under a server lock, scripts,
 * transactions; its statements are db_mysql_stmt.c's, its connection db_mysql_conn.c's. */
#include <mysql.h>
#include <mysqld_error.h>

#include "db_mysql.h"
#include "cs.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define DBM_LOCK_WAIT_S 30 /* migrations: how long a node waits for another one migrating */

static int dbm_open(struct db *db, const char *url, const char *password, char *errbuf,
                    size_t errlen)
{
    struct dbm *m;
    int rc;

    if ((m = calloc(1, sizeof *m)) == NULL)
        return CS_ERR_NOMEM;
    db->conn = m;
    db_url_redact(url, m->redacted, sizeof m->redacted);
    if ((rc = db_url_parse(url, &m->url, errbuf, errlen)) != CS_OK)
        return rc;
    if (password != NULL) {
        if (strlen(password) >= sizeof m->url.password)
            return cs_fail(errbuf, errlen, CS_ERR_CONFIG, "the database password is too long");
        snprintf(m->url.password, sizeof m->url.password, "%s", password);
    }
    return dbm_connect(db, m->url.password, errbuf, errlen);
}

static void dbm_close(struct db *db)
{
    struct dbm *m = dbm_of(db);

    for (int i = 0; i < DB__MAX; i++) {
        dbm_stmt_free(db->st[i].h);
        db->st[i].h = NULL;
    }
    if (m == NULL)
        return;
    if (m->h != NULL)
        mysql_close(m->h);
    sodium_memzero(&m->url, sizeof m->url);
    free(m);
    db->conn = NULL;
}

/* Splits a migration or admin script into statements at ';' outside quotes and comments and
 * runs each in order. */
static int dbm_script(struct db *db, const char *sql)
{
    struct dbm *m = dbm_of(db);
    size_t n = strlen(sql), start = 0;
    char *buf = malloc(n + 1);
    char q = 0;
    int rc = CS_OK;

    if (buf == NULL)
        return CS_ERR_NOMEM;
    size_t o = 0;
    for (size_t i = 0; i <= n && rc == CS_OK; i++) {
        char c = i < n ? sql[i] : ';';
        if (q != 0) {
            buf[o++] = c;
            if (c == q)
                q = 0;
            continue;
        }
        if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
            while (i < n && sql[i] != '\n')
                i++;
            continue;
        }
        if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
            const char *e = strstr(sql + i + 2, "*/");
            i = e ? (size_t)(e - sql) + 1 : n;
            continue;
        }
        if (c == '\'' || c == '"' || c == '`') {
            q = c;
            buf[o++] = c;
            continue;
        }
        if (c != ';') {
            buf[o++] = c;
            continue;
        }
        buf[o] = '\0';
        for (start = 0;
             buf[start] == ' ' || buf[start] == '\n' || buf[start] == '\t' || buf[start] == '\r';
             start++)
            ;
        if (buf[start] != '\0' && dbm_query(m, buf + start) != CS_OK) {
            log_error("sql failed: %s", m->err);
            rc = CS_ERR_DB;
        }
        o = 0;
    }
    free(buf);
    return rc;
}

static int dbm_version(struct db *db)
{
    struct dbm *m = dbm_of(db);
    MYSQL_RES *res;
    MYSQL_ROW row;
    int v = -1;
    char q[128];

    if (!dbm_connected(m))
        return -1;
    snprintf(q, sizeof q, "SELECT coalesce(max(version), 0) FROM %s", db->mig_table);
    if (mysql_real_query(m->h, q, (unsigned long)strlen(q)) != 0) {
        unsigned no = mysql_errno(m->h);
        dbm_seterr(m, no, mysql_error(m->h));
        return no == ER_NO_SUCH_TABLE ? 0 : -1;
    }
    if ((res = mysql_store_result(m->h)) == NULL)
        return -1;
    if ((row = mysql_fetch_row(res)) != NULL && row[0] != NULL)
        v = (int)strtol(row[0], NULL, 10);
    mysql_free_result(res);
    return v;
}

/* Records an applied migration in table (schema_migrations or the host's). */
static int dbm_record_migration(struct dbm *m, const char *table, int version, const char *name)
{
    char q[160];
    MYSQL_STMT *h = dbm_connected(m) ? mysql_stmt_init(m->h) : NULL;
    MYSQL_BIND b[3];
    long long v = version, at = db_now();
    unsigned long nlen = (unsigned long)strlen(name);
    int rc = CS_ERR_DB;

    if (h == NULL)
        return CS_ERR_NOMEM;
    snprintf(q, sizeof q, "INSERT INTO %s(version, name, applied_at) VALUES(?, ?, ?)", table);
    memset(b, 0, sizeof b);
    b[0].buffer_type = MYSQL_TYPE_LONGLONG;
    b[0].buffer = &v;
    b[1].buffer_type = MYSQL_TYPE_STRING;
    b[1].buffer = (void *)name;
    b[1].buffer_length = nlen;
    b[1].length = &nlen;
    b[2].buffer_type = MYSQL_TYPE_LONGLONG;
    b[2].buffer = &at;
    if (mysql_stmt_prepare(h, q, (unsigned long)strlen(q)) == 0 &&
        mysql_stmt_bind_param(h, b) == 0 && mysql_stmt_execute(h) == 0)
        rc = CS_OK;
    else
        dbm_seterr(m, mysql_stmt_errno(h), mysql_stmt_error(h));
    mysql_stmt_close(h);
    return rc;
}

/* Applies list[version..n) under GET_LOCK, recording each in schema_migrations. */
static int dbm_migrate(struct db *db, const struct db_migration *list, size_t n, char *errbuf,
                       size_t errlen)
{
    struct dbm *m = dbm_of(db);
    char q[400];
    int v, rc = CS_OK;

    /* every SQLite migration has its MySQL twin (db_migrations: schema_sql.c, generated) */
    if (db->mig_main_list && n != db_migrations_count)
        return cs_fail(errbuf, errlen, CS_ERR_DB,
                       "this calsync has %zu SQLite migrations but %zu MySQL ones: every "
                       "schema/NNN_name.sql needs its NNN_name.mysql.sql",
                       db_migrations_count, n);
    snprintf(q, sizeof q,
             "CREATE TABLE IF NOT EXISTS %s (version INT NOT NULL PRIMARY KEY, name VARCHAR(255) "
             "NOT NULL, applied_at BIGINT NOT NULL) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
             db->mig_table);
    if (dbm_query(m, q) != CS_OK)
        return cs_fail(errbuf, errlen, CS_ERR_DB, "cannot create %s on %s: %s", db->mig_table,
                       m->redacted, m->err);
    if ((v = dbm_version(db)) >= (int)n)
        return v < 0 ? cs_fail(errbuf, errlen, CS_ERR_DB, "cannot read the schema version: %s",
                               m->err)
                     : CS_OK;
    /* several nodes may start at once: the server-wide lock (per database) makes exactly one
     * of them migrate; the others wait and then find nothing left to do */
    snprintf(q, sizeof q, "SELECT GET_LOCK(CONCAT('calsync_migrate.', LEFT(DATABASE(), 40)), %d)",
             DBM_LOCK_WAIT_S);
    if (dbm_query_int(m, q) != 1)
        return cs_fail(errbuf, errlen, CS_ERR_DB,
                       "cannot take the migration lock on %s (another node migrating for over "
                       "%d s?)",
                       m->redacted, DBM_LOCK_WAIT_S);
    if ((v = dbm_version(db)) < 0) {
        rc = cs_fail(errbuf, errlen, CS_ERR_DB, "cannot read the schema version: %s", m->err);
        goto out;
    }
    for (size_t i = (size_t)v; i < n; i++) {
        /* DDL commits on its own in MySQL: a migration that fails half-way leaves what it did;
         * the version is recorded only after the whole file ran */
        if (dbm_script(db, list[i].sql) != CS_OK) {
            rc =
                cs_fail(errbuf, errlen, CS_ERR_DB, "migration %s failed: %s", list[i].name, m->err);
            goto out;
        }
        if (dbm_record_migration(m, db->mig_table, (int)i + 1, list[i].name) != CS_OK) {
            rc = cs_fail(errbuf, errlen, CS_ERR_DB, "cannot record schema version %zu: %s", i + 1,
                         m->err);
            goto out;
        }
        log_info("applied migration %s", list[i].name);
    }
out:
    dbm_query(m, "SELECT RELEASE_LOCK(CONCAT('calsync_migrate.', LEFT(DATABASE(), 40)))");
    return rc;
}

static int dbm_changes(struct db *db)
{
    return (int)dbm_of(db)->changes;
}

static long long dbm_last_id(struct db *db)
{
    return dbm_of(db)->last_id;
}

static const char *dbm_errmsg(struct db *db)
{
    struct dbm *m = dbm_of(db);

    return m->err[0] ? m->err : "no error";
}

static int dbm_exec_sql(struct db *db, const char *sql)
{
    struct dbm *m = dbm_of(db);
    int rc = dbm_script(db, sql);

    if (rc != CS_OK && !m->in_tx && dbm_is_conn_err(m->last_no) && dbm_reconnect(db) == CS_OK)
        rc = dbm_script(db, sql);
    return rc;
}

/* The server answers a query; a connection lost outside a transaction is reconnected once. */
static int dbm_ping(struct db *db)
{
    struct dbm *m = dbm_of(db);

    if (dbm_query(m, "DO 1") == CS_OK)
        return CS_OK;
    if (m->in_tx || !dbm_is_conn_err(m->last_no) || dbm_reconnect(db) != CS_OK)
        return CS_ERR_DB;
    return dbm_query(m, "DO 1");
}

/* START TRANSACTION (READ COMMITTED: the session's level); reconnects once when the
 * connection was lost. */
static int dbm_begin(struct db *db)
{
    struct dbm *m = dbm_of(db);

    if (m->in_tx) {
        snprintf(m->err, sizeof m->err, "a transaction is already open");
        log_error("START TRANSACTION failed: %s", m->err);
        return CS_ERR_DB;
    }
    if (dbm_query(m, "START TRANSACTION") != CS_OK) {
        if (!dbm_is_conn_err(m->last_no) || dbm_reconnect(db) != CS_OK ||
            dbm_query(m, "START TRANSACTION") != CS_OK) {
            log_error("START TRANSACTION failed: %s", m->err);
            return CS_ERR_DB;
        }
    }
    m->in_tx = 1;
    return CS_OK;
}

static int dbm_commit(struct db *db)
{
    struct dbm *m = dbm_of(db);
    int rc = dbm_query(m, "COMMIT");

    m->in_tx = 0;
    if (rc != CS_OK)
        log_error("COMMIT failed: %s", m->err);
    return rc;
}

static void dbm_rollback(struct db *db)
{
    struct dbm *m = dbm_of(db);

    if (!m->in_tx)
        return;
    m->in_tx = 0;
    if (dbm_query(m, "ROLLBACK") != CS_OK)
        log_warn("ROLLBACK failed: %s", m->err);
}

static int dbm_in_transaction(struct db *db)
{
    return dbm_of(db)->in_tx;
}

/* Nothing tells cheaply what other connections committed: answers are not kept. */
static long long dbm_data_version(struct db *db)
{
    (void)db;
    return -1;
}

const struct db_backend db_backend_mysql = {
    .name = "mysql",
    .kind = DB_MYSQL,
    .sql = db_sql_mysql,
    .migrations = db_migrations_mysql,
    .migrations_count = &db_migrations_mysql_count,
    .open = dbm_open,
    .close = dbm_close,
    .version = dbm_version,
    .ping = dbm_ping,
    .migrate = dbm_migrate,
    .prepare = dbm_prepare,
    .reset = dbm_reset,
    .exec = dbm_exec,
    .bind_int64 = dbm_bind_int64,
    .bind_text = dbm_bind_text,
    .bind_null = dbm_bind_null,
    .param_count = dbm_param_count,
    .step = dbm_step,
    .col_int64 = dbm_col_int64,
    .col_text = dbm_col_text,
    .col_is_null = dbm_col_is_null,
    .changes = dbm_changes,
    .last_id = dbm_last_id,
    .errmsg = dbm_errmsg,
    .exec_sql = dbm_exec_sql,
    .begin = dbm_begin,
    .commit = dbm_commit,
    .rollback = dbm_rollback,
    .in_transaction = dbm_in_transaction,
    .data_version = dbm_data_version,
    .checkpoint_pages = NULL, /* no WAL to tune */
    .sqlite_handle = NULL,
};
