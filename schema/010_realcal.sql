-- 010_realcal: what a real agent's calendar holds beyond the events calsync made (issue 24).
-- The Google event an appointment is linked to, as far as it matters for what calsync may do:
-- its eventType when not 'default' (outOfOffice, fromGmail: imported, never written to), its
-- organizer's address when the organizer is someone else (an invitation: Google refuses the
-- attendee's edits with 403 forbiddenForNonOrganizer, so calsync sends none), and for an
-- instance of a recurring series its key (recurringEventId, originalStartTime as UTC RFC 3339):
-- instances are matched by that key, never by parsing their ids (Google changes their format).
-- The index ends with is_active so that APPT_BY_INSTANCE's ORDER BY is_active DESC is one index
-- search (as appointments_google in 006_perf).
ALTER TABLE appointments ADD COLUMN google_event_type TEXT;
ALTER TABLE appointments ADD COLUMN google_organizer TEXT;
ALTER TABLE appointments ADD COLUMN google_recurring_id TEXT;
ALTER TABLE appointments ADD COLUMN google_original_start TEXT;
CREATE INDEX appointments_instance ON appointments(user_id, google_recurring_id,
                                                   google_original_start, is_active);
-- Google's usage limits (403 quotaExceeded, "Calendar usage limits exceeded"): the calendar is
-- read-only for hours. Writes of the user wait until then (epoch ms; 0 = not paused), on every
-- node; pulls go on; the status shows the reason.
ALTER TABLE user_integrations ADD COLUMN writes_paused_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_integrations ADD COLUMN writes_paused_reason TEXT;
