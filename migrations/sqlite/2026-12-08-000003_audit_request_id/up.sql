-- The id of the HTTP request an audited action came in (issue 14): the
-- same id as the request's log lines and its X-Request-Id, so that an
-- operator goes from an audit event to the logs and back. Hashed into the
-- chain when present (events written before have none, and hash as they
-- always did).
ALTER TABLE audit_events ADD COLUMN request_id TEXT;
