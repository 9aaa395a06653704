/* db_sql_metrics.h: the statements of metrics, health checks and the worker's heartbeat (part of
 * db_sql.h, included by it only, last in the statement order). */
/* a process adds what it counted since its last flush to each series (lib/metrics.c) */
DB_STMT2(METRICS_ADD,
         "INSERT INTO metric_counters(series, value, updated_at) VALUES(?1, ?2, ?3) "
         "ON CONFLICT(series) DO UPDATE SET value = value + excluded.value, "
         "updated_at = excluded.updated_at",
         "INSERT INTO metric_counters(series, value, updated_at) VALUES(?1, ?2, ?3) "
         "ON DUPLICATE KEY UPDATE value = value + VALUES(value), updated_at = VALUES(updated_at)")
DB_STMT(METRICS_COUNTERS, "SELECT series, value FROM metric_counters")
/* The gauges of a scrape, at ?1 = now (epoch ms): one query each. A job runs while its lease
 * holds; it waits for backoff when a failed run rescheduled it or its user's Google backoff has
 * not passed; it is pending otherwise (due, or in its settle window). */
#define METRICS_JOB_FROM                                                                           \
    "FROM sync_jobs j LEFT JOIN user_integrations i ON i.user_id = j.user_id "                     \
    "AND i.provider = 'google_calendar' "
#define METRICS_JOB_IDLE "(j.lease_owner IS NULL OR j.lease_until < ?1)"
DB_STMT(
    METRICS_JOBS,
    "SELECT j.kind, count(*), "
    "count(CASE WHEN NOT " METRICS_JOB_IDLE " THEN 1 END), "
    "count(CASE WHEN " METRICS_JOB_IDLE " AND ((j.attempts > 0 AND j.not_before > ?1) "
    "OR (j.kind <> 'cleanup' AND coalesce(i.backoff_until, 0) > ?1)) THEN 1 END) " METRICS_JOB_FROM
    "WHERE j.cancelled = 0 GROUP BY j.kind")
/* the oldest job a worker could claim now but has not (JOB_CANDIDATE's test): its not_before */
DB_STMT(METRICS_OLDEST_DUE,
        "SELECT min(j.not_before) " METRICS_JOB_FROM "WHERE j.not_before <= ?1 AND j.cancelled = 0 "
        "AND " METRICS_JOB_IDLE " AND (j.kind = 'cleanup' OR coalesce(i.backoff_until, 0) <= ?1) "
        "AND NOT EXISTS (SELECT 1 FROM sync_jobs k WHERE k.user_id = j.user_id "
        "AND k.job_id <> j.job_id AND k.lease_owner IS NOT NULL AND k.lease_until >= ?1)")
DB_STMT(METRICS_OUTBOX, "SELECT count(*) FROM outbox")
DB_STMT(METRICS_INTEG_STATES,
        "SELECT state, count(*) FROM user_integrations WHERE is_active = 1 GROUP BY state")
/* channels of working integrations expiring before ?2 (now + 24 h): still open / expired (a
 * renewal that did not happen; a user who must reconnect is not counted) */
DB_STMT(METRICS_CHANNELS,
        "SELECT count(CASE WHEN channel_expiration >= ?1 THEN 1 END), "
        "count(CASE WHEN channel_expiration < ?1 THEN 1 END) FROM user_integrations "
        "WHERE is_active = 1 AND channel_expiration < ?2 "
        "AND state IN ('connected', 'syncing', 'error')")
/* Active integrations whose user paused the sync (direction 'none', lib/direction.c), and users
 * whose writes Google's usage limits paused (user_integrations.writes_paused_until, epoch ms,
 * past ?1 = now) */
DB_STMT(METRICS_PAUSED,
        "SELECT count(CASE WHEN u.sync_direction = 'none' THEN 1 END), "
        "count(CASE WHEN i.writes_paused_until > ?1 THEN 1 END) "
        "FROM user_integrations i JOIN users u ON u.id = i.user_id WHERE i.is_active = 1")

/* calsync-worker's heartbeat, one row per node; rows of nodes gone for a week are dropped */
DB_STMT2(HEARTBEAT_BEAT,
         "INSERT INTO worker_heartbeats(node, pid, beat_at) VALUES(?1, ?2, ?3) "
         "ON CONFLICT(node) DO UPDATE SET pid = excluded.pid, beat_at = excluded.beat_at",
         "INSERT INTO worker_heartbeats(node, pid, beat_at) VALUES(?1, ?2, ?3) "
         "ON DUPLICATE KEY UPDATE pid = VALUES(pid), beat_at = VALUES(beat_at)")
DB_STMT(HEARTBEAT_PRUNE, "DELETE FROM worker_heartbeats WHERE beat_at < ?1")
DB_STMT(HEARTBEAT_GET, "SELECT beat_at FROM worker_heartbeats WHERE node = ?1")
DB_STMT(HEARTBEAT_LIST, "SELECT node, beat_at FROM worker_heartbeats ORDER BY node")
