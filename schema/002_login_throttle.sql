-- 002_login_throttle: failed logins per address, to slow down password guessing.
CREATE TABLE login_failures (
    email        TEXT PRIMARY KEY COLLATE NOCASE,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0, -- epoch seconds
    updated_at   INTEGER NOT NULL
);
