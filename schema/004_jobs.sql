-- 004_jobs: every reason to sync is a durable job run by calsync-worker; backoff shared by every
-- process; the connection epoch that lets a job notice a disconnect; webhook replay guard;
-- idempotent creates.
CREATE TABLE sync_jobs (
    job_id      INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: Sync now waits on it
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('sync', 'channel', 'cleanup')),
    ckey        TEXT NOT NULL,   -- coalescing key: the user for sync/channel, unique for cleanup
    epoch       INTEGER NOT NULL DEFAULT 0, -- the connection it was written for
    pull        INTEGER NOT NULL DEFAULT 0, -- sync: 0 = push the outbox only, 1 = push + pull
    trigger     TEXT NOT NULL DEFAULT 'change',
    payload     TEXT,            -- cleanup: sealed JSON (tokens and channel kept for it)
    gen         INTEGER NOT NULL DEFAULT 1, -- bumped by every request coalesced into it
    claimed_gen INTEGER NOT NULL DEFAULT 0, -- gen the current/last run started from
    done_gen    INTEGER NOT NULL DEFAULT 0, -- gen the last finished run covered
    not_before  INTEGER NOT NULL,           -- epoch ms: settle window, backoff
    attempts    INTEGER NOT NULL DEFAULT 0, -- failed runs in a row
    lease_owner TEXT,
    lease_until INTEGER,                    -- epoch ms
    last_error  TEXT,
    cancelled   INTEGER NOT NULL DEFAULT 0, -- disconnected while running: stop, never rerun
    created_at  INTEGER NOT NULL,
    UNIQUE (kind, ckey)
);
CREATE INDEX sync_jobs_due ON sync_jobs(not_before);
CREATE INDEX sync_jobs_user ON sync_jobs(user_id, lease_until);

-- results of finished job runs, for Sync now (which waits for the run covering its request)
ALTER TABLE sync_runs ADD COLUMN job_id INTEGER;
ALTER TABLE sync_runs ADD COLUMN job_gen INTEGER;
ALTER TABLE sync_runs ADD COLUMN errors INTEGER NOT NULL DEFAULT 0; -- appointments refused
CREATE INDEX sync_runs_job ON sync_runs(job_id, job_gen);

ALTER TABLE user_integrations ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_integrations ADD COLUMN backoff_until INTEGER NOT NULL DEFAULT 0; -- epoch ms
ALTER TABLE user_integrations ADD COLUMN backoff_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_integrations ADD COLUMN channel_msgno INTEGER; -- last accepted X-Goog-Message-Number

CREATE TABLE idempotency_keys (
    user_id        TEXT NOT NULL,
    idem_key       TEXT NOT NULL,
    body_hash      TEXT NOT NULL,
    appointment_id INTEGER NOT NULL,
    created_at     INTEGER NOT NULL, -- epoch s; kept 24 h
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys(created_at);

-- the pull looks events up by their Google id and by the id linked before a disconnect
DROP INDEX appointments_google;
CREATE INDEX appointments_google ON appointments(user_id, google_event_id);
CREATE INDEX appointments_former ON appointments(user_id, former_event_id);
