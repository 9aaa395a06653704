-- 001_init (MySQL-protocol store: MariaDB 10.11+, MySQL 8, SingleStore): users, sessions,
-- appointments, Google integrations, outbox, sync log, OAuth states. utf8mb4 with binary
-- comparison (as SQLite compares text) except where SQLite says COLLATE NOCASE; BIGINT for
-- every integer (epoch ms); keys on VARCHAR columns (TEXT cannot be a key without a prefix);
-- no foreign keys (the code never relies on them; SingleStore has none).
CREATE TABLE users (
    id            VARCHAR(64) NOT NULL PRIMARY KEY,
    email         VARCHAR(320) COLLATE utf8mb4_general_ci NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    timezone      VARCHAR(64),
    created_at    BIGINT NOT NULL,
    UNIQUE KEY users_email (email)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE sessions (
    token_hash VARCHAR(128) NOT NULL PRIMARY KEY,
    user_id    VARCHAR(64) NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    KEY sessions_user (user_id)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE appointments (
    appointment_id  BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id         VARCHAR(64) NOT NULL,
    contact_id      BIGINT,
    title           TEXT NOT NULL,
    description     MEDIUMTEXT NOT NULL DEFAULT (''),
    location        TEXT NOT NULL DEFAULT (''),
    start_utc       VARCHAR(32) NOT NULL,  -- RFC 3339 UTC; for all-day, the date at 00:00Z
    end_utc         VARCHAR(32) NOT NULL,  -- exclusive
    all_day         BIGINT NOT NULL DEFAULT 0,
    type            VARCHAR(32) NOT NULL DEFAULT 'Reunión',
    status          VARCHAR(32) NOT NULL DEFAULT 'Scheduled',
    is_active       BIGINT NOT NULL DEFAULT 1,
    google_event_id VARCHAR(512),
    google_etag     VARCHAR(255),
    google_updated  VARCHAR(64),           -- Google's "updated" of the last synced version
    synced_snapshot MEDIUMTEXT,            -- JSON of the fields as last synced (for merges)
    last_synced_at  BIGINT,
    sync_state      VARCHAR(16) NOT NULL DEFAULT 'local',  -- local|pending|synced|error
    sync_error      TEXT,
    created_at      BIGINT NOT NULL, -- ms
    updated_at      BIGINT NOT NULL, -- ms
    KEY appointments_user_start (user_id, is_active, start_utc),
    KEY appointments_google (google_event_id)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE user_integrations (
    integration_id     BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id            VARCHAR(64) NOT NULL,
    provider           VARCHAR(32) NOT NULL DEFAULT 'google_calendar',
    access_token       TEXT,  -- sealed (crypt_seal)
    refresh_token      TEXT,  -- sealed
    expiry_date        BIGINT,  -- epoch seconds
    calendar_id        VARCHAR(255) NOT NULL DEFAULT 'primary',
    sync_token         TEXT,
    channel_id         VARCHAR(255),
    resource_id        VARCHAR(255),
    channel_token_hash VARCHAR(255),
    channel_expiration BIGINT, -- epoch ms
    is_active          BIGINT NOT NULL DEFAULT 0,
    state              VARCHAR(32) NOT NULL DEFAULT 'not_connected',
    last_sync_at       BIGINT,
    last_error         TEXT,
    lease_owner        VARCHAR(64),
    lease_until        BIGINT,  -- epoch ms
    sync_requested     BIGINT NOT NULL DEFAULT 0,
    next_poll_at       BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    UNIQUE KEY user_integrations_key (user_id, provider),
    KEY user_integrations_user (user_id, provider),
    KEY user_integrations_channel (channel_id)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE outbox (
    outbox_id       BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id         VARCHAR(64) NOT NULL,
    appointment_id  BIGINT NOT NULL,
    op              VARCHAR(16) NOT NULL,  -- upsert | delete
    version         BIGINT NOT NULL DEFAULT 1,  -- bumped by every change, so a push
                                                -- only clears the row it actually sent
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0, -- epoch ms
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    UNIQUE KEY outbox_appointment (appointment_id),
    KEY outbox_user_due (user_id, next_attempt_at)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE sync_runs (
    run_id      BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id     VARCHAR(64) NOT NULL,
    `trigger`   VARCHAR(64) NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    pushed      BIGINT NOT NULL DEFAULT 0,
    pulled      BIGINT NOT NULL DEFAULT 0,
    deleted     BIGINT NOT NULL DEFAULT 0,
    conflicts   BIGINT NOT NULL DEFAULT 0,
    ok          BIGINT,
    error       TEXT,
    KEY sync_runs_user (user_id, run_id)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE oauth_states (
    state_hash VARCHAR(128) NOT NULL PRIMARY KEY,
    user_id    VARCHAR(64) NOT NULL,
    verifier   TEXT NOT NULL,  -- sealed
    expires_at BIGINT NOT NULL
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
