/* integ.c: reading and updating user_integrations rows. */
#include "integ.h"
#include "cs.h"
#include "db.h"

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
    memset(in, 0, sizeof *in);
}

/* Fills in from a row selected with INTEG_COLS. */
static void integ_from_row(sqlite3_stmt *st, struct integ *in)
{
    memset(in, 0, sizeof *in);
    in->id = sqlite3_column_int64(st, 0);
    db_col_copy(st, 1, in->user_id, sizeof in->user_id);
    in->access_token = db_col_dup(st, 2);
    in->refresh_token = db_col_dup(st, 3);
    in->expiry = sqlite3_column_int64(st, 4);
    db_col_copy(st, 5, in->calendar_id, sizeof in->calendar_id);
    in->sync_token = db_col_dup(st, 6);
    in->channel_id = db_col_dup(st, 7);
    in->resource_id = db_col_dup(st, 8);
    in->channel_token_hash = db_col_dup(st, 9);
    in->channel_expiration = sqlite3_column_int64(st, 10);
    in->is_active = sqlite3_column_int(st, 11);
    db_col_copy(st, 12, in->state, sizeof in->state);
    in->last_sync_at = sqlite3_column_int64(st, 13);
    in->last_error = db_col_dup(st, 14);
    in->next_poll_at = sqlite3_column_int64(st, 15);
    in->updated_at = sqlite3_column_int64(st, 16);
    in->epoch = sqlite3_column_int64(st, 17);
}

static int integ_query(struct db *db, enum db_stmt_id id, const char *key, struct integ *out)
{
    sqlite3_stmt *st = db_stmt(db, id);
    int step, rc = CS_ERR_NOTFOUND;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, key);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        integ_from_row(st, out);
        rc = CS_OK;
    } else if (step != SQLITE_DONE) {
        rc = CS_ERR_DB;
    }
    sqlite3_reset(st);
    return rc;
}

int integ_get(struct db *db, const char *user_id, struct integ *out)
{
    return integ_query(db, DB_INTEG_GET, user_id, out);
}

int integ_by_channel(struct db *db, const char *channel_id, struct integ *out)
{
    return integ_query(db, DB_INTEG_BY_CHANNEL, channel_id, out);
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
    sqlite3_stmt *st = db_stmt(db, DB_INTEG_SET_STATE);

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, state);
    db_bind_text(st, 3, error);
    sqlite3_bind_int64(st, 4, db_now());
    return db_exec(db, st);
}
