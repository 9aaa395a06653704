/* health.c: /readyz's checks and calsync-worker's heartbeat row (one per node). */
#include "health.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"

#include <stdio.h>

#define HEALTH_PRUNE_MS (3600 * 1000LL)       /* how often a process prunes */
#define HEALTH_FORGET_MS (7 * 86400 * 1000LL) /* a node silent this long is forgotten */

int health_beat(struct db *db, const char *node, long pid)
{
    static long long pruned_ms;
    long long now = db_now_ms();
    struct db_stmt *st;
    int rc;

    if ((rc = db_begin(db)) != CS_OK)
        return rc;
    if ((st = db_stmt(db, DB_HEARTBEAT_BEAT)) == NULL) {
        rc = CS_ERR_DB;
    } else {
        db_bind_text(st, 1, node);
        db_bind_int64(st, 2, pid);
        db_bind_int64(st, 3, now);
        rc = db_exec(db, st);
    }
    if (rc == CS_OK && now - pruned_ms >= HEALTH_PRUNE_MS) {
        if ((st = db_stmt(db, DB_HEARTBEAT_PRUNE)) == NULL) {
            rc = CS_ERR_DB;
        } else {
            db_bind_int64(st, 1, now - HEALTH_FORGET_MS);
            rc = db_exec(db, st);
        }
    }
    if ((rc = db_end(db, rc)) == CS_OK && now - pruned_ms >= HEALTH_PRUNE_MS)
        pruned_ms = now;
    return rc;
}

int health_ready(struct db *db, const struct cfg *cfg, char *reason, size_t len)
{
    struct db_stmt *st;
    long long at = -1;
    int v, want, step;

    if (db_ping(db) != CS_OK || (v = db_version(db)) < 0)
        return cs_fail(reason, len, CS_ERR_DB, "store unreachable");
    if (v != (want = db_version_latest(db)))
        return cs_fail(reason, len, CS_ERR_DB,
                       "store schema version %d, this program's is %d (calsync-admin migrate, "
                       "or upgrade this node)",
                       v, want);
    if (cfg->ready_heartbeat_s <= 0)
        return CS_OK;
    if ((st = db_stmt(db, DB_HEARTBEAT_GET)) == NULL)
        return cs_fail(reason, len, CS_ERR_DB, "store unreachable");
    db_bind_text(st, 1, cfg->node);
    if ((step = db_step(st)) == DB_ROW)
        at = db_col_int64(st, 0);
    db_reset(st);
    if (step == DB_FAILED)
        return cs_fail(reason, len, CS_ERR_DB, "store unreachable");
    if (at < 0)
        return cs_fail(reason, len, CS_ERR_BUSY, "no heartbeat from calsync-worker on node %s",
                       cfg->node);
    if (db_now_ms() - at > cfg->ready_heartbeat_s * 1000LL)
        return cs_fail(reason, len, CS_ERR_BUSY,
                       "calsync-worker on node %s last showed a heartbeat %lld s ago", cfg->node,
                       (db_now_ms() - at) / 1000);
    return CS_OK;
}
