-- Sessions still open (issue 13): the console's sessions page and the
-- dashboard's count read the open sessions, newest first, instead of every
-- session ever opened.
CREATE INDEX sso_sessions_open ON sso_sessions (auth_time) WHERE ended_at IS NULL;
