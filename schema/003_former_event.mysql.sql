-- 003_former_event (MySQL): the Google event an appointment was linked to before a disconnect,
-- so that reconnecting the same account re-links it instead of creating a twin.
ALTER TABLE appointments ADD COLUMN former_event_id VARCHAR(512);
