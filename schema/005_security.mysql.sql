-- 005_security (MySQL): login throttling per client address, per account and per (account,
-- address) pair, bounded and expiring (replaces 002's table).
DROP TABLE login_failures;
CREATE TABLE login_failures (
    scope        VARCHAR(16) NOT NULL,  -- pair | address | account
    `key`        VARCHAR(400) COLLATE utf8mb4_general_ci NOT NULL, -- "address email", address, email
    failures     BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0,   -- epoch seconds
    updated_at   BIGINT NOT NULL,             -- epoch seconds; rows idle for a day are purged
    PRIMARY KEY (scope, `key`),
    KEY login_failures_age (updated_at)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
