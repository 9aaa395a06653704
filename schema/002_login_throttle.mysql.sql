-- 002_login_throttle (MySQL): failed logins per address, to slow down password guessing.
CREATE TABLE login_failures (
    email        VARCHAR(320) COLLATE utf8mb4_general_ci NOT NULL PRIMARY KEY,
    failures     BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0, -- epoch seconds
    updated_at   BIGINT NOT NULL
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
