-- Identifiers compared byte for byte (issue 15). A column without a
-- collation of its own takes the database's, and a French hospital's
-- PostgreSQL is created in its server's locale (fr_FR.UTF-8 on a Debian
-- installed in French): every comparison in an index on these columns then
-- went through the locale's collation (strcoll), several times slower than
-- comparing bytes. A full directory sync of 100,000 + 100,000 people took
-- a third more of the server's time on such a database than on one in the
-- C locale (docs/operations.md). Identifiers, codes, hashes and ISO dates
-- have no linguistic order: each column here that an index, a primary key
-- or a unique constraint holds is collated "C", whatever the database's
-- locale. Names people read (api_tokens.name, workstations.name, the
-- identities' names) keep the database's collation for their order.
-- Collation only: no table is rewritten, the indexes on these columns are
-- rebuilt (upgrading takes the time to rebuild them: docs/operations.md).
-- Comparing one of these with a column left in the database's collation
-- stays valid: the default collation gives way to "C".
-- SQLite compares bytes already (BINARY): its migration of this name
-- changes nothing.
ALTER TABLE accounts
    ALTER COLUMN login TYPE TEXT COLLATE "C",
    ALTER COLUMN oid TYPE TEXT COLLATE "C";
ALTER TABLE api_tokens
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN token_hash TYPE TEXT COLLATE "C";
ALTER TABLE assignments
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN oid TYPE TEXT COLLATE "C";
ALTER TABLE audit_events
    ALTER COLUMN action TYPE TEXT COLLATE "C",
    ALTER COLUMN target TYPE TEXT COLLATE "C";
ALTER TABLE audit_verifications
    ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE authenticators
    ALTER COLUMN credential_id TYPE TEXT COLLATE "C",
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN oid TYPE TEXT COLLATE "C";
ALTER TABLE badge_pins
    ALTER COLUMN oid TYPE TEXT COLLATE "C";
ALTER TABLE badge_transactions
    ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE badges
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN oid TYPE TEXT COLLATE "C",
    ALTER COLUMN reference_hash TYPE TEXT COLLATE "C";
ALTER TABLE compliance_snapshots
    ALTER COLUMN indicator TYPE TEXT COLLATE "C",
    ALTER COLUMN taken_on TYPE TEXT COLLATE "C";
ALTER TABLE enrolment_links
    ALTER COLUMN oid TYPE TEXT COLLATE "C",
    ALTER COLUMN token_hash TYPE TEXT COLLATE "C";
ALTER TABLE habilitations
    ALTER COLUMN client_id TYPE TEXT COLLATE "C",
    ALTER COLUMN oid TYPE TEXT COLLATE "C",
    ALTER COLUMN role TYPE TEXT COLLATE "C";
ALTER TABLE identities
    ALTER COLUMN birth_date TYPE TEXT COLLATE "C",
    ALTER COLUMN oid TYPE TEXT COLLATE "C",
    ALTER COLUMN rpps TYPE TEXT COLLATE "C",
    ALTER COLUMN status TYPE TEXT COLLATE "C";
ALTER TABLE identity_match_keys
    ALTER COLUMN match_key TYPE TEXT COLLATE "C",
    ALTER COLUMN oid TYPE TEXT COLLATE "C";
ALTER TABLE identity_roles
    ALTER COLUMN oid TYPE TEXT COLLATE "C",
    ALTER COLUMN role TYPE TEXT COLLATE "C";
ALTER TABLE identity_suspensions
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN oid TYPE TEXT COLLATE "C";
ALTER TABLE lifecycle_events
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN oid TYPE TEXT COLLATE "C";
ALTER TABLE login_failures
    ALTER COLUMN key TYPE TEXT COLLATE "C";
ALTER TABLE logout_outbox
    ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE manual_terms
    ALTER COLUMN external_id TYPE TEXT COLLATE "C";
ALTER TABLE oidc_clients
    ALTER COLUMN client_id TYPE TEXT COLLATE "C";
ALTER TABLE oidc_grants
    ALTER COLUMN code_hash TYPE TEXT COLLATE "C",
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN session_id TYPE TEXT COLLATE "C";
ALTER TABLE oidc_keys
    ALTER COLUMN kid TYPE TEXT COLLATE "C";
ALTER TABLE oidc_tokens
    ALTER COLUMN grant_id TYPE TEXT COLLATE "C",
    ALTER COLUMN token_hash TYPE TEXT COLLATE "C";
ALTER TABLE oidc_used_assertions
    ALTER COLUMN client_id TYPE TEXT COLLATE "C",
    ALTER COLUMN jti TYPE TEXT COLLATE "C";
ALTER TABLE psc_links
    ALTER COLUMN oid TYPE TEXT COLLATE "C";
ALTER TABLE psc_logins
    ALTER COLUMN session_id TYPE TEXT COLLATE "C";
ALTER TABLE psc_requests
    ALTER COLUMN state_hash TYPE TEXT COLLATE "C";
ALTER TABLE reconciliation_cases
    ALTER COLUMN external_id TYPE TEXT COLLATE "C",
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN source TYPE TEXT COLLATE "C",
    ALTER COLUMN status TYPE TEXT COLLATE "C";
ALTER TABLE review_campaigns
    ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE review_items
    ALTER COLUMN campaign_id TYPE TEXT COLLATE "C",
    ALTER COLUMN client_id TYPE TEXT COLLATE "C",
    ALTER COLUMN oid TYPE TEXT COLLATE "C",
    ALTER COLUMN role TYPE TEXT COLLATE "C";
ALTER TABLE source_records
    ALTER COLUMN external_id TYPE TEXT COLLATE "C",
    ALTER COLUMN join_key TYPE TEXT COLLATE "C",
    ALTER COLUMN oid TYPE TEXT COLLATE "C",
    ALTER COLUMN source TYPE TEXT COLLATE "C";
ALTER TABLE sso_sessions
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN oid TYPE TEXT COLLATE "C",
    ALTER COLUMN token_hash TYPE TEXT COLLATE "C",
    ALTER COLUMN workstation_id TYPE TEXT COLLATE "C";
ALTER TABLE sync_cursors
    ALTER COLUMN source TYPE TEXT COLLATE "C";
ALTER TABLE sync_leases
    ALTER COLUMN source TYPE TEXT COLLATE "C";
ALTER TABLE sync_runs
    ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE webauthn_ceremonies
    ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE workstations
    ALTER COLUMN id TYPE TEXT COLLATE "C";
