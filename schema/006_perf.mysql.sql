-- 006_perf (MySQL): APPT_BY_GOOGLE_ID (user and event id, ORDER BY is_active DESC LIMIT 1) as
-- one index search: is_active joins the index (see 006_perf.sql).
DROP INDEX appointments_google ON appointments;
CREATE INDEX appointments_google ON appointments(user_id, google_event_id, is_active);
