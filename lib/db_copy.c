/* db_copy.c: calsync-admin copy: moves every row of every table from one store to another
 * (SQLite to MySQL, or back), one transaction per table, values as they are. */
#include "db.h"
#include "db_copy.h"
#include "cs.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

#define COPY(t)                                                                                    \
    {                                                                                              \
#t, DB_COPY_GET_##t, DB_COPY_PUT_##t, DB_COPY_COUNT_##t, DB_COPY_CLEAR_##t                 \
    }
/* in an order that keeps the rows' references pointing at rows already there */
static const struct db_copy_table {
    const char *name;
    enum db_stmt_id get, put, count, clear;
} db_copy_tables[] = {
    COPY(users),          COPY(sessions),        COPY(user_integrations),
    COPY(appointments),   COPY(outbox),          COPY(sync_jobs),
    COPY(sync_runs),      COPY(oauth_states),    COPY(idempotency_keys),
    COPY(login_failures), COPY(vesta_calendars),
};
#undef COPY

size_t db_copy_table_count(void)
{
    return sizeof db_copy_tables / sizeof db_copy_tables[0];
}

const char *db_copy_table_name(size_t i)
{
    return i < db_copy_table_count() ? db_copy_tables[i].name : NULL;
}

void db_copy_table_stmts(size_t i, enum db_stmt_id *get, enum db_stmt_id *put)
{
    if (i < db_copy_table_count()) {
        *get = db_copy_tables[i].get;
        *put = db_copy_tables[i].put;
    }
}

long long db_copy_rows(struct db *db, size_t i)
{
    struct db_stmt *st;
    long long n = -1;

    if (i >= db_copy_table_count() || (st = db_stmt(db, db_copy_tables[i].count)) == NULL)
        return -1;
    if (db_step(st) == DB_ROW)
        n = db_col_int64(st, 0);
    db_reset(st);
    return n;
}

/* Copies one table inside a transaction of the target; *rows counts what was written. */
static int db_copy_one(struct db *from, struct db *to, const struct db_copy_table *t, int force,
                       long long *rows, db_copy_progress progress, void *ctx, char *errbuf,
                       size_t errlen)
{
    struct db_stmt *get, *put;
    int rc = CS_OK, step, ncols;

    *rows = 0;
    if (db_begin(to) != CS_OK)
        return cs_fail(errbuf, errlen, CS_ERR_DB, "%s: cannot start a transaction on the target",
                       t->name);
    if (force && (put = db_stmt(to, t->clear)) != NULL && db_exec(to, put) != CS_OK) {
        rc = cs_fail(errbuf, errlen, CS_ERR_DB, "%s: cannot empty the target table", t->name);
        goto out;
    }
    if ((get = db_stmt(from, t->get)) == NULL || (put = db_stmt(to, t->put)) == NULL) {
        rc = cs_fail(errbuf, errlen, CS_ERR_DB, "%s: cannot prepare the copy", t->name);
        goto out;
    }
    ncols = db_param_count(put);
    while ((step = db_step(get)) == DB_ROW) {
        /* db_stmt resets the statement and clears its bindings for every row */
        if ((put = db_stmt(to, t->put)) == NULL) {
            rc = CS_ERR_DB;
            break;
        }
        for (int c = 0; c < ncols && rc == CS_OK; c++) {
            const unsigned char *v = db_col_text(get, c);
            rc = v == NULL ? db_bind_null(put, c + 1) : db_bind_text(put, c + 1, (const char *)v);
        }
        if (rc == CS_OK && (rc = db_exec(to, put)) != CS_OK) {
            cs_fail(errbuf, errlen, rc, "%s: row %lld refused by the target (%s)%s", t->name,
                    *rows + 1, db_errmsg(to),
                    rc == CS_ERR_CONFLICT && !force ? ": not empty? (--force replaces)" : "");
            break;
        }
        if (++*rows % DB_COPY_STEP == 0 && progress != NULL)
            progress(t->name, *rows, 0, ctx);
    }
    if (rc == CS_OK && step != DB_DONE)
        rc = cs_fail(errbuf, errlen, CS_ERR_DB, "%s: cannot read the source: %s", t->name,
                     db_errmsg(from));
    db_reset(get);
out:
    if (rc == CS_OK && db_commit(to) == CS_OK)
        return CS_OK;
    db_rollback(to);
    if (rc == CS_OK)
        rc = cs_fail(errbuf, errlen, CS_ERR_DB, "%s: cannot commit on the target", t->name);
    return rc;
}

int db_copy(struct db *from, struct db *to, int force, db_copy_progress progress, void *ctx,
            char *errbuf, size_t errlen)
{
    int vf = db_version(from), vt = db_version(to);

    if (vf < 0 || vt < 0 || vf != db_version_latest(from) || vt != db_version_latest(to) ||
        vf != vt)
        return cs_fail(errbuf, errlen, CS_ERR_DB,
                       "both stores must be at the latest schema version (source %d, target %d)",
                       vf, vt);
    if (!force) {
        for (size_t i = 0; i < db_copy_table_count(); i++) {
            long long n = db_copy_rows(to, i);
            if (n != 0)
                return cs_fail(errbuf, errlen, CS_ERR_CONFLICT,
                               n < 0 ? "cannot count the rows of %s on the target"
                                     : "the target is not empty (table %s has rows): use --force "
                                       "to replace its contents",
                               db_copy_tables[i].name);
        }
    }
    for (size_t i = 0; i < db_copy_table_count(); i++) {
        long long rows = 0, want = db_copy_rows(from, i);
        int rc =
            db_copy_one(from, to, &db_copy_tables[i], force, &rows, progress, ctx, errbuf, errlen);
        if (rc != CS_OK)
            return rc;
        if (want >= 0 && rows != want)
            return cs_fail(errbuf, errlen, CS_ERR_DB,
                           "%s: copied %lld rows but the source has %lld (written to meanwhile? "
                           "stop calsync while copying)",
                           db_copy_tables[i].name, rows, want);
        if (progress != NULL)
            progress(db_copy_tables[i].name, rows, 1, ctx);
    }
    return CS_OK;
}
