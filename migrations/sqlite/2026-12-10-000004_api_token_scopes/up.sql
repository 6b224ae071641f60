-- Admin API tokens get scopes and an expiry (issue 13): `scopes` is a JSON
-- list of "<area>:read" or "<area>:write" (the console's areas; write
-- implies read); NULL is a token from before scopes, which reaches the
-- whole API as it always did. `expires_at` (Unix seconds): NULL never.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT;
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
