/* db_mysql.c: the store's MySQL-protocol back end (MariaDB Connector/C; MariaDB, MySQL,
 * SingleStore): connection and session settings, migrations under a server lock, prepared
 * statements with ?N parameters mapped to positional markers, buffered results, and retries of
 * deadlocks, lock waits and lost connections. Reached only through lib/db.c. */
#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "db.h"
#include "db_int.h"
#include "cs.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define DBM_COL_INIT 128 /* first size of a result column's buffer; grown on truncation */
#define DBM_RETRIES 5    /* deadlocks and lock wait timeouts of a statement outside a transaction */
#define DBM_LOCK_WAIT_S 30 /* migrations: how long a node waits for another one migrating */

/* A parameter value, kept by us so that a statement can be re-prepared and run again after a
 * reconnect. */
struct dbm_val {
    enum { DBM_NULL, DBM_INT, DBM_TEXT } type;
    long long i;
    char *s;
    size_t len, cap;
};

struct dbm_stmt {
    MYSQL_STMT *h;        /* NULL until prepared on the current connection */
    char *sql;            /* the text with ?N turned into ? */
    int nparams;          /* highest N */
    int nmarks;           /* positional markers */
    int *map;             /* marker -> N */
    struct dbm_val *vals; /* [1..nparams] */
    MYSQL_BIND *pb;       /* [nmarks] */
    unsigned long *plen;  /* [nmarks] */
    int ncols;
    MYSQL_BIND *rb;        /* [ncols] */
    char **rbuf;           /* [ncols] */
    unsigned long *rlen;   /* [ncols] */
    my_bool *rnull, *rerr; /* [ncols] */
    size_t *rcap;          /* [ncols] */
    enum { DBM_FRESH, DBM_ROWS, DBM_DONE } state;
};

struct dbm {
    MYSQL *h;
    struct db_url url;
    char redacted[512];
    int in_tx;
    long long changes, last_id;
    unsigned last_no; /* error number of the last failure */
    char err[512];
};

static void dbm_seterr(struct dbm *m, unsigned no, const char *msg)
{
    m->last_no = no;
    snprintf(m->err, sizeof m->err, "%s (%u)", msg ? msg : "?", no);
}

/* False (with the error set) when a failed reconnect left no connection. */
static int dbm_connected(struct dbm *m)
{
    if (m->h == NULL)
        dbm_seterr(m, CR_SERVER_LOST, "not connected");
    return m->h != NULL;
}

/* Closes every prepared statement of the connection (before a reconnect, or at the end). */
static void dbm_unprepare_all(struct db *db)
{
    for (int i = 0; i < DB__MAX; i++) {
        struct dbm_stmt *s = db->st[i].m;
        if (s != NULL && s->h != NULL) {
            mysql_stmt_close(s->h);
            s->h = NULL;
            s->state = DBM_FRESH;
        }
    }
}

/* Runs one statement of session setup or administration on the text protocol. */
static int dbm_query(struct dbm *m, const char *sql)
{
    if (!dbm_connected(m))
        return CS_ERR_DB;
    if (mysql_real_query(m->h, sql, (unsigned long)strlen(sql)) != 0) {
        dbm_seterr(m, mysql_errno(m->h), mysql_error(m->h));
        return CS_ERR_DB;
    }
    /* a statement that returns rows: read and drop them */
    MYSQL_RES *res = mysql_store_result(m->h);
    if (res != NULL)
        mysql_free_result(res);
    return CS_OK;
}

/* Connects (or reconnects) and sets the session up: utf8mb4, UTC, READ COMMITTED, strict
 * SQL that treats '' and "" as SQLite does. */
