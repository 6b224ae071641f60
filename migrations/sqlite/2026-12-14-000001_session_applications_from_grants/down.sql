-- Sessions opened meanwhile get an empty list: the grants still name
-- their applications.
ALTER TABLE sso_sessions ADD COLUMN applications TEXT NOT NULL DEFAULT '[]';
