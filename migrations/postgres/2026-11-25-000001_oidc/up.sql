-- OpenID Connect provider: clients, signing keys, grants (authorization
-- codes and the tokens issued from them), per-client habilitations, and the
-- outbox of back-channel logout notifications. Same tables on both backends.

CREATE TABLE oidc_clients (
    client_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT,
    auth_method TEXT NOT NULL,
    jwks TEXT,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    backchannel_logout_uri TEXT,
    require_pkce BOOLEAN NOT NULL,
    require_acr TEXT,
    id_token_alg TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    secret_rotated_at BIGINT,
    removed_at BIGINT
);

CREATE TABLE oidc_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    private_key TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

CREATE TABLE oidc_grants (
    id TEXT PRIMARY KEY NOT NULL,
    code_hash TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    oid TEXT NOT NULL,
    session_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    auth_time BIGINT NOT NULL,
    acr TEXT NOT NULL,
    amr TEXT NOT NULL,
    code_expires_at BIGINT NOT NULL,
    code_used_at BIGINT,
    revoked_at BIGINT,
    revoked_reason TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX oidc_grants_session ON oidc_grants (session_id);

CREATE TABLE oidc_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    client_id TEXT NOT NULL,
    oid TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens (grant_id);

CREATE TABLE habilitations (
    oid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    role TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (oid, client_id, role)
);

CREATE TABLE logout_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL,
    oid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    delivered_at BIGINT,
    given_up_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX logout_outbox_due ON logout_outbox (next_attempt_at);
