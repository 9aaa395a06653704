/* appt_store.c: the API's writes of appointments; every write commits with its outbox row and
 * its host row (sync rule 1), and the reminders setting. */
#include "appt_store.h"
#include "appt.h"
#include "cfg.h"
#include "host.h"
#include "jobs.h"
#include "outbox.h"
#include "cs.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An earlier create with the same Idempotency-Key: CS_OK with its id, CS_ERR_INVAL when that
 * request had another body, CS_ERR_NOTFOUND when there is none (or it is over 24 h old). */
static int appt_idem_get(struct db *db, const char *user_id, const char *key, const char *hash,
                         long long *id)
{
    struct db_stmt *st = db_stmt(db, DB_IDEM_GET);
    int rc = CS_ERR_NOTFOUND, step;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, key);
    db_bind_int64(st, 3, db_now() - APPT_IDEM_TTL_S);
    step = db_step(st);
    if (step == DB_ROW) {
        const unsigned char *h = db_col_text(st, 0);
        *id = db_col_int64(st, 1);
        rc = h != NULL && strcmp((const char *)h, hash) == 0 ? CS_OK : CS_ERR_INVAL;
    } else if (step != DB_DONE) {
        rc = CS_ERR_DB;
    }
    db_reset(st);
    return rc;
}

static int appt_idem_put(struct db *db, const char *user_id, const char *key, const char *hash,
                         long long id)
{
    struct db_stmt *st = db_stmt(db, DB_IDEM_PUT);
    int rc;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, key);
    db_bind_text(st, 3, hash);
    db_bind_int64(st, 4, id);
    db_bind_int64(st, 5, db_now());
    if ((rc = db_exec(db, st)) != CS_OK)
        return rc;
    /* keys live 24 h; expire a few old ones on each write */
    if ((st = db_stmt(db, DB_IDEM_PURGE)) == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, db_now() - APPT_IDEM_TTL_S);
    return db_exec(db, st);
}

