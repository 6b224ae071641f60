ALTER TABLE badge_transactions DROP COLUMN trace_parent;
ALTER TABLE oidc_grants DROP COLUMN trace_parent;
