DROP INDEX badges_expires_at;
DROP INDEX sso_sessions_auth_time;
