-- 006_perf: the pull's "which appointment is Google event X" lookup (APPT_BY_GOOGLE_ID: user and
-- event id, ORDER BY is_active DESC LIMIT 1) must be one index search. With the index on
-- (user_id, google_event_id) alone the planner prefers appointments_user_start, whose order
-- serves the ORDER BY, and walks every appointment of the user for each pulled event (importing
-- 10,000 events took 70 s). With is_active as the third column one index serves both the
-- lookup and the order, and everything the two-column index served (tests/unit/test_plan.c).
DROP INDEX IF EXISTS appointments_google;
CREATE INDEX appointments_google ON appointments(user_id, google_event_id, is_active);
