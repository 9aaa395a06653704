-- 007_vesta_calendar (MySQL): a dedicated "Vesta" calendar (scope calendar.app.created) beside
-- the primary one, per-user reminders, colours by type, progress of long runs (see
-- 007_vesta_calendar.sql for what each column means).
ALTER TABLE oauth_states ADD COLUMN calendar VARCHAR(16) NOT NULL DEFAULT 'primary';
ALTER TABLE user_integrations ADD COLUMN calendar_kind VARCHAR(16) NOT NULL DEFAULT 'primary';
ALTER TABLE user_integrations ADD COLUMN progress TEXT;
ALTER TABLE users ADD COLUMN reminders TEXT;
ALTER TABLE appointments ADD COLUMN reminders_sent TEXT;
ALTER TABLE appointments ADD COLUMN former_calendar_id VARCHAR(512);
CREATE TABLE vesta_calendars (
    user_id     VARCHAR(64) NOT NULL,
    calendar_id VARCHAR(255) NOT NULL,
    created_at  BIGINT NOT NULL, -- epoch s
    used_at     BIGINT NOT NULL, -- epoch s: last connect that re-used it
    PRIMARY KEY (user_id, calendar_id)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
