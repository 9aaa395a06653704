/* health.h: readiness (the store, its schema, this node's worker) and the worker's heartbeat. */
#ifndef HEALTH_H
#define HEALTH_H

#include <stddef.h>

struct cfg;
struct db;

/* How often each job runner of calsync-worker writes its node's heartbeat. */
#define HEALTH_BEAT_MS 5000

/* Records that node's worker is alive now (pid: the runner writing); once an hour per process
 * it also drops the rows of nodes silent for a week. In a transaction of its own. CS_OK or
 * CS_ERR_DB. */
int health_beat(struct db *db, const char *node, long pid);
/* CS_OK when this node may take requests: the store answers (db_ping), its schema version is
 * the one this program brings, and (cfg->ready_heartbeat_s > 0) this node's worker showed a
 * heartbeat within that many seconds. Otherwise an error code, and a one-line reason fit for a
 * JSON answer in reason (never a password). */
int health_ready(struct db *db, const struct cfg *cfg, char *reason, size_t len);

#endif
