DROP INDEX sso_sessions_open;
