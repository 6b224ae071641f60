-- Suspensions placed by an operator (issue 13): the identity office or an
-- administrator suspends a person from the console or the admin API with a
-- reason, and lifts it with another. A person under a suspension is
-- `suspended` whatever HR says (a departure still wins); at most one
-- suspension of a person is in force at a time; history is kept.
CREATE TABLE identity_suspensions (
    id TEXT PRIMARY KEY NOT NULL,
    oid TEXT NOT NULL,
    reason TEXT NOT NULL,
    placed_by TEXT NOT NULL,
    placed_at BIGINT NOT NULL,
    lifted_by TEXT,
    lifted_at BIGINT,
    lift_reason TEXT
);
CREATE UNIQUE INDEX identity_suspensions_in_force ON identity_suspensions (oid) WHERE lifted_at IS NULL;
CREATE INDEX identity_suspensions_oid ON identity_suspensions (oid, placed_at);
