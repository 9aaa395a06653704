-- 007_vesta_calendar: a dedicated "Vesta" calendar (scope calendar.app.created) beside the
-- primary one, per-user reminders, colours by type (reminders/colours sent once, then left to
-- the user on Google), progress of long runs.
-- which calendar a pending connect asked for, and which one a connection syncs with:
-- 'primary' (the user's own, scope calendar.events) or 'vesta' (a secondary calendar calsync
-- creates, scope calendar.app.created; calendar_id stays '' until the sync job has ensured it)
ALTER TABLE oauth_states ADD COLUMN calendar TEXT NOT NULL DEFAULT 'primary';
ALTER TABLE user_integrations ADD COLUMN calendar_kind TEXT NOT NULL DEFAULT 'primary';
-- while a long run goes on: {"phase":"import|push|pull","done":N,"total":M|null}; NULL otherwise
ALTER TABLE user_integrations ADD COLUMN progress TEXT;
-- the user's reminders: NULL = Google's defaults of the calendar, else a JSON array of minutes
ALTER TABLE users ADD COLUMN reminders TEXT;
-- the reminders setting last sent with an appointment's event (or in force when it was pulled):
-- reminders go to Google only when the setting differs, so a change made on Google is kept
ALTER TABLE appointments ADD COLUMN reminders_sent TEXT;
-- the calendar former_event_id lived in: a link is only re-used on the same calendar
ALTER TABLE appointments ADD COLUMN former_calendar_id TEXT;
-- the secondary calendars calsync created for a user, remembered across disconnects; a connect
-- with "vesta" re-uses the newest one the new grant can still read (calendars.get), else
-- creates another
CREATE TABLE vesta_calendars (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    calendar_id TEXT NOT NULL,
    created_at  INTEGER NOT NULL, -- epoch s
    used_at     INTEGER NOT NULL, -- epoch s: last connect that re-used it
    PRIMARY KEY (user_id, calendar_id)
);
