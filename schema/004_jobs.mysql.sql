-- 004_jobs (MySQL): every reason to sync is a durable job run by calsync-worker; backoff shared
-- by every process; the connection epoch that lets a job notice a disconnect; webhook replay
-- guard; idempotent creates.
CREATE TABLE sync_jobs (
    job_id      BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,  -- never reused: Sync now waits on it
    user_id     VARCHAR(64) NOT NULL,
    kind        VARCHAR(16) NOT NULL,    -- sync | channel | cleanup
    ckey        VARCHAR(128) NOT NULL,   -- coalescing key: the user for sync/channel, unique for cleanup
    epoch       BIGINT NOT NULL DEFAULT 0, -- the connection it was written for
    pull        BIGINT NOT NULL DEFAULT 0, -- sync: 0 = push the outbox only, 1 = push + pull
    `trigger`   VARCHAR(64) NOT NULL DEFAULT 'change',
    payload     MEDIUMTEXT,              -- cleanup: sealed JSON (tokens and channel kept for it)
    gen         BIGINT NOT NULL DEFAULT 1, -- bumped by every request coalesced into it
    claimed_gen BIGINT NOT NULL DEFAULT 0, -- gen the current/last run started from
    done_gen    BIGINT NOT NULL DEFAULT 0, -- gen the last finished run covered
    not_before  BIGINT NOT NULL,           -- epoch ms: settle window, backoff
    attempts    BIGINT NOT NULL DEFAULT 0, -- failed runs in a row
    lease_owner VARCHAR(64),
    lease_until BIGINT,                    -- epoch ms
    last_error  TEXT,
    cancelled   BIGINT NOT NULL DEFAULT 0, -- disconnected while running: stop, never rerun
    created_at  BIGINT NOT NULL,
    UNIQUE KEY sync_jobs_key (kind, ckey),
    KEY sync_jobs_due (not_before),
    KEY sync_jobs_user (user_id, lease_until),
    KEY sync_jobs_owner (lease_owner)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- results of finished job runs, for Sync now (which waits for the run covering its request)
ALTER TABLE sync_runs ADD COLUMN job_id BIGINT;
ALTER TABLE sync_runs ADD COLUMN job_gen BIGINT;
ALTER TABLE sync_runs ADD COLUMN errors BIGINT NOT NULL DEFAULT 0; -- appointments refused
CREATE INDEX sync_runs_job ON sync_runs(job_id, job_gen);

ALTER TABLE user_integrations ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_integrations ADD COLUMN backoff_until BIGINT NOT NULL DEFAULT 0; -- epoch ms
ALTER TABLE user_integrations ADD COLUMN backoff_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_integrations ADD COLUMN channel_msgno BIGINT; -- last accepted X-Goog-Message-Number

CREATE TABLE idempotency_keys (
    user_id        VARCHAR(64) NOT NULL,
    idem_key       VARCHAR(255) NOT NULL,
    body_hash      VARCHAR(128) NOT NULL,
    appointment_id BIGINT NOT NULL,
    created_at     BIGINT NOT NULL, -- epoch s; kept 24 h
    PRIMARY KEY (user_id, idem_key),
    KEY idempotency_keys_age (created_at)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- the pull looks events up by their Google id and by the id linked before a disconnect
DROP INDEX appointments_google ON appointments;
CREATE INDEX appointments_google ON appointments(user_id, google_event_id);
CREATE INDEX appointments_former ON appointments(user_id, former_event_id);
