-- The journal by action and time (issue 13): the dashboard counts the
-- day's failed logins, refused badges and PIN lockouts along it instead
-- of reading every event of the day.
CREATE INDEX audit_events_action ON audit_events (action, occurred_at);
