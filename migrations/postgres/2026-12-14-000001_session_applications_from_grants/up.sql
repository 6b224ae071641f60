-- The applications a session signed in to are its grants' clients: a
-- grant is stored when its code is exchanged (the code carries it until
-- then; an exchange and the end of its session take turns at the audit
-- head), so the list kept beside the session is
-- no longer written, nor read.
ALTER TABLE sso_sessions DROP COLUMN applications;
