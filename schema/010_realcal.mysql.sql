-- 010_realcal (MySQL): the linked event's type, foreign organizer and instance key; the usage-limit
-- pause of writes (see 010_realcal.sql for what each column means).
ALTER TABLE appointments ADD COLUMN google_event_type VARCHAR(32);
ALTER TABLE appointments ADD COLUMN google_organizer VARCHAR(320);
ALTER TABLE appointments ADD COLUMN google_recurring_id VARCHAR(512);
ALTER TABLE appointments ADD COLUMN google_original_start VARCHAR(40);
CREATE INDEX appointments_instance ON appointments(user_id, google_recurring_id,
                                                   google_original_start, is_active);
ALTER TABLE user_integrations ADD COLUMN writes_paused_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_integrations ADD COLUMN writes_paused_reason TEXT;
