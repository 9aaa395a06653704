-- 001_init: users, sessions, appointments, Google integrations, outbox, sync log, OAuth states.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    timezone      TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE appointments (
    appointment_id INTEGER PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    contact_id     INTEGER,
    title          TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    location       TEXT NOT NULL DEFAULT '',
    start_utc      TEXT NOT NULL,  -- RFC 3339 UTC; for all-day, the date at 00:00Z
    end_utc        TEXT NOT NULL,  -- exclusive
    all_day        INTEGER NOT NULL DEFAULT 0,
    type           TEXT NOT NULL DEFAULT 'Reunión',
    status         TEXT NOT NULL DEFAULT 'Scheduled',
    is_active      INTEGER NOT NULL DEFAULT 1,
    google_event_id TEXT,
    google_etag    TEXT,
    google_updated TEXT,           -- Google's "updated" of the last synced version
    synced_snapshot TEXT,          -- JSON of the fields as last synced (for merges)
    last_synced_at INTEGER,
    sync_state     TEXT NOT NULL DEFAULT 'local',  -- local|pending|synced|error
    sync_error     TEXT,
    created_at     INTEGER NOT NULL, -- ms
    updated_at     INTEGER NOT NULL  -- ms
);
CREATE INDEX appointments_user_start ON appointments(user_id, is_active, start_utc);
CREATE INDEX appointments_google ON appointments(google_event_id);

CREATE TABLE user_integrations (
    integration_id   INTEGER PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider         TEXT NOT NULL DEFAULT 'google_calendar',
    access_token     TEXT,  -- sealed (crypt_seal)
    refresh_token    TEXT,  -- sealed
    expiry_date      INTEGER,  -- epoch seconds
    calendar_id      TEXT NOT NULL DEFAULT 'primary',
    sync_token       TEXT,
    channel_id       TEXT,
    resource_id      TEXT,
    channel_token_hash TEXT,
    channel_expiration INTEGER, -- epoch ms
    is_active        INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL DEFAULT 'not_connected',
    last_sync_at     INTEGER,
    last_error       TEXT,
    lease_owner      TEXT,
    lease_until      INTEGER,  -- epoch ms
    sync_requested   INTEGER NOT NULL DEFAULT 0,
    next_poll_at     INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (user_id, provider)
);
CREATE INDEX user_integrations_user ON user_integrations(user_id, provider);
CREATE INDEX user_integrations_channel ON user_integrations(channel_id);

CREATE TABLE outbox (
    outbox_id       INTEGER PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    appointment_id  INTEGER NOT NULL UNIQUE,
    op              TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    version         INTEGER NOT NULL DEFAULT 1,  -- bumped by every change, so a push
                                                 -- only clears the row it actually sent
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0, -- epoch ms
    last_error      TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX outbox_user_due ON outbox(user_id, next_attempt_at);

CREATE TABLE sync_runs (
    run_id      INTEGER PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    trigger     TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    pushed      INTEGER NOT NULL DEFAULT 0,
    pulled      INTEGER NOT NULL DEFAULT 0,
    deleted     INTEGER NOT NULL DEFAULT 0,
    conflicts   INTEGER NOT NULL DEFAULT 0,
    ok          INTEGER,
    error       TEXT
);
CREATE INDEX sync_runs_user ON sync_runs(user_id, run_id);

CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    verifier   TEXT NOT NULL,  -- sealed
    expires_at INTEGER NOT NULL
);
