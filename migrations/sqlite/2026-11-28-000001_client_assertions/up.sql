-- Client assertions (private_key_jwt) already used, by client and jti:
-- OpenID Connect Core §9 allows each assertion once. Kept until the
-- assertion expires (at most 10 minutes after it was used).
CREATE TABLE oidc_used_assertions (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX oidc_used_assertions_expiry ON oidc_used_assertions (expires_at);
