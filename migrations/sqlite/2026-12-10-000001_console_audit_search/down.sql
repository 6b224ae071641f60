DROP INDEX audit_events_target;
CREATE INDEX audit_events_target ON audit_events (target);
DROP INDEX audit_events_occurred_at;
