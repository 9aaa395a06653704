-- 015_sync_direction: which ways a user's changes move (bidirectional, vesta_to_google,
-- google_to_vesta, none = paused); new connections start bidirectional.
ALTER TABLE users ADD COLUMN sync_direction TEXT NOT NULL DEFAULT 'bidirectional';
