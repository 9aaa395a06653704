/* db.c: the store's engine-neutral face behind lib/db.h: picks the back end once from the URL,
 * keeps each connection's table of statements (prepared lazily in the back end's dialect), and
 * passes every call through the back end's table of operations (lib/db_be.h). */
#include "db.h"
#include "db_be.h"
#include "db_prefix.h"
#include "cs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int db_migrate_list(struct db *db, const struct db_migration *list, size_t n,
                           const char *table, char *errbuf, size_t errlen);

int db_open_opts(const char *url, const struct db_opts *o, struct db **out, char *errbuf,
                 size_t errlen)
{
    /* the one place an engine is chosen: everything after goes through db->be */
    const struct db_backend *be = db_url_is_mysql(url) ? &db_backend_mysql : &db_backend_sqlite;
    struct db *db;
    int rc;

    *out = NULL;
    if ((db = calloc(1, sizeof *db)) == NULL)
        return CS_ERR_NOMEM;
    db->be = be;
    for (int i = 0; i < DB__MAX; i++) {
        db->st[i].db = db;
        db->st[i].id = (enum db_stmt_id)i;
    }
    if (o->prefix != NULL && o->prefix[0] != '\0' && (db->prefix = strdup(o->prefix)) == NULL) {
        rc = CS_ERR_NOMEM;
        goto fail;
    }
    snprintf(db->mig_main, sizeof db->mig_main, "%sschema_migrations",
             db->prefix ? db->prefix : "");
    db->mig_table = db->mig_main;
    db->mig_main_list = 1;
    if ((rc = be->open(db, url, o->password, errbuf, errlen)) != CS_OK)
        goto fail;
    if (o->migrate && (rc = db_migrate(db, errbuf, errlen)) != CS_OK)
        goto fail;
    if (o->migrate && o->extra_count > 0 &&
        (rc = db_migrate_list(db, o->extra, o->extra_count, "host_migrations", errbuf, errlen)) !=
            CS_OK)
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
    struct db_opts o = {.password = password, .migrate = migrate};

    return db_open_opts(url, &o, out, errbuf, errlen);
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
    return db->be->kind;
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    db->be->close(db);
    for (int i = 0; i < DB__MAX; i++)
        free(db->ptext[i]);
    free(db->prefix);
    free(db);
}

void db_checkpoint_pages(struct db *db, int pages)
{
    if (db->be->checkpoint_pages != NULL)
        db->be->checkpoint_pages(db, pages);
}

struct sqlite3 *db_handle(struct db *db)
{
    return db->be->sqlite_handle != NULL ? db->be->sqlite_handle(db) : NULL;
}

int db_ping(struct db *db)
{
    return db->be->ping != NULL ? db->be->ping(db) : CS_OK;
}

int db_version(struct db *db)
{
    return db->be->version(db);
}

int db_version_latest(const struct db *db)
{
    return (int)*db->be->migrations_count;
}

/* Applies a list of migrations recorded in table (its name prefixed like the rest). */
static int db_migrate_list(struct db *db, const struct db_migration *list, size_t n,
                           const char *table, char *errbuf, size_t errlen)
{
    struct db_migration *p = NULL;
    char *tname = db_prefix_sql(table, db->prefix);
    int rc = CS_ERR_NOMEM;

    if (tname == NULL)
        return CS_ERR_NOMEM;
    db->mig_table = tname;
    db->mig_main_list = strcmp(table, "schema_migrations") == 0;
    if (db->prefix == NULL) {
        rc = db->be->migrate(db, list, n, errbuf, errlen);
        goto out;
    }
    if ((p = calloc(n ? n : 1, sizeof *p)) == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        p[i].name = list[i].name;
        if ((p[i].sql = db_prefix_sql(list[i].sql, db->prefix)) == NULL)
            goto out;
    }
    rc = db->be->migrate(db, p, n, errbuf, errlen);
out:
    for (size_t i = 0; p != NULL && i < n; i++)
        free((char *)p[i].sql);
    free(p);
    db->mig_table = db->mig_main;
    db->mig_main_list = 1;
    free(tname);
    return rc;
}

int db_migrate(struct db *db, char *errbuf, size_t errlen)
{
    return db_migrate_list(db, db->be->migrations, *db->be->migrations_count, "schema_migrations",
                           errbuf, errlen);
}

/* The text of statement id in this connection's dialect, with its table prefix. */
static const char *db_text(struct db *db, enum db_stmt_id id)
{
    if (db->prefix == NULL)
        return db->be->sql[id];
    if (db->ptext[id] == NULL)
        db->ptext[id] = db_prefix_sql(db->be->sql[id], db->prefix);
    return db->ptext[id];
}

struct db_stmt *db_stmt(struct db *db, enum db_stmt_id id)
{
    struct db_stmt *st;

    if (id >= DB__MAX)
        return NULL;
    st = &db->st[id];
    if (st->h == NULL) {
        const char *text = db_text(db, id);
        return text != NULL && db->be->prepare(db, st, text) == CS_OK ? st : NULL;
    }
    db->be->reset(st, 1);
    return st;
}

const char *db_sql_text(struct db *db, enum db_stmt_id id)
{
    if (id >= DB__MAX)
        return NULL;
    return db_text(db, id);
}

int db_exec(struct db *db, struct db_stmt *st)
{
    if (st == NULL)
        return CS_ERR_DB;
    return db->be->exec(db, st);
}

int db_bind_text(struct db_stmt *st, int idx, const char *s)
{
    if (s == NULL)
        return db_bind_null(st, idx);
    return st->db->be->bind_text(st, idx, s);
}

int db_bind_int(struct db_stmt *st, int idx, int v)
{
    return st->db->be->bind_int64(st, idx, v);
}

int db_bind_int64(struct db_stmt *st, int idx, long long v)
{
    return st->db->be->bind_int64(st, idx, v);
}

int db_bind_null(struct db_stmt *st, int idx)
{
    return st->db->be->bind_null(st, idx);
}

int db_param_count(struct db_stmt *st)
{
    return st->db->be->param_count(st);
}

int db_step(struct db_stmt *st)
{
    return st->db->be->step(st);
}

void db_reset(struct db_stmt *st)
{
    st->db->be->reset(st, 0);
}

long long db_col_int64(struct db_stmt *st, int col)
{
    return st->db->be->col_int64(st, col);
}

int db_col_int(struct db_stmt *st, int col)
{
    return (int)st->db->be->col_int64(st, col);
}

const unsigned char *db_col_text(struct db_stmt *st, int col)
{
    return st->db->be->col_text(st, col);
}

int db_col_is_null(struct db_stmt *st, int col)
{
    return st->db->be->col_is_null(st, col);
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

long long db_data_version(struct db *db)
{
    return db->be->data_version(db);
}

int db_changes(struct db *db)
{
    return db->be->changes(db);
}

long long db_last_id(struct db *db)
{
    return db->be->last_id(db);
}

const char *db_errmsg(struct db *db)
{
    return db->be->errmsg(db);
}

int db_exec_sql(struct db *db, const char *sql)
{
    char *p;
    int rc;

    if (db->prefix == NULL)
        return db->be->exec_sql(db, sql);
    if ((p = db_prefix_sql(sql, db->prefix)) == NULL)
        return CS_ERR_NOMEM;
    rc = db->be->exec_sql(db, p);
    free(p);
    return rc;
}

int db_begin(struct db *db)
{
    return db->be->begin(db);
}

int db_commit(struct db *db)
{
    return db->be->commit(db);
}

void db_rollback(struct db *db)
{
    db->be->rollback(db);
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
    return db->be->in_transaction(db);
}
