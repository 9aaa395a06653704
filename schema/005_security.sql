-- 005_security: login throttling per client address, per account and per (account, address)
-- pair, bounded and expiring (replaces 002's table, which had only the account dimension).
DROP TABLE login_failures;
CREATE TABLE login_failures (
    scope        TEXT NOT NULL CHECK (scope IN ('pair', 'address', 'account')),
    key          TEXT NOT NULL COLLATE NOCASE, -- "address email", address, email
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0,   -- epoch seconds
    updated_at   INTEGER NOT NULL,             -- epoch seconds; rows idle for a day are purged
    PRIMARY KEY (scope, key)
);
CREATE INDEX login_failures_age ON login_failures(updated_at);
