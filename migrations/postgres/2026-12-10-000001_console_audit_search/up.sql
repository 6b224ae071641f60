-- The console's audit journal searches by time range (issue 13): newest
-- first within [from, to). The chain's own order (seq) serves the rest.
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
