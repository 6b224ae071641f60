-- Verifications of the audit chain (issue 13): each walk of the chain,
-- whole or from the last point an earlier walk found intact, with what it
-- found. The console shows them (the chain's status) and starts them; a
-- job every hour verifies what was appended since.
CREATE TABLE audit_verifications (
    id TEXT PRIMARY KEY NOT NULL,
    started_at BIGINT NOT NULL,
    started_by TEXT NOT NULL,
    -- 0: the whole chain; otherwise the first event walked.
    from_seq BIGINT NOT NULL,
    finished_at BIGINT,
    checked BIGINT NOT NULL DEFAULT 0,
    -- The last event found intact, and its hash (the next walk's start).
    verified_seq BIGINT,
    verified_hash TEXT,
    broken_seq BIGINT,
    broken_reason TEXT
);
CREATE INDEX audit_verifications_started ON audit_verifications (started_at);
