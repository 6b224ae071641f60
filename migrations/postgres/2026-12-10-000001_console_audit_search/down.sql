DROP INDEX audit_events_occurred_at;
