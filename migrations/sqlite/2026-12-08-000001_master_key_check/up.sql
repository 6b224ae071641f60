-- The master key's fingerprint (issue 16, and issue 15's nodes): an HMAC
-- under the key itself (it reveals nothing of it), recorded by the first
-- process that uses the key with this database. Every later `serve` and
-- every command compares theirs and refuses on a difference, instead of
-- sealing PINs and signing keys under a key the others cannot open. One
-- row at most.
CREATE TABLE master_key_check (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    fingerprint TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
