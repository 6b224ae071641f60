-- Sync leases (one run per source at a time), SSO sessions, FIDO2 authenticators, enrolment links, WebAuthn ceremonies,
-- failed-login counters. Same tables and columns on PostgreSQL.

CREATE TABLE sso_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    oid TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    idle_timeout_secs BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    acr TEXT NOT NULL,
    amr TEXT NOT NULL,
    authenticator_id TEXT,
    client_ip TEXT,
    user_agent TEXT,
    applications TEXT NOT NULL,
    ended_at BIGINT,
    end_reason TEXT
);
CREATE INDEX sso_sessions_oid ON sso_sessions (oid);

CREATE TABLE authenticators (
    id TEXT PRIMARY KEY NOT NULL,
    oid TEXT NOT NULL,
    kind TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    credential TEXT NOT NULL,
    aaguid TEXT,
    label TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX authenticators_oid ON authenticators (oid);

CREATE TABLE enrolment_links (
    token_hash TEXT PRIMARY KEY NOT NULL,
    oid TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX enrolment_links_oid ON enrolment_links (oid);

CREATE TABLE webauthn_ceremonies (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    oid TEXT,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE login_failures (
    key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    last_failure_at BIGINT NOT NULL
);

CREATE TABLE identity_roles (
    oid TEXT NOT NULL,
    role TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (oid, role)
);

CREATE TABLE sync_leases (
    source TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
