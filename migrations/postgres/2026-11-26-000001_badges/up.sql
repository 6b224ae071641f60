-- DESFire badges (the real UID, the hash of the reference written on the
-- card, key version, kind, status) and the badge PIN of each identity
-- (argon2id + pepper, failure counter, lockout). Same on both backends.

CREATE TABLE badges (
    id TEXT PRIMARY KEY NOT NULL,
    oid TEXT NOT NULL,
    uid TEXT NOT NULL,
    reference_hash TEXT NOT NULL UNIQUE,
    key_version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX badges_oid ON badges (oid);

CREATE TABLE badge_pins (
    oid TEXT PRIMARY KEY NOT NULL,
    pin_hash TEXT NOT NULL,
    failures INTEGER NOT NULL,
    locked_until BIGINT,
    updated_at BIGINT NOT NULL
);