int appt_create(struct db *db, const struct cfg *cfg, struct appt *a, long long push,
                const char *idem_key, const char *idem_hash)
{
    const struct host_appts *h = host_appts_of(cfg);
    struct db_stmt *st;
    long long earlier = 0;
    int rc;

    if ((rc = db_begin(db)) != CS_OK)
        return rc;
    if (idem_key != NULL) {
        rc = appt_idem_get(db, a->user_id, idem_key, idem_hash, &earlier);
        if (rc == CS_OK) {
            a->id = earlier;
            rc = CS_ERR_CONFLICT; /* a retry: answered with what the first one made */
            goto out;
        }
        if (rc != CS_ERR_NOTFOUND)
            goto out;
    }
    a->id = 0;
    if ((rc = h->create(db, cfg, a, NULL)) != CS_OK) /* the host's row first: its id is ours */
        goto out;
    st = db_stmt(db, a->id > 0 ? DB_APPT_INSERT_ID : DB_APPT_INSERT);
    if (st == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    a->created_at = a->updated_at = db_now_ms();
    snprintf(a->sync_state, sizeof a->sync_state, "%s", push != APPT_NO_PUSH ? "pending" : "local");
    db_bind_text(st, 1, a->user_id);
    appt_bind_content(st, 2, a);
    db_bind_text(st, 11, a->sync_state);
    db_bind_int64(st, 12, a->created_at);
    if (a->id > 0)
        db_bind_int64(st, 13, a->id);
    if ((rc = db_exec(db, st)) != CS_OK)
        goto out;
    if (a->id <= 0)
        a->id = db_last_id(db);
    a->is_active = 1;
    rc = outbox_put(db, a->user_id, a->id, "upsert", push);
    if (rc == CS_OK && idem_key != NULL)
        rc = appt_idem_put(db, a->user_id, idem_key, idem_hash, a->id);
out:
    rc = db_end(db, rc);
    return rc;
}

int appt_update(struct db *db, const struct cfg *cfg, struct appt *a, long long push)
{
    struct db_stmt *st;
    int rc, repush = 0;

    if ((rc = db_begin(db)) != CS_OK)
        return rc;
    st = db_stmt(db, DB_APPT_UPDATE);
    if (st == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    snprintf(a->sync_state, sizeof a->sync_state, "%s", push != APPT_NO_PUSH ? "pending" : "local");
    db_bind_int64(st, 1, a->id);
    db_bind_text(st, 2, a->user_id);
    appt_bind_content(st, 3, a);
    db_bind_text(st, 12, a->sync_state);
    db_bind_int64(st, 13, db_now_ms());
    if ((rc = db_exec(db, st)) != CS_OK)
        goto out;
    if (db_changes(db) != 1) {
        rc = CS_ERR_NOTFOUND;
        goto out;
    }
    if ((rc = host_appts_of(cfg)->store(db, cfg, a, 1, &repush)) != CS_OK)
        goto out;
    rc = outbox_put(db, a->user_id, a->id, "upsert", push);
out:
    rc = db_end(db, rc);
    return rc;
}

int appt_delete(struct db *db, const struct cfg *cfg, const char *user_id, long long id,
                long long push)
{
    struct db_stmt *st;
    int rc;

    if ((rc = db_begin(db)) != CS_OK)
        return rc;
    st = db_stmt(db, DB_APPT_DEACTIVATE);
    if (st == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    db_bind_int64(st, 1, id);
    db_bind_text(st, 2, user_id);
    db_bind_text(st, 3, push != APPT_NO_PUSH ? "pending" : "local");
    db_bind_int64(st, 4, db_now_ms());
    if ((rc = db_exec(db, st)) != CS_OK)
        goto out;
    if (db_changes(db) != 1) {
        rc = CS_ERR_NOTFOUND;
        goto out;
    }
    if ((rc = host_appts_of(cfg)->remove(db, user_id, id)) != CS_OK)
        goto out;
    rc = outbox_put(db, user_id, id, "delete", push);
out:
    rc = db_end(db, rc);
    return rc;
}

int appt_reminders_get(struct db *db, const char *user_id, char **out)
{
    struct db_stmt *st = db_stmt(db, DB_USER_GET_REMINDERS);
    int step, rc = CS_ERR_NOTFOUND;

    *out = NULL;
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    step = db_step(st);
    if (step == DB_ROW) {
        *out = db_col_is_null(st, 0) ? strdup("default") : db_col_dup(st, 0);
        rc = *out ? CS_OK : CS_ERR_NOMEM;
    } else if (step != DB_DONE) {
        rc = CS_ERR_DB;
    }
    db_reset(st);
    return rc;
}

int appt_reminders_set(struct db *db, const char *user_id, const char *canon, long long push,
                       int *queued)
{
    struct db_stmt *st;
    long long *ids = NULL;
    size_t n = 0, cap = 0;
    char now[CAL_STRLEN];
    int rc, step;

    if (queued != NULL)
        *queued = 0;
    if ((rc = db_begin(db)) != CS_OK)
        return rc;
    if ((st = db_stmt(db, DB_USER_SET_REMINDERS)) == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    db_bind_text(st, 1, user_id);
    if (strcmp(canon, "default") == 0)
        db_bind_null(st, 2);
    else
        db_bind_text(st, 2, canon);
    if ((rc = db_exec(db, st)) != CS_OK || push == APPT_NO_PUSH)
        goto out;
    if ((st = db_stmt(db, DB_APPT_UPCOMING_LINKED)) == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    cal_format_utc(time(NULL), now);
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, now);
    while ((step = db_step(st)) == DB_ROW) {
        if (n == cap) {
            long long *p = realloc(ids, (cap = cap ? cap * 2 : 64) * sizeof *ids);
            if (p == NULL) {
                rc = CS_ERR_NOMEM;
                break;
            }
            ids = p;
        }
        ids[n++] = db_col_int64(st, 0);
    }
    if (rc == CS_OK && step != DB_DONE)
        rc = CS_ERR_DB;
    db_reset(st);
    for (size_t i = 0; rc == CS_OK && i < n; i++) {
        /* a new version even when a push of it is under way: that one carried the old
         * setting, so its row must stay for this one */
        rc = outbox_put(db, user_id, ids[i], "upsert", APPT_NO_PUSH);
    }
    if (rc == CS_OK && n > 0)
        rc = jobs_enqueue_sync(db, user_id, 0, "settings", push, NULL, NULL);
    if (rc == CS_OK && queued != NULL)
        *queued = (int)n;
out:
    free(ids);
    rc = db_end(db, rc);
    return rc;
}
