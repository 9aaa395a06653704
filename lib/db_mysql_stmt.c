/* db_mysql_stmt.c: the MySQL back end's prepared statements: ?N parameters mapped to positional
 * markers, values kept for a re-prepare, buffered results read as text, and the retries of
 * deadlocks, lock waits and lost connections around each execution. */
#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "db_mysql.h"
#include "cs.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DBM_COL_INIT 128 /* first size of a result column's buffer; grown on truncation */
#define DBM_RETRIES 5    /* deadlocks and lock wait timeouts of a statement outside a transaction */

void dbm_stmt_free(struct dbm_stmt *s)
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
    struct dbm *m = dbm_of(db);
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

/* Prepares sql (the MySQL text of st) with its parameter map and result buffers; a lost
 * connection outside a transaction is reconnected once. */
int dbm_prepare(struct db *db, struct db_stmt *st, const char *sql)
{
    struct dbm *m = dbm_of(db);
    struct dbm_stmt *s = calloc(1, sizeof *s);
    int rc = CS_ERR_NOMEM;

    if (s == NULL)
        goto fail;
    if ((rc = dbm_translate(sql, s)) != CS_OK)
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
    st->h = s;
    return CS_OK;
fail:
    log_error("prepare of statement %d failed: %s", (int)st->id,
              rc == CS_ERR_NOMEM ? "out of memory" : m->err);
    dbm_stmt_free(s);
    return rc;
}

void dbm_reset(struct db_stmt *st, int clear)
{
    struct dbm_stmt *s = st->h;

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
    struct dbm_stmt *s = st->h;

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
    struct dbm_stmt *s = st->h;

    return s ? s->nparams : 0;
}

/* Binds the values (through the marker map) and executes once; the server's error number,
 * or 0. Results are buffered in the client, so a row read stays put until the next step and
 * other statements may run meanwhile. */
static unsigned dbm_execute_once(struct db *db, struct dbm_stmt *s)
{
    struct dbm *m = dbm_of(db);
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
    struct dbm *m = dbm_of(db);
    struct dbm_stmt *s = st->h;
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

    if (st->h == NULL)
        return CS_ERR_DB;
    dbm_reset(st, 0);
    no = dbm_run(db, st);
    dbm_reset(st, 0);
    if (no == 0)
        return CS_OK;
    if (dbm_is_constraint(no))
        return CS_ERR_CONFLICT;
    log_error("sql failed: %s", dbm_of(db)->err);
    return CS_ERR_DB;
}

int dbm_step(struct db_stmt *st)
{
    struct dbm_stmt *s = st->h;
    struct dbm *m = dbm_of(st->db);
    int r;

    if (s == NULL)
        return DB_FAILED;
    if (s->state == DBM_FRESH && dbm_run(st->db, st) != 0) {
        log_error("sql failed: %s", m->err);
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
        dbm_seterr(m, mysql_stmt_errno(s->h), mysql_stmt_error(s->h));
        log_error("fetch failed: %s", m->err);
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
            dbm_seterr(m, mysql_stmt_errno(s->h), mysql_stmt_error(s->h));
            log_error("fetch of a long value failed: %s", m->err);
            return DB_FAILED;
        }
    }
    if (grown && mysql_stmt_bind_result(s->h, s->rb) != 0) {
        dbm_seterr(m, mysql_stmt_errno(s->h), mysql_stmt_error(s->h));
        log_error("binding grown buffers failed: %s", m->err);
        return DB_FAILED;
    }
    for (int c = 0; c < s->ncols; c++)
        if (!s->rnull[c])
            s->rbuf[c][s->rlen[c]] = '\0';
    return DB_ROW;
}

/* The statement's row buffers when a row is read and col is one of its columns, else NULL. */
static struct dbm_stmt *dbm_col_ok(struct db_stmt *st, int col)
{
    struct dbm_stmt *s = st->h;

    return s != NULL && s->state == DBM_ROWS && col >= 0 && col < s->ncols ? s : NULL;
}

long long dbm_col_int64(struct db_stmt *st, int col)
{
    struct dbm_stmt *s = dbm_col_ok(st, col);

    if (s == NULL || s->rnull[col])
        return 0;
    return strtoll(s->rbuf[col], NULL, 10);
}

const unsigned char *dbm_col_text(struct db_stmt *st, int col)
{
    struct dbm_stmt *s = dbm_col_ok(st, col);

    if (s == NULL || s->rnull[col])
        return NULL;
    return (const unsigned char *)s->rbuf[col];
}

int dbm_col_is_null(struct db_stmt *st, int col)
{
    struct dbm_stmt *s = dbm_col_ok(st, col);

    return s == NULL || s->rnull[col];
}
