-- vesta/001 (vesta host only, after calsync's own migrations, which the vesta host prefixes with
-- calsync_): what calsync keeps of Vesta's rows. Vesta's own tables are changed in C
-- (lib/vesta_schema.c), idempotently and only by adding what is missing.
-- the raw fields of each Vesta appointment as calsync last saw or wrote them (JSON), so the
-- change feed tells Vesta's edits from calsync's own writes and no-op updates
CREATE TABLE vesta_rows (
    appointment_id BIGINT NOT NULL PRIMARY KEY,
    user_id        VARCHAR(64) NOT NULL,
    hsnap          MEDIUMTEXT
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- per agency: the "Google Calendar" contact of events without a known attendee
CREATE TABLE vesta_accounts (
    account_id BIGINT NOT NULL PRIMARY KEY,
    contact_id BIGINT
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- the change feed's place: (updated_at second, appointment id) of the last row read, and when
-- the wider scans last ran
CREATE TABLE vesta_feed (
    id      BIGINT NOT NULL PRIMARY KEY,
    mark_s  BIGINT NOT NULL,
    mark_id BIGINT NOT NULL,
    deep_s  BIGINT NOT NULL,
    gone_ms BIGINT NOT NULL
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO vesta_feed(id, mark_s, mark_id, deep_s, gone_ms) VALUES (1, 0, 0, 0, 0);
