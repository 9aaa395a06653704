/* outbox.c: an appointment's change queued for Google with the job that pushes it. */
#include "outbox.h"
#include "cs.h"
#include "db.h"
#include "jobs.h"

int outbox_put(struct db *db, const char *user_id, long long id, const char *op, long long push)
{
    struct db_stmt *st = db_stmt(db, DB_OUTBOX_PUT);
    int rc;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    db_bind_int64(st, 2, id);
    db_bind_text(st, 3, op);
    db_bind_int64(st, 4, db_now_ms());
    rc = db_exec(db, st);
    if (rc == CS_OK && push != OUTBOX_NO_PUSH)
        rc = jobs_enqueue_sync(db, user_id, 0, "change", push, NULL, NULL);
    return rc;
}
