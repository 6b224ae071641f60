-- The sweep of expired WebAuthn ceremonies runs on logins: keep it indexed.
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
