/* db_mysql.h: private to lib/db_mysql*.c: the MySQL back end's connection and statement state,
 * and its two lower layers: the connection (db_mysql_conn.c: session, errors, reconnect) and the
 * prepared statements (db_mysql_stmt.c), from which db_mysql.c fills db_backend_mysql. */
#ifndef DB_MYSQL_H
#define DB_MYSQL_H

#include <mysql.h>

#include "db_be.h"

/* A parameter value, kept by us so that a statement can be re-prepared and run again after a
 * reconnect. */
struct dbm_val {
    enum { DBM_NULL, DBM_INT, DBM_TEXT } type;
    long long i;
    char *s;
    size_t len, cap;
};

/* One prepared statement (behind a struct db_stmt's h). */
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

/* The connection (behind db->conn). */
struct dbm {
    MYSQL *h;
    struct db_url url;
    char redacted[512];
    int in_tx;
    long long changes, last_id;
    unsigned last_no; /* error number of the last failure */
    char err[512];
};

static inline struct dbm *dbm_of(struct db *db)
{
    return db->conn;
}

/* db_mysql_conn.c */
void dbm_seterr(struct dbm *m, unsigned no, const char *msg);
/* False (with the error set) when a failed reconnect left no connection. */
int dbm_connected(struct dbm *m);
/* Runs one statement of session setup or administration on the text protocol. */
int dbm_query(struct dbm *m, const char *sql);
/* The result of a one-value query such as SELECT GET_LOCK(...): 1, 0, or -1 (NULL/error). */
int dbm_query_int(struct dbm *m, const char *q);
/* Connects (or reconnects, closing every prepared statement of db first) and sets the
 * session up. */
int dbm_connect(struct db *db, const char *password, char *errbuf, size_t errlen);
/* Reconnects after a lost connection, once per failing call; CS_OK when back. */
int dbm_reconnect(struct db *db);
/* Error numbers worth another try: the server chose us as a deadlock victim or a lock wait
 * timed out (retried in place outside a transaction), or the connection went away. */
int dbm_is_lock_err(unsigned no);
int dbm_is_conn_err(unsigned no);
/* Sleeps before another try of a statement that lost a lock. */
void dbm_backoff(int attempt);

/* db_mysql_stmt.c: the statement operations of db_backend_mysql */
void dbm_stmt_free(struct dbm_stmt *s);
int dbm_prepare(struct db *db, struct db_stmt *st, const char *sql);
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

#endif