static int dbm_connect(struct db *db, const char *password, char *errbuf, size_t errlen)
{
    struct dbm *m = db->m;
    unsigned int timeout = 10, rw_timeout = 120;
    my_bool off = 0;
    static const char *const setup[] = {
        "SET time_zone = '+00:00'",
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        ("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,PIPES_AS_CONCAT,"
         "NO_BACKSLASH_ESCAPES'"),
    };

    if (m->h != NULL) {
        dbm_unprepare_all(db);
        mysql_close(m->h);
        m->h = NULL;
    }
    m->in_tx = 0;
    if ((m->h = mysql_init(NULL)) == NULL)
        return cs_fail(errbuf, errlen, CS_ERR_NOMEM, "out of memory");
    mysql_options(m->h, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(m->h, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m->h, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
    mysql_options(m->h, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
    mysql_options(m->h, MYSQL_OPT_RECONNECT, &off); /* we re-prepare; see dbm_run */
    /* CLIENT_FOUND_ROWS: an UPDATE that matches a row but changes nothing counts it, as
     * SQLite does; compare-and-swap checks rely on it */
    if (mysql_real_connect(m->h, m->url.socket[0] ? NULL : m->url.host, m->url.user, password,
                           m->url.database, m->url.port, m->url.socket[0] ? m->url.socket : NULL,
                           CLIENT_FOUND_ROWS) == NULL) {
        unsigned no = mysql_errno(m->h);
        int rc = cs_fail(
            errbuf, errlen, CS_ERR_DB, "cannot connect to %s: %s%s", m->redacted, mysql_error(m->h),
            no == ER_BAD_DB_ERROR ? " (create it: CREATE DATABASE ... CHARACTER SET utf8mb4)" : "");
        mysql_close(m->h);
        m->h = NULL;
        return rc;
    }
    for (size_t i = 0; i < sizeof setup / sizeof setup[0]; i++)
        if (dbm_query(m, setup[i]) != CS_OK)
            return cs_fail(errbuf, errlen, CS_ERR_DB, "cannot set up the session on %s: %s",
                           m->redacted, m->err);
    /* InnoDB only (not every server has it): fail fast rather than hang a request */
    dbm_query(m, "SET SESSION innodb_lock_wait_timeout = 20");
    return CS_OK;
}

int dbm_open(struct db *db, const char *url, const char *password, char *errbuf, size_t errlen)
{
    struct dbm *m;
    int rc;

    if ((m = calloc(1, sizeof *m)) == NULL)
        return CS_ERR_NOMEM;
    db->m = m;
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

static void dbm_stmt_free(struct dbm_stmt *s)
{
    if (s == NULL)
        return;
    if (s->h != NULL)
        mysql_stmt_close(s->h);
    for (int i = 0; i <= s->nparams && s->vals; i++)
        free(s->vals[i].s);
    for (int i = 0; i < s->ncols && s->rbuf; i++)
        free(s->rbuf[i]);
    free(s->sql);
    free(s->map);
    free(s->vals);
    free(s->pb);
    free(s->plen);
    free(s->rb);
    free(s->rbuf);
    free(s->rlen);
    free(s->rnull);
    free(s->rerr);
    free(s->rcap);
    free(s);
}

void dbm_close(struct db *db)
{
    struct dbm *m = db->m;

    for (int i = 0; i < DB__MAX; i++) {
        dbm_stmt_free(db->st[i].m);
        db->st[i].m = NULL;
    }
    if (m == NULL)
        return;
    if (m->h != NULL)
        mysql_close(m->h);
    sodium_memzero(&m->url, sizeof m->url);
    free(m);
    db->m = NULL;
}

/* Error numbers worth another try: the server chose us as a deadlock victim or a lock wait
 * timed out (retried in place outside a transaction), or the connection went away. */
static int dbm_is_lock_err(unsigned no)
{
    return no == ER_LOCK_DEADLOCK || no == ER_LOCK_WAIT_TIMEOUT;
}

static int dbm_is_conn_err(unsigned no)
{
    return no == CR_SERVER_GONE_ERROR || no == CR_SERVER_LOST || no == CR_CONNECTION_ERROR ||
           no == CR_CONN_HOST_ERROR || no == ER_CONNECTION_KILLED || no == 4031 /* idle kill */;
}

static void dbm_backoff(int attempt)
{
    usleep((useconds_t)(10000 * (attempt + 1) + (int)randombytes_uniform(20000)));
}

/* Reconnects after a lost connection, once per failing call; CS_OK when back. */
static int dbm_reconnect(struct db *db)
{
    char err[CS_ERRLEN];

    log_warn("database connection lost (%s): reconnecting to %s", db->m->err, db->m->redacted);
    if (dbm_connect(db, db->m->url.password, err, sizeof err) != CS_OK) {
        log_error("%s", err);
        return CS_ERR_DB;
    }
    return CS_OK;
}

/* Splits a migration or admin script into statements at ';' outside quotes and comments and
 * runs each in order. */
static int dbm_script(struct db *db, const char *sql)
{
    struct dbm *m = db->m;
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

int dbm_version(struct db *db)
{
    struct dbm *m = db->m;
    MYSQL_RES *res;
    MYSQL_ROW row;
    int v = -1;
    const char *q = "SELECT coalesce(max(version), 0) FROM schema_migrations";

    if (!dbm_connected(m))
        return -1;
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

/* The result of a one-value query such as SELECT GET_LOCK(...): 1, 0, or -1 (NULL/error). */
static int dbm_query_int(struct dbm *m, const char *q)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    int v = -1;

    if (!dbm_connected(m))
        return -1;
    if (mysql_real_query(m->h, q, (unsigned long)strlen(q)) != 0) {
        dbm_seterr(m, mysql_errno(m->h), mysql_error(m->h));
        return -1;
    }
    if ((res = mysql_store_result(m->h)) == NULL)
        return -1;
    if ((row = mysql_fetch_row(res)) != NULL && row[0] != NULL)
        v = (int)strtol(row[0], NULL, 10);
    mysql_free_result(res);
    return v;
}

/* Records an applied migration in schema_migrations. */
static int dbm_record_migration(struct dbm *m, int version, const char *name)
{
    static const char q[] =
        "INSERT INTO schema_migrations(version, name, applied_at) VALUES(?, ?, ?)";
    MYSQL_STMT *h = dbm_connected(m) ? mysql_stmt_init(m->h) : NULL;
    MYSQL_BIND b[3];
    long long v = version, at = db_now();
    unsigned long nlen = (unsigned long)strlen(name);
    int rc = CS_ERR_DB;

    if (h == NULL)
        return CS_ERR_NOMEM;
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

int dbm_migrate(struct db *db, char *errbuf, size_t errlen)
{
    struct dbm *m = db->m;
    char q[256];
    int v, rc = CS_OK;

    if (db_migrations_mysql_count != db_migrations_count)
        return cs_fail(errbuf, errlen, CS_ERR_DB,
                       "this calsync has %zu SQLite migrations but %zu MySQL ones: every "
                       "schema/NNN_name.sql needs its NNN_name.mysql.sql",
                       db_migrations_count, db_migrations_mysql_count);
    if (dbm_query(m, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, "
                     "applied_at BIGINT NOT NULL) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin") !=
        CS_OK)
        return cs_fail(errbuf, errlen, CS_ERR_DB, "cannot create schema_migrations on %s: %s",
                       m->redacted, m->err);
    if ((v = dbm_version(db)) >= (int)db_migrations_mysql_count)
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
    for (size_t i = (size_t)v; i < db_migrations_mysql_count; i++) {
        /* DDL commits on its own in MySQL: a migration that fails half-way leaves what it did;
         * the version is recorded only after the whole file ran */
        if (dbm_script(db, db_migrations_mysql[i].sql) != CS_OK) {
            rc = cs_fail(errbuf, errlen, CS_ERR_DB, "migration %s failed: %s",
                         db_migrations_mysql[i].name, m->err);
            goto out;
        }
        if (dbm_record_migration(m, (int)i + 1, db_migrations_mysql[i].name) != CS_OK) {
            rc = cs_fail(errbuf, errlen, CS_ERR_DB, "cannot record schema version %zu: %s", i + 1,
                         m->err);
            goto out;
        }
        log_info("applied migration %s", db_migrations_mysql[i].name);
    }
out:
    dbm_query(m, "SELECT RELEASE_LOCK(CONCAT('calsync_migrate.', LEFT(DATABASE(), 40)))");
    return rc;
}

/* Turns ?N markers into positional ones, recording which N each marker stands for. Quoted
 * text and identifiers are copied as they are. */
static int dbm_translate(const char *sql, struct dbm_stmt *s)
{
    size_t n = strlen(sql), o = 0, marks = 0;
    char q = 0;

    for (size_t i = 0; i < n; i++)
        marks += sql[i] == '?';
    if ((s->sql = malloc(n + 1)) == NULL || (s->map = calloc(marks + 1, sizeof *s->map)) == NULL)
        return CS_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        char c = sql[i];
        if (q != 0) {
            if (c == q)
                q = 0;
            s->sql[o++] = c;
        } else if (c == '\'' || c == '"' || c == '`') {
            q = c;
            s->sql[o++] = c;
        } else if (c == '?') {
            long v = 0;
            size_t j = i + 1;
            while (j < n && sql[j] >= '0' && sql[j] <= '9' && v < 100000)
                v = v * 10 + (sql[j++] - '0');
            if (j == i + 1 || v < 1 || v > 999)
                return CS_ERR_INVAL; /* every parameter is numbered */
            s->map[s->nmarks++] = (int)v;
            if (v > s->nparams)
                s->nparams = (int)v;
            s->sql[o++] = '?';
            i = j - 1;
        } else {
            s->sql[o++] = c;
        }
    }
    s->sql[o] = '\0';
    return CS_OK;
}

/* Prepares the statement on the current connection (after a reconnect) and binds its result
 * buffers; 0 or the error number. */
static unsigned dbm_prepare_handle(struct db *db, struct dbm_stmt *s)
{
    struct dbm *m = db->m;
    unsigned no = CR_UNKNOWN_ERROR;

    if (m->h == NULL) {
        snprintf(m->err, sizeof m->err, "not connected");
        return CR_SERVER_LOST;
    }
    if ((s->h = mysql_stmt_init(m->h)) == NULL) {
        snprintf(m->err, sizeof m->err, "out of memory");
        return CR_OUT_OF_MEMORY;
    }
    if (mysql_stmt_prepare(s->h, s->sql, (unsigned long)strlen(s->sql)) != 0) {
        no = mysql_stmt_errno(s->h);
        dbm_seterr(m, no, mysql_stmt_error(s->h));
    } else if ((int)mysql_stmt_field_count(s->h) != s->ncols) {
        snprintf(m->err, sizeof m->err, "result columns changed");
    } else if (s->ncols > 0 && mysql_stmt_bind_result(s->h, s->rb) != 0) {
        no = mysql_stmt_errno(s->h);
        dbm_seterr(m, no, mysql_stmt_error(s->h));
    } else {
        s->state = DBM_FRESH;
        return 0;
    }
    mysql_stmt_close(s->h);
    s->h = NULL;
    return no;
}

int dbm_prepare(struct db *db, struct db_stmt *st)
{
    struct dbm *m = db->m;
    struct dbm_stmt *s = calloc(1, sizeof *s);
    int rc = CS_ERR_NOMEM;

    if (s == NULL)
        goto fail;
    if ((rc = dbm_translate(db_sql_mysql[st->id], s)) != CS_OK)
        goto fail;
    s->vals = calloc((size_t)s->nparams + 1, sizeof *s->vals);
    s->pb = calloc((size_t)s->nmarks + 1, sizeof *s->pb);
    s->plen = calloc((size_t)s->nmarks + 1, sizeof *s->plen);
    if (s->vals == NULL || s->pb == NULL || s->plen == NULL)
        goto fail;
    for (int attempt = 0;; attempt++) {
        unsigned no = CR_SERVER_LOST;
        if (m->h != NULL) {
            if ((s->h = mysql_stmt_init(m->h)) == NULL)
                goto fail;
            if (mysql_stmt_prepare(s->h, s->sql, (unsigned long)strlen(s->sql)) == 0)
                break;
            no = mysql_stmt_errno(s->h);
            dbm_seterr(m, no, mysql_stmt_error(s->h));
            mysql_stmt_close(s->h);
            s->h = NULL;
        }
        if (attempt > 0 || m->in_tx || !dbm_is_conn_err(no) || dbm_reconnect(db) != CS_OK) {
            rc = CS_ERR_DB;
            goto fail;
        }
    }
    s->ncols = (int)mysql_stmt_field_count(s->h);
    if (s->ncols > 0) {
        size_t c = (size_t)s->ncols;
        s->rb = calloc(c, sizeof *s->rb);
        s->rbuf = calloc(c, sizeof *s->rbuf);
        s->rlen = calloc(c, sizeof *s->rlen);
        s->rnull = calloc(c, sizeof *s->rnull);
        s->rerr = calloc(c, sizeof *s->rerr);
        s->rcap = calloc(c, sizeof *s->rcap);
        if (!s->rb || !s->rbuf || !s->rlen || !s->rnull || !s->rerr || !s->rcap)
            goto fail;
        for (size_t i = 0; i < c; i++) {
            if ((s->rbuf[i] = malloc(DBM_COL_INIT)) == NULL)
                goto fail;
            s->rcap[i] = DBM_COL_INIT;
            s->rb[i].buffer_type = MYSQL_TYPE_STRING; /* numbers too: read back with strtoll */
            s->rb[i].buffer = s->rbuf[i];
            s->rb[i].buffer_length = DBM_COL_INIT;
            s->rb[i].length = &s->rlen[i];
            s->rb[i].is_null = &s->rnull[i];
            s->rb[i].error = &s->rerr[i];
        }
        if (mysql_stmt_bind_result(s->h, s->rb) != 0) {
            dbm_seterr(m, mysql_stmt_errno(s->h), mysql_stmt_error(s->h));
            rc = CS_ERR_DB;
            goto fail;
        }
    }
    s->state = DBM_FRESH;
    st->m = s;
    return CS_OK;
fail:
    log_error("prepare of statement %d failed: %s", (int)st->id,
              rc == CS_ERR_NOMEM ? "out of memory" : m->err);
    dbm_stmt_free(s);
    return rc;
}

void dbm_reset(struct db_stmt *st, int clear)
{
    struct dbm_stmt *s = st->m;

    if (s == NULL)
        return;
    if (s->h != NULL && s->state == DBM_ROWS)
        mysql_stmt_free_result(s->h);
    s->state = DBM_FRESH;
    if (clear)
        for (int i = 1; i <= s->nparams; i++)
            s->vals[i].type = DBM_NULL;
}

static struct dbm_val *dbm_val(struct db_stmt *st, int idx)
{
    struct dbm_stmt *s = st->m;

    if (s == NULL || idx < 1 || idx > s->nparams)
        return NULL;
    return &s->vals[idx];
}

int dbm_bind_int64(struct db_stmt *st, int idx, long long v)
{
    struct dbm_val *x = dbm_val(st, idx);

    if (x == NULL)
        return CS_ERR_DB;
    x->type = DBM_INT;
    x->i = v;
    return CS_OK;
}

int dbm_bind_text(struct db_stmt *st, int idx, const char *str)
{
    struct dbm_val *x = dbm_val(st, idx);
    size_t n = strlen(str);

    if (x == NULL)
        return CS_ERR_DB;
    if (n + 1 > x->cap) {
        char *p = realloc(x->s, n + 1);
        if (p == NULL)
            return CS_ERR_NOMEM;
        x->s = p;
        x->cap = n + 1;
    }
    memcpy(x->s, str, n + 1);
    x->len = n;
    x->type = DBM_TEXT;
    return CS_OK;
}

int dbm_bind_null(struct db_stmt *st, int idx)
{
    struct dbm_val *x = dbm_val(st, idx);

    if (x == NULL)
        return CS_ERR_DB;
    x->type = DBM_NULL;
    return CS_OK;
}

int dbm_param_count(struct db_stmt *st)
{
    return st->m ? st->m->nparams : 0;
}

/* Binds the values (through the marker map) and executes once; the server's error number,
 * or 0. Results are buffered in the client, so a row read stays put until the next step and
 * other statements may run meanwhile. */
static unsigned dbm_execute_once(struct db *db, struct dbm_stmt *s)
{
    struct dbm *m = db->m;

    unsigned no;

    if (s->h == NULL && (no = dbm_prepare_handle(db, s)) != 0)
        return no;
    for (int k = 0; k < s->nmarks; k++) {
        struct dbm_val *x = &s->vals[s->map[k]];
        MYSQL_BIND *b = &s->pb[k];
        memset(b, 0, sizeof *b);
        switch (x->type) {
        case DBM_INT:
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &x->i;
            break;
        case DBM_TEXT:
            b->buffer_type = MYSQL_TYPE_STRING;
            b->buffer = x->s;
            b->buffer_length = (unsigned long)x->len;
            s->plen[k] = (unsigned long)x->len;
            b->length = &s->plen[k];
            break;
        default:
            b->buffer_type = MYSQL_TYPE_NULL;
            break;
        }
    }
    if (s->nmarks > 0 && mysql_stmt_bind_param(s->h, s->pb) != 0)
        goto err;
    if (mysql_stmt_execute(s->h) != 0)
        goto err;
    if (s->ncols > 0) {
        if (mysql_stmt_store_result(s->h) != 0)
            goto err;
        s->state = DBM_ROWS;
    } else {
        m->changes = (long long)mysql_stmt_affected_rows(s->h);
        m->last_id = (long long)mysql_stmt_insert_id(s->h);
        s->state = DBM_DONE;
    }
    return 0;
err:
    dbm_seterr(m, mysql_stmt_errno(s->h), mysql_stmt_error(s->h));
    return mysql_stmt_errno(s->h);
}

/* Executes with the retries a shared server needs: a deadlock or lock wait timeout outside a
 * transaction runs the statement again (inside one the caller's transaction is lost and it
 * must fail); a lost connection outside a transaction reconnects once and re-prepares. */
static unsigned dbm_run(struct db *db, struct db_stmt *st)
{
    struct dbm *m = db->m;
    struct dbm_stmt *s = st->m;
    int reconnected = 0;

    for (int attempt = 0;; attempt++) {
        unsigned no = dbm_execute_once(db, s);
        if (no == 0)
            return 0;
        if (dbm_is_lock_err(no) && !m->in_tx && attempt < DBM_RETRIES) {
            dbm_backoff(attempt);
            continue;
        }
        if ((no == ER_NEED_REPREPARE || dbm_is_conn_err(no)) && !m->in_tx && !reconnected) {
            reconnected = 1;
            if (no == ER_NEED_REPREPARE) {
                mysql_stmt_close(s->h);
                s->h = NULL;
                continue;
            }
            if (dbm_reconnect(db) == CS_OK)
                continue;
        }
        if (dbm_is_conn_err(no) && m->in_tx)
            log_warn("database connection lost inside a transaction: %s", m->err);
        return no;
    }
}

static int dbm_is_constraint(unsigned no)
{
    return no == ER_DUP_ENTRY || no == ER_DUP_KEY || no == ER_BAD_NULL_ERROR ||
           no == ER_NO_REFERENCED_ROW_2 || no == ER_ROW_IS_REFERENCED_2 ||
           no == 4025 /* MariaDB: CHECK constraint failed */ ||
           no == 3819 /* MySQL: CHECK constraint violated */;
}

int dbm_exec(struct db *db, struct db_stmt *st)
{
    unsigned no;

    if (st->m == NULL)
        return CS_ERR_DB;
    dbm_reset(st, 0);
    no = dbm_run(db, st);
    dbm_reset(st, 0);
    if (no == 0)
        return CS_OK;
    if (dbm_is_constraint(no))
        return CS_ERR_CONFLICT;
    log_error("sql failed: %s", db->m->err);
    return CS_ERR_DB;
}

int dbm_step(struct db_stmt *st)
{
    struct dbm_stmt *s = st->m;
    int r;

    if (s == NULL)
        return DB_FAILED;
    if (s->state == DBM_FRESH && dbm_run(st->db, st) != 0) {
        log_error("sql failed: %s", st->db->m->err);
        return DB_FAILED;
    }
    if (s->state == DBM_DONE)
        return DB_DONE;
    r = mysql_stmt_fetch(s->h);
    if (r == MYSQL_NO_DATA) {
        mysql_stmt_free_result(s->h);
        s->state = DBM_DONE;
        return DB_DONE;
    }
    if (r == 1) {
        dbm_seterr(st->db->m, mysql_stmt_errno(s->h), mysql_stmt_error(s->h));
        log_error("fetch failed: %s", st->db->m->err);
        return DB_FAILED;
    }
    /* a value longer than its buffer: grow the buffer and read the value whole; the buffers
     * are bound anew only after every such column is read (binding resets the row's state) */
    int grown = 0;
    for (int c = 0; c < s->ncols; c++) {
        if (s->rnull[c] || s->rlen[c] < s->rcap[c])
            continue;
        size_t cap = (size_t)s->rlen[c] + 1;
        char *p = realloc(s->rbuf[c], cap);
        if (p == NULL)
            return DB_FAILED;
        s->rbuf[c] = p;
        s->rcap[c] = cap;
        s->rb[c].buffer = p;
        s->rb[c].buffer_length = (unsigned long)cap;
        grown = 1;
        if (mysql_stmt_fetch_column(s->h, &s->rb[c], (unsigned)c, 0) != 0) {
            dbm_seterr(st->db->m, mysql_stmt_errno(s->h), mysql_stmt_error(s->h));
            log_error("fetch of a long value failed: %s", st->db->m->err);
            return DB_FAILED;
        }
    }
    if (grown && mysql_stmt_bind_result(s->h, s->rb) != 0) {
        dbm_seterr(st->db->m, mysql_stmt_errno(s->h), mysql_stmt_error(s->h));
        log_error("binding grown buffers failed: %s", st->db->m->err);
        return DB_FAILED;
    }
    for (int c = 0; c < s->ncols; c++)
        if (!s->rnull[c])
            s->rbuf[c][s->rlen[c]] = '\0';
    return DB_ROW;
}

static int dbm_col_ok(struct db_stmt *st, int col)
{
    return st->m != NULL && st->m->state == DBM_ROWS && col >= 0 && col < st->m->ncols;
}

long long dbm_col_int64(struct db_stmt *st, int col)
{
    if (!dbm_col_ok(st, col) || st->m->rnull[col])
        return 0;
    return strtoll(st->m->rbuf[col], NULL, 10);
}

const unsigned char *dbm_col_text(struct db_stmt *st, int col)
{
    if (!dbm_col_ok(st, col) || st->m->rnull[col])
        return NULL;
    return (const unsigned char *)st->m->rbuf[col];
}

int dbm_col_is_null(struct db_stmt *st, int col)
{
    return !dbm_col_ok(st, col) || st->m->rnull[col];
}

int dbm_changes(struct db *db)
{
    return (int)db->m->changes;
}

long long dbm_last_id(struct db *db)
{
    return db->m->last_id;
}

const char *dbm_errmsg(struct db *db)
{
    return db->m->err[0] ? db->m->err : "no error";
}

int dbm_exec_sql(struct db *db, const char *sql)
{
    int rc = dbm_script(db, sql);

    if (rc != CS_OK && !db->m->in_tx && dbm_is_conn_err(db->m->last_no) &&
        dbm_reconnect(db) == CS_OK)
        rc = dbm_script(db, sql);
    return rc;
}

int dbm_begin(struct db *db)
{
    struct dbm *m = db->m;

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

int dbm_commit(struct db *db)
{
    struct dbm *m = db->m;
    int rc = dbm_query(m, "COMMIT");

    m->in_tx = 0;
    if (rc != CS_OK)
        log_error("COMMIT failed: %s", m->err);
    return rc;
}

void dbm_rollback(struct db *db)
{
    struct dbm *m = db->m;

    if (!m->in_tx)
        return;
    m->in_tx = 0;
    if (dbm_query(m, "ROLLBACK") != CS_OK)
        log_warn("ROLLBACK failed: %s", m->err);
}

int dbm_in_transaction(struct db *db)
{
    return db->m->in_tx;
}
