-- Pro Santé Connect (issue 17).
--
-- psc_links: the e-CPS-verified link of a local identity to its national
-- identity, one row per identity (a renewal replaces it; the audit keeps
-- every earlier one). Clavis asserts a person to PSC only while the link
-- is not revoked, not expired, and its national id is still the one HR
-- gives (`8` + the identity's RPPS). The evidence: PSC's `sub`, the
-- national id, PSC's `acr` and `authMode`, the SHA-256 of the ID token.
CREATE TABLE psc_links (
    oid TEXT PRIMARY KEY NOT NULL REFERENCES identities(oid),
    national_id TEXT NOT NULL,
    psc_sub TEXT NOT NULL,
    acr TEXT,
    auth_mode TEXT,
    id_token_sha256 TEXT NOT NULL,
    linked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT,
    revoked_by TEXT
);
CREATE INDEX psc_links_expires_at ON psc_links (expires_at);

-- psc_requests: a trip to PSC under way (Clavis as relying party). Keyed
-- by the SHA-256 of its `state`; bound to the browser that started it by
-- the SHA-256 of a cookie; spent once (`used_at`).
CREATE TABLE psc_requests (
    state_hash TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    oid TEXT,
    session_id TEXT,
    browser_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX psc_requests_expires_at ON psc_requests (expires_at);

-- psc_logins: the ID token PSC gave a sign-in with PSC, kept while the
-- Clavis session lives, as the hint of the logout Clavis then asks of PSC.
CREATE TABLE psc_logins (
    session_id TEXT PRIMARY KEY NOT NULL,
    id_token TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX psc_logins_expires_at ON psc_logins (expires_at);

-- When the identity's RPPS was last verified (RIE EXI 27: at least every
-- two years); cleared by the directory when HR changes the RPPS.
ALTER TABLE identities ADD COLUMN rpps_verified_at BIGINT;

-- The client that is Pro Santé Connect itself (FI tiers claims, link rule).
ALTER TABLE oidc_clients ADD COLUMN psc BOOLEAN NOT NULL DEFAULT 0;

-- How a session was opened (fido2, badge, psc): the amr sent to PSC.
ALTER TABLE sso_sessions ADD COLUMN method TEXT;
