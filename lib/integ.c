/* integ.c: reading and updating user_integrations rows. */
#include "integ.h"
#include "cs.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void integ_free(struct integ *in)
{
    crypt_free_secret(in->access_token);
    crypt_free_secret(in->refresh_token);
    free(in->sync_token);
    free(in->channel_id);
    free(in->resource_id);
    free(in->channel_token_hash);
    free(in->last_error);
    free(in->progress);
    memset(in, 0, sizeof *in);
}

/* Fills in from a row selected with INTEG_COLS. */
static void integ_from_row(struct db_stmt *st, struct integ *in)
{
    memset(in, 0, sizeof *in);
    in->id = db_col_int64(st, 0);
    db_col_copy(st, 1, in->user_id, sizeof in->user_id);
    in->access_token = db_col_dup(st, 2);
    in->refresh_token = db_col_dup(st, 3);
    in->expiry = db_col_int64(st, 4);
    db_col_copy(st, 5, in->calendar_id, sizeof in->calendar_id);
    in->sync_token = db_col_dup(st, 6);
    in->channel_id = db_col_dup(st, 7);
    in->resource_id = db_col_dup(st, 8);
    in->channel_token_hash = db_col_dup(st, 9);
    in->channel_expiration = db_col_int64(st, 10);
    in->is_active = db_col_int(st, 11);
    db_col_copy(st, 12, in->state, sizeof in->state);
    in->last_sync_at = db_col_int64(st, 13);
    in->last_error = db_col_dup(st, 14);
    in->next_poll_at = db_col_int64(st, 15);
    in->updated_at = db_col_int64(st, 16);
    in->epoch = db_col_int64(st, 17);
    db_col_copy(st, 18, in->calendar_kind, sizeof in->calendar_kind);
    in->progress = db_col_dup(st, 19);
}

static int integ_query(struct db *db, enum db_stmt_id id, const char *key, struct integ *out)
{
    struct db_stmt *st = db_stmt(db, id);
    int step, rc = CS_ERR_NOTFOUND;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, key);
    step = db_step(st);
    if (step == DB_ROW) {
        integ_from_row(st, out);
        rc = CS_OK;
    } else if (step != DB_DONE) {
        rc = CS_ERR_DB;
    }
    db_reset(st);
    return rc;
}

int integ_get(struct db *db, const char *user_id, struct integ *out)
{
    return integ_query(db, DB_INTEG_GET, user_id, out);
}

int integ_is_connected(struct db *db, const char *user_id)
{
    struct integ in;
    int yes;

    if (integ_get(db, user_id, &in) != CS_OK)
        return 0;
    yes = in.is_active;
    integ_free(&in);
    return yes;
}

int integ_set_state(struct db *db, const char *user_id, const char *state, const char *error)
{
    struct db_stmt *st = db_stmt(db, DB_INTEG_SET_STATE);

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, state);
    db_bind_text(st, 3, error);
    db_bind_int64(st, 4, db_now());
    return db_exec(db, st);
}

void integ_token_ad(const char *field, const char *user_id, char out[INTEG_ADLEN])
{
    snprintf(out, INTEG_ADLEN, "%s:%s", field, user_id);
}

/* One sealed field in its v2 form: *out is NULL when the field is NULL, else a copy of it
 * (already v2) or the v1 value re-sealed. Free *out with crypt_free_secret. */
static int integ_reseal_one(const unsigned char key[32], const char *sealed, const char *field,
                            const char *user_id, char **out)
{
    char ad[INTEG_ADLEN], *plain = NULL;
    int rc;

    *out = NULL;
    if (sealed == NULL)
        return CS_OK;
    if (!crypt_sealed_legacy(sealed)) {
        *out = strdup(sealed);
        return *out ? CS_OK : CS_ERR_NOMEM;
    }
    integ_token_ad(field, user_id, ad);
    rc = crypt_open_ad(key, sealed, ad, &plain);
    if (rc == CS_OK)
        rc = crypt_seal_ad(key, plain, ad, out);
    crypt_free_secret(plain);
    return rc;
}

int integ_reseal_legacy(struct db *db, const unsigned char key[32], int *n, char *errbuf,
                        size_t errlen)
{
    struct row {
        char user_id[CRYPT_UUIDLEN];
        char *access, *refresh;
    } *rows = NULL;
    size_t count = 0, cap = 0;
    struct db_stmt *st;
    int step, rc = CS_OK;

    *n = 0;
    /* read them all first: the rows are rewritten while no statement walks the table */
    st = db_stmt(db, DB_INTEG_LEGACY_TOKENS);
    if (st == NULL)
        return cs_fail(errbuf, errlen, CS_ERR_DB, "database error");
    while ((step = db_step(st)) == DB_ROW) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct row *nr = realloc(rows, ncap * sizeof *rows);
            if (nr == NULL) {
                rc = CS_ERR_NOMEM;
                break;
            }
            rows = nr;
            cap = ncap;
        }
        db_col_copy(st, 0, rows[count].user_id, sizeof rows[count].user_id);
        rows[count].access = db_col_dup(st, 1);
        rows[count].refresh = db_col_dup(st, 2);
        count++;
    }
    if (rc == CS_OK && step != DB_DONE)
        rc = CS_ERR_DB;
    db_reset(st);
    if (rc != CS_OK) {
        cs_fail(errbuf, errlen, rc, "cannot read the stored tokens");
        goto out;
    }
    for (size_t i = 0; i < count && rc == CS_OK; i++) {
        char *na = NULL, *nr = NULL;
        rc = integ_reseal_one(key, rows[i].access, "access_token", rows[i].user_id, &na);
        if (rc == CS_OK)
            rc = integ_reseal_one(key, rows[i].refresh, "refresh_token", rows[i].user_id, &nr);
        if (rc != CS_OK) {
            cs_fail(errbuf, errlen, rc, "a token of user %s does not open under the secret key",
                    rows[i].user_id);
        } else if ((st = db_stmt(db, DB_INTEG_RESEAL)) == NULL) {
            rc = cs_fail(errbuf, errlen, CS_ERR_DB, "database error");
        } else {
            db_bind_text(st, 1, rows[i].user_id);
            db_bind_text(st, 2, na);
            db_bind_text(st, 3, nr);
            db_bind_text(st, 4, rows[i].access);
            db_bind_text(st, 5, rows[i].refresh);
            rc = db_exec(db, st);
            if (rc == CS_OK && db_changes(db) == 1) {
                (*n)++;
                log_info("tokens re-sealed bound to their row user=%s", rows[i].user_id);
            } else if (rc != CS_OK) {
                cs_fail(errbuf, errlen, rc, "cannot store re-sealed tokens");
            }
        }
        crypt_free_secret(na);
        crypt_free_secret(nr);
    }
out:
    for (size_t i = 0; i < count; i++) {
        crypt_free_secret(rows[i].access);
        crypt_free_secret(rows[i].refresh);
    }
    free(rows);
    return rc;
}
