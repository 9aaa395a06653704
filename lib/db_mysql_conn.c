/* db_mysql_conn.c: the MySQL back end's connection layer: connect and session settings, the text
 * protocol for setup and administration, error classes, and the reconnect the retries use. */
#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "db_mysql.h"
#include "cs.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

void dbm_seterr(struct dbm *m, unsigned no, const char *msg)
{
    m->last_no = no;
    snprintf(m->err, sizeof m->err, "%s (%u)", msg ? msg : "?", no);
}

int dbm_connected(struct dbm *m)
{
    if (m->h == NULL)
        dbm_seterr(m, CR_SERVER_LOST, "not connected");
    return m->h != NULL;
}

/* Closes every prepared statement of the connection (before a reconnect); each is prepared
 * again on the new connection when next run. */
static void dbm_unprepare_all(struct db *db)
{
    for (int i = 0; i < DB__MAX; i++) {
        struct dbm_stmt *s = db->st[i].h;
        if (s != NULL && s->h != NULL) {
            mysql_stmt_close(s->h);
            s->h = NULL;
            s->state = DBM_FRESH;
        }
    }
}

int dbm_query(struct dbm *m, const char *sql)
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

int dbm_query_int(struct dbm *m, const char *q)
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

/* utf8mb4, UTC, READ COMMITTED, strict SQL that treats '' and "" as SQLite does. */
int dbm_connect(struct db *db, const char *password, char *errbuf, size_t errlen)
{
    struct dbm *m = dbm_of(db);
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

int dbm_reconnect(struct db *db)
{
    struct dbm *m = dbm_of(db);
    char err[CS_ERRLEN];

    log_warn("database connection lost (%s): reconnecting to %s", m->err, m->redacted);
    if (dbm_connect(db, m->url.password, err, sizeof err) != CS_OK) {
        log_error("%s", err);
        return CS_ERR_DB;
    }
    return CS_OK;
}

int dbm_is_lock_err(unsigned no)
{
    return no == ER_LOCK_DEADLOCK || no == ER_LOCK_WAIT_TIMEOUT;
}

int dbm_is_conn_err(unsigned no)
{
    return no == CR_SERVER_GONE_ERROR || no == CR_SERVER_LOST || no == CR_CONNECTION_ERROR ||
           no == CR_CONN_HOST_ERROR || no == ER_CONNECTION_KILLED || no == 4031 /* idle kill */;
}

void dbm_backoff(int attempt)
{
    usleep((useconds_t)(10000 * (attempt + 1) + (int)randombytes_uniform(20000)));
}
