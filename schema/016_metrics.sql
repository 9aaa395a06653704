-- 016_metrics: what GET /metrics and /readyz read. Counters of the work (Google calls, webhook
-- notifications, jobs finished, sync latency) are kept by each process and added here now and
-- then (lib/metrics.c), so every node's work sums up in one row per series; the worker's
-- heartbeat per node; indexes that keep each gauge of a scrape one index search.
CREATE TABLE metric_counters (
    series     TEXT NOT NULL PRIMARY KEY, -- the series as exposed: name{label="value",...}
    value      INTEGER NOT NULL DEFAULT 0, -- a count (a latency sum: milliseconds)
    updated_at INTEGER NOT NULL            -- epoch ms of the last addition
);
CREATE TABLE worker_heartbeats (
    node       TEXT NOT NULL PRIMARY KEY, -- CALSYNC_NODE (default: the host name)
    pid        INTEGER NOT NULL,          -- the job runner that wrote last
    beat_at    INTEGER NOT NULL           -- epoch ms
);
-- integrations by state (GROUP BY over the index alone), channels by expiry (a range)
CREATE INDEX user_integrations_state ON user_integrations(is_active, state);
CREATE INDEX user_integrations_expiry ON user_integrations(is_active, channel_expiration);
