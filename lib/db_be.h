/* db_be.h: the seam between the store's face (lib/db.c) and its back ends (lib/db_sqlite.c,
 * lib/db_mysql*.c): the connection and statement structs and the table of operations each back
 * end fills. Private to lib/db*.c (and test_db); the codes (DB_ROW, ...) and ids are db.h's. */
#ifndef DB_BE_H
#define DB_BE_H

#include "db.h"

struct db_backend;

/* One statement of a connection's table (db.c hands out &db->st[id]). */
struct db_stmt {
    struct db *db;
    enum db_stmt_id id;
    void *h; /* the back end's prepared statement; NULL until prepare filled it */
};

/* A connection: the face's part, and the back end's state behind conn. */
struct db {
    const struct db_backend *be; /* chosen once, in db_open_with */
    void *conn;                  /* the back end's connection state (its open sets it) */
    struct db_stmt st[DB__MAX];
    char *prefix;          /* calsync's table prefix, or NULL (db_open_opts) */
    char *ptext[DB__MAX];  /* the statement texts with the prefix, made when first prepared */
    const char *mig_table; /* where the MySQL back end records versions: mig_main, or the
                              host's list's table while the face migrates that */
    int mig_main_list;     /* the list being migrated is calsync's own (with its SQLite twin) */
    char mig_main[64];     /* "schema_migrations" with the prefix */
};

/* A back end of the store. The face calls nothing else of it; a back end calls nothing of
 * lib/db.c (what both need lives below them: db_texts.c, db_clock.c, db_url.c, schema_sql.c).
 * Unless said otherwise the operations keep the contracts of the db_* calls of db.h of the
 * same name. Codes are CS_* (cs.h) and, from step, DB_ROW / DB_DONE / DB_FAILED. */
struct db_backend {
    const char *name;                      /* "sqlite", "mysql" (messages, tests) */
    enum db_kind kind;                     /* what db_kind() answers */
    const char *const *sql;                /* the dialect's statement texts, by enum db_stmt_id */
    const struct db_migration *migrations; /* the dialect's migrations, in order */
    const size_t *migrations_count;        /* how many (a pointer: the table is generated) */

    /* Connects db->conn to url (password: NULL means the URL's). On failure db->conn may be
     * left half set up: the face then calls close. */
    int (*open)(struct db *db, const char *url, const char *password, char *errbuf, size_t errlen);
    /* Frees every prepared statement of db->st and the connection; db itself is the face's. */
    void (*close)(struct db *db);
    int (*version)(struct db *db);
    /* Applies the migrations of list[0..n) newer than the recorded version. */
    int (*migrate)(struct db *db, const struct db_migration *list, size_t n, char *errbuf,
                   size_t errlen);

    /* Prepares st (st->h NULL) from sql, its text in this dialect; CS_OK or an error (logged). */
    int (*prepare)(struct db *db, struct db_stmt *st, const char *sql);
    /* Resets a prepared st to run again; clear: its parameters are cleared (NULL) too. */
    void (*reset)(struct db_stmt *st, int clear);
    int (*exec)(struct db *db, struct db_stmt *st);
    int (*bind_int64)(struct db_stmt *st, int idx, long long v);
    int (*bind_text)(struct db_stmt *st, int idx, const char *s); /* s not NULL */
    int (*bind_null)(struct db_stmt *st, int idx);
    int (*param_count)(struct db_stmt *st);
    int (*step)(struct db_stmt *st);
    long long (*col_int64)(struct db_stmt *st, int col);
    const unsigned char *(*col_text)(struct db_stmt *st, int col);
    int (*col_is_null)(struct db_stmt *st, int col);

    int (*changes)(struct db *db);
    long long (*last_id)(struct db *db);
    const char *(*errmsg)(struct db *db);
    int (*exec_sql)(struct db *db, const char *sql);
    int (*begin)(struct db *db);
    int (*commit)(struct db *db);
    void (*rollback)(struct db *db);
    int (*in_transaction)(struct db *db);
    long long (*data_version)(struct db *db);
    /* CS_OK when the store answers now (db_ping); may be NULL: reachable while statements run */
    int (*ping)(struct db *db);
    /* May be NULL: the back end has no WAL / no SQLite handle. */
    void (*checkpoint_pages)(struct db *db, int pages);
    struct sqlite3 *(*sqlite_handle)(struct db *db);
};

extern const struct db_backend db_backend_sqlite; /* lib/db_sqlite.c */
extern const struct db_backend db_backend_mysql;  /* lib/db_mysql.c */

/* The statement texts of each dialect, indexed by enum db_stmt_id (lib/db_texts.c). */
extern const char *const db_sql_sqlite[DB__MAX];
extern const char *const db_sql_mysql[DB__MAX];

#endif
