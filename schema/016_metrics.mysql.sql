-- 016_metrics (MySQL): per-series counters summed over every process and node, the worker's
-- heartbeat per node, and the indexes of the scrape's gauges (see 016_metrics.sql).
CREATE TABLE metric_counters (
    series     VARCHAR(191) NOT NULL PRIMARY KEY,
    value      BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE worker_heartbeats (
    node       VARCHAR(64) NOT NULL PRIMARY KEY,
    pid        BIGINT NOT NULL,
    beat_at    BIGINT NOT NULL
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX user_integrations_state ON user_integrations(is_active, state);
CREATE INDEX user_integrations_expiry ON user_integrations(is_active, channel_expiration);
