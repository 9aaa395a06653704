-- 015_sync_direction (MySQL): which ways a user's changes move (bidirectional, vesta_to_google,
-- google_to_vesta, none = paused); new connections start bidirectional.
ALTER TABLE users ADD COLUMN sync_direction VARCHAR(20) NOT NULL DEFAULT 'bidirectional';
