-- Badge login across the workstation agent: registered workstations (id,
-- SHA-256 of their credential), badge transactions (one badge check or
-- personalisation driven step by step through an agent; only the card's
-- answers are kept and the protocol is replayed from them, so any node can
-- take the next step), and the workstation a session was opened at (fast
-- user switching ends the previous one). Same on both backends.

CREATE TABLE workstations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    location TEXT,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    last_seen_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE badge_transactions (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    purpose TEXT NOT NULL,
    target_oid TEXT,
    temporary_until BIGINT,
    workstation_id TEXT,
    seed TEXT NOT NULL,
    transcript TEXT NOT NULL,
    steps INTEGER NOT NULL,
    status TEXT NOT NULL,
    failure TEXT,
    oid TEXT,
    badge_id TEXT,
    badge_key_version INTEGER,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX badge_transactions_expires ON badge_transactions (expires_at);

ALTER TABLE sso_sessions ADD COLUMN workstation_id TEXT;
CREATE INDEX sso_sessions_workstation ON sso_sessions (workstation_id);
