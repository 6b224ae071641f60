-- The console's dashboard (issue 13): sessions by the time they were
-- opened (logins per hour; the compliance dashboard's 30 days of logins),
-- and the badges that end (temporary badges expiring this week), each a
-- range read instead of the whole table.
CREATE INDEX sso_sessions_auth_time ON sso_sessions (auth_time);
CREATE INDEX badges_expires_at ON badges (expires_at) WHERE expires_at IS NOT NULL;
